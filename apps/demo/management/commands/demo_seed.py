"""Demo data for a local run: the demo logins (two members and a moderator), people and agents of several
owners, open claims in every domain, and months of resolved history in which forecasters differ in skill,
so that the leaderboards and track records show real differences.

Everything goes through the real services, on a clock that runs from the day the demo people joined to the
anchor (the first run's moment): each call happens at its time in the demo's past and is checked against
it, so the state is one the product reaches by itself. No row is written around a service.

Idempotent: later runs find the anchor again (the demo people joined a set time before it), so they plan
the same claims, find them by title and change nothing. The history is made once (found by its evidence),
in one transaction with the open claims.

Each claim has a hidden probability, drawn by a seeded generator; forecasters see it through noise of their
own skill (apps/demo/catalogue.py), and the outcome is drawn from it. The resolutions say so.
"""

import math
import os
import random
from bisect import insort
from calendar import monthrange
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from allauth.account.models import EmailAddress
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User, VerificationLevel
from apps.accounts.services import user_email_verified
from apps.agents.selectors import hosted_agent_for
from apps.agents.services import hosted_agent_create
from apps.core.amounts import CREDIT, format_credits
from apps.demo import catalogue
from apps.identities.models import ApiKey, AutonomyLevel, Identity
from apps.identities.services import agent_create, agent_supervision_set, api_key_create
from apps.ledger.errors import InsufficientCredit
from apps.ledger.selectors import wallet_balance
from apps.ledger.services import wallet_fund_agent
from apps.markets import hooks
from apps.markets.errors import NothingToTrade, PriceLimitCrossed
from apps.markets.models import Claim, ClaimStatus, Domain, Outcome, Resolution
from apps.markets.pricing import Order
from apps.markets.resolution import claims_close_due, resolution_finalize, resolution_propose
from apps.markets.services import claim_create, trade_place
from apps.markets.settlement import market_settle
from apps.moderation.models import Flag, FlagReason, Target
from apps.moderation.services import flag_create
from apps.realtime.models import Notification
from apps.realtime.services import notifications_mark_all_read
from apps.reputation import maths
from apps.reputation import selectors as reputation_selectors
from apps.reputation import services as reputation_services
from apps.reputation.models import Belief

SUPERVISED_REVIEW_ABOVE = 1_000 * CREDIT
DEMO_PASSWORD = "credence-demo"  # noqa: S105 (published on purpose: printed by `make run`)

LOGINS = [
    # email, display name, staff moderator
    ("alice@example.com", "Alice", False),
    ("bob@example.com", "Bob", False),
    ("moderator@example.com", "Moderator", True),
]
MODERATOR = "moderator@example.com"  # proposes the history's outcomes (it never trades: no conflict)

AGENTS = [
    # owner email, handle, provenance
    (
        "alice@example.com",
        "base-rate-bot",
        {
            "display_name": "Base-rate bot",
            "description": "Forecasts each claim from the resolution rate of its domain.",
            "model_name": "base-rate forecaster",
            "provider": "Credence built-in strategy",
            "model_version": "1",
            "autonomy_level": AutonomyLevel.AUTONOMOUS,
        },
    ),
    (
        "alice@example.com",
        "consensus-tracker",
        {
            "display_name": "Consensus tracker",
            "description": "States the reputation-weighted consensus as it stands.",
            "model_name": "consensus tracker",
            "provider": "Credence built-in strategy",
            "model_version": "1",
            "autonomy_level": AutonomyLevel.SUPERVISED,
        },
    ),
    (
        "bob@example.com",
        "bobs-extremizer",
        {
            "display_name": "Bob's extremizer",
            "description": "Pushes Bob's beliefs away from 50%; every order is placed by Bob.",
            "model_name": "calibrated extremizer",
            "provider": "Credence built-in strategy",
            "model_version": "1",
            "autonomy_level": AutonomyLevel.ADVISORY,
        },
    ),
    *(
        (
            agent.owner,
            agent.handle,
            {
                "display_name": agent.display_name,
                "description": agent.description,
                "model_name": agent.model_name,
                "provider": agent.provider,
                "model_version": "1",
                "autonomy_level": agent.autonomy_level,
            },
        )
        for agent in catalogue.AGENTS
    ),
]

# (owner email, agent handle, credits): moved from the owner's signup grant to the agent.
FUNDING = [
    ("alice@example.com", "base-rate-bot", 250),
    *catalogue.HISTORY_FUNDING,
    *((agent.owner, agent.handle, agent.funding) for agent in catalogue.AGENTS),
]
# Two of Alice's agents Credence runs itself (apps/agents): they trade on their own while `make run` runs, on a
# schedule and on events, within their budgets. (handle, hosting settings)
HOSTED = [
    (
        "base-rate-bot",
        {
            "strategy": "base_rate",
            "config": {"edge": 0.06, "stake": 4 * CREDIT},
            "every_minutes": 10,
            "on_claim_opened": True,
            "budget_per_run": 20 * CREDIT,
            "budget_per_day": 80 * CREDIT,
            "budget_per_position": 15 * CREDIT,
        },
    ),
    (
        "consensus-tracker",
        {
            "strategy": "consensus_arbitrage",
            "config": {"edge": 0.08, "stake": 3 * CREDIT},
            "every_minutes": 15,
            "on_price_move": Decimal("0.05"),
            "budget_per_run": 10 * CREDIT,
            "budget_per_day": 40 * CREDIT,
            "budget_per_position": 10 * CREDIT,
        },
    ),
]
# The agent that gets a demo API key, so docs/examples/agent_client.py works against a fresh install.
KEYED_AGENT = "base-rate-bot"
KEY_NAME = "demo"

HISTORY_CLAIMS = 88
JOINED_BEFORE = timedelta(days=250)  # the demo people joined this long before the anchor
HISTORY_OPENS = (timedelta(days=235), timedelta(days=75))  # history claims open in this window before it
LAST_ACT = timedelta(minutes=10)  # nothing of the demo happens later than this before the anchor
OPEN_DRAW = 2.0  # the open claims draw twice the forecasters a claim of the history did
# The generator's seed. A record of two dozen forecasts is luck as much as skill: on some seeds the sharpest
# forecaster of a domain draws a run of upsets and stays at the newcomer's weight. On this one each domain's
# specialist scores within one standard error of what its skill earns on average.
SEED = 2
TRUTH_SD = 4.0  # spread of the claims' hidden log-odds: most are all but decided for one who knows, some close calls
EVIDENCE = (
    "Demo history: this outcome was drawn by manage.py demo_seed from the claim's hidden probability, not read "
    "from {source}."
)
EVIDENCE_MARK = "Demo history:"
CLOSING_HOUR = time(20, 0, tzinfo=UTC)


class Command(BaseCommand):
    help = "Load the demo logins, people, agents, open claims and resolved history (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", default=DEMO_PASSWORD, help="password of newly created demo logins")
        parser.add_argument(
            "--history",
            type=int,
            default=HISTORY_CLAIMS,
            help=f"resolved claims of the demo's past (default {HISTORY_CLAIMS}; 0: none)",
        )

    def handle(self, *args, password: str, history: int, **options) -> None:
        # Under override_settings SETTINGS_MODULE is None; the environment still names the module.
        module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "")
        if module.endswith(".production"):
            # A superuser with a published password has no place on a real deployment.
            raise CommandError("demo_seed refuses to run with production settings.")
        if history < 0:
            raise CommandError("--history must be 0 or more.")
        anchor = _anchor()
        open_plans = plan_open(anchor)
        taken = {plan.title for plan in open_plans}
        history_plans = [] if _history_done() else plan_history(anchor, history, taken=taken)
        with _demo_clock(anchor - JOINED_BEFORE) as clock, hooks.trade_committed.paused():
            with transaction.atomic():
                created = _seed_people(password)
            with transaction.atomic():
                created += _Timeline(clock, anchor).run(history_plans, open_plans)
            clock.set(anchor)
            with transaction.atomic():
                created += _seed_key()
                created += _seed_hosting()
                created += _seed_flags()
        self._report(created, password, history_plans)

    def _report(self, created: int, password: str, history_plans: list["Plan"]) -> None:
        users = User.objects.filter(email__in=[email for email, _, _ in LOGINS]).order_by("pk")
        self.stdout.write(
            self.style.SUCCESS(f"demo_seed: {created} row(s) created" if created else "demo_seed: already loaded")
        )
        self.stdout.write(f"Demo logins (password for each: {password}):")
        for user in users:
            role = "moderator, staff admin" if user.is_staff else "member"
            self.stdout.write(f"  {user.email:<24} {role}")
        agent = Identity.objects.get(handle=KEYED_AGENT)
        self.stdout.write(f"Funded agent: @{agent.handle} ({format_credits(wallet_balance(agent))} credits)")
        if history_plans:
            first = min(plan.closes_at for plan in history_plans)
            last = max(plan.closes_at for plan in history_plans)
            self.stdout.write(
                f"History: {len(history_plans)} claims resolved and scored (closed {first:%d %b %Y} to "
                f"{last:%d %b %Y}); see /leaderboards/ and /track-record/"
            )
        token_file = _token_file()
        if token_file.exists():
            self.stdout.write(f"API key of @{KEYED_AGENT} (scopes read, trade): {token_file.read_text().strip()}")


# --- The demo's clock ---------------------------------------------------------------------------------------


class Clock:
    """The time every service reads while the demo is made; it only moves forward."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def set(self, moment: datetime) -> None:
        self.now = max(self.now, moment)

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def _demo_clock(start: datetime) -> Iterator[Clock]:
    """Run the services on the demo's clock by replacing django.utils.timezone.now. Fields declared
    `default=timezone.now` captured the function itself when their model was defined, so their cached
    default is pointed at the clock too."""
    clock = Clock(start)
    real_now = timezone.now
    fields = [
        f for model_class in apps.get_models() for f in model_class._meta.concrete_fields if f.default is real_now
    ]
    cached = [f.__dict__.get("_get_default") for f in fields]
    timezone.now = clock
    for f in fields:
        f.__dict__["_get_default"] = clock
    try:
        yield clock
    finally:
        timezone.now = real_now
        for f, before in zip(fields, cached, strict=True):
            if before is None:
                f.__dict__.pop("_get_default", None)
            else:
                f.__dict__["_get_default"] = before


def _anchor() -> datetime:
    """The demo's present: the first run's moment, found again on every later run from the day the first
    demo login joined. A login created before the demo had a past (an older demo) anchors on its own day."""
    now = timezone.now().replace(second=0, microsecond=0)
    first = User.objects.filter(email=LOGINS[0][0]).first()
    if first is None:
        return now
    anchor = first.date_joined + JOINED_BEFORE
    return anchor if anchor <= now else first.date_joined


def _history_done() -> bool:
    return Resolution.objects.filter(evidence__startswith=EVIDENCE_MARK).exists()


# --- People, agents, funding, the demo key -------------------------------------------------------------------


def _person(email: str, display_name: str, password: str | None, *, staff: bool = False) -> tuple[User, int]:
    """A user who signed up, confirmed their email (the human identity and the signup grant follow) and was
    verified as a human: the demo's people propose outcomes, sit on dispute panels, own and fund several agents
    and weigh fully in the consensus, which all need it (docs/architecture.md, "What verification unlocks")."""
    created = 0
    user = User.objects.filter(email=email).first()
    if user is None:
        make = User.objects.create_superuser if staff else User.objects.create_user
        user = make(email, password, display_name=display_name)
        created += 1
    # As if they had clicked the link in allauth's confirmation email.
    _, new_address = EmailAddress.objects.get_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    user_email_verified(user=user)  # idempotent: identity and signup grant only the first time
    # As a staff review would (no service raises a level yet); a later run finds it done.
    User.objects.filter(pk=user.pk).exclude(verification_level=VerificationLevel.VERIFIED_HUMAN).update(
        verification_level=VerificationLevel.VERIFIED_HUMAN
    )
    user.refresh_from_db()
    return user, created + new_address


def _seed_people(password: str) -> int:
    created = 0
    users: dict[str, User] = {}
    for email, display_name, staff in LOGINS:
        users[email], n = _person(email, display_name, password, staff=staff)
        created += n
    for person in catalogue.PEOPLE:
        # People of the demo's past: no password, they never sign in.
        users[person.email], n = _person(person.email, person.display_name, None)
        created += n

    agents: dict[str, Identity] = {}
    for owner_email, handle, provenance in AGENTS:
        agent = Identity.objects.filter(handle=handle).first()
        if agent is not None and agent.owner_id != users[owner_email].pk:
            raise CommandError(f"@{handle} exists and does not belong to {owner_email}: not a demo database?")
        if agent is None:
            agent = agent_create(owner=users[owner_email], handle=handle, **provenance)
            if agent.autonomy_level == AutonomyLevel.SUPERVISED:
                # Its owner reviews its large orders only: the demo's history trades stay below the bar.
                agent = agent_supervision_set(
                    owner=users[owner_email], agent=agent, review_orders_above=SUPERVISED_REVIEW_ABOVE
                )
            created += 1
        agents[handle] = agent

    for owner_email, handle, amount in FUNDING:
        transfer = wallet_fund_agent(
            owner=users[owner_email],
            agent=agents[handle],
            amount=amount * CREDIT,
            idempotency_key=f"demo-seed:{handle}",
        )
        created += not transfer.replayed
    return created


def _seed_hosting() -> int:
    """Host the demo's hosted agents (once): due at once, so the first beat tick after start runs them."""
    created = 0
    for handle, hosting in HOSTED:
        agent = Identity.objects.get(handle=handle)
        if hosted_agent_for(agent=agent) is None:
            hosted_agent_create(owner=agent.owner, agent=agent, **hosting)
            created += 1
    return created


def _seed_flags() -> int:
    """One flag in the moderators' queue (once), so /moderation/ shows its work on a fresh install: Bob flags the
    newest rationale on an open claim that is neither his nor his agents'."""
    bob = User.objects.get(email=LOGINS[1][0])
    flagger = bob.human_identity
    if Flag.objects.filter(flagger=flagger).exists():
        return 0
    belief = (
        Belief.objects.filter(claim__status=ClaimStatus.OPEN)
        .exclude(rationale="")
        .exclude(identity__user=bob)
        .exclude(identity__owner=bob)
        .order_by("-pk")
        .first()
    )
    if belief is None:
        return 0
    flag_create(
        flagger=flagger,
        target_type=Target.BELIEF,
        target_id=belief.pk,
        reason=FlagReason.MISLEADING,
        note="This reads as a sure thing; the linked study says the opposite.",
    )
    return 1


def _seed_key() -> int:
    """The token is shown once by design; the demo keeps it in the local data folder so every run can
    print it again. A key is created only while the agent has no demo key."""
    agent = Identity.objects.get(handle=KEYED_AGENT)
    if ApiKey.objects.filter(identity=agent, name=KEY_NAME).exists():
        return 0
    _, token = api_key_create(agent=agent, created_by=agent.owner, name=KEY_NAME, scopes=["read", "trade"])
    token_file = _token_file()
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return 1


def _token_file() -> Path:
    return Path(settings.DATA_DIR) / "demo-api-key.txt"


# --- Planning: what happens when (pure, seeded) ---------------------------------------------------------------


@dataclass
class Act:
    at: datetime
    forecaster: catalogue.Forecaster
    noise: float  # the forecaster's draw of N(0, 1) for this claim
    amount: int  # credits, for a trade
    trade: bool


@dataclass
class Plan:
    key: str
    template: catalogue.Template
    author: str  # email
    title: str
    criteria: str
    opens_at: datetime
    closes_at: datetime
    liquidity: int  # credits
    truth: float  # hidden log-odds of YES
    acts: list[Act]
    outcome: bool | None = None  # the history's: drawn from the truth
    proposes_at: datetime | None = None
    settles_at: datetime | None = None
    claim: Claim | None = field(default=None, repr=False)


def _closing(template: catalogue.Template, nominal: datetime) -> datetime:
    """When a claim made from the template closes: a monthly figure's claim on the month's last day, a
    weekly chart's on the chart's day, any other on the nominal day; at 20:00 UTC."""
    day = nominal.date()
    if template.monthly:
        day = day.replace(day=monthrange(day.year, day.month)[1])
    elif template.weekday is not None:
        day += timedelta(days=(template.weekday - day.weekday()) % 7)
    return datetime.combine(day, CLOSING_HOUR)


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def _texts(template: catalogue.Template, opens_at: datetime, closes_at: datetime) -> tuple[str, str]:
    values = {
        "date": _day(closes_at),
        "start": _day(opens_at),
        "month": f"{closes_at:%B %Y}",
        "month_name": f"{closes_at:%B}",
    }
    return template.title.format(**values), template.criteria.format(**values)


def _acts(rng: random.Random, domain: str, opens_at: datetime, until: datetime, *, draw: float = 1.0) -> list[Act]:
    """Who forecasts the claim, when, with which draw of their noise, and how; `draw` multiplies each
    forecaster's chance of taking part (a live claim on the front page draws more of them)."""
    acts: list[Act] = []
    span = (until - opens_at).total_seconds()
    for forecaster in catalogue.FORECASTERS:
        if forecaster.strategy.startswith("extremize:"):
            continue  # it follows its person's own forecast (below)
        chance = rng.random()
        early = domain in forecaster.early
        at = opens_at + timedelta(seconds=span * (rng.uniform(0.005, 0.05) if early else rng.uniform(0.05, 0.85)))
        noise, amount = rng.gauss(0, 1), rng.randint(*forecaster.budget)
        trade = forecaster.action == "trade" or (forecaster.action == "mixed" and rng.random() < 0.5)
        if chance < draw * forecaster.in_domain(forecaster.participation, domain):
            acts.append(Act(at=at, forecaster=forecaster, noise=noise, amount=amount, trade=trade))
    for follower in catalogue.FORECASTERS:
        if follower.strategy.startswith("extremize:"):
            leader = follower.strategy.removeprefix("extremize:")
            for act in [a for a in acts if a.forecaster.who == leader]:
                amount = rng.randint(*follower.budget)
                acts.append(
                    Act(at=act.at + timedelta(minutes=7), forecaster=follower, noise=0.0, amount=amount, trade=True)
                )
    return sorted(acts, key=lambda a: a.at)


def _authors() -> list[str]:
    return [email for email, _, staff in LOGINS if not staff] + [p.email for p in catalogue.PEOPLE]


def plan_history(anchor: datetime, count: int, *, taken: set[str] = frozenset()) -> list[Plan]:
    """`count` resolved claims spread over the months before the anchor, shared out among the domains by
    catalogue.HISTORY_DOMAINS (largest remainders). Each domain's claims cycle through its templates,
    skipping one whose title (its month or day) is `taken` or already planned."""
    if count <= 0:
        return []
    weights = catalogue.HISTORY_DOMAINS
    total = sum(weights.values())
    shares = {domain: count * weight / total for domain, weight in weights.items()}
    counts = {domain: math.floor(share) for domain, share in shares.items()}
    for domain in sorted(shares, key=lambda d: counts[d] - shares[d])[: count - sum(counts.values())]:
        counts[domain] += 1
    earliest, latest = (anchor - span for span in HISTORY_OPENS)
    taken = set(taken)
    authors = _authors()
    plans: list[Plan] = []
    for domain, n in counts.items():
        templates = [t for t in catalogue.TEMPLATES if t.domain == domain]
        for j in range(n):
            key = f"history:{domain}:{j}"
            rng = random.Random(f"{SEED}:demo-seed:{key}")
            opens_at = earliest + (latest - earliest) * (j + 0.5) / n + timedelta(hours=rng.uniform(-72, 72))
            opens_at = opens_at.replace(second=0, microsecond=0)
            nominal = opens_at + timedelta(days=rng.uniform(14, 30))
            for template in templates[j % len(templates) :] + templates[: j % len(templates)]:
                closes_at = _closing(template, nominal)
                title, criteria = _texts(template, opens_at, closes_at)
                if title not in taken:
                    break
            else:
                raise CommandError(f"No free title for the history's claim {key}: add templates in {domain}.")
            taken.add(title)
            truth = rng.gauss(0, TRUTH_SD)
            outcome = rng.random() < maths.sigmoid(truth)
            proposes_at = closes_at + timedelta(hours=rng.uniform(12, 72))
            window = timedelta(hours=settings.CREDENCE_CHALLENGE_WINDOW_HOURS)
            plans.append(
                Plan(
                    key=key,
                    template=template,
                    author=authors[(len(plans) * 7) % len(authors)],
                    title=title,
                    criteria=criteria,
                    opens_at=opens_at,
                    closes_at=closes_at,
                    liquidity=rng.choice([20, 30, 40, 50]),
                    truth=truth,
                    acts=_acts(rng, domain, opens_at, closes_at),
                    outcome=outcome,
                    proposes_at=proposes_at,
                    settles_at=proposes_at + window + timedelta(hours=rng.uniform(1, 12)),
                )
            )
    return plans


def plan_open(anchor: datetime) -> list[Plan]:
    """The open claims (catalogue.OPEN_CLAIMS), opened in the days before the anchor, forecast since."""
    plans = []
    for n, (author, key, days_to_close, days_open, liquidity) in enumerate(catalogue.OPEN_CLAIMS):
        template = catalogue.TEMPLATES_BY_KEY[key]
        rng = random.Random(f"{SEED}:demo-seed:open:{key}")
        opens_at = (anchor - timedelta(days=days_open, hours=rng.uniform(0, 8))).replace(second=0, microsecond=0)
        closes_at = _closing(template, opens_at + timedelta(days=days_to_close))
        title, criteria = _texts(template, opens_at, closes_at)
        plans.append(
            Plan(
                key=f"open:{n}",
                template=template,
                author=author,
                title=title,
                criteria=criteria,
                opens_at=opens_at,
                closes_at=closes_at,
                liquidity=liquidity,
                truth=rng.gauss(0, TRUTH_SD),
                acts=_acts(rng, template.domain, opens_at, anchor - LAST_ACT, draw=OPEN_DRAW),
            )
        )
    return plans


# --- The timeline: the plans, run through the services in time order ----------------------------------------


def _calibrated_scale(sigma: float) -> float:
    """What a calibrated forecaster multiplies its signal by: the posterior mean of the true log-odds given
    the signal, shrunk again for the posterior's own spread (as the reputation simulation's calibrated_scale)."""
    shrink = TRUTH_SD**2 / (TRUTH_SD**2 + sigma**2)
    variance = TRUTH_SD**2 * sigma**2 / (TRUTH_SD**2 + sigma**2)
    return shrink / math.sqrt(1 + math.pi * variance / 8)


class _Timeline:
    def __init__(self, clock: Clock, anchor: datetime) -> None:
        self.clock = clock
        self.anchor = anchor
        self.identities: dict[str, Identity] = {}
        self.domains = {domain.slug: domain for domain in Domain.objects.all()}
        self.said: dict[tuple[str, str], float] = {}  # (plan key, who) -> the probability it gave
        self.tally: dict[str, tuple[int, int]] = {}  # domain -> (YES outcomes, resolved claims) so far
        self.created = 0

    def identity(self, who: str) -> Identity:
        if who not in self.identities:
            if "@" in who:
                self.identities[who] = Identity.objects.get(user__email=who)
            else:
                self.identities[who] = Identity.objects.get(handle=who)
        return self.identities[who]

    def run(self, history: list[Plan], open_claims: list[Plan]) -> int:
        """Every event of the plans that still have to happen, in time order, each at its time."""
        existing = set(
            Claim.objects.filter(title__in=[p.title for p in open_claims]).values_list("author__user__email", "title")
        )
        todo = [p for p in open_claims if (p.author, p.title) not in existing]
        events: list[tuple[datetime, int, Callable[[], None]]] = []

        def at(moment: datetime, action: Callable[[], None]) -> None:
            insort(events, (moment, len(events), action), key=lambda e: (e[0], e[1]))

        for plan in [*history, *todo]:
            at(plan.opens_at, lambda plan=plan: self.open(plan))
            for act in plan.acts:
                at(act.at, lambda plan=plan, act=act: self.forecast(plan, act))
            if plan.outcome is not None:
                at(plan.closes_at, claims_close_due)
                at(plan.proposes_at, lambda plan=plan: self.propose(plan))
                at(plan.settles_at, lambda plan=plan: self.settle(plan))
        for moment, _n, action in events:
            self.clock.set(moment)
            action()
        self.clock.set(self.anchor - LAST_ACT)
        for plan in todo:
            reputation_services.consensus_refresh(claim=plan.claim)
        if history:
            # The history's notifications were read long ago.
            unread = Notification.objects.filter(read_at__isnull=True).values_list("user_id", flat=True)
            for user in User.objects.filter(pk__in=unread).order_by("pk"):
                notifications_mark_all_read(user=user)
        return self.created

    def open(self, plan: Plan) -> None:
        plan.claim = claim_create(
            author=self.identity(plan.author),
            title=plan.title,
            criteria=plan.criteria,
            domain=self.domains[plan.template.domain],
            closes_at=plan.closes_at,
            resolve_by=plan.closes_at + timedelta(days=21),
            liquidity=plan.liquidity * CREDIT,
            tags=list(plan.template.tags),
            publish=True,
        )
        self.created += 1

    def belief(self, plan: Plan, act: Act) -> float | None:
        forecaster = act.forecaster
        domain = plan.template.domain
        if forecaster.strategy == "base-rate":
            yes, n = self.tally.get(domain, (0, 0))
            return (yes + 1) / (n + 2)
        if forecaster.strategy == "consensus":
            view = reputation_selectors.consensus_compute(plan.claim)
            return view.probability if view.contributors else None
        if forecaster.strategy.startswith("extremize:"):
            leader = self.said.get((plan.key, forecaster.strategy.removeprefix("extremize:")))
            factor = forecaster.extra["factor"]
            return None if leader is None else maths.sigmoid(factor * maths.logit(leader))
        sigma = forecaster.in_domain(forecaster.sigma, domain)
        scale = forecaster.scale if forecaster.scale is not None else _calibrated_scale(sigma)
        return maths.sigmoid(scale * (plan.truth + sigma * act.noise) + forecaster.extra.get("bias", 0.0))

    def forecast(self, plan: Plan, act: Act) -> None:
        probability = self.belief(plan, act)
        if probability is None:
            return
        who = act.forecaster.who
        # People say whole percents; agents a tenth of one.
        digits = 2 if "@" in who else 3
        bound = 10**-digits
        probability = round(min(max(probability, bound), 1 - bound), digits)
        self.said[(plan.key, who)] = probability
        identity = self.identity(who)
        key = f"demo-seed:{plan.key}:{who}"
        belief = Decimal(f"{probability:.{digits}f}")
        if act.trade:
            order = Order(kind="belief", belief=belief, amount=act.amount * CREDIT)
            try:
                trade_place(identity=identity, claim=plan.claim, order=order, idempotency_key=key)
                return
            except (NothingToTrade, PriceLimitCrossed, InsufficientCredit):
                pass  # the price is already there, or the wallet ran dry: it says what it thinks instead
        reputation_services.belief_state(identity=identity, claim=plan.claim, probability=belief, idempotency_key=key)

    def propose(self, plan: Plan) -> None:
        resolution_propose(
            claim=plan.claim,
            proposer=self.identity(MODERATOR),
            outcome=Outcome.YES if plan.outcome else Outcome.NO,
            evidence=EVIDENCE.format(source=plan.template.source),
        )

    def settle(self, plan: Plan) -> None:
        resolution_finalize(claim=plan.claim)
        market_settle(claim=plan.claim)  # scores the claim through the reputation hook
        yes, n = self.tally.get(plan.template.domain, (0, 0))
        self.tally[plan.template.domain] = (yes + bool(plan.outcome), n + 1)
