"""A simulated population run through the real services, to measure the reputation model (docs/reputation.md).

Each claim has a hidden true probability; its outcome is drawn from it. Each source sees the claim's true
log-odds plus Gaussian noise whose spread is its hidden skill in that claim's domain, turns that signal into
a probability (calibrated, overconfident, or next to no information at all) and either states it
(belief_state) or trades toward it (a belief order with a budget). Sybil swarms are one owner's agents that
all report one shared noisy belief; each swarm has a twin: a person of their own who copies the swarm, stating
its belief on every claim it forecasts (the same skill and the same luck). Alone, the twin is one source to
compare the swarm with; beside the swarm, it is a copy under a second owner, which the model should find
(apps/reputation/maths.py, "Independence beyond the owner") and count once.

Claims run one after another through claim_create, trade_place / belief_state, claims_close_due,
resolution_propose, resolution_finalize and market_settle (which scores them through the reputation hook),
so every consensus at close uses only the reliability learned from claims resolved before it. Time passes
as in tests/reputation/conftest.py: closes_at is moved to now once the forecasts are in, and the challenge
deadline to the past. The measurements are taken on the later claims only (out of sample).

Nothing here is random but the seeded generator: the same arguments give the same population, truths,
signals and outcomes.
"""

import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.services import user_email_verified
from apps.core.amounts import CREDIT
from apps.identities.models import AutonomyLevel, Identity
from apps.identities.services import agent_create
from apps.ledger.errors import InsufficientCredit
from apps.ledger.services import EXTERNAL_WORLD, ledger_transfer, system_account, wallet_for
from apps.markets import hooks
from apps.markets.errors import NothingToTrade, PriceLimitCrossed
from apps.markets.models import Claim, Domain, Outcome, Resolution
from apps.markets.pricing import Order
from apps.markets.resolution import claims_close_due, resolution_finalize, resolution_propose
from apps.markets.services import claim_create, trade_place
from apps.markets.settlement import market_settle
from apps.reputation import maths, selectors, services
from apps.reputation.models import Agreement, Calibration, ClaimRecord, ExtremizingFit, Reliability, Score

TRUTH_SD = 1.5  # spread of the claims' true log-odds: 95% of true probabilities fall in [0.05, 0.95]
BELIEF_BOUNDS = (0.001, 0.999)  # what a simulated source ever reports
LIQUIDITY_CREDITS = 100  # LMSR b of every simulated market
FUNDING_CREDITS = 20_000  # each forecasting source's bankroll, from outside (bought credit)
NOISE_SIGMA, NOISE_SCALE = 10.0, 0.15  # a noise source: almost no signal, reported as a random-looking belief
SKILL_DRAWS = 4000  # Monte Carlo draws for each source's hidden expected log score
PARTICIPATION = {"agent": (0.15, 0.45), "human": (0.05, 0.25)}  # chance of forecasting a given claim
MIN_FORECASTS_FOR_SPEARMAN = 5  # (source, domain) pairs with fewer resolved forecasts are left out


# --- The population (pure: no database) ---------------------------------------------------------------


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
                q = _bounded(maths.sigmoid(scale * (truth + sigma * noise)))
                p = maths.sigmoid(truth)
                total += p * math.log(q) + (1 - p) * math.log(1 - q)
            source.hidden.append(total / len(draws))


def _bounded(p: float) -> float:
    return min(max(p, BELIEF_BOUNDS[0]), BELIEF_BOUNDS[1])


# --- Measurements (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    n: int
    brier: float | None  # against the outcomes drawn
    log_score: float | None
    expected_brier: float | None  # against the true probabilities: what the Brier score is on average


def scored(rows: list[tuple[float, "ClaimResult"]]) -> Scored:
    """Each (probability, claim) row scored against the claim's outcome, and against its true probability
    t: the expected Brier score (p - t)^2 + t(1 - t), the mean of the Brier score over the outcomes the
    claim could have had. The simulation knows t, so it can take that mean exactly; on 100 claims the
    outcomes drawn move a Brier score by about +-0.01, more than the differences being measured."""
    if not rows:
        return Scored(0, None, None, None)
    n = len(rows)
    return Scored(
        n,
        sum(maths.brier(p, r.outcome) for p, r in rows) / n,
        sum(maths.log_score(p, r.outcome) for p, r in rows) / n,
        sum((p - r.truth) ** 2 + r.truth * (1 - r.truth) for p, r in rows) / n,
    )


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # ties share their average rank
        i = j + 1
    return ranks


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (Pearson's on average ranks); None when undefined."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx, vy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return None
    return cov / math.sqrt(vx * vy)


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


Stats = dict[int, tuple[maths.Stats, maths.Stats]]  # identity id -> (domain, overall) statistics


def consensus_of(voices: list[maths.Voice], alpha: float, stats: Stats, *, capped: bool = True) -> float:
    """The consensus the voices give (0.5 without any), pooled as selectors.consensus_compute pools them;
    capped=False drops the one-owner cap, to show what it prevents."""
    if capped:
        weights = maths.effective_weights(voices, selectors.combined_weights(voices, stats))
    else:
        weights = {v.identity_id: v.weight for v in voices}
    pooled = maths.pooled_logit(voices, weights)
    return 0.5 if pooled is None else maths.sigmoid(alpha * pooled)


@dataclass(frozen=True)
class SybilCheck:
    """One swarm on one claim: how far it moved the consensus, and how far one source of its skill would.
    Each shift is taken against the consensus of the other voices, neither the swarm nor its twin among
    them, so the swarm and its twin are each measured alone, and then together."""

    swarm: str
    claim_id: int
    members: int
    shift: float  # |consensus with the swarm - consensus without it|, its twin absent
    one_member: float  # the largest shift any single member gives on its own
    uncapped: float  # the swarm's shift if the one-owner cap did not exist
    weight: float  # the swarm's weight after the owner cap (all its members together)
    twin_weight: float | None  # its twin's weight
    twin: float | None  # the shift its twin (the same beliefs, from one identity) gives on the same claim, alone
    together: float | None = None  # the shift of the swarm and its twin together (a copier beside its original)


def sybil_check(
    swarm: str, claim_id: int, voices: list[maths.Voice], stats: Stats, members: set[int], twin: int | None, alpha
) -> SybilCheck | None:
    """Compare, on one claim and with the weights and independence groups as they stood at close, the
    consensus without the swarm and its twin, with the swarm, with each single member, with the twin,
    and with both."""
    inside = [v for v in voices if v.identity_id in members]
    if len(inside) < 2:
        return None
    twins = [v for v in voices if v.identity_id == twin]
    rest = [v for v in voices if v.identity_id not in members and v.identity_id != twin]
    base = consensus_of(rest, alpha, stats)
    swarm_in = [*rest, *inside]
    weights = maths.effective_weights(swarm_in, selectors.combined_weights(swarm_in, stats))
    twin_shift = twin_weight = together = None
    if twins:
        twin_in = [*rest, *twins]
        twin_shift = abs(consensus_of(twin_in, alpha, stats) - base)
        twin_weight = maths.effective_weights(twin_in, selectors.combined_weights(twin_in, stats))[twin]
        together = abs(consensus_of(voices, alpha, stats) - base)
    return SybilCheck(
        swarm=swarm,
        claim_id=claim_id,
        members=len(inside),
        shift=abs(consensus_of(swarm_in, alpha, stats) - base),
        one_member=max(abs(consensus_of([*rest, v], alpha, stats) - base) for v in inside),
        uncapped=abs(consensus_of(swarm_in, alpha, stats, capped=False) - base),
        weight=sum(weights[v.identity_id] for v in inside),
        twin_weight=twin_weight,
        twin=twin_shift,
        together=together,
    )


# --- The run (through the services) -------------------------------------------------------------------


@dataclass
class ClaimResult:
    index: int
    claim_id: int
    domain: int  # index into the run's domains
    truth: float
    outcome: bool
    market: float
    consensus: float
    mean: float  # unweighted mean of the contributors' probabilities
    equal_pool: float  # log-odds pooled with equal weights (no reliability, no cap, no extremizing)
    oracle: float  # Bayes with the hidden skills known (one report per independent signal)
    forecasts: dict[int, float]  # identity id -> its probability at close
    contributors: int
    scores: dict[int, float] = field(default_factory=dict)  # identity id -> its relative log score


@dataclass
class Report:
    tag: str
    seed: int
    claims: int
    sources: int
    domains: list[str]
    warmup: int
    seconds: float
    market: Scored
    consensus: Scored
    mean: Scored
    equal_pool: Scored
    oracle: Scored
    best: "Best"  # the best single source: the lowest expected Brier on the tested claims
    best_after: "Best"  # the lowest Brier against the outcomes drawn on the tested claims: the luckiest
    best_before: "Best"  # the lowest Brier on the warm-up claims, then scored on the tested ones
    best_per_domain: "Best"  # per domain, the source with the highest hidden skill there
    spearman_skill: float | None
    spearman_weight: float | None
    spearman_pairs: int
    spearman_by_domain: dict[str, float | None]
    sybil: list[SybilCheck]
    alpha: float
    alpha_claims: int
    roles: dict[str, int]
    calibration_pairs: int = 0  # (owner, domain) pairs with enough resolved claims to compare
    calibration_error: float | None = None  # median |ln(learned factor / ideal factor)| over them
    calibration_error_without: float | None = None  # the same for a factor of 1 (no calibration)
    copy_pairs: list[tuple[str, str, int, int]] = field(default_factory=list)  # owner pairs counted as one
    copy_pairs_true: int = 0  # of those, a swarm's owner and its twin
    twins: int = 0  # twins in the population: the copies there were to find
    people: list[Source] = field(default_factory=list)
    results: list[ClaimResult] = field(default_factory=list)

    @property
    def sybil_excess(self) -> float:
        """How much further any swarm moved the consensus than its best single member would: <= 0 wanted."""
        return max((c.shift - c.one_member for c in self.sybil), default=0.0)

    @property
    def targets(self) -> dict[str, bool]:
        """The issue's targets, Brier scores taken as expected against the true probabilities."""
        b = self.consensus.expected_brier
        return {
            "consensus beats the market price": b is not None and b < self.market.expected_brier,
            "consensus beats the unweighted mean": b is not None and b < self.mean.expected_brier,
            "consensus beats the best single source (on its claims)": self.best.beaten,
            "a swarm moves the consensus no more than its best single member": self.sybil_excess <= 1e-9,
            "a swarm moves the consensus no more than its lone twin (on average)": self.swarm_vs_twin <= 1e-9,
            "a copy under a second owner adds nothing to what it copies": self.copy_excess <= 1e-9,
        }

    @property
    def stricter(self) -> dict[str, bool]:
        """Comparisons beyond the targets, reported beside them."""
        b = self.consensus.brier
        return {
            "consensus beats each domain's most skilled source (on their claims)": self.best_per_domain.beaten,
            "consensus beats the market price, against the outcomes drawn": b is not None and b < self.market.brier,
            "consensus beats the unweighted mean, against the outcomes drawn": b is not None and b < self.mean.brier,
            "consensus beats the source chosen on the warm-up claims (on its claims)": self.best_before.beaten,
        }

    @property
    def copy_excess(self) -> float:
        """How much further a swarm and its twin together moved the consensus than the further of the two
        alone: what a copy under a second owner adds (<= 0 wanted)."""
        paired = [c for c in self.sybil if c.together is not None]
        return max((c.together - max(c.shift, c.twin) for c in paired), default=0.0)

    @property
    def swarm_vs_twin(self) -> float:
        """Mean shift of the consensus by the swarms minus that by their lone twins, on the claims both
        forecast (<= 0 wanted): a swarm should weigh no more than one source with the same beliefs."""
        paired = [c for c in self.sybil if c.twin is not None]
        return sum(c.shift - c.twin for c in paired) / len(paired) if paired else 0.0


def tag_taken(tag: str) -> bool:
    return User.objects.filter(email__startswith=f"{tag}-", email__endswith="@sim.example.com").exists()


def free_tag(base: str) -> str:
    """`base`, or `base-2`, `base-3`...: the first tag no earlier run on this database used."""
    tag, n = base, 1
    while tag_taken(tag):
        n += 1
        tag = f"{base}-{n}"
    return tag


def _user(tag: str, key: str, display_name: str) -> User:
    """A user who signed up and confirmed their email (the signup grant and human identity follow)."""
    email = f"{tag}-{key}@sim.example.com"
    user = User.objects.create_user(email, None, display_name=display_name)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    user_email_verified(user=user)
    user.refresh_from_db()
    return user


def _fund(identity: Identity, credits: int, tag: str) -> None:
    ledger_transfer(
        lines=[(system_account(EXTERNAL_WORLD), -credits * CREDIT), (wallet_for(identity), credits * CREDIT)],
        kind="simulation_funding",
        idempotency_key=f"simulation-fund:{tag}:{identity.pk}",
        memo=f"Bankroll of a simulated source ({tag})",
    )


def _materialize(people: list[Source], tag: str, domain_names: list[str]) -> None:
    for source in people:
        strengths = ", ".join(f"{name} {s:.2f}" for name, s in zip(domain_names, source.sigma, strict=True))
        description = f"Simulated {source.role} (log-odds noise by domain: {strengths})."
        if source.kind == "human":
            user = _user(tag, source.key, f"Simulated {source.role} {source.key}")
            source.identities = [Identity.objects.get(user=user)]
        else:
            owner = _user(tag, f"owner-{source.key}", f"Owner of simulated {source.key}")
            for m in range(1, source.members + 1):
                handle = f"{tag}-{source.key}" if source.members == 1 else f"{tag}-{source.key}-{m}"
                source.identities.append(
                    agent_create(
                        owner=owner,
                        handle=handle,
                        autonomy_level=AutonomyLevel.AUTONOMOUS,
                        display_name=f"Simulated {source.role} {handle.removeprefix(tag + '-')}",
                        description=description,
                        model_name="simulated forecaster",
                        provider="Credence simulation (manage.py reputation_simulate)",
                        model_version="1",
                    )
                )
        for identity in source.identities:
            _fund(identity, FUNDING_CREDITS, tag)


def _quantized(p: float) -> Decimal:
    return Decimal(f"{_bounded(p):.6f}")


def _twins_beside_their_swarms(acts: list[tuple[Source, Identity, Decimal]]) -> list[tuple[Source, Identity, Decimal]]:
    """Each twin acts just before its swarm's first agent, so that both are scored against the same price
    (a cluster is scored against the price before its first forecast). Placed at random instead, the twin
    would face a different price than the swarm does, and usually a later one: the swarm's first agent is
    the earliest of five random places, the twin one random place, so the comparison measured that timing
    rather than the weight the model gives each."""
    twins = [act for act in acts if act[0].mirrors is not None]
    ordered = [act for act in acts if act[0].mirrors is None]
    for twin in twins:
        first = next(i for i, act in enumerate(ordered) if act[0].key == twin[0].mirrors)
        ordered.insert(first, twin)
    return ordered


def _forecast(source: Source, identity: Identity, claim: Claim, belief: Decimal, rng: random.Random, key: str):
    """Trade toward the belief (a belief order) or state it; a trade that cannot happen (the price is
    already there, or the wallet ran dry) becomes a stated belief. A twin only states its belief: a trade
    would move the price its swarm then faces, and the two would no longer be scored alike."""
    trade = source.action == "trade" or (source.action == "mixed" and rng.random() < 0.5)
    trade = trade and source.mirrors is None
    amount = rng.randint(*source.budget) * CREDIT
    if trade:
        order = Order(kind="belief", belief=belief, amount=amount)
        try:
            trade_place(identity=identity, claim=claim, order=order, idempotency_key=key)
            return
        except (NothingToTrade, PriceLimitCrossed, InsufficientCredit):
            pass
    services.belief_state(identity=identity, claim=claim, probability=belief, idempotency_key=key)


def _resolve(claim: Claim, outcome: bool, resolver: Identity) -> None:
    """Propose the true outcome, let the challenge window pass, finalize and settle (settlement scores)."""
    resolution_propose(
        claim=claim, proposer=resolver, outcome=Outcome.YES if outcome else Outcome.NO, evidence="The simulation."
    )
    Resolution.objects.filter(claim=claim).update(challenge_deadline=timezone.now() - timedelta(seconds=1))
    resolution_finalize(claim=claim)
    market_settle(claim=claim)


def simulate(
    *,
    claims: int = 200,
    sources: int = 60,
    domains: int = 4,
    seed: int = 1,
    warmup: float = 0.5,
    tag: str | None = None,
    on_claim: Callable[[ClaimResult, "RunningScore"], None] | None = None,
) -> Report:
    """Create the population, run `claims` claims one after another through the real services and measure
    the later (1 - warmup) share of them. Writes real rows (users, identities, claims, trades, beliefs,
    scores): run it on a database meant for it. The caller decides the transaction (demo_seed wraps it in
    one, so that an interrupted run leaves nothing behind)."""
    if claims < 4:
        raise ValueError("A simulation needs at least 4 claims.")
    started = time.monotonic()
    rng = random.Random(seed)
    all_domains = list(Domain.objects.order_by("pk"))
    if not 1 <= domains <= len(all_domains):
        raise ValueError(f"domains must be between 1 and {len(all_domains)}.")
    run_domains = all_domains[:domains]
    names = [d.slug for d in run_domains]
    tag = tag or free_tag(f"sim{seed}")
    if tag_taken(tag):
        raise ValueError(f"A simulation tagged {tag!r} already ran on this database.")

    people = population(sources=sources, domains=domains, rng=rng)
    expected_log_scores(people, seed=seed)
    authors_n = 3
    with hooks.trade_committed.paused():
        _materialize(people, tag, names)
        authors = [Identity.objects.get(user=_user(tag, f"author{i}", f"Simulation author {i}")) for i in (1, 2, 3)]
        for author in authors:
            _fund(author, LIQUIDITY_CREDITS * (claims // authors_n + 1), tag)
        resolver = Identity.objects.get(user=_user(tag, "resolver", "Simulation resolver"))

        warm = max(1, min(claims - 2, round(claims * warmup)))
        results: list[ClaimResult] = []
        checks: list[SybilCheck] = []
        running = RunningScore()
        swarms = [s for s in people if s.role == "swarm"]
        twins = {s.key.removeprefix("t"): s for s in people if s.role == "twin"}
        source_of = {identity.pk: s for s in people for identity in s.identities}
        for index in range(claims):
            d = rng.randrange(domains)
            truth_logit = rng.gauss(0, TRUTH_SD)
            truth = maths.sigmoid(truth_logit)
            outcome = rng.random() < truth
            now = timezone.now()
            claim = claim_create(
                author=authors[index % authors_n],
                title=f"[{tag}] Simulated claim {index + 1} in {run_domains[d].name}",
                criteria=(
                    f"A claim of the reputation simulation {tag} (seed {seed}): its outcome is drawn from a hidden "
                    "true probability, and each source saw that probability's log-odds through its own noise."
                ),
                domain=run_domains[d],
                closes_at=now + timedelta(days=7),
                resolve_by=now + timedelta(days=14),
                liquidity=LIQUIDITY_CREDITS * CREDIT,
                tags=["simulation", tag],
                publish=True,
            )
            acts, said = [], {}
            for source in people:
                if source.mirrors is not None:
                    belief = said.get(source.mirrors)
                    if belief is None:
                        continue
                elif rng.random() >= source.participation:
                    continue
                else:
                    signal = truth_logit + source.sigma[d] * rng.gauss(0, 1)
                    belief = said[source.key] = _quantized(maths.sigmoid(source.scale[d] * signal))
                acts.extend((source, identity, belief) for identity in source.identities)
            rng.shuffle(acts)
            acts = _twins_beside_their_swarms(acts)
            for n, (source, identity, belief) in enumerate(acts):
                _forecast(source, identity, claim, belief, rng, key=f"{tag}:{index}:{n}")
            services.consensus_refresh(claim=claim)  # the stored consensus, current for the pages

            Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now())  # after every forecast
            claims_close_due()
            claim.refresh_from_db()
            view = selectors.consensus_compute(claim, before=claim.closes_at)
            voices = [
                maths.Voice(c.identity.pk, c.group, c.raw_weight, c.probability, c.calibration)
                for c in view.contributors
            ]
            if index >= warm:
                stats = selectors.reliability_stats([v.identity_id for v in voices], claim.domain_id)
                for swarm in swarms:
                    twin = twins.get(swarm.key.removeprefix("s"))
                    members = {i.pk for i in swarm.identities}
                    twin_id = twin.identities[0].pk if twin else None
                    check = sybil_check(swarm.label, claim.pk, voices, stats, members, twin_id, view.alpha)
                    if check is not None:
                        checks.append(check)
            _resolve(claim, outcome, resolver)
            record = ClaimRecord.objects.get(claim=claim)
            probabilities = [v.probability for v in voices]
            # the beliefs as stated, equally weighted (no calibration, no extremizing): the plain pool
            stated = [replace(v, calibration=1.0) for v in voices]
            equal = maths.pooled_logit(stated, dict.fromkeys((v.identity_id for v in voices), 1.0))
            reports = {}  # one report per independent signal: a swarm's agents and its twin say one signal
            for v in voices:
                source = source_of[v.identity_id]
                reports.setdefault(source.mirrors or source.key, (v.probability, source.sigma[d], source.scale[d]))
            result = ClaimResult(
                index=index,
                claim_id=claim.pk,
                domain=d,
                truth=truth,
                outcome=outcome,
                market=float(record.market_price),
                consensus=0.5 if record.consensus is None else float(record.consensus),
                mean=sum(probabilities) / len(probabilities) if probabilities else 0.5,
                equal_pool=0.5 if equal is None else maths.sigmoid(equal),
                oracle=oracle(list(reports.values())),
                forecasts={v.identity_id: v.probability for v in voices},
                contributors=len(voices),
                scores=dict(Score.objects.filter(claim=claim).values_list("identity_id", "relative_log_score")),
            )
            results.append(result)
            if index >= warm:
                running.add(result)
            if on_claim is not None:
                on_claim(result, running)

    return _report(
        tag=tag,
        seed=seed,
        people=people,
        names=names,
        run_domains=run_domains,
        results=results,
        warm=warm,
        checks=checks,
        seconds=time.monotonic() - started,
    )


@dataclass
class RunningScore:
    """Out-of-sample Brier scores so far (for a progress bar)."""

    n: int = 0
    consensus: float = 0.0
    market: float = 0.0

    def add(self, result: ClaimResult) -> None:
        self.n += 1
        self.consensus += maths.brier(result.consensus, result.outcome)
        self.market += maths.brier(result.market, result.outcome)


@dataclass(frozen=True)
class Best:
    """A single source, scored on the tested claims it forecast, beside the consensus, the market and the
    oracle on those same claims."""

    label: str | None
    min_forecasts: int
    source: Scored
    consensus: Scored
    market: Scored
    oracle: Scored

    @property
    def beaten(self) -> bool:
        """The consensus's expected Brier is lower on the same claims (true when no source qualified)."""
        return self.source.n == 0 or self.consensus.expected_brier < self.source.expected_brier


def _forecasts_by_source(results: list[ClaimResult]) -> dict[int, list[ClaimResult]]:
    found: dict[int, list[ClaimResult]] = {}
    for r in results:
        for identity_id in r.forecasts:
            found.setdefault(identity_id, []).append(r)
    return found


def _scored_on(rows: list[tuple[ClaimResult, int]], label: str | None, min_forecasts: int) -> Best:
    return Best(
        label=label,
        min_forecasts=min_forecasts,
        source=scored([(r.forecasts[pk], r) for r, pk in rows]),
        consensus=scored([(r.consensus, r) for r, _ in rows]),
        market=scored([(r.market, r) for r, _ in rows]),
        oracle=scored([(r.oracle, r) for r, _ in rows]),
    )


def _best(tested: list[ClaimResult], *, chosen_on: list[ClaimResult], label_of: dict[int, str], expected: bool) -> Best:
    """The single source with the lowest Brier on `chosen_on` (expected: against the true probabilities,
    else against the outcomes drawn), among those with enough forecasts there: a quarter of those claims
    (at least 10), so that a streak on a handful of claims does not win. Scored on the tested claims."""
    min_n = max(10, len(chosen_on) // 4)
    best_id, best_brier = None, None
    for identity_id, mine in sorted(_forecasts_by_source(chosen_on).items()):
        if len(mine) >= min_n:
            score = scored([(r.forecasts[identity_id], r) for r in mine])
            brier = score.expected_brier if expected else score.brier
            if best_brier is None or brier < best_brier:
                best_id, best_brier = identity_id, brier
    mine = _forecasts_by_source(tested).get(best_id, []) if best_id is not None else []
    return _scored_on([(r, best_id) for r in mine], label_of.get(best_id), min_n)


def _best_per_domain(tested: list[ClaimResult], people: list, label_of: dict[int, str], domains: int) -> Best:
    """Not one source but one per domain: in each domain, the source with the highest hidden skill there
    (a specialist, nearly as good as the oracle in its own domain), scored on the tested claims of that
    domain it forecast; the domains' claims pooled. A stricter comparison than any single source."""
    chosen = {}
    for d in range(domains):
        individuals = [s for s in people if len(s.identities) == 1]
        chosen[d] = max(individuals, key=lambda s: s.hidden[d]).identities[0].pk
    mine = [(r, chosen[r.domain]) for r in tested if chosen[r.domain] in r.forecasts]
    return _scored_on(mine, ", @".join(sorted({label_of[pk] for pk in chosen.values()})), 0)


def _report(*, tag, seed, people, names, run_domains, results, warm, checks, seconds) -> Report:
    tested = [r for r in results if r.index >= warm]
    rows = {
        "market": [(r.market, r) for r in tested],
        "consensus": [(r.consensus, r) for r in tested],
        "mean": [(r.mean, r) for r in tested],
        "equal_pool": [(r.equal_pool, r) for r in tested],
        "oracle": [(r.oracle, r) for r in tested],
    }
    label_of = {i.pk: i.handle for s in people for i in s.identities}
    warmed = [r for r in results if r.index < warm]
    best = _best(tested, chosen_on=tested, label_of=label_of, expected=True)
    best_after = _best(tested, chosen_on=tested, label_of=label_of, expected=False)
    best_before = _best(tested, chosen_on=warmed, label_of=label_of, expected=False)
    best_per_domain = _best_per_domain(tested, people, label_of, len(run_domains))

    # Hidden skill vs learned reliability, over (source, domain) pairs (a swarm counts once: its first agent).
    reliability = {
        (r.identity_id, r.domain_id): r
        for r in Reliability.objects.filter(identity_id__in=[s.identities[0].pk for s in people], domain__isnull=False)
    }
    pairs: list[tuple[int, float, float, float]] = []
    for source in people:
        for d, domain in enumerate(run_domains):
            row = reliability.get((source.identities[0].pk, domain.pk))
            if row is not None and row.n >= MIN_FORECASTS_FOR_SPEARMAN:
                pairs.append((d, source.hidden[d], row.skill_mean, row.weight))
    by_domain = {}
    for d, name in enumerate(names):
        mine_d = [p for p in pairs if p[0] == d]
        by_domain[name] = spearman([p[1] for p in mine_d], [p[2] for p in mine_d])
    # Learned calibration vs the ideal factor, calibrated_scale(sigma) / scale, over (owner, domain) pairs.
    owner_of = {id(s): selectors.cluster_of(s.identities[0]) for s in people}
    calibrations = {
        (r.owner_id, r.domain_id): r
        for r in Calibration.objects.filter(owner_id__in=set(owner_of.values()), domain__isnull=False)
    }
    learned_error, no_error = [], []
    for source in people:
        for d, domain in enumerate(run_domains):
            row = calibrations.get((owner_of[id(source)], domain.pk))
            if row is not None and row.claims >= MIN_FORECASTS_FOR_SPEARMAN:
                ideal = calibrated_scale(source.sigma[d]) / source.scale[d]
                learned_error.append(abs(math.log(row.factor / ideal)))
                no_error.append(abs(math.log(ideal)))
    # Copies found: owner pairs counted as one source at the end, and which of them are a swarm and its twin.
    source_of_owner = {owner_of[id(s)]: s for s in people}
    copy_pairs, copy_true = [], 0
    found = Agreement.objects.filter(copies=True, owner_a_id__in=source_of_owner, owner_b_id__in=source_of_owner)
    for a, b, n, agreed in found.order_by("owner_a_id", "owner_b_id").values_list(
        "owner_a_id", "owner_b_id", "claims", "agreed"
    ):
        first, second = source_of_owner[a], source_of_owner[b]
        copy_pairs.append((first.label, second.label, n, agreed))
        copy_true += first.mirrors == second.key or second.mirrors == first.key
    fit = ExtremizingFit.objects.order_by("-id").first()
    roles: dict[str, int] = {}
    for source in people:
        roles[source.role] = roles.get(source.role, 0) + len(source.identities)
    return Report(
        tag=tag,
        seed=seed,
        claims=len(results),
        sources=sum(len(s.identities) for s in people),
        domains=names,
        warmup=warm,
        seconds=seconds,
        market=scored(rows["market"]),
        consensus=scored(rows["consensus"]),
        mean=scored(rows["mean"]),
        equal_pool=scored(rows["equal_pool"]),
        oracle=scored(rows["oracle"]),
        best=best,
        best_after=best_after,
        best_before=best_before,
        best_per_domain=best_per_domain,
        spearman_skill=spearman([p[1] for p in pairs], [p[2] for p in pairs]),
        spearman_weight=spearman([p[1] for p in pairs], [p[3] for p in pairs]),
        spearman_pairs=len(pairs),
        spearman_by_domain=by_domain,
        sybil=checks,
        alpha=fit.alpha if fit else 1.0,
        alpha_claims=fit.claims if fit else 0,
        roles=roles,
        calibration_pairs=len(learned_error),
        calibration_error=statistics.median(learned_error) if learned_error else None,
        calibration_error_without=statistics.median(no_error) if no_error else None,
        copy_pairs=copy_pairs,
        copy_pairs_true=copy_true,
        twins=sum(1 for s in people if s.mirrors is not None),
        people=people,
        results=results,
    )


def dump(report: Report) -> dict:
    """Everything a run produced that offline analysis needs, as plain JSON-ready data: each source (its
    role, hidden noise and skill per domain, its identities) and each claim (its truth, outcome, every
    forecast at close and every relative log score). The consensus does not feed back into what anyone
    forecasts, so a model variant can be replayed on these exactly."""
    return {
        "tag": report.tag,
        "seed": report.seed,
        "domains": report.domains,
        "warmup": report.warmup,
        "sources": [
            {
                "key": s.key,
                "role": s.role,
                "kind": s.kind,
                "sigma": s.sigma,
                "scale": s.scale,
                "hidden": s.hidden,
                "identities": [i.pk for i in s.identities],
            }
            for s in report.people
        ],
        "claims": [asdict(r) for r in report.results],
    }


FORECASTERS = (
    ("market", "market price at close"),
    ("consensus", "consensus at close"),
    ("mean", "unweighted mean of the latest beliefs"),
    ("equal_pool", "equal-weight log-odds pool"),
    ("oracle", "oracle told the hidden skills (Bayes)"),
)


def pooled_lines(dumps: list[dict]) -> list[str]:
    """Several runs' dumps (`--dump`) read together: each forecaster's scores over all their tested claims,
    the consensus's Brier against the outcomes drawn minus each other's with its standard error (paired
    by claim: the outcomes drawn are the same for both, so most of their noise cancels), and in how many
    runs the consensus beats each, in expectation and against the outcomes drawn. On 100 claims a run's
    outcomes move a Brier score by about +-0.01; over sixteen runs, the paired difference is known to
    about +-0.002."""
    runs = []
    for data in sorted(dumps, key=lambda d: d["seed"]):
        tested = [ClaimResult(**c) for c in data["claims"] if c["index"] >= data["warmup"]]
        if tested:
            runs.append((data["seed"], tested))
    claims = [c for _seed, tested in runs for c in tested]
    if not claims:
        return ["No tested claims in these runs."]

    def of(name: str, results: list[ClaimResult]) -> Scored:
        return scored([(getattr(r, name), r) for r in results])

    seeds = ", ".join(str(seed) for seed, _tested in runs)
    lines = [
        f"Pooled over {len(runs)} runs (seeds {seeds}): {len(claims)} tested claims.",
        "",
        f"{'':44} expected   Brier  log score",
    ]
    for name, label in FORECASTERS:
        pooled = of(name, claims)
        lines.append(f"{label:44} {pooled.expected_brier:8.4f} {pooled.brier:7.4f} {pooled.log_score:10.4f}")
    lines += ["", "Consensus minus each, Brier against the outcomes drawn (paired by claim, mean +- standard error),"]
    lines.append("and the runs in which the consensus is better (in expectation / against the outcomes drawn):")
    for name, label in FORECASTERS:
        if name == "consensus":
            continue
        differences = [maths.brier(c.consensus, c.outcome) - maths.brier(getattr(c, name), c.outcome) for c in claims]
        centre = sum(differences) / len(differences)
        spread = math.sqrt(sum((d - centre) ** 2 for d in differences) / (len(differences) - 1) / len(differences))
        ahead = sum(of("consensus", t).expected_brier < of(name, t).expected_brier for _s, t in runs)
        drawn = sum(of("consensus", t).brier < of(name, t).brier for _s, t in runs)
        lines.append(f"  {label:42} {centre:+.4f} +- {spread:.4f}   better in {ahead} / {drawn} of {len(runs)} runs")
    return lines


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report_lines(report: Report) -> list[str]:
    """The report as printed by manage.py reputation_simulate."""
    tested = report.claims - report.warmup
    roles = ", ".join(f"{n} {role}" for role, n in report.roles.items())
    lines = [
        f"Simulation {report.tag}: seed {report.seed}, {report.claims} claims in {len(report.domains)} domains "
        f"({', '.join(report.domains)}), {report.sources} sources ({roles}); {report.seconds:.0f} s.",
        f"Out of sample: claims {report.warmup + 1}-{report.claims} ({tested}), each scored at close with the "
        "reliability learned from the claims resolved before it.",
        "",
        "Expected Brier: against each claim's true probability t, (p - t)^2 + t(1 - t), the Brier score's mean",
        "over the outcomes the claim could have had; Brier and log score: against the outcomes drawn.",
        "",
        f"{'':44}{'expected':>9}{'Brier':>8}{'log score':>11}{'claims':>8}",
    ]

    def row(name: str, s: Scored) -> str:
        return f"{name:44}{_fmt(s.expected_brier):>9}{_fmt(s.brier):>8}{_fmt(s.log_score):>11}{s.n:>8}"

    lines += [
        row("market price at close", report.market),
        row("consensus at close", report.consensus),
        row("unweighted mean of the latest beliefs", report.mean),
        row("equal-weight log-odds pool", report.equal_pool),
        row("oracle told the hidden skills (Bayes)", report.oracle),
    ]
    for best, name, how in (
        (report.best, "best single source", "the lowest expected Brier on these claims"),
        (report.best_after, "luckiest single source", "the lowest Brier against the outcomes drawn on these claims"),
        (report.best_before, "best single source ahead", "the lowest Brier on the warm-up claims"),
        (report.best_per_domain, "each domain's most skilled", "per domain, the highest hidden skill there"),
    ):
        among = f", among sources with >= {best.min_forecasts} forecasts there" if best.min_forecasts else ""
        lines += [
            row(name, best.source),
            f"  @{best.label}: {how}{among}",
            row("  consensus on the same claims", best.consensus),
            row("  market price on the same claims", best.market),
            row("  oracle on the same claims", best.oracle),
        ]
    lines += [
        "",
        f"Reliability vs hidden skill, Spearman over {report.spearman_pairs} (source, domain) pairs with "
        f">= {MIN_FORECASTS_FOR_SPEARMAN} resolved forecasts:",
        f"  learned skill_mean {_fmt(report.spearman_skill, 3)}, weight {_fmt(report.spearman_weight, 3)}; "
        "skill_mean by domain: "
        + ", ".join(f"{name} {_fmt(value, 3)}" for name, value in report.spearman_by_domain.items()),
        f"Calibration vs the ideal factor (calibrated_scale(sigma) / scale), over {report.calibration_pairs} "
        f"(owner, domain) pairs with >= {MIN_FORECASTS_FOR_SPEARMAN} resolved claims: median |ln(learned / ideal)| "
        f"{_fmt(report.calibration_error, 3)}, against {_fmt(report.calibration_error_without, 3)} with no calibration",
        "",
        "Sybil swarms (one owner's agents sharing one belief), on the out-of-sample claims they forecast:",
    ]
    swarms = sorted({c.swarm for c in report.sybil})
    for swarm in swarms:
        mine = [c for c in report.sybil if c.swarm == swarm]
        paired = [c for c in mine if c.twin is not None]

        def mean(values: list[float]) -> float | None:
            return sum(values) / len(values) if values else None

        lines += [
            f"  @{swarm} and its fellow agents ({max(c.members for c in mine)} of one owner), on {len(mine)} claims:",
            f"    shift of the consensus by the swarm: max {_fmt(max(c.shift for c in mine))}, "
            f"mean {_fmt(mean([c.shift for c in mine]))}; by its best single member alone: max "
            f"{_fmt(max(c.one_member for c in mine))}; without the owner cap it would be: max "
            f"{_fmt(max(c.uncapped for c in mine))}",
            f"    against its twin alone (same beliefs, one identity of another owner), on {len(paired)} claims: "
            f"mean shift {_fmt(mean([c.shift for c in paired]))} vs {_fmt(mean([c.twin for c in paired]))}, "
            f"mean weight {_fmt(mean([c.weight for c in paired]), 5)} vs "
            f"{_fmt(mean([c.twin_weight for c in paired]), 5)}; the swarm and its twin together: mean shift "
            f"{_fmt(mean([c.together for c in paired]))}",
        ]
    if not swarms:
        lines.append("  (no swarm forecast an out-of-sample claim)")
    lines += [
        f"  largest excess of a swarm over its best single member: {report.sybil_excess:.2e}",
        "",
        f"Copies across owners: {len(report.copy_pairs)} owner pairs counted as one source, "
        f"{report.copy_pairs_true} of them a swarm and its twin (of {report.twins} twins); "
        f"largest excess of a swarm and its twin together over the further of the two alone: "
        f"{report.copy_excess:.2e}",
        *(f"  @{a} and @{b}: agreed on {agreed} of {n} claims" for a, b, n, agreed in report.copy_pairs),
        "",
        f"Extremizing factor fitted: {report.alpha} on {report.alpha_claims} resolved claims.",
        "Targets (expected Brier): "
        + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in report.targets.items()),
        "Also measured: " + "; ".join(f"{name}: {'yes' if ok else 'no'}" for name, ok in report.stricter.items()),
    ]
    return lines
