"""The reputation model's arithmetic, with no database (docs/reputation.md explains it and its priors).

Weight: how much a source's voice counts in a claim's consensus, per (source, domain). Each resolved claim
reads every contributor's recalibrated log-odds R as a measurement of the claim's log-odds, against the
reference z of the other independent sources' pool at close (extremized as the consensus was). A source's
record in a domain is a regression R ~ b z + e with residual variance v:

    b = (sum R z + FIT_SLOPE_PRIOR * FIT_SLOPE_STRENGTH) / (sum z^2 + FIT_SLOPE_STRENGTH)
    v = (FIT_VARIANCE_PRIOR * FIT_VARIANCE_STRENGTH + sum (R - b z)^2) / (FIT_VARIANCE_STRENGTH + n)
    weight = max(b, 0) / v * fade

For R = k (truth + noise of sd s), b / v is k / (k s)^2 = 1 / (k s^2): the weight that pools such
measurements best (the pool's own noise adds to every source's residual alike). The sums are a `Fit`,
kept per (source, domain) and updated in O(1) at each settlement; the weight of a domain reads only that
domain's record, so skill elsewhere never lowers it. A newcomer weighs NEWCOMER_WEIGHT. Then ln(weight)
is shrunk toward the domain's other established records as far as their spread says (`Population`).

fade = exp(min(m, 0) / FLOOR_DECAY + max(m - sd, 0) / LIFT_SCALE) takes a losing source toward zero and
lifts one whose skill is credibly above zero: m and sd are the posterior of its skill in the domain, the
information it added per forecast in nats (its relative log score against the market price it stood
against), from the domain's own record:

    x ~ Normal(s_domain, SIGMA_OBS^2)                        one observation per (source, resolved claim)
    s_domain ~ Normal(0, TAU_GLOBAL^2 + TAU_DOMAIN^2)

That posterior is also the skill shown on the leaderboards; the overall one (`global_posterior`) shrinks
toward zero with sd TAU_GLOBAL.

Calibration: the consensus reads a source's log-odds times a factor c learned from its owner's record
(c < 1 reads an overconfident source as less sure): the log-likelihood of the owner's forecasts at each
c of CALIBRATION_GRID. Each resolved claim adds the mean over the owner's identities that forecast it,
once: ten agents repeating one belief learn what one would, and a record dealt out across agents is
learned whole. Kept per (owner, domain) and per owner, O(grid) per claim. Per domain:

    ln c ~ Normal(0, CALIBRATION_PRIOR_SD^2)                             the prior: calibrated
    p(c | record) ~ prior(c) * L_elsewhere(c)^CALIBRATION_POWER * L_domain(c)

and c is the posterior's geometric mean. Skill is measured on the forecasts as stated.

Copying groups: two owners whose forecasts keep coinciding (log-odds within COPY_TOLERANCE) are one
source said twice, a copier or two copies of one bot, and are capped together like one owner's agents.
Wald's sequential test decides, from the claim on which the pair first coincided: it counts as one while
its later agreements outnumber its disagreements by COPY_MARGIN, and is forgotten once the disagreements
outnumber them by as much. Meeting at a value COPY_CROWD or more owners share (a round number, the
market price) is no observation, which also keeps a claim's pairs to compare O(owners).

Verification: an owner who is not a verified human (and its agents) counts at a factor of its weight
(`Voice.verification`, CREDENCE_UNVERIFIED_WEIGHT_FACTOR): the owner cap and the copying groups stop one
account's many voices and a copier that keeps agreeing, but not many unverified accounts that each forecast
a little differently, which cost nothing to open. Scoring is unchanged: the record is earned in full, and
counts in full once its owner is verified.
"""

import math
from dataclasses import dataclass, replace

SIGMA_OBS = 0.7  # nats: spread of one forecast's relative log score around the source's skill
TAU_GLOBAL = 0.05  # nats: how far a source's overall skill is likely to be from zero
TAU_DOMAIN = 0.10  # nats: how far a source's skill in one domain strays from its overall skill
FLOOR_DECAY = 0.05  # nats: a weight shrinks by e for every FLOOR_DECAY of negative mean skill
LIFT_SCALE = 0.03  # nats: and grows by e for every LIFT_SCALE of skill credibly (one sd) above zero
FIT_SLOPE_PRIOR = 0.25  # a newcomer's log-odds are read as moving with the others' pool at a quarter of its pace...
FIT_SLOPE_STRENGTH = 4.0  # ...worth this much sum of z^2 (one or two claims' worth: |z| is about 1-2)
FIT_VARIANCE_PRIOR = 2.0  # ...and as scattered around it with variance 2 (log-odds sd 1.4: a poor source)...
FIT_VARIANCE_STRENGTH = 2.0  # ...worth two forecasts
NEWCOMER_WEIGHT = FIT_SLOPE_PRIOR / FIT_VARIANCE_PRIOR  # 0.125; an established generalist ~0.5-1
SHRINK_MIN_FORECASTS = 5  # fitted forecasts before a record counts in its domain's population
SHRINK_SAMPLING = 2.5  # the variance of ln(weight) from n fitted forecasts is about this / (n + 2)
SHRINK_TAU_MIN = 0.1  # the least spread of ln(weight) a population is read to have
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
    def fade(self) -> float:
        """What the outcomes multiply a weight by: e^-1 per FLOOR_DECAY of negative mean skill (a losing
        record fades), e per LIFT_SCALE of skill credibly above zero (mean less one sd: a record that keeps
        adding information over the market, which agreeing with the others cannot show), 1 between."""
        return math.exp(min(self.mean, 0.0) / FLOOR_DECAY + max(self.mean - self.sd, 0.0) / LIFT_SCALE)


def _update(prior_mean: float, prior_var: float, stats: Stats) -> Posterior:
    precision = 1.0 / prior_var + stats.n / SIGMA_OBS**2
    mean = (prior_mean / prior_var + stats.total / SIGMA_OBS**2) / precision
    return Posterior(mean=mean, sd=math.sqrt(1.0 / precision))


def global_posterior(overall: Stats) -> Posterior:
    return _update(0.0, TAU_GLOBAL**2, overall)


def home_posterior(domain: Stats) -> Posterior:
    """Skill in one domain from that domain's own record only, on a prior of zero skill: what a source
    shows elsewhere neither lifts nor lowers it."""
    return _update(0.0, TAU_GLOBAL**2 + TAU_DOMAIN**2, domain)


@dataclass(frozen=True)
class Fit:
    """Sufficient statistics of a source's log-odds R against the others' pool z on its resolved claims
    (in one domain, or over all): n, sum z^2, sum R z and sum R^2."""

    n: int = 0
    zz: float = 0.0
    rz: float = 0.0
    rr: float = 0.0

    @classmethod
    def of(cls, read: float, pool: float) -> "Fit":
        return cls(1, pool * pool, read * pool, read * read)

    def plus(self, other: "Fit") -> "Fit":
        return Fit(self.n + other.n, self.zz + other.zz, self.rz + other.rz, self.rr + other.rr)

    @property
    def slope(self) -> float:
        return (self.rz + FIT_SLOPE_PRIOR * FIT_SLOPE_STRENGTH) / (self.zz + FIT_SLOPE_STRENGTH)

    @property
    def variance(self) -> float:
        b = self.slope
        residuals = max(self.rr - 2 * b * self.rz + b * b * self.zz, 0.0)
        return (FIT_VARIANCE_PRIOR * FIT_VARIANCE_STRENGTH + residuals) / (FIT_VARIANCE_STRENGTH + self.n)

    @property
    def precision(self) -> float:
        """b / v: the pooling weight of a measurement k (truth + noise of sd s) is 1 / (k s^2) = b / v."""
        return max(self.slope, 0.0) / self.variance


@dataclass(frozen=True)
class Record:
    """A source's record in one domain: its skill statistics (relative log scores) and its fit."""

    skill: Stats = Stats()
    fit: Fit = Fit()

    def plus(self, other: "Record") -> "Record":
        return Record(self.skill.plus(other.skill), self.fit.plus(other.fit))

    @property
    def weight(self) -> float:
        """Its own weight, before its domain's population shrinks it (Population.shrunk)."""
        return self.fit.precision * home_posterior(self.skill).fade

    @property
    def sampling(self) -> float:
        return SHRINK_SAMPLING / (self.fit.n + FIT_VARIANCE_STRENGTH)


@dataclass(frozen=True)
class Population:
    """The established records of one domain (SHRINK_MIN_FORECASTS fitted forecasts or more, and a weight
    above zero), summed: how many, sum and sum of squares of ln(weight), and the sum of each one's sampling
    variance. Their spread beyond sampling noise says how much weights really differ in the domain."""

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    noise: float = 0.0

    @classmethod
    def member(cls, record: "Record") -> "Population":
        """What one record adds to its domain's population (nothing until it is established)."""
        w = record.weight
        if record.fit.n < SHRINK_MIN_FORECASTS or w <= 0:
            return cls()
        return cls(1, math.log(w), math.log(w) ** 2, record.sampling)

    def plus(self, other: "Population") -> "Population":
        return Population(
            self.count + other.count,
            self.total + other.total,
            self.total_sq + other.total_sq,
            self.noise + other.noise,
        )

    def minus(self, other: "Population") -> "Population":
        return Population(
            self.count - other.count,
            self.total - other.total,
            self.total_sq - other.total_sq,
            self.noise - other.noise,
        )

    def shrunk(self, record: "Record") -> float:
        """The record's weight with ln(weight) shrunk toward the population's mean by B = s^2 / (s^2 + tau^2)
        (James-Stein): s^2 its sampling variance, tau^2 the population's spread less the sampling noise.
        Where weights really differ (tau large) a record keeps its own; where they do not, a lucky record
        is pulled back. A record too short to be in the population is never lifted by it (a newcomer stays
        at its own weight), and a population of fewer than five records shrinks nothing."""
        w = record.weight
        if self.count < 5 or w <= 0:
            return w
        mean = self.total / self.count
        tau2 = max(self.total_sq / self.count - mean * mean - self.noise / self.count, SHRINK_TAU_MIN**2)
        own = math.log(w)
        if record.fit.n < SHRINK_MIN_FORECASTS and mean >= own:
            return w
        s2 = record.sampling
        return math.exp(own + s2 / (s2 + tau2) * (mean - own))


def pool_references(voices: list["Voice"], weights: dict[int, float], alpha: float) -> dict[int, float]:
    """Each voice's reference at close, {identity: z}: the pool of the voices outside its copying group,
    extremized by alpha. A voice with nobody outside its group has none. O(voices)."""
    total = mass = 0.0
    groups: dict[int, tuple[float, float]] = {}
    for v in voices:
        w = weights[v.identity_id]
        t, m = groups.get(v.copying_group, (0.0, 0.0))
        groups[v.copying_group] = (t + w * v.log_odds, m + w)
        total, mass = total + w * v.log_odds, mass + w
    references = {}
    for v in voices:
        t, m = groups[v.copying_group]
        if mass - m > 0:
            references[v.identity_id] = alpha * (total - t) / (mass - m)
    return references


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
    # What its owner's verification multiplies its weight by: 1 for a verified human's identities, less for an
    # account that is not one (CREDENCE_UNVERIFIED_WEIGHT_FACTOR): such accounts are cheap to make many of.
    verification: float = 1.0

    @property
    def log_odds(self) -> float:
        return self.calibration * logit(self.probability)


def effective_weights(voices: list[Voice], combined: dict[int, float] | None = None) -> dict[int, float]:
    """Weights after the independence cap, shared within each copying group in proportion to the members'
    own weights. A group weighs no more than its best member alone (ten agents with one record are one
    voice), nor than one source holding all their records at once (`combined`: group -> that weight; a
    record dealt out across agents so that one looks luckier than the whole gains nothing). Each voice's own
    weight is first multiplied by its `verification` factor, and so is its group's combined weight (by its
    members' largest: a group with a verified member may weigh what that member's record earns), so an
    unverified owner and its agents weigh that factor times what a verified one with their records would.
    Where no voice weighs anything (each contradicted the others' pools), they are heard equally, one per
    group, each at its verification factor."""
    groups: dict[int, list[Voice]] = {}
    for voice in voices:
        groups.setdefault(voice.copying_group, []).append(voice)
    weights = {}
    for group, members in groups.items():
        total = sum(v.weight * v.verification for v in members)
        cap = max(v.weight * v.verification for v in members)
        if combined is not None and group in combined:
            cap = min(cap, combined[group] * max(v.verification for v in members))
        for voice in members:
            weights[voice.identity_id] = voice.weight * voice.verification * cap / total if total > 0 else 0.0
    if voices and not any(weights.values()):
        heard = [replace(v, weight=1.0) for v in voices]
        if not any(v.verification for v in heard):  # a factor of 0 and nobody verified: heard equally all the same
            heard = [replace(v, verification=1.0) for v in heard]
        return effective_weights(heard)
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
