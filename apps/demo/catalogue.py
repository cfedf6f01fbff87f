"""What the demo site talks about (`manage.py demo_seed`): claim templates with real resolution criteria,
and the forecasters of its resolved history with their hidden skill. Pure data, no database.

A template names a public source, a threshold and a date, so anyone can check a claim made from it. Its
placeholders are filled per claim: `{date}` the closing day, `{start}` the opening day, `{month}` the month
a monthly figure is about, `{month_name}` that month without its year. The outcomes are drawn by demo_seed
from a hidden probability, not read from the sources: its resolutions say so.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Template:
    key: str
    domain: str  # Domain slug
    title: str
    criteria: str
    source: str  # what the resolution evidence would cite
    tags: tuple[str, ...]
    monthly: bool = False  # about a calendar month's figure: closes on the month's last day
    weekday: int | None = None  # closes on this weekday (Monday 0) on or after the nominal date


TEMPLATES = [
    # --- Economics ---------------------------------------------------------------------------------------
    Template(
        "us-cpi",
        "economics",
        "Will US CPI inflation for {month} come in at 3.0% or higher?",
        "Resolves YES if the 12-month change of the all-items Consumer Price Index for All Urban Consumers "
        "(CPI-U, not seasonally adjusted) for {month}, as first published by the US Bureau of Labor Statistics "
        "in its CPI news release (https://www.bls.gov/cpi/), is 3.0% or higher; NO if it is 2.9% or lower. "
        "Later revisions do not count.",
        "the BLS CPI news release",
        ("inflation", "united-states"),
        monthly=True,
    ),
    Template(
        "us-unemployment",
        "economics",
        "Will the US unemployment rate for {month} be 4.5% or higher?",
        "Resolves YES if the seasonally adjusted unemployment rate (U-3) for {month} in the Employment Situation "
        "release of the US Bureau of Labor Statistics (https://www.bls.gov/news.release/empsit.toc.htm), as "
        "first published, is 4.5% or higher; NO if it is 4.4% or lower.",
        "the BLS Employment Situation release",
        ("jobs", "united-states"),
        monthly=True,
    ),
    Template(
        "ecb-cut",
        "economics",
        "Will the ECB lower its deposit facility rate between {start} and {date}?",
        "Resolves YES if a monetary policy decision published by the European Central Bank "
        "(https://www.ecb.europa.eu/press/pr/html/index.en.html) from {start} to {date} lowers the deposit "
        "facility rate; NO if every decision in that period leaves it unchanged or raises it.",
        "the ECB's monetary policy press releases",
        ("central-banks", "euro-area", "rates"),
    ),
    Template(
        "brent-80",
        "economics",
        "Will Brent crude settle above $80 a barrel on {date}?",
        "Resolves YES if the Europe Brent spot price FOB for {date} published by the US Energy Information "
        "Administration (https://www.eia.gov/dnav/pet/hist/rbrteD.htm, series RBRTE) is above $80.00 a barrel; "
        "NO if it is $80.00 or lower. If no price is published for that day, the last day published before it "
        "counts.",
        "the EIA's Brent spot price series",
        ("oil", "commodities"),
    ),
    Template(
        "ea-hicp",
        "economics",
        "Will euro-area flash inflation for {month} be 2.0% or lower?",
        "Resolves YES if Eurostat's flash estimate of euro-area annual HICP inflation for {month} "
        "(https://ec.europa.eu/eurostat/news/euro-indicators) is 2.0% or lower; NO if it is higher.",
        "Eurostat's flash HICP estimate",
        ("inflation", "euro-area"),
        monthly=True,
    ),
    Template(
        "ust-10y",
        "economics",
        "Will the US 10-year Treasury yield be above 4.50% on {date}?",
        "Resolves YES if the 10-year par yield for {date} in the US Treasury's Daily Treasury Par Yield Curve "
        "Rates (https://home.treasury.gov/resource-center/data-chart-center/interest-rates) is above 4.50%; NO "
        "if it is 4.50% or lower. If no rate is published for that day, the last day published before it counts.",
        "the US Treasury's daily par yield curve rates",
        ("rates", "united-states", "bonds"),
    ),
    Template(
        "boe-cut",
        "economics",
        "Will the Bank of England cut Bank Rate between {start} and {date}?",
        "Resolves YES if a Monetary Policy Summary of the Bank of England (https://www.bankofengland.co.uk/"
        "monetary-policy-summary-and-minutes) published from {start} to {date} lowers Bank Rate; NO if every "
        "decision in that period leaves it unchanged or raises it.",
        "the Bank of England's Monetary Policy Summaries",
        ("central-banks", "united-kingdom", "rates"),
    ),
    # --- Politics ----------------------------------------------------------------------------------------
    Template(
        "us-approval",
        "politics",
        "Will the US president's job approval average be 45% or higher on {date}?",
        "Resolves YES if the RealClearPolitics average of presidential job approval "
        "(https://www.realclearpolling.com/polls/approval/) shows approval of 45.0% or higher as displayed at "
        "12:00 UTC on {date} (or its first Wayback Machine capture after that time); NO otherwise.",
        "the RealClearPolitics approval average",
        ("polls", "united-states"),
    ),
    Template(
        "unsc-resolutions",
        "politics",
        "Will the UN Security Council adopt five or more resolutions in {month}?",
        "Resolves YES if the Security Council's list of resolutions for the year "
        "(https://www.un.org/securitycouncil/content/resolutions) shows five or more resolutions adopted on "
        "dates in {month}; NO if it shows four or fewer.",
        "the UN Security Council's list of resolutions",
        ("united-nations",),
        monthly=True,
    ),
    Template(
        "uk-petition",
        "politics",
        "Will a new UK Parliament petition pass 100,000 signatures between {start} and {date}?",
        "Resolves YES if a petition opened on or after {start} on the UK Parliament petitions site "
        "(https://petition.parliament.uk/petitions?state=debate) reaches 100,000 signatures by the end of "
        "{date} (UK time), by the site's count; NO otherwise.",
        "the UK Parliament petitions site",
        ("united-kingdom", "petitions"),
    ),
    Template(
        "us-public-laws",
        "politics",
        "Will ten or more bills become US public law between {start} and {date}?",
        "Resolves YES if Congress.gov's list of public laws (https://www.congress.gov/public-laws/) shows ten "
        "or more public laws enacted on dates from {start} to {date}; NO if it shows nine or fewer.",
        "Congress.gov's list of public laws",
        ("congress", "united-states"),
    ),
    # --- Science -----------------------------------------------------------------------------------------
    Template(
        "sunspots",
        "science",
        "Will the monthly mean sunspot number for {month} be above 120?",
        "Resolves YES if the monthly mean total sunspot number for {month} published by SILSO, Royal "
        "Observatory of Belgium (https://www.sidc.be/SILSO/datafiles), in its first release is above 120.0; "
        "NO if it is 120.0 or lower.",
        "SILSO's monthly sunspot number",
        ("space-weather", "sun"),
        monthly=True,
    ),
    Template(
        "g4-storm",
        "science",
        "Will a severe (G4) geomagnetic storm be observed between {start} and {date}?",
        "Resolves YES if NOAA's Space Weather Prediction Center (https://www.swpc.noaa.gov/) reports a "
        "geomagnetic storm reaching G4 or G5 on the NOAA scale (planetary Kp of 8- or more) on a day from "
        "{start} to {date} (UTC); NO otherwise.",
        "NOAA SWPC's storm reports",
        ("space-weather",),
    ),
    Template(
        "arxiv-submissions",
        "science",
        "Will arXiv receive more than 25,000 new submissions in {month}?",
        "Resolves YES if arXiv's monthly submission statistics (https://arxiv.org/stats/monthly_submissions) "
        "show more than 25,000 new submissions for {month}; NO if they show 25,000 or fewer.",
        "arXiv's monthly submission statistics",
        ("publishing", "arxiv"),
        monthly=True,
    ),
    Template(
        "neo-approach",
        "science",
        "Will an asteroid of 140 m or more pass within 0.05 au of Earth between {start} and {date}?",
        "Resolves YES if NASA JPL's close-approach table (https://cneos.jpl.nasa.gov/ca/) lists an object with "
        "absolute magnitude H of 22.0 or brighter (about 140 m or larger) passing within 0.05 au of Earth at a "
        "time from {start} to {date} (TDB); NO otherwise.",
        "NASA JPL CNEOS's close-approach table",
        ("asteroids", "planetary-defense"),
    ),
    # --- Technology --------------------------------------------------------------------------------------
    Template(
        "linux-release",
        "technology",
        "Will a new mainline Linux kernel be released between {start} and {date}?",
        "Resolves YES if kernel.org (https://www.kernel.org/) lists a new mainline release (a vX.Y release, not "
        "a release candidate or a stable point release) dated from {start} to {date}; NO otherwise.",
        "kernel.org's release list",
        ("linux", "open-source"),
    ),
    Template(
        "github-outage",
        "technology",
        "Will GitHub report a major outage in {month}?",
        "Resolves YES if the incident history at https://www.githubstatus.com/history lists, on a day in "
        "{month}, an incident in which any component is marked 'Major Outage'; NO otherwise.",
        "githubstatus.com's incident history",
        ("outages", "github"),
        monthly=True,
    ),
    Template(
        "chrome-major",
        "technology",
        "Will Chrome ship a new major version to its stable channel between {start} and {date}?",
        "Resolves YES if the Chrome Releases blog (https://chromereleases.googleblog.com/) announces a new "
        "major version number promoted to the Stable channel for desktop on a day from {start} to {date}; NO "
        "otherwise.",
        "the Chrome Releases blog",
        ("browsers", "chrome"),
    ),
    Template(
        "ios-update",
        "technology",
        "Will Apple release an iOS security update between {start} and {date}?",
        "Resolves YES if Apple's security releases page (https://support.apple.com/en-us/100100) lists an iOS "
        "release dated from {start} to {date}; NO otherwise.",
        "Apple's security releases page",
        ("apple", "security"),
    ),
    # --- Health ------------------------------------------------------------------------------------------
    Template(
        "ili-3pct",
        "health",
        "Will influenza-like illness exceed 3.0% of US outpatient visits in any week of {month}?",
        "Resolves YES if CDC FluView (https://www.cdc.gov/fluview/), in the ILINet national weighted data "
        "published two weeks after {month} ends, shows more than 3.0% of outpatient visits for influenza-like "
        "illness in any week ending in {month}; NO otherwise.",
        "CDC FluView's ILINet data",
        ("influenza", "united-states"),
        monthly=True,
    ),
    Template(
        "fda-novel",
        "health",
        "Will the FDA approve four or more novel drugs in {month}?",
        "Resolves YES if the FDA's Novel Drug Approvals page for the year "
        "(https://www.fda.gov/drugs/development-approval-process-drugs/novel-drug-approvals-fda) lists four "
        "or more CDER approvals dated in {month}; NO if it lists three or fewer.",
        "the FDA's Novel Drug Approvals page",
        ("drug-approvals", "fda"),
        monthly=True,
    ),
    Template(
        "nhs-ae",
        "health",
        "Will England's A&E four-hour performance for {month} be 75% or better?",
        "Resolves YES if NHS England's monthly A&E Attendances and Emergency Admissions statistics "
        "(https://www.england.nhs.uk/statistics/statistical-work-areas/ae-waiting-times-and-activity/) report "
        "that 75.0% or more of all A&E attendances in {month} were admitted, transferred or discharged within "
        "four hours; NO otherwise.",
        "NHS England's A&E statistics",
        ("nhs", "united-kingdom"),
        monthly=True,
    ),
    Template(
        "h5n1-country",
        "health",
        "Will a country report its first human H5N1 case between {start} and {date}?",
        "Resolves YES if a WHO Disease Outbreak News item (https://www.who.int/emergencies/disease-outbreak-news) "
        "dated from {start} to {date} reports human infection with avian influenza A(H5N1) in a country that "
        "had never reported one before; NO otherwise.",
        "WHO's Disease Outbreak News",
        ("avian-influenza", "who"),
    ),
    # --- Climate -----------------------------------------------------------------------------------------
    Template(
        "c3s-warmest",
        "climate",
        "Will {month} be the warmest {month_name} on record globally?",
        "Resolves YES if the Copernicus Climate Change Service's monthly climate bulletin for {month} "
        "(https://climate.copernicus.eu/climate-bulletins, ERA5) ranks it the warmest {month_name} globally in "
        "its record; NO otherwise.",
        "the Copernicus monthly climate bulletin",
        ("temperature", "copernicus"),
        monthly=True,
    ),
    Template(
        "co2-growth",
        "climate",
        "Will Mauna Loa's CO2 for {month} be at least 3 ppm above a year earlier?",
        "Resolves YES if NOAA GML's monthly mean CO2 at Mauna Loa (https://gml.noaa.gov/ccgg/trends/) for "
        "{month}, as first published, exceeds its value for the same month a year earlier by 3.00 ppm or more; "
        "NO otherwise.",
        "NOAA GML's Mauna Loa record",
        ("co2", "noaa"),
        monthly=True,
    ),
    Template(
        "sea-ice-low",
        "climate",
        "Will Arctic sea ice extent for {month} be among the five lowest on record?",
        "Resolves YES if the monthly average Arctic sea ice extent for {month} in NSIDC's Sea Ice Index "
        "(https://nsidc.org/arcticseaicenews/) ranks among the five lowest for that month since 1979; NO "
        "otherwise.",
        "NSIDC's Sea Ice Index",
        ("sea-ice", "arctic"),
        monthly=True,
    ),
    Template(
        "la-nina",
        "climate",
        "Will NOAA's ENSO discussion of {month} declare La Niña conditions?",
        "Resolves YES if the ENSO Diagnostic Discussion issued in {month} by NOAA's Climate Prediction Center "
        "(https://www.cpc.ncep.noaa.gov/products/analysis_monitoring/enso_advisory/) has the ENSO Alert System "
        "status 'La Niña Advisory'; NO otherwise.",
        "NOAA CPC's ENSO Diagnostic Discussion",
        ("enso", "noaa"),
        monthly=True,
    ),
    Template(
        "era5-17c",
        "climate",
        "Will the global mean surface air temperature reach 17.0 °C on a day between {start} and {date}?",
        "Resolves YES if Copernicus Climate Pulse (https://pulse.climate.copernicus.eu/, ERA5 preliminary daily "
        "data) shows a global mean surface air temperature of 17.00 °C or more for a day from {start} to {date}; "
        "NO otherwise.",
        "Copernicus Climate Pulse",
        ("temperature", "copernicus"),
    ),
    Template(
        "sst-record",
        "climate",
        "Will the world's oceans set a daily sea-surface temperature record between {start} and {date}?",
        "Resolves YES if Copernicus Climate Pulse (https://pulse.climate.copernicus.eu/, ERA5 daily sea surface "
        "temperature, 60°S-60°N) shows a value for a day from {start} to {date} above every earlier day in its "
        "record; NO otherwise.",
        "Copernicus Climate Pulse",
        ("oceans", "copernicus"),
    ),
    Template(
        "arctic-median",
        "climate",
        "Will Arctic sea ice extent on {date} be below its 1981-2010 median for the day?",
        "Resolves YES if NSIDC's Sea Ice Index daily Arctic extent for {date} (https://nsidc.org/"
        "sea-ice-today/sea-ice-tools/charctic-interactive-sea-ice-graph) is below the 1981-2010 median extent "
        "for that day of the year shown beside it; NO otherwise.",
        "NSIDC's Sea Ice Index",
        ("sea-ice", "arctic"),
    ),
    # --- Sports ------------------------------------------------------------------------------------------
    Template(
        "atp-no1",
        "sports",
        "Will the ATP No. 1 ranking change hands between {start} and {date}?",
        "Resolves YES if the player ranked No. 1 in the ATP singles rankings (https://www.atptour.com/en/rankings/"
        "singles) published on the last Monday on or before {date} is not the player ranked No. 1 in the "
        "rankings published on the last Monday on or before {start}; NO otherwise.",
        "the ATP singles rankings",
        ("tennis",),
    ),
    Template(
        "marathon-203",
        "sports",
        "Will a men's marathon be won in under 2:03:00 between {start} and {date}?",
        "Resolves YES if World Athletics' results (https://worldathletics.org/competitions) list a men's "
        "marathon on a record-eligible course, held from {start} to {date}, won in under 2:03:00; NO "
        "otherwise.",
        "World Athletics' results",
        ("athletics", "marathon"),
    ),
    Template(
        "pl-seven-goals",
        "sports",
        "Will a Premier League match in {month} end with seven or more goals?",
        "Resolves YES if a Premier League match played in {month} (https://www.premierleague.com/results) ends "
        "with seven or more goals in total; NO otherwise, including if no match is played that month.",
        "the Premier League's results",
        ("football", "premier-league"),
        monthly=True,
    ),
    Template(
        "fide-2830",
        "sports",
        "Will the top player on FIDE's rating list for {month} be rated 2830 or higher?",
        "Resolves YES if the No. 1 player on FIDE's standard rating list published for {month} "
        "(https://ratings.fide.com/) has a rating of 2830 or higher; NO otherwise.",
        "FIDE's standard rating list",
        ("chess",),
        monthly=True,
    ),
    # --- Culture -----------------------------------------------------------------------------------------
    Template(
        "box-office-40m",
        "culture",
        "Will the top film at the US box office on the weekend ending {date} gross more than $40 million?",
        "Resolves YES if Box Office Mojo's domestic weekend chart (https://www.boxofficemojo.com/weekend/) for "
        "the Friday-to-Sunday weekend ending {date} shows the No. 1 film with a three-day gross above "
        "$40,000,000; NO otherwise.",
        "Box Office Mojo's weekend chart",
        ("box-office", "film"),
        weekday=6,
    ),
    Template(
        "hot100-new",
        "culture",
        "Will the Billboard Hot 100 dated {date} have a new No. 1?",
        "Resolves YES if the No. 1 song on the Billboard Hot 100 chart dated {date} "
        "(https://www.billboard.com/charts/hot-100/) was not No. 1 on the chart dated one week earlier; NO "
        "otherwise.",
        "the Billboard Hot 100",
        ("music", "charts"),
        weekday=5,
    ),
    Template(
        "nyt-debut",
        "culture",
        "Will a new title debut at No. 1 on the NYT hardcover fiction list dated {date}?",
        "Resolves YES if the No. 1 title on The New York Times hardcover fiction best-seller list dated {date} "
        "(https://www.nytimes.com/books/best-sellers/) is in its first week on the list; NO otherwise.",
        "The New York Times best-seller list",
        ("books", "charts"),
        weekday=6,
    ),
    Template(
        "netflix-40m",
        "culture",
        "Will Netflix's top English film for the week ending {date} get more than 40 million views?",
        "Resolves YES if the No. 1 title of Netflix's global Top 10 for English films (https://www.netflix.com/"
        "tudum/top10) for the week ending {date} has more than 40,000,000 views; NO otherwise.",
        "Netflix's global Top 10",
        ("streaming", "film"),
        weekday=6,
    ),
]
TEMPLATES_BY_KEY = {template.key: template for template in TEMPLATES}

# Open claims to browse: (author email, template key, days from opening to the nominal close, days open
# so far, liquidity in credits). Two in each domain; they close at different times.
OPEN_CLAIMS = [
    ("alice@example.com", "c3s-warmest", 40, 9, 100),
    ("bob@example.com", "ecb-cut", 45, 6, 80),
    ("chen@example.com", "us-cpi", 35, 4, 60),
    ("marta@example.com", "sea-ice-low", 60, 8, 50),
    ("priya@example.com", "fda-novel", 50, 3, 40),
    ("ravi@example.com", "linux-release", 40, 7, 40),
    ("dana@example.com", "us-approval", 30, 5, 60),
    ("alice@example.com", "g4-storm", 30, 2, 50),
    ("sam@example.com", "box-office-40m", 14, 3, 30),
    ("tom@example.com", "atp-no1", 40, 10, 30),
    ("bob@example.com", "brent-80", 25, 2, 50),
    ("priya@example.com", "ili-3pct", 50, 5, 40),
    ("dana@example.com", "unsc-resolutions", 40, 6, 30),
    ("ravi@example.com", "github-outage", 45, 1, 30),
    ("tom@example.com", "marathon-203", 60, 4, 30),
    ("sam@example.com", "hot100-new", 12, 2, 30),
]

# The resolved history's claims per domain, as weights: most of it in four domains, so that a source with
# skill there has a record long enough for its weight to leave the newcomer's floor (docs/reputation.md).
HISTORY_DOMAINS = {
    "economics": 24,
    "climate": 22,
    "politics": 20,
    "science": 8,
    "technology": 4,
    "health": 4,
    "sports": 3,
    "culture": 3,
}


@dataclass(frozen=True)
class Person:
    """Someone who forecasts on the demo site besides the demo logins (no password: they never sign in)."""

    email: str
    display_name: str


@dataclass(frozen=True)
class Agent:
    owner: str  # the owner's email
    handle: str
    display_name: str
    description: str
    model_name: str
    provider: str
    autonomy_level: str
    funding: int  # credits the owner moves to it before it forecasts


@dataclass(frozen=True)
class Forecaster:
    """How one identity forecasts (hidden: the site only ever sees what it says).

    "signal" (the default) sees each claim's true log-odds plus Gaussian noise of sd `sigma` (per domain;
    "*" for the rest) and reports sigmoid(scale * signal + extra["bias"]): calibrated when `scale` is None,
    overconfident at 1 or more. The other strategies ignore the signal:

    - "base-rate": its domain's share of YES outcomes so far;
    - "consensus": the consensus as it stands;
    - "extremize:<handle>": what that identity last said, pushed away from 50% by extra["factor"].
    """

    who: str  # a person's email, or an agent's handle
    sigma: dict[str, float]
    participation: dict[str, float]  # chance of forecasting a claim, per domain ("*": the rest)
    action: str = "trade"  # trade (a belief order) | state (a stated belief) | mixed
    budget: tuple[int, int] = (5, 20)  # credits per trade
    scale: float | None = None
    strategy: str = "signal"
    early: tuple[str, ...] = ()  # domains where it forecasts a claim within days of its opening
    extra: dict = field(default_factory=dict)

    def in_domain(self, values: dict[str, float], domain: str) -> float:
        return values.get(domain, values["*"])


PEOPLE = [
    Person("chen@example.com", "Chen Li"),
    Person("priya@example.com", "Priya Raman"),
    Person("marta@example.com", "Marta Kowalska"),
    Person("tom@example.com", "Tom Becker"),
    Person("sam@example.com", "Sam Okafor"),
    Person("dana@example.com", "Dana Whitfield"),
    Person("ravi@example.com", "Ravi Menon"),
    Person("lee@example.com", "Lee Park"),
]

AGENTS = [
    Agent(
        "dana@example.com",
        "poll-aggregator",
        "Poll aggregator",
        "Averages published polls and official counts, weighted by each pollster's past error.",
        "poll-weighted ensemble",
        "Whitfield Analytics",
        "autonomous",
        300,
    ),
    Agent(
        "dana@example.com",
        "macro-nowcast",
        "Macro nowcast",
        "Nowcasts monthly economic releases from daily market and survey data.",
        "dynamic factor model",
        "Whitfield Analytics",
        "supervised",
        300,
    ),
    Agent(
        "ravi@example.com",
        "arxiv-scout",
        "arXiv scout",
        "Reads new preprints and agency bulletins, and forecasts science and technology claims from them.",
        "gpt-style summariser with retrieval",
        "Menon Labs",
        "autonomous",
        300,
    ),
    Agent(
        "ravi@example.com",
        "hype-detector",
        "Hype detector",
        "Bets against announcements it expects to slip; sure of itself, often wrong.",
        "keyword classifier",
        "Menon Labs",
        "autonomous",
        200,
    ),
    Agent(
        "lee@example.com",
        "momentum-bot",
        "Momentum bot",
        "Follows short-term swings in market prices; it knows nothing of the claims themselves.",
        "price momentum rule",
        "Lee Park",
        "autonomous",
        200,
    ),
]

# The existing demo logins and agents take part as well; people of the demo (alice, bob) keep their logins.
FORECASTERS = [
    # Specialists: sharp in their domain and among its first to forecast; calibrated (so modest) elsewhere.
    Forecaster(
        "chen@example.com",
        {"economics": 0.25, "*": 1.6},
        {"economics": 1.0, "*": 0.15},
        budget=(20, 60),
        early=("economics",),
    ),
    Forecaster(
        "poll-aggregator",
        {"politics": 0.25, "*": 2.0},
        {"politics": 1.0, "*": 0.0},
        budget=(20, 60),
        early=("politics",),
    ),
    Forecaster(
        "marta@example.com",
        {"climate": 0.25, "*": 1.8},
        {"climate": 1.0, "*": 0.1},
        budget=(20, 60),
        early=("climate",),
    ),
    Forecaster(
        "arxiv-scout",
        {"science": 0.25, "technology": 0.5, "*": 2.0},
        {"science": 1.0, "technology": 0.8, "*": 0.0},
        budget=(20, 60),
        early=("science",),
    ),
    Forecaster(
        "priya@example.com",
        {"health": 0.3, "science": 0.5, "*": 1.6},
        {"health": 1.0, "science": 0.5, "*": 0.1},
        action="mixed",
        budget=(20, 60),
        early=("health",),
    ),
    Forecaster("macro-nowcast", {"economics": 0.6, "*": 2.0}, {"economics": 0.7, "*": 0.0}),
    Forecaster("alice@example.com", {"climate": 0.6, "science": 0.6, "*": 1.4}, {"*": 0.2}, action="mixed"),
    # Generalists and the overconfident.
    Forecaster("sam@example.com", {"*": 1.0}, {"*": 0.25}, action="mixed"),
    Forecaster("dana@example.com", {"politics": 0.7, "*": 1.3}, {"politics": 0.5, "*": 0.15}, action="state"),
    Forecaster("ravi@example.com", {"technology": 0.8, "*": 1.3}, {"technology": 0.5, "*": 0.15}, action="state"),
    Forecaster("bob@example.com", {"*": 1.4}, {"*": 0.25}, scale=1.0, budget=(5, 25)),
    Forecaster("tom@example.com", {"sports": 0.9, "*": 1.8}, {"sports": 0.9, "*": 0.2}, scale=1.2),
    Forecaster(
        "hype-detector",
        {"*": 4.0},
        {"technology": 0.9, "science": 0.6, "*": 0.0},
        scale=1.5,
        extra={"bias": -2.5},  # it expects every announcement to slip: NO, and sure of it
    ),
    # Noise, and the built-in strategies of the demo agents.
    Forecaster("momentum-bot", {"*": 10.0}, {"*": 0.3}, scale=0.15, budget=(5, 15)),
    Forecaster("lee@example.com", {"*": 2.5}, {"*": 0.1}, scale=0.8, action="state"),
    Forecaster("base-rate-bot", {"*": 0.0}, {"*": 0.3}, strategy="base-rate", budget=(2, 6)),
    Forecaster("consensus-tracker", {"*": 0.0}, {"*": 0.2}, strategy="consensus", action="state"),
    Forecaster("bobs-extremizer", {"*": 0.0}, {"*": 0.0}, strategy="extremize:bob@example.com", extra={"factor": 1.8}),
]

# Credits owners move to the demo agents that forecast in the history (the agents of AGENTS above carry
# their own funding).
HISTORY_FUNDING = [("alice@example.com", "consensus-tracker", 100), ("bob@example.com", "bobs-extremizer", 150)]
