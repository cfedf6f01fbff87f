"""The reputation maths (apps/reputation/maths.py), no database: each reliability property is checked
against an independent statement of the conjugate normal model it claims to implement."""

import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.reputation import maths
from apps.reputation.maths import Stats, Voice

WIN = math.log(0.9 / 0.5)  # nats: a 0.9 forecast against a 0.5 price, resolved YES
LOSS = math.log(0.2 / 0.5)  # nats: a 0.8 forecast against a 0.5 price, resolved NO


def stats_of(xs: list[float]) -> Stats:
    return Stats(len(xs), sum(xs), sum(x * x for x in xs))


def posterior_by_hand(prior_mean: float, prior_var: float, xs: list[float]) -> tuple[float, float]:
    """Normal prior, normal observations of known variance SIGMA_OBS^2: (posterior mean, sd)."""
    precision = 1 / prior_var + len(xs) / maths.SIGMA_OBS**2
    return (prior_mean / prior_var + sum(xs) / maths.SIGMA_OBS**2) / precision, math.sqrt(1 / precision)


def weight_by_hand(mean: float, sd: float) -> float:
    """The documented weight: the posterior's lower bound when positive, plus a floor that fades with loss."""
    return max(mean - sd, 0.0) + maths.WEIGHT_FLOOR * math.exp(min(mean, 0.0) / maths.FLOOR_DECAY)


# --- a. a newcomer is almost weightless next to an established accurate source -----------------------


def test_a_new_source_weighs_exactly_the_floor():
    # given no observations at all, when its posterior is built, then it is the prior and weighs the floor
    posterior = maths.domain_posterior(Stats(), Stats())

    assert posterior.mean == 0.0
    assert posterior.sd == pytest.approx(math.sqrt(maths.TAU_GLOBAL**2 + maths.TAU_DOMAIN**2), abs=1e-15)
    assert posterior.weight == maths.WEIGHT_FLOOR


@pytest.mark.parametrize("n", [30, 60, 200])
def test_a_new_source_weighs_at_most_five_percent_of_an_established_accurate_one(n):
    # given a source with n accurate forecasts in one domain (and none elsewhere)
    record = stats_of([WIN] * n)

    # when both weights are computed
    established = maths.domain_posterior(record, record).weight
    newcomer = maths.domain_posterior(Stats(), Stats()).weight

    # then the newcomer weighs at most 5% of it, and the established weight is the documented one
    mean, sd = posterior_by_hand(0.0, maths.TAU_GLOBAL**2 + maths.TAU_DOMAIN**2, [WIN] * n)
    assert established == pytest.approx(weight_by_hand(mean, sd), rel=1e-12)
    assert newcomer <= 0.05 * established


# --- b. a persistent loser decays toward zero ------------------------------------------------------------


def test_a_source_that_keeps_losing_decays_strictly_toward_zero():
    # given a source that loses every forecast, when its weight is computed after each loss
    weights = [maths.domain_posterior(stats_of([LOSS] * n), stats_of([LOSS] * n)).weight for n in range(41)]

    # then each loss lowers it, the first one already below a newcomer's, two below half of it, and 40
    # leave almost nothing
    assert weights[0] == maths.WEIGHT_FLOOR
    assert all(later < earlier for earlier, later in itertools.pairwise(weights))
    assert weights[1] < maths.WEIGHT_FLOOR
    assert weights[2] < maths.WEIGHT_FLOOR / 2
    assert weights[14] < maths.WEIGHT_FLOOR / 100
    assert 0 < weights[40] < 1e-6


@given(loss=st.floats(min_value=-14.0, max_value=-0.01), n=st.integers(min_value=1, max_value=60))
def test_every_further_loss_of_the_same_size_lowers_the_weight(loss, n):
    # given a source that has lost n - 1 times, when it loses once more by as much
    before, after = stats_of([loss] * (n - 1)), stats_of([loss] * n)

    # then its weight goes down (a smaller loss after bigger ones would raise the mean: that is Bayes)
    assert maths.domain_posterior(after, after).weight < maths.domain_posterior(before, before).weight


# --- c. skill in domain A reaches domain B only through the shrinkage toward the global estimate -------


@pytest.mark.parametrize("n", [1, 5, 30, 200, 5000])
def test_skill_in_one_domain_reaches_another_only_through_the_global_estimate(n):
    # given a source with n accurate forecasts, all in domain A
    in_a = stats_of([WIN] * n)
    overall = in_a

    # when its weight in A and in B (no B data) are computed
    weight_a = maths.domain_posterior(in_a, overall).weight
    weight_b = maths.domain_posterior(Stats(), overall).weight

    # then B's is the global posterior from A's data, widened by TAU_DOMAIN, with no B data: nothing more
    g_mean, g_sd = posterior_by_hand(0.0, maths.TAU_GLOBAL**2, [WIN] * n)
    assert weight_b == pytest.approx(weight_by_hand(g_mean, math.sqrt(maths.TAU_DOMAIN**2 + g_sd**2)), rel=1e-12)
    # never above the global estimate less the domain spread (however much A data there is),
    assert weight_b <= max(g_mean - maths.TAU_DOMAIN, 0.0) + maths.WEIGHT_FLOOR
    # and never above the weight in A itself (both are the floor until A's lower bound turns positive)
    assert weight_b < weight_a if weight_a > maths.WEIGHT_FLOOR else weight_b == weight_a


def test_a_domain_own_observations_are_not_also_in_its_prior():
    # given a source whose whole record is in domain B
    xs = [WIN, WIN, LOSS, WIN, WIN]
    record = stats_of(xs)

    # when its B posterior is built
    posterior = maths.domain_posterior(record, record)

    # then the prior is the zero-skill global prior widened by TAU_DOMAIN: B's data counted once only
    mean, sd = posterior_by_hand(0.0, maths.TAU_GLOBAL**2 + maths.TAU_DOMAIN**2, xs)
    assert posterior.mean == pytest.approx(mean, rel=1e-12)
    assert posterior.sd == pytest.approx(sd, rel=1e-12)


def test_the_prior_of_a_domain_is_built_from_the_other_domains_only():
    # given observations in A and in B
    a, b = [WIN] * 12, [LOSS] * 3
    overall = stats_of(a + b)

    # when B's posterior is built
    posterior = maths.domain_posterior(stats_of(b), overall)

    # then its prior is the global posterior of A's observations alone
    g_mean, g_sd = posterior_by_hand(0.0, maths.TAU_GLOBAL**2, a)
    mean, sd = posterior_by_hand(g_mean, maths.TAU_DOMAIN**2 + g_sd**2, b)
    assert posterior.mean == pytest.approx(mean, rel=1e-9)
    assert posterior.sd == pytest.approx(sd, rel=1e-12)


# --- d. the agents of one owner weigh, together, what one independent source of the same record weighs --


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


@given(n=st.integers(min_value=2, max_value=80), parts=st.integers(min_value=2, max_value=10), data=st.data())
def test_splitting_an_accurate_record_across_agents_gains_nothing(n, parts, data):
    # given an accurate record of n equal wins, split across up to `parts` agents of one owner
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=n), min_size=parts - 1, max_size=parts - 1)))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    whole = stats_of([WIN] * n)

    # when the owner's best member is compared to one source holding it all
    best = max(maths.domain_posterior(stats_of([WIN] * k), stats_of([WIN] * k)).weight for k in sizes)

    # then the split never weighs more
    assert best <= maths.domain_posterior(whole, whole).weight


def test_splitting_a_noisy_record_across_agents_gains_nothing():
    # given one forecaster's record: 100 forecasts of 0.8 against 0.5, 70 right in an order drawn with a fixed
    # seed, dealt round-robin across ten agents of one owner as they were made (no hindsight in the split)
    outcomes = random.Random(2).sample([True] * 70 + [False] * 30, 100)
    xs = [maths.relative_log_score(0.8, 0.5, outcome) for outcome in outcomes]
    whole = maths.domain_posterior(stats_of(xs), stats_of(xs)).weight

    # when the ten agents speak in one consensus, capped as an owner cluster
    shares = [stats_of(xs[i::10]) for i in range(10)]
    voices = [Voice(i, 7, maths.domain_posterior(share, share).weight, 0.8) for i, share in enumerate(shares)]
    summed = maths.Stats()
    for share in shares:
        summed = summed.plus(share)
    cluster = maths.effective_weights(voices, {7: maths.domain_posterior(summed, summed).weight})

    # then the owner weighs no more than one source with the whole record, nor than its luckiest agent
    best = max(v.weight for v in voices)
    assert sum(cluster.values()) == pytest.approx(min(best, whole), rel=1e-12)
    assert sum(cluster.values()) <= whole


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
