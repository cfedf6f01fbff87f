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
    mirrors: str | None = None  # a twin: the key of the swarm whose claims and beliefs it copies
    hidden: list[float] = field(default_factory=list)  # expected log score per domain (the hidden skill)
    identities: list[Identity] = field(default_factory=list)

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


def population(*, sources: int, domains: int, rng: random.Random) -> list[Source]:
    """`sources` forecasting identities: sybil swarms and their twins, noise sources, overconfident ones,
    specialists (sharp in one domain, poor elsewhere) and generalists."""
    if sources < 10:
        raise ValueError("A population needs at least 10 sources.")
    swarm_count = 2 if sources >= 40 else 1
    swarm_size = min(5, max(3, sources // 12))
    noise = max(1, round(sources * 0.1))
    rest = sources - swarm_count * (swarm_size + 1) - noise
    overconfident = max(1, round(rest * 0.15))
    specialists = round((rest - overconfident) * 0.5)
    generalists = rest - overconfident - specialists
    people: list[Source] = []

    def add(role: str, sigma: list[float], scale: list[float], **kwargs) -> None:
        n = len(people) + 1
        kind = kwargs.pop("kind", "human" if n % 2 else "agent")
        key = kwargs.pop("key", f"{kind[0]}{n:02d}")
        people.append(
            Source(
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
        )

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
    for s in range(1, swarm_count + 1):
        # A cheap bot copied into several agents: mediocre and overconfident, trading to push the price.
        sigma = [rng.uniform(1.2, 1.8) for _ in range(domains)]
        common = {"action": "trade", "participation": 0.6, "budget": (10, 30)}
        add("swarm", sigma, [1.0] * domains, kind="agent", key=f"s{s}", members=swarm_size, **common)
        add("twin", list(sigma), [1.0] * domains, kind="human", key=f"t{s}", mirrors=f"s{s}", **common)
    return people


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
                q = bounded(maths.sigmoid(scale * (truth + sigma * noise)))
                p = maths.sigmoid(truth)
                total += p * math.log(q) + (1 - p) * math.log(1 - q)
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
