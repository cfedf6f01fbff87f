"""The simulated world, with no database: claims' hidden truths, the sources who see them through their
own noise, and the oracle told every source's hidden skill."""

import math
import random
from dataclasses import dataclass, field

from apps.identities.models import Identity
from apps.reputation import maths

TRUTH_SD = 1.5  # spread of the claims' true log-odds: 95% of true probabilities fall in [0.05, 0.95]
BELIEF_BOUNDS = (0.001, 0.999)  # what a simulated source ever reports
NOISE_SIGMA, NOISE_SCALE = 10.0, 0.15  # a noise source: almost no signal, reported as a random-looking belief
SKILL_DRAWS = 4000  # Monte Carlo draws for each source's hidden expected log score
PARTICIPATION = {"agent": (0.15, 0.45), "human": (0.05, 0.25)}  # chance of forecasting a given claim


@dataclass
class Source:
    """One simulated forecaster; a sybil swarm is one Source acted out by several agents of one owner."""

    key: str  # e.g. "a07" (agent), "h03" (human), "s1" (swarm), "t1" (the swarm's twin)
    role: str  # specialist | generalist | overconfident | noise | swarm | twin
    kind: str  # human | agent
    sigma: list[float]  # per domain index: sd of the noise on its log-odds signal (the hidden skill)
    scale: list[float]  # per domain index: reported log-odds = scale * signal
    action: str  # trade | state | mixed
    participation: float  # chance of forecasting a given claim
    budget: tuple[int, int]  # credits per trade, low and high
    members: int = 1  # agents acting it out (a swarm's size)
    mirrors: str | None = None  # a twin or copier: the key of the source whose claims and beliefs it copies
    jitter: float = 0.0  # a copier's log-odds noise on what it copies (0: a twin, an exact copy placed before)
    lies: float = 0.0  # a manipulator's chance, per claim, of reporting the opposite of what it believes
    hidden: list[float] = field(default_factory=list)  # expected log score per domain (the hidden skill)
    identities: list[Identity] = field(default_factory=list)
    # Whether its owner is a verified human (`simulate(unverified=True)` makes the swarms cheap accounts that are
    # not: their agents spread over several owners, each within the unverified limits).
    verified: bool = True

    @property
    def label(self) -> str:
        return self.identities[0].handle if self.identities else self.key


def calibrated_scale(sigma: float) -> float:
    """What a calibrated source multiplies its signal by: the posterior mean of the true log-odds given the
    signal (prior N(0, TRUTH_SD^2)), shrunk again for the posterior's own spread (probit approximation of
    E[sigmoid]). Pooling such beliefs is under-confident, which is what the extremizing factor corrects."""
    shrink = TRUTH_SD**2 / (TRUTH_SD**2 + sigma**2)
    variance = TRUTH_SD**2 * sigma**2 / (TRUTH_SD**2 + sigma**2)
    return shrink / math.sqrt(1 + math.pi * variance / 8)


POPULATIONS = {
    "today": "the first population: specialists, generalists, overconfident, noise, two swarms and their twins",
    "experts": "skill that really differs: two sharp experts per domain among generalists of widely different "
    "spread, overconfident sources, manipulators, copiers with jitter, noise, two swarms and their twins",
    "alike": "skill that does not differ: every source a calibrated generalist of the same noise",
}


def population(*, sources: int, domains: int, rng: random.Random, kind: str = "today") -> list[Source]:
    """`sources` forecasting identities of one of the POPULATIONS."""
    if sources < 10:
        raise ValueError("A population needs at least 10 sources.")
    if kind == "experts":
        return _experts(sources=sources, domains=domains, rng=rng)
    if kind == "alike":
        return _alike(sources=sources, domains=domains, rng=rng)
    if kind != "today":
        raise ValueError(f"Unknown population {kind!r}: one of {', '.join(POPULATIONS)}.")
    return _today(sources=sources, domains=domains, rng=rng)


class _Builder:
    """Sources numbered as they are added, people and agents alternating unless said."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: list[Source] = []

    def add(self, role: str, sigma: list[float], scale: list[float], **kwargs) -> Source:
        rng = self.rng
        n = len(self.people) + 1
        kind = kwargs.pop("kind", "human" if n % 2 else "agent")
        key = kwargs.pop("key", f"{kind[0]}{n:02d}")
        source = Source(
            key=key,
            role=role,
            kind=kind,
            sigma=sigma,
            scale=scale,
            action=kwargs.pop("action", rng.choice(["trade", "trade", "state", "mixed", "mixed"])),
            # Agents forecast broadly, people pick their claims.
            participation=kwargs.pop("participation", rng.uniform(*PARTICIPATION[kind])),
            budget=kwargs.pop("budget", (5, rng.randint(15, 40))),
            **kwargs,
        )
        self.people.append(source)
        return source

    def swarms(self, count: int, size: int, domains: int) -> None:
        for s in range(1, count + 1):
            # A cheap bot copied into several agents: mediocre and overconfident, trading to push the price.
            sigma = [self.rng.uniform(1.2, 1.8) for _ in range(domains)]
            common = {"action": "trade", "participation": 0.6, "budget": (10, 30)}
            self.add("swarm", sigma, [1.0] * domains, kind="agent", key=f"s{s}", members=size, **common)
            self.add("twin", list(sigma), [1.0] * domains, kind="human", key=f"t{s}", mirrors=f"s{s}", **common)


EXPERTS_PER_DOMAIN = 2
EXPERT_SIGMA = (0.2, 0.4)  # an expert's noise at home: a tenth to a quarter of a generalist's variance
GENERALIST_SIGMA = (0.6, 2.4)  # log-uniform: generalists whose spread differs fourfold
OVERCONFIDENT_SCALE = (1.6, 2.4)  # reports its signal stretched: twice everyone's spread
MANIPULATOR_LIES = 0.3  # a manipulator reports the opposite of its belief, surer, on this share of claims
COPIER_JITTER = 0.03  # log-odds sd a copier adds to what it copies: a little, mostly within COPY_TOLERANCE
MARKET = "market"  # what a herder mirrors: the market price at its turn


def _experts(*, sources: int, domains: int, rng: random.Random) -> list[Source]:
    """Skill that really differs: EXPERTS_PER_DOMAIN sharp experts per domain (calibrated, forecasting
    much of their domain, generalists elsewhere), generalists whose spread differs fourfold, overconfident
    sources, manipulators who lie on some claims, copiers of the experts with a little jitter, noise, and
    herders who echo the market price, and two swarms with their twins."""
    build = _Builder(rng)
    experts = EXPERTS_PER_DOMAIN * domains
    if sources < experts + 20:
        raise ValueError(f"The experts population needs at least {experts + 20} sources.")
    noise, overconfident, manipulators, copiers, herders = 3, 6, 4, 3, 2
    swarm_size = 4
    generalists = sources - experts - noise - overconfident - manipulators - copiers - herders - 2 * (swarm_size + 1)
    homes = []
    for e in range(experts):
        home = e % domains
        homes.append(home)
        sigma = [rng.uniform(*EXPERT_SIGMA) if d == home else rng.uniform(1.0, 1.8) for d in range(domains)]
        build.add("expert", sigma, [calibrated_scale(s) for s in sigma], participation=rng.uniform(0.5, 0.8))
    for _ in range(generalists):
        sigma = [math.exp(rng.uniform(*map(math.log, GENERALIST_SIGMA))) for _ in range(domains)]
        build.add("generalist", sigma, [calibrated_scale(s) for s in sigma])
    for _ in range(overconfident):
        sigma = [rng.uniform(0.8, 1.6) for _ in range(domains)]
        build.add("overconfident", sigma, [rng.uniform(*OVERCONFIDENT_SCALE)] * domains)
    for _ in range(manipulators):
        sigma = [rng.uniform(0.6, 1.0) for _ in range(domains)]
        build.add("manipulator", sigma, [calibrated_scale(s) for s in sigma], lies=MANIPULATOR_LIES)
    for c in range(copiers):
        original = build.people[c * (domains + 1) % experts]  # experts of different domains
        sigma = [
            math.sqrt(s**2 + (COPIER_JITTER / k) ** 2) for s, k in zip(original.sigma, original.scale, strict=True)
        ]
        build.add("copier", sigma, list(original.scale), mirrors=original.key, jitter=COPIER_JITTER, action="state")
    for _ in range(herders):
        # Echoes the market price at its turn: says what is already known (hidden skill: a generalist's).
        build.add("herder", [1.5] * domains, [calibrated_scale(1.5)] * domains, mirrors=MARKET, jitter=COPIER_JITTER)
    for _ in range(noise):
        build.add("noise", [NOISE_SIGMA] * domains, [NOISE_SCALE] * domains, action="mixed")
    build.swarms(2, swarm_size, domains)
    return build.people


ALIKE_SIGMA = 1.0


def _alike(*, sources: int, domains: int, rng: random.Random) -> list[Source]:
    """Skill that does not differ: every source a calibrated generalist of noise ALIKE_SIGMA everywhere.
    Any weight the model learns here is luck; it should cost nothing."""
    build = _Builder(rng)
    for _ in range(sources):
        build.add("generalist", [ALIKE_SIGMA] * domains, [calibrated_scale(ALIKE_SIGMA)] * domains)
    return build.people


def _today(*, sources: int, domains: int, rng: random.Random) -> list[Source]:
    """The first population: sybil swarms and their twins, noise sources, overconfident ones, specialists
    (sharp in one domain, poor elsewhere) and generalists."""
    swarm_count = 2 if sources >= 40 else 1
    swarm_size = min(5, max(3, sources // 12))
    noise = max(1, round(sources * 0.1))
    rest = sources - swarm_count * (swarm_size + 1) - noise
    overconfident = max(1, round(rest * 0.15))
    specialists = round((rest - overconfident) * 0.5)
    generalists = rest - overconfident - specialists
    build = _Builder(rng)
    add = build.add
    for _ in range(specialists):
        # Sharp in one domain, and just as sure of itself in the others, where it knows far less.
        good = rng.randrange(domains)
        sigma = [rng.uniform(0.3, 0.6) if d == good else rng.uniform(1.5, 3.0) for d in range(domains)]
        add("specialist", sigma, [calibrated_scale(sigma[good])] * domains)
    for _ in range(generalists):
        sigma = [rng.uniform(0.7, 1.5) for _ in range(domains)]
        add("generalist", sigma, [calibrated_scale(s) for s in sigma])
    for _ in range(overconfident):
        sigma = [rng.uniform(0.6, 1.5) for _ in range(domains)]
        add("overconfident", sigma, [1.0] * domains)  # reports its raw signal: right often, sure always
    for _ in range(noise):
        add("noise", [NOISE_SIGMA] * domains, [NOISE_SCALE] * domains, action="mixed")
    build.swarms(swarm_count, swarm_size, domains)
    return build.people


LIE_STRETCH = 1.5  # a lie: the opposite of the belief, this much surer in log-odds


def report(source: Source, d: int, signal: float, rng: random.Random) -> float:
    """What a source reports (a probability) in domain d given its signal; a manipulator lies on some claims.
    The generator is drawn from only for a manipulator, so other populations' streams are unchanged."""
    log_odds = source.scale[d] * signal
    if source.lies and rng.random() < source.lies:
        log_odds = -LIE_STRETCH * log_odds
    return maths.sigmoid(log_odds)


def expected_log_scores(people: list[Source], *, seed: int) -> None:
    """Each source's hidden skill per domain, in nats as the model's skill is: the expected log score of
    what it reports over the claims' distribution of true probabilities (Monte Carlo, common draws). The
    model measures skill against the market price instead, so the two are compared by rank."""
    rng = random.Random(f"{seed}:skill")
    draws = [(rng.gauss(0, TRUTH_SD), rng.gauss(0, 1)) for _ in range(SKILL_DRAWS)]
    for source in people:
        source.hidden = []
        for sigma, scale in zip(source.sigma, source.scale, strict=True):
            total = 0.0
            for truth, noise in draws:
                p = maths.sigmoid(truth)
                for share, stretch in ((1 - source.lies, 1.0), (source.lies, -LIE_STRETCH)):
                    if share:
                        q = bounded(maths.sigmoid(stretch * scale * (truth + sigma * noise)))
                        total += share * (p * math.log(q) + (1 - p) * math.log(1 - q))
            source.hidden.append(total / len(draws))


def bounded(p: float) -> float:
    return min(max(p, BELIEF_BOUNDS[0]), BELIEF_BOUNDS[1])


def oracle(reports: list[tuple[float, float, float]]) -> float:
    """What a forecaster who knew every source's hidden skill would say: each (probability, sigma, scale)
    report turned back into its signal, the signals combined by Bayes' rule on the prior of true log-odds.
    Not reachable by any model (it is told the hidden skills); it shows how much there is to gain."""
    precision, total = 1 / TRUTH_SD**2, 0.0
    for probability, sigma, scale in reports:
        precision += 1 / sigma**2
        total += maths.logit(probability) / scale / sigma**2
    mean, variance = total / precision, 1 / precision
    return maths.sigmoid(mean / math.sqrt(1 + math.pi * variance / 8))
