"""The reputation model's arithmetic, with no database (docs/reputation.md explains it and its priors).

Skill is the information a source adds per forecast, in nats: the log score of its forecast minus that
of the market price it stood against. Each resolved forecast is one noisy observation x of the source's
skill in the claim's domain:

    x ~ Normal(s_domain, SIGMA_OBS^2)            one observation per (source, resolved claim)
    s_domain ~ Normal(g, TAU_DOMAIN^2)           domain skill, shrunk toward the source's global skill
    g ~ Normal(0, TAU_GLOBAL^2)                  global skill, shrunk toward zero skill

The updates are conjugate, so (n, sum x, sum x^2) per (source, domain) and per source are all a
settlement updates, in O(1). A domain's prior is the global posterior WITHOUT that domain's own
observations (leave-one-domain-out): skill in one domain reaches another only through that prior, and no
observation counts twice.

Weight is the posterior's mean minus one sd when positive, plus a floor that is tiny for a new source
and vanishes for a losing one.

Calibration: the consensus reads a source's log-odds times a factor c learned from its owner's record
(c < 1 reads an overconfident source as less sure): the log-likelihood of the owner's forecasts at each
c of CALIBRATION_GRID. Each resolved claim adds the mean over the owner's identities that forecast it,
once: ten agents repeating one belief learn what one would, and a record dealt out across agents is
learned whole. Kept per (owner, domain) and per owner, O(grid) per claim. Per domain:

    ln c ~ Normal(0, CALIBRATION_PRIOR_SD^2)                             the prior: calibrated
    p(c | record) ~ prior(c) * L_elsewhere(c)^CALIBRATION_POWER * L_domain(c)

and c is the posterior's geometric mean. Skill and weight stay measured on the forecasts as stated.

Copying groups: two owners whose forecasts keep coinciding (log-odds within COPY_TOLERANCE) are one
source said twice, a copier or two copies of one bot, and are capped together like one owner's agents.
Wald's sequential test decides, from the claim on which the pair first coincided: it counts as one while
its later agreements outnumber its disagreements by COPY_MARGIN, and is forgotten once the disagreements
outnumber them by as much. Meeting at a value COPY_CROWD or more owners share (a round number, the
market price) is no observation, which also keeps a claim's pairs to compare O(owners).
"""

import math
from dataclasses import dataclass

SIGMA_OBS = 0.7  # nats: spread of one forecast's relative log score around the source's skill
TAU_GLOBAL = 0.05  # nats: how far a source's overall skill is likely to be from zero
TAU_DOMAIN = 0.10  # nats: how far a source's skill in one domain strays from its overall skill
WEIGHT_FLOOR = 0.002  # a new source's weight; an established accurate one has ~0.05-0.3
FLOOR_DECAY = 0.05  # nats: the floor shrinks by e for every FLOOR_DECAY of negative mean skill
EXTREMIZE_MIN, EXTREMIZE_MAX = 1.0, 2.5  # the extremizing factor is fitted, then clipped to this
EXTREMIZE_MIN_CLAIMS = 20  # resolved claims (with two or more sources) before fitting; 1.0 until then
LOGIT_CLIP = 9.0  # |logit| of a belief is capped: p in [1.2e-4, 0.99988], so one certain voice cannot veto
CALIBRATION_GRID = tuple(round(0.05 * 1.15**k, 4) for k in range(30))  # c from 0.05 to 2.87, 15% apart
CALIBRATION_PRIOR_SD = 0.5  # sd of ln c: a factor of 1.65 either way is a one-sd surprise
CALIBRATION_POWER = 1.0  # how much of the other domains' calibration record a domain takes in
COPY_TOLERANCE = 0.05  # |logit a - logit b| within which two owners' beliefs on a claim are the same belief
COPY_MARGIN = 3  # agreements (after the first) beyond disagreements before two owners count as one source
COPY_CROWD = 20  # owners at one value (within COPY_TOLERANCE of one of them) that make it a focal value


@dataclass(frozen=True)
class Stats:
    """Sufficient statistics of a source's observations (in one domain, or over all domains)."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def minus(self, other: "Stats") -> "Stats":
        return Stats(self.n - other.n, self.total - other.total, self.total_sq - other.total_sq)

    def plus(self, other: "Stats") -> "Stats":
        return Stats(self.n + other.n, self.total + other.total, self.total_sq + other.total_sq)


@dataclass(frozen=True)
class Posterior:
    mean: float
    sd: float

    @property
    def weight(self) -> float:
        floor = WEIGHT_FLOOR * math.exp(min(self.mean, 0.0) / FLOOR_DECAY)
        return max(self.mean - self.sd, 0.0) + floor


def _update(prior_mean: float, prior_var: float, stats: Stats) -> Posterior:
    precision = 1.0 / prior_var + stats.n / SIGMA_OBS**2
    mean = (prior_mean / prior_var + stats.total / SIGMA_OBS**2) / precision
    return Posterior(mean=mean, sd=math.sqrt(1.0 / precision))


def global_posterior(overall: Stats) -> Posterior:
    return _update(0.0, TAU_GLOBAL**2, overall)


def domain_posterior(domain: Stats, overall: Stats) -> Posterior:
    """Skill in one domain: its own observations, on a prior centred on the global skill estimated from
    the other domains (carrying that estimate's own uncertainty)."""
    elsewhere = global_posterior(overall.minus(domain))
    return _update(elsewhere.mean, TAU_DOMAIN**2 + elsewhere.sd**2, domain)


Likelihoods = tuple[float, ...]  # a record's log-likelihood at each CALIBRATION_GRID point; () for none


def calibration_loglik(probability: float, outcome: bool) -> Likelihoods:
    """One forecast's log-likelihood at each grid factor c: ln P(outcome | sigmoid(c * logit(p)))."""
    x = logit(probability) if outcome else -logit(probability)
    return tuple(-math.log1p(math.exp(-c * x)) if c * x > -30 else c * x for c in CALIBRATION_GRID)


def loglik_mean(records: list[Likelihoods]) -> Likelihoods:
    """The mean of several forecasts' likelihoods on one claim: one owner's claim, counted once."""
    return tuple(sum(values) / len(records) for values in zip(*records, strict=True))


def loglik_plus(a: Likelihoods, b: Likelihoods) -> Likelihoods:
    if not a or not b:
        return tuple(a or b)
    return tuple(x + y for x, y in zip(a, b, strict=True))


def calibration_factor(domain: Likelihoods, overall: Likelihoods) -> float:
    """The factor c for an owner's log-odds in one domain: the geometric mean of its posterior, from its
    record in the domain and, at CALIBRATION_POWER, its record elsewhere (overall minus the domain's).
    1.0 without a record."""
    if not domain and not overall:
        return 1.0
    zero = (0.0,) * len(CALIBRATION_GRID)
    own = domain or zero
    elsewhere = tuple(o - d for o, d in zip(overall or zero, own, strict=True))
    log_post = [
        -(math.log(c) ** 2) / (2 * CALIBRATION_PRIOR_SD**2) + CALIBRATION_POWER * e + d
        for c, e, d in zip(CALIBRATION_GRID, elsewhere, own, strict=True)
    ]
    top = max(log_post)
    mass = [math.exp(v - top) for v in log_post]
    return math.exp(sum(m * math.log(c) for m, c in zip(mass, CALIBRATION_GRID, strict=True)) / sum(mass))


def recalibrated(probability: float, factor: float) -> float:
    return sigmoid(factor * logit(probability))


def logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return max(-LOGIT_CLIP, min(LOGIT_CLIP, math.log(p / (1 - p))))


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def owner_logits(forecasts: list[tuple[int, float]]) -> dict[int, float]:
    """{owner: the mean log-odds of its identities' forecasts} from (owner, probability) pairs on one claim."""
    found: dict[int, list[float]] = {}
    for owner, probability in forecasts:
        found.setdefault(owner, []).append(logit(probability))
    return {owner: sum(values) / len(values) for owner, values in found.items()}


@dataclass(frozen=True)
class Comparison:
    """One claim's owners compared (`compare`): the pairs that agree on it, and the owners at a focal
    value, where meeting someone says nothing."""

    logits: dict[int, float]
    agreeing: frozenset[tuple[int, int]]
    crowded: frozenset[int]

    def agree(self, a: int, b: int) -> bool | None:
        """Whether owners a and b (both on the claim) agree on it; None where they meet at a focal value."""
        same = abs(self.logits[a] - self.logits[b]) <= COPY_TOLERANCE
        if same and (a in self.crowded or b in self.crowded):
            return None
        return same


def compare(logits: dict[int, float]) -> Comparison:
    """One claim's owners by log-odds: an owner with COPY_CROWD - 1 or more others within COPY_TOLERANCE
    is at a focal value (crowded); the agreeing pairs (a, b), a < b, are those within COPY_TOLERANCE with
    neither crowded. Two sweeps over the sorted values: O(n log n), at most n * COPY_CROWD / 2 pairs, never
    every pair."""
    ordered = sorted(logits.items(), key=lambda item: (item[1], item[0]))
    values = [value for _owner, value in ordered]
    crowded = set()
    low = high = 0
    for i, (owner, value) in enumerate(ordered):
        while value - values[low] > COPY_TOLERANCE:
            low += 1
        high = max(high, i)
        while high + 1 < len(values) and values[high + 1] - value <= COPY_TOLERANCE:
            high += 1
        if high - low + 1 >= COPY_CROWD:
            crowded.add(owner)
    pairs = set()
    for i, (a, x) in enumerate(ordered):
        if a in crowded:
            continue
        for b, y in ordered[i + 1 :]:
            if y - x > COPY_TOLERANCE:
                break
            if b not in crowded:
                pairs.add((min(a, b), max(a, b)))
    return Comparison(dict(logits), frozenset(pairs), frozenset(crowded))


def _evidence(claims: int, agreed: int) -> int:
    """Agreements after the first, minus disagreements: the log of the test's likelihood ratio, in units of
    ln 9. The first agreement is why the pair is watched, so it is not evidence."""
    return (agreed - 1) - (claims - agreed)


def copies(claims: int, agreed: int) -> bool:
    """Whether a pair's record says one source said twice: of the `claims` resolved claims both owners
    forecast since they first agreed (that one included), they agreed on `agreed`. Each later claim weighs
    copying (agreeing with chance ~0.9) against independence (~0.1, generous for round numbers): a
    likelihood ratio of 9 per agreement, 1/9 per disagreement. On prior odds of 1 in 99, copying wins once
    agreements outnumber disagreements by COPY_MARGIN = 3 (9^3 = 729 > 99 > 81 = 9^2)."""
    return _evidence(claims, agreed) >= COPY_MARGIN


def independent(claims: int, agreed: int) -> bool:
    """The test's other boundary: disagreements outnumber the later agreements by COPY_MARGIN (odds of
    copying below 1 in 99 * 9^3). The pair is forgotten, and watched afresh if it ever agrees again: the
    pairs watched per owner stay few, whatever the history."""
    return _evidence(claims, agreed) <= -COPY_MARGIN


Pair = tuple[int, int]  # two owners, the smaller id first


def agreements_fold(watched: dict[Pair, tuple[int, int]], comparison: Comparison) -> tuple[dict, set[Pair]]:
    """One claim folded into the (claims, agreed) records of the watched pairs among its owners
    (`watched`); an agreeing pair not watched yet starts one, a pair meeting at a focal value is left as it
    was. Returns the changed records and the pairs shown to be independent (to forget)."""
    folded: dict[Pair, tuple[int, int]] = {}
    forgotten: set[Pair] = set()
    for pair in sorted(set(watched) | comparison.agreeing):
        agree = comparison.agree(*pair)
        if agree is None:
            continue
        claims, agreed = watched.get(pair, (0, 0))
        claims, agreed = claims + 1, agreed + agree
        if independent(claims, agreed):
            forgotten.add(pair)
        else:
            folded[pair] = (claims, agreed)
    return folded, forgotten


def copying_groups(owners: list[int], copy_pairs: list[tuple[int, int]]) -> dict[int, int]:
    """{owner: its copying group}: owners joined by a pair found to copy, transitively, among these
    owners; a group is named by its smallest owner id. An owner that copies nobody is a group of one."""
    parent = {o: o for o in owners}

    def root(o: int) -> int:
        while parent[o] != o:
            parent[o] = parent[parent[o]]
            o = parent[o]
        return o

    for a, b in copy_pairs:
        if a in parent and b in parent:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {o: root(o) for o in owners}


@dataclass(frozen=True)
class Voice:
    """One source's latest belief on a claim, with its weight and its copying group: the unit the cap
    applies to (its owner, a person with their agents, joined with any owners found to copy it)."""

    identity_id: int
    copying_group: int
    weight: float
    probability: float
    calibration: float = 1.0  # its owner's factor on its log-odds

    @property
    def log_odds(self) -> float:
        return self.calibration * logit(self.probability)


def effective_weights(voices: list[Voice], combined: dict[int, float] | None = None) -> dict[int, float]:
    """Weights after the independence cap, shared within each copying group in proportion to the members'
    own weights. A group weighs no more than its best member alone (ten agents with one record are one
    voice), nor than one source holding all their records at once (`combined`: group -> that weight; a
    record dealt out across agents so that one looks luckier than the whole gains nothing)."""
    groups: dict[int, list[Voice]] = {}
    for voice in voices:
        groups.setdefault(voice.copying_group, []).append(voice)
    weights = {}
    for group, members in groups.items():
        total = sum(v.weight for v in members)
        cap = max(v.weight for v in members)
        if combined is not None and group in combined:
            cap = min(cap, combined[group])
        for voice in members:
            weights[voice.identity_id] = voice.weight * cap / total if total > 0 else 0.0
    return weights


def pooled_logit(
    voices: list[Voice], weights: dict[int, float] | None = None, combined: dict[int, float] | None = None
) -> float | None:
    """Weighted mean of the voices' recalibrated log-odds (weights normalised to sum to one); None without
    voices."""
    weights = weights if weights is not None else effective_weights(voices, combined)
    total = sum(weights[v.identity_id] for v in voices)
    if not voices or total <= 0:
        return None
    return sum(weights[v.identity_id] * v.log_odds for v in voices) / total


def log_loss(logits_and_outcomes: list[tuple[float, bool]], alpha: float) -> float:
    loss = 0.0
    for x, outcome in logits_and_outcomes:
        p = sigmoid(alpha * x)
        loss -= math.log(max(p if outcome else 1 - p, 1e-15))
    return loss


def fit_extremizing(logits_and_outcomes: list[tuple[float, bool]]) -> float:
    """The factor alpha minimising the log loss of sigmoid(alpha * pooled logit) over resolved claims:
    golden-section search on [EXTREMIZE_MIN, EXTREMIZE_MAX] (the loss is convex in alpha). 1.0 until
    there are EXTREMIZE_MIN_CLAIMS claims."""
    if len(logits_and_outcomes) < EXTREMIZE_MIN_CLAIMS:
        return 1.0
    lo, hi = EXTREMIZE_MIN, EXTREMIZE_MAX
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = log_loss(logits_and_outcomes, a), log_loss(logits_and_outcomes, b)
    for _ in range(60):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = log_loss(logits_and_outcomes, a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = log_loss(logits_and_outcomes, b)
    return round((lo + hi) / 2, 4)


def relative_log_score(probability: float, reference: float, outcome: bool) -> float:
    """Nats of information a forecast added over the price it stood against."""
    p = probability if outcome else 1 - probability
    m = reference if outcome else 1 - reference
    return math.log(max(p, 1e-12)) - math.log(max(m, 1e-12))


def log_score(probability: float, outcome: bool) -> float:
    return math.log(max(probability if outcome else 1 - probability, 1e-12))


def brier(probability: float, outcome: bool) -> float:
    return (probability - (1.0 if outcome else 0.0)) ** 2
