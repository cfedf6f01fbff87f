"""What a run measures, with no database: scores against the outcomes drawn and the truths, rank
correlation, and how far a swarm moves the consensus."""

import math
from dataclasses import dataclass, field, replace

from apps.reputation import maths, selectors


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
    flat: float = 0.5  # the same consensus with every reliability weight equal (its own extremizing fit)
    weights: dict[int, float] = field(default_factory=dict)  # identity id -> its own weight at close
    # The same consensus with every voice counted in full, the unverified too (no verification factor): what
    # the cap on unverified accounts changed, on the same records. None in a run where everyone is verified.
    uncut: float | None = None


@dataclass(frozen=True)
class Scored:
    n: int
    brier: float | None  # against the outcomes drawn
    log_score: float | None
    expected_brier: float | None  # against the true probabilities: what the Brier score is on average


def scored(rows: list[tuple[float, ClaimResult]]) -> Scored:
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


Stats = tuple[dict[int, maths.Record], maths.Population]  # each identity's record in the domain, its population


def consensus_of(voices: list[maths.Voice], alpha: float, stats: Stats, *, capped: bool = True) -> float:
    """The consensus the voices give (0.5 without any), pooled as selectors.consensus_compute pools them;
    capped=False drops the one-owner cap, to show what it prevents."""
    if capped:
        weights = maths.effective_weights(voices, selectors.combined_weights(voices, *stats))
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
    uncut: float | None = None  # the swarm's shift with its members counted in full (= shift for verified ones)


def sybil_check(
    swarm: str, claim_id: int, voices: list[maths.Voice], stats: Stats, members: set[int], twin: int | None, alpha
) -> SybilCheck | None:
    """Compare, on one claim and with the weights and copying groups as they stood at close, the
    consensus without the swarm and its twin, with the swarm, with each single member, with the twin,
    and with both; and, for a swarm of unverified accounts, with the swarm counted in full."""
    inside = [v for v in voices if v.identity_id in members]
    if len(inside) < 2:
        return None
    twins = [v for v in voices if v.identity_id == twin]
    rest = [v for v in voices if v.identity_id not in members and v.identity_id != twin]
    base = consensus_of(rest, alpha, stats)
    swarm_in = [*rest, *inside]
    weights = maths.effective_weights(swarm_in, selectors.combined_weights(swarm_in, *stats))
    twin_shift = twin_weight = together = None
    if twins:
        twin_in = [*rest, *twins]
        twin_shift = abs(consensus_of(twin_in, alpha, stats) - base)
        twin_weight = maths.effective_weights(twin_in, selectors.combined_weights(twin_in, *stats))[twin]
        together = abs(consensus_of(voices, alpha, stats) - base)
    uncut_in = [*rest, *(replace(v, verification=1.0) for v in inside)]
    return SybilCheck(
        swarm=swarm,
        claim_id=claim_id,
        members=len(inside),
        shift=abs(consensus_of(swarm_in, alpha, stats) - base),
        uncut=abs(consensus_of(uncut_in, alpha, stats) - base),
        one_member=max(abs(consensus_of([*rest, v], alpha, stats) - base) for v in inside),
        uncapped=abs(consensus_of(swarm_in, alpha, stats, capped=False) - base),
        weight=sum(weights[v.identity_id] for v in inside),
        twin_weight=twin_weight,
        twin=twin_shift,
        together=together,
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
