"""The reputation maths (apps/reputation/maths.py), no database: each reliability property is checked
against an independent statement of the model it claims to implement (the fit against the others' pool,
the fade of a losing record, the shrinkage toward a domain's population)."""

import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.reputation import maths
from apps.reputation.maths import Fit, Population, Record, Stats, Voice

WIN = math.log(0.9 / 0.5)  # nats: a 0.9 forecast against a 0.5 price, resolved YES
LOSS = math.log(0.2 / 0.5)  # nats: a 0.8 forecast against a 0.5 price, resolved NO


def stats_of(xs: list[float]) -> Stats:
    return Stats(len(xs), sum(xs), sum(x * x for x in xs))


def posterior_by_hand(prior_mean: float, prior_var: float, xs: list[float]) -> tuple[float, float]:
    """Normal prior, normal observations of known variance SIGMA_OBS^2: (posterior mean, sd)."""
    precision = 1 / prior_var + len(xs) / maths.SIGMA_OBS**2
    return (prior_mean / prior_var + sum(xs) / maths.SIGMA_OBS**2) / precision, math.sqrt(1 / precision)


HOME_PRIOR = maths.TAU_GLOBAL**2 + maths.TAU_DOMAIN**2  # a domain's skill prior: zero skill


def fit_of(pairs: list[tuple[float, float]]) -> Fit:
    """The Fit of (read, pool) pairs, summed."""
    fit = Fit()
    for read, pool in pairs:
        fit = fit.plus(Fit.of(read, pool))
    return fit


def weight_by_hand(pairs: list[tuple[float, float]], xs: list[float]) -> float:
    """The documented weight: slope over residual variance of R on z, on the documented priors (slope 0.25
    worth 4 of sum z^2, variance 2 worth 2 forecasts), times exp(min(m, 0) / FLOOR_DECAY + max(m - sd, 0) /
    LIFT_SCALE) for the posterior mean m and sd of the domain's skill."""
    zz = sum(z * z for _r, z in pairs)
    b = (sum(r * z for r, z in pairs) + 0.25 * 4.0) / (zz + 4.0)
    v = (2.0 * 2.0 + sum((r - b * z) ** 2 for r, z in pairs)) / (2.0 + len(pairs))
    mean, sd = posterior_by_hand(0.0, HOME_PRIOR, xs)
    return max(b, 0.0) / v * math.exp(min(mean, 0.0) / maths.FLOOR_DECAY + max(mean - sd, 0.0) / maths.LIFT_SCALE)


def pools(n: int, seed: int = 1) -> list[float]:
    """n references z: the others' pools on n claims (log-odds of sd 1.5)."""
    rng = random.Random(seed)
    return [rng.gauss(0, 1.5) for _ in range(n)]


def orthogonal(noise: list[float], zs: list[float]) -> list[float]:
    """noise less its projection on zs: a residual that moves no slope."""
    k = sum(e * z for e, z in zip(noise, zs, strict=True)) / sum(z * z for z in zs)
    return [e - k * z for e, z in zip(noise, zs, strict=True)]


# --- a. a newcomer is almost weightless next to an established sharp source ----------------------------


def test_a_new_source_weighs_exactly_the_newcomer_weight():
    # given no record at all, when its weight is read (alone, and shrunk by any population), then it is
    # the prior's: slope 0.25 over variance 2
    assert Record().weight == maths.NEWCOMER_WEIGHT == 0.125
    crowd = Population(10, 10 * math.log(5.0), 10 * math.log(5.0) ** 2, 10 * 0.2)
    assert crowd.shrunk(Record()) == maths.NEWCOMER_WEIGHT  # a population of stronger sources lifts no newcomer


@pytest.mark.parametrize("n", [30, 60, 200])
def test_a_new_source_weighs_at_most_five_percent_of_an_established_sharp_one(n):
    # given a source whose log-odds followed the others' pool closely on n claims (residual sd 0.1), and
    # that beat the market every time
    zs = pools(n)
    pairs = [(z + 0.1 * e, z) for z, e in zip(zs, orthogonal(pools(n, seed=2), zs), strict=True)]
    record = Record(stats_of([WIN] * n), fit_of(pairs))

    # when both weights are computed, then the record's is the documented one and the newcomer's at most 5% of it
    assert record.weight == pytest.approx(weight_by_hand(pairs, [WIN] * n), rel=1e-9)
    assert Record().weight <= 0.05 * record.weight


# --- b. a persistent loser decays toward zero ------------------------------------------------------------


def test_a_source_that_keeps_losing_decays_strictly_toward_zero():
    # given a source that loses every forecast (and has no pool to fit), when its weight is read after each
    weights = [Record(stats_of([LOSS] * n)).weight for n in range(41)]

    # then each loss lowers it, the first already below a newcomer's, and 14 leave under a hundredth of it
    assert weights[0] == maths.NEWCOMER_WEIGHT
    assert all(later < earlier for earlier, later in itertools.pairwise(weights))
    assert weights[1] < maths.NEWCOMER_WEIGHT
    assert weights[14] < maths.NEWCOMER_WEIGHT / 100
    assert 0 < weights[40] < 1e-4
    for n in (1, 14, 40):
        assert weights[n] == pytest.approx(weight_by_hand([], [LOSS] * n), rel=1e-12)


@given(loss=st.floats(min_value=-14.0, max_value=-0.01), n=st.integers(min_value=1, max_value=60))
def test_every_further_loss_of_the_same_size_lowers_the_weight(loss, n):
    # given a source that has lost n - 1 times, when it loses once more by as much, then its weight goes down
    assert Record(stats_of([loss] * n)).weight < Record(stats_of([loss] * (n - 1))).weight


def test_a_source_that_says_the_opposite_of_the_others_weighs_nothing():
    # given a source whose log-odds are the others' pool turned over, on a few claims
    zs = pools(5)
    record = Record(fit=fit_of([(-z, z) for z in zs]))

    # then its slope is negative and its weight zero: it is not read at all
    assert record.fit.slope < 0
    assert record.weight == 0.0


# --- c. the spread is learned: steady beats noisy, and luck lifts nobody --------------------------------


@given(
    n=st.integers(min_value=3, max_value=80),
    slope=st.floats(min_value=0.2, max_value=1.5),
    steady=st.floats(min_value=0.0, max_value=1.0),
    extra=st.floats(min_value=0.05, max_value=2.0),
    seed=st.integers(min_value=0, max_value=10_000),
    wins=st.integers(min_value=0, max_value=80),
)
def test_a_steady_source_outweighs_a_noisy_one_with_the_same_mean(n, slope, steady, extra, seed, wins):
    # given two sources with the same mean (the same slope on the same pools) and the same relative log
    # scores, one scattered around it by sd `steady`, the other by `steady + extra`
    zs = pools(n, seed)
    residual = orthogonal(pools(n, seed + 1), zs)
    xs = [WIN] * min(wins, n) + [LOSS] * (n - min(wins, n))
    calm = Record(stats_of(xs), fit_of([(slope * z + steady * e, z) for z, e in zip(zs, residual, strict=True)]))
    wild = Record(
        stats_of(xs), fit_of([(slope * z + (steady + extra) * e, z) for z, e in zip(zs, residual, strict=True)])
    )

    # when their weights are read, then the slopes agree and the steady one weighs more
    assert calm.fit.slope == pytest.approx(wild.fit.slope, rel=1e-9, abs=1e-12)
    assert calm.weight > wild.weight or calm.weight == wild.weight == 0.0


@given(
    n=st.integers(min_value=1, max_value=60),
    spread=st.floats(min_value=0.0, max_value=3.0),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_a_lucky_streak_of_a_high_spread_source_earns_less_than_the_same_from_a_low_spread_one(n, spread, seed):
    # given two sources whose every forecast came true (the same streak of relative log scores), one
    # scattered around the others' pools one log-odds more than the other
    zs = pools(n, seed)
    residual = orthogonal(pools(n, seed + 1), zs)
    steady = Record(stats_of([WIN] * n), fit_of([(z + spread * e, z) for z, e in zip(zs, residual, strict=True)]))
    wild = Record(stats_of([WIN] * n), fit_of([(z + (spread + 1) * e, z) for z, e in zip(zs, residual, strict=True)]))

    # then the high-spread one earns no more (less wherever it was scattered at all)
    assert wild.weight <= steady.weight * (1 + 1e-12)


@pytest.mark.parametrize("wins", [1, 3, 5, 7])
def test_a_short_lucky_streak_lifts_nothing(wins):
    # given a fit, and a streak of a few wins of 0.9 against 0.5
    fit = fit_of([(z, z) for z in pools(wins)])

    # then the outcomes add nothing to what the fit says: the skill is not yet credibly above zero
    assert Record(stats_of([WIN] * wins), fit).weight == Record(Stats(), fit).weight


def test_a_record_that_keeps_beating_the_market_is_lifted_by_e_per_lift_scale():
    # given a long record of information added (30 wins of 0.9 against 0.5), with no pool to fit against
    record = Record(stats_of([WIN] * 30))

    # then its weight is a newcomer's lifted by e for every LIFT_SCALE of skill one sd above zero
    mean, sd = posterior_by_hand(0.0, HOME_PRIOR, [WIN] * 30)
    assert mean - sd > 0
    assert record.weight == pytest.approx(maths.NEWCOMER_WEIGHT * math.exp((mean - sd) / maths.LIFT_SCALE), rel=1e-12)
    assert record.weight > 5 * maths.NEWCOMER_WEIGHT


def test_the_weight_of_a_measurement_is_its_precision_over_its_scale():
    # given a source that reports k (truth + noise of sd s) against a pool that is the truth, on many claims
    rng = random.Random(4)
    for k, s in ((1.0, 0.3), (0.6, 1.0), (0.4, 1.5)):
        truths = [rng.gauss(0, 1.5) for _ in range(20_000)]
        record = Record(fit=fit_of([(k * (t + s * rng.gauss(0, 1)), t) for t in truths]))

        # then its weight is 1 / (k s^2): what pooling such measurements by precision gives them
        assert record.weight == pytest.approx(1 / (k * s * s), rel=0.03)


# --- d. a domain's population shrinks luck, not real differences --------------------------------------


def member(weight: float, n: int) -> Population:
    return Population(1, math.log(weight), math.log(weight) ** 2, maths.SHRINK_SAMPLING / (n + 2))


def sharp(n: int, seed: int = 1, spread: float = 0.3) -> Record:
    zs = pools(n, seed)
    return Record(
        fit=fit_of([(z + spread * e, z) for z, e in zip(zs, orthogonal(pools(n, seed + 7), zs), strict=True)])
    )


def test_fewer_than_five_established_records_shrink_nothing():
    record = sharp(20)
    few = Population()
    for w in (1.0, 1.1, 0.9, 1.0):
        few = few.plus(member(w, 30))
    assert few.shrunk(record) == record.weight


@given(
    weights=st.lists(st.floats(min_value=0.05, max_value=20.0), min_size=5, max_size=30),
    n=st.integers(min_value=0, max_value=100),
    spread=st.floats(min_value=0.05, max_value=3.0),
)
def test_shrinking_moves_a_weight_toward_the_domains_mean_and_never_lifts_a_short_record(weights, n, spread):
    # given a domain's established records and one more record of n fitted forecasts
    population = Population()
    for w in weights:
        population = population.plus(member(w, 40))
    record = sharp(n, spread=spread) if n else Record()
    own, mean = math.log(record.weight), population.total / population.count

    # when it is shrunk, then it lands between its own ln(weight) and the mean (a short record never above
    # its own)
    shrunk = math.log(population.shrunk(record))
    assert min(own, mean) - 1e-9 <= shrunk <= max(own, mean) + 1e-9
    if n < maths.SHRINK_MIN_FORECASTS:
        assert shrunk <= own + 1e-12


def test_where_weights_really_differ_a_long_record_keeps_its_own_and_where_they_do_not_it_is_pulled_in():
    # given two domains of 20 established records: in one the weights span a factor of 400, in the other
    # they are all alike
    wide, narrow = Population(), Population()
    for i in range(20):
        wide = wide.plus(member(0.1 * 400 ** (i / 19), 40))
        narrow = narrow.plus(member(1.0, 40))
    record = sharp(40)

    # when one record of 40 forecasts (weight about 10) is shrunk in each
    # then in the wide one it keeps most of its own ln(weight), in the narrow one it is pulled well in
    own = math.log(record.weight)
    assert abs(math.log(wide.shrunk(record)) - own) < 0.1 * abs(own)
    assert abs(math.log(narrow.shrunk(record))) < 0.5 * abs(own)


# --- e. the agents of one owner weigh, together, what one independent source of the same record weighs --


def test_n_sources_of_one_owner_share_one_sources_weight():
    # given one owner with N sources of weight w, and an independent source of weight w
    for n in (1, 2, 5, 10, 50):
        swarm = [Voice(100 + i, copying_group=7, weight=0.3, probability=0.8) for i in range(n)]
        alone = [Voice(1, copying_group=1, weight=0.3, probability=0.8)]

        # when the independence cap is applied
        weights = maths.effective_weights(swarm + alone)

        # then the swarm together weighs what the single source weighs
        assert sum(weights[v.identity_id] for v in swarm) == pytest.approx(0.3, rel=1e-12)
        assert weights[1] == 0.3


@given(
    n=st.integers(min_value=1, max_value=30),
    weight=st.floats(min_value=1e-9, max_value=1.0),
    p=st.floats(min_value=0.001, max_value=0.999),
    others=st.lists(
        st.tuples(st.floats(min_value=1e-9, max_value=1.0), st.floats(min_value=0.001, max_value=0.999)),
        min_size=1,
        max_size=6,
    ),
)
def test_a_swarm_pools_exactly_like_one_independent_source_with_its_record(n, weight, p, others):
    # given independent voices, plus either one source X (weight w, saying p) or N agents of one owner
    # each with X's record (weight w) all saying p
    rest = [Voice(1000 + i, copying_group=1000 + i, weight=w, probability=q) for i, (w, q) in enumerate(others)]
    with_x = [*rest, Voice(1, copying_group=1, weight=weight, probability=p)]
    with_swarm = rest + [Voice(10 + i, copying_group=2, weight=weight, probability=p) for i in range(n)]

    # when each is pooled, then the swarm moves the consensus exactly as far as X alone
    assert maths.pooled_logit(with_swarm) == pytest.approx(maths.pooled_logit(with_x), abs=1e-9)


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=4), st.floats(min_value=1e-9, max_value=1.0)),
        min_size=1,
        max_size=20,
    )
)
def test_no_cluster_weighs_more_than_its_best_member(members):
    # given voices in up to five clusters, when the cap is applied
    voices = [Voice(i, copying_group=c, weight=w, probability=0.7) for i, (c, w) in enumerate(members)]
    weights = maths.effective_weights(voices)

    # then each cluster weighs its best member's weight, shared in proportion, and nobody gains
    for cluster in {v.copying_group for v in voices}:
        inside = [v for v in voices if v.copying_group == cluster]
        assert sum(weights[v.identity_id] for v in inside) == pytest.approx(max(v.weight for v in inside), rel=1e-9)
        assert all(weights[v.identity_id] <= v.weight * (1 + 1e-12) for v in inside)


@given(
    k=st.integers(min_value=1, max_value=20),
    n=st.integers(min_value=0, max_value=60),
    spread=st.floats(min_value=0.0, max_value=3.0),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_a_swarms_weight_is_at_most_one_members(k, n, spread, seed):
    # given k agents of one owner with one and the same record
    record = sharp(n, seed, spread) if n else Record()
    voices = [Voice(i, copying_group=7, weight=record.weight, probability=0.8) for i in range(k)]
    whole = Record()
    for _ in range(k):
        whole = whole.plus(record)

    # when they are capped (best member, and one source holding all their records)
    weights = maths.effective_weights(voices, {7: whole.weight})

    # then together they weigh no more than one of them
    assert sum(weights.values()) == pytest.approx(min(record.weight, whole.weight), rel=1e-9)
    assert sum(weights.values()) <= record.weight * (1 + 1e-12)


def test_splitting_a_record_across_agents_gains_nothing():
    # given one forecaster's record on 100 claims, dealt round-robin across ten agents of one owner
    zs = pools(100, 3)
    rng = random.Random(2)
    pairs = [(0.8 * z + 0.7 * rng.gauss(0, 1), z) for z in zs]
    xs = [maths.relative_log_score(0.8, 0.5, rng.random() < 0.7) for _ in zs]
    whole = Record(stats_of(xs), fit_of(pairs))
    shares = [Record(stats_of(xs[i::10]), fit_of(pairs[i::10])) for i in range(10)]
    summed = Record()
    for share in shares:
        summed = summed.plus(share)

    # when the ten agents speak in one consensus, capped as an owner cluster
    voices = [Voice(i, 7, share.weight, 0.8) for i, share in enumerate(shares)]
    cluster = maths.effective_weights(voices, {7: summed.weight})

    # then the owner weighs no more than one source with the whole record (the record summed is the whole)
    assert summed == Record(
        Stats(100, pytest.approx(whole.skill.total), pytest.approx(whole.skill.total_sq)),
        Fit(100, pytest.approx(whole.fit.zz), pytest.approx(whole.fit.rz), pytest.approx(whole.fit.rr)),
    )
    assert sum(cluster.values()) <= whole.weight * (1 + 1e-9)


# --- f. the reference each forecast is fitted against --------------------------------------------------


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=4),
            st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=5.0)),
            st.floats(min_value=0.001, max_value=0.999),
        ),
        min_size=1,
        max_size=12,
    ),
    st.floats(min_value=1.0, max_value=2.5),
)
def test_each_voices_pool_is_the_others_weighted_mean_extremized(members, alpha):
    # given voices in up to five copying groups, with weights, and an extremizing factor
    voices = [Voice(i, copying_group=g, weight=w, probability=p) for i, (g, w, p) in enumerate(members)]
    weights = {v.identity_id: v.weight for v in voices}

    # when each voice's reference is computed
    references = maths.pool_references(voices, weights, alpha)

    # then it is alpha times the weighted mean of the log-odds outside its group, where those weigh anything
    for v in voices:
        others = [o for o in voices if o.copying_group != v.copying_group]
        mass = sum(weights[o.identity_id] for o in others)
        if mass > 0:
            expected = alpha * sum(weights[o.identity_id] * o.log_odds for o in others) / mass
            assert references[v.identity_id] == pytest.approx(expected, rel=1e-9, abs=1e-9)
        else:
            assert v.identity_id not in references


# --- pooling, clipping, scores --------------------------------------------------------------------------


def test_pooling_is_the_weighted_mean_of_clipped_log_odds():
    # given three independent voices, one of them certain
    voices = [Voice(1, 1, 0.2, 0.8), Voice(2, 2, 0.1, 0.3), Voice(3, 3, 0.05, 1.0)]

    # when pooled
    pooled = maths.pooled_logit(voices)

    # then certainty is capped at LOGIT_CLIP, and the mean is weighted
    expected = (0.2 * math.log(4) + 0.1 * math.log(0.3 / 0.7) + 0.05 * maths.LOGIT_CLIP) / 0.35
    assert pooled == pytest.approx(expected, rel=1e-12)
    assert maths.pooled_logit([]) is None
    assert maths.logit(0.0) == -maths.LOGIT_CLIP


def test_relative_log_score_is_the_information_added_over_the_price():
    # given a 0.8 forecast made against a 0.5 price
    # then it earns ln(0.8/0.5) nats on YES and ln(0.2/0.5) on NO; at the price itself, nothing
    assert maths.relative_log_score(0.8, 0.5, True) == math.log(0.8) - math.log(0.5)
    assert maths.relative_log_score(0.8, 0.5, False) == pytest.approx(math.log(0.2 / 0.5), abs=1e-15)
    assert maths.relative_log_score(0.37, 0.37, True) == 0.0
    assert maths.brier(0.8, True) == pytest.approx(0.04, abs=1e-15)
    assert maths.log_score(0.8, False) == pytest.approx(math.log(0.2), abs=1e-15)


# --- 5. extremizing -----------------------------------------------------------------------------------


def test_extremizing_is_one_below_the_minimum_history():
    # given one claim fewer than the minimum, all strongly under-confident
    rows = [(0.5, True)] * (maths.EXTREMIZE_MIN_CLAIMS - 1)

    # then no fit is attempted
    assert maths.fit_extremizing(rows) == 1.0
    assert maths.fit_extremizing([]) == 1.0


def test_extremizing_fits_above_one_on_under_confident_pooled_logits():
    # given pooled logits that are half what they should be: the truth is sigmoid(2x), deterministically
    # as frequencies (for each x, 100 claims, round(100 * sigmoid(2x)) of them YES)
    rows = []
    for x in (-1.5, -1.0, -0.5, 0.25, 0.5, 1.0, 1.5):
        yes = round(100 * maths.sigmoid(2 * x))
        rows += [(x, True)] * yes + [(x, False)] * (100 - yes)

    # when fitted
    alpha = maths.fit_extremizing(rows)

    # then the factor is near 2, the minimiser of the loss on the grid
    assert 1.9 < alpha < 2.1
    grid = [maths.EXTREMIZE_MIN + i * 0.001 for i in range(1501)]
    best = min(grid, key=lambda a: maths.log_loss(rows, a))
    assert alpha == pytest.approx(best, abs=2e-3)


def test_extremizing_never_leaves_its_bounds():
    # given over-confident logits (truth is sigmoid(x / 2)), and always-right logits
    over = []
    for x in (-3.0, -1.0, 1.0, 3.0):
        yes = round(100 * maths.sigmoid(x / 2))
        over += [(x, True)] * yes + [(x, False)] * (100 - yes)
    always_right = [(0.3, True), (-0.3, False)] * 20

    # then the fit is clipped to [EXTREMIZE_MIN, EXTREMIZE_MAX]
    assert maths.fit_extremizing(over) == maths.EXTREMIZE_MIN
    assert maths.fit_extremizing(always_right) == maths.EXTREMIZE_MAX


@given(
    st.lists(
        st.tuples(st.floats(min_value=-9.0, max_value=9.0), st.booleans()),
        min_size=maths.EXTREMIZE_MIN_CLAIMS,
        max_size=80,
    )
)
def test_any_fit_lies_within_the_bounds(rows):
    alpha = maths.fit_extremizing(rows)
    assert maths.EXTREMIZE_MIN <= alpha <= maths.EXTREMIZE_MAX
