"""The four reliability properties, through the real services: records are built by stating beliefs on
published claims and resolving them (close, propose, finalize, settle, which scores); weights are read
back the way the consensus reads them (selectors.reliability_weights) and from the stored rows."""

import itertools
import math
from decimal import Decimal

import pytest

from apps.reputation import maths
from apps.reputation.maths import Stats
from apps.reputation.models import Consensus, Reliability
from apps.reputation.selectors import consensus_compute, reliability_weights
from tests import factories
from tests.factories import buy, new_claim, resolve, state, track

pytestmark = pytest.mark.django_db

WIN = math.log(0.9 / 0.5)  # a stated 0.9 against the opening price 0.5, resolved YES


def weight(identity, domain) -> float:
    return reliability_weights([identity.pk], domain.pk)[identity.pk]


def overall_stats(identity) -> Stats:
    row = Reliability.objects.get(identity=identity, domain=None)
    return Stats(row.n, row.total, row.total_sq)


def posterior_by_hand(prior_mean: float, prior_var: float, n: int, total: float) -> tuple[float, float]:
    precision = 1 / prior_var + n / maths.SIGMA_OBS**2
    return (prior_mean / prior_var + total / maths.SIGMA_OBS**2) / precision, math.sqrt(1 / precision)


def weight_by_hand(mean: float, sd: float) -> float:
    return max(mean - sd, 0.0) + maths.WEIGHT_FLOOR * math.exp(min(mean, 0.0) / maths.FLOOR_DECAY)


# --- a. ----------------------------------------------------------------------------------------------------


def test_a_new_identity_weighs_at_most_five_percent_of_an_established_accurate_one(author, domain, resolver):
    # given a veteran with 30 resolved forecasts of 0.9 that all came true, and a newcomer
    veteran = factories.human()
    track({veteran: Decimal("0.9")}, author, domain, resolver, outcome="yes", claims=30)
    newcomer = factories.human()

    # when their weights in the domain are read
    weights = reliability_weights([veteran.pk, newcomer.pk], domain.pk)

    # then the veteran's is the documented posterior of its 30 observations, the newcomer's the floor,
    # and the newcomer weighs at most 5% of the veteran
    row = Reliability.objects.get(identity=veteran, domain=domain)
    assert (row.n, row.total) == (30, pytest.approx(30 * WIN, rel=1e-12))
    mean, sd = posterior_by_hand(0.0, maths.TAU_GLOBAL**2 + maths.TAU_DOMAIN**2, 30, 30 * WIN)
    assert weights[veteran.pk] == pytest.approx(weight_by_hand(mean, sd), rel=1e-12)
    assert row.weight == weights[veteran.pk]
    assert weights[newcomer.pk] == maths.WEIGHT_FLOOR
    assert weights[newcomer.pk] <= 0.05 * weights[veteran.pk]

    # and on a new claim where they disagree, the newcomer's share of the consensus is under 5%
    claim = new_claim(author, domain)
    state(veteran, claim, Decimal("0.8"))
    state(newcomer, claim, Decimal("0.05"))
    shares = {c.identity.pk: c.weight for c in consensus_compute(claim).contributors}
    assert shares[newcomer.pk] < 0.05
    assert shares[newcomer.pk] == pytest.approx(weights[newcomer.pk] / (weights[newcomer.pk] + weights[veteran.pk]))


# --- b. ----------------------------------------------------------------------------------------------------


def test_an_identity_that_keeps_losing_decays_toward_zero_weight(author, domain, resolver):
    # given an identity that states 0.8 on claims that resolve NO, fifteen times
    loser = factories.human()
    weights = [weight(loser, domain)]
    for _ in range(15):
        track({loser: Decimal("0.8")}, author, domain, resolver, outcome="no")
        weights.append(weight(loser, domain))

    # then its weight starts at the floor, falls at every loss, and ends below a hundredth of it
    assert weights[0] == maths.WEIGHT_FLOOR
    assert all(later < earlier for earlier, later in itertools.pairwise(weights))
    assert weights[-1] < maths.WEIGHT_FLOOR / 100
    assert Reliability.objects.get(identity=loser, domain=domain).weight == weights[-1]


def test_a_trader_who_keeps_losing_decays_too(author, domain, resolver):
    # given a trader who buys YES on claims that resolve NO
    trader = factories.human()
    weights = [weight(trader, domain)]
    for i in range(5):
        claim = new_claim(author, domain)
        buy(trader, claim, "yes", credits=20, key=f"lose:{i}")
        resolve(claim, "no", resolver)
        weights.append(weight(trader, domain))

    # then each loss lowers its weight below the newcomer's floor
    assert weights[0] == maths.WEIGHT_FLOOR
    assert all(later < earlier for earlier, later in itertools.pairwise(weights))


# --- c. ----------------------------------------------------------------------------------------------------


def test_skill_in_one_domain_raises_weight_in_another_only_through_the_global_shrinkage(
    author, domain, other_domain, resolver
):
    # given a specialist who keeps being right in domain A (science) and never forecasts in B (economics)
    specialist = factories.human()
    for _ in range(10):
        track({specialist: Decimal("0.9")}, author, domain, resolver, outcome="yes")
        overall = overall_stats(specialist)

        # when its weights in A and B are read after each new A record
        in_a, in_b = weight(specialist, domain), weight(specialist, other_domain)

        # then B's weight is exactly the posterior of no B data on the global (leave-B-out) prior
        assert in_b == maths.domain_posterior(Stats(), overall).weight
        g_mean, g_sd = posterior_by_hand(0.0, maths.TAU_GLOBAL**2, overall.n, overall.total)
        assert in_b == pytest.approx(weight_by_hand(g_mean, math.sqrt(maths.TAU_DOMAIN**2 + g_sd**2)), rel=1e-12)
        # which never exceeds the global estimate less the domain spread, nor the weight in A
        assert in_b <= max(g_mean - maths.TAU_DOMAIN, 0.0) + maths.WEIGHT_FLOOR
        assert in_b < in_a if in_a > maths.WEIGHT_FLOOR else in_b == in_a

    # and after ten A records, its weight in B is well under half of its weight in A
    assert overall.n == 10
    assert in_b < in_a / 2
    assert not Reliability.objects.filter(identity=specialist, domain=other_domain).exists()


def test_a_domains_own_record_is_counted_once_on_a_prior_from_the_other_domains(author, domain, other_domain, resolver):
    # given an identity right four times in A and wrong twice in B
    source = factories.human()
    track({source: Decimal("0.9")}, author, domain, resolver, outcome="yes", claims=4)
    track({source: Decimal("0.9")}, author, other_domain, resolver, outcome="no", claims=2)

    # when its weight in B is read
    in_b = weight(source, other_domain)

    # then it is B's two losses on a prior built from A's four wins alone
    loss = math.log(0.1 / 0.5)
    g_mean, g_sd = posterior_by_hand(0.0, maths.TAU_GLOBAL**2, 4, 4 * WIN)
    mean, sd = posterior_by_hand(g_mean, maths.TAU_DOMAIN**2 + g_sd**2, 2, 2 * loss)
    assert in_b == pytest.approx(weight_by_hand(mean, sd), rel=1e-9)
    assert Reliability.objects.get(identity=source, domain=other_domain).weight == in_b


# --- d. ----------------------------------------------------------------------------------------------------


def test_the_agents_of_one_owner_never_weigh_more_than_one_independent_source_of_the_same_record(
    author, domain, resolver
):
    # given X, an independent human; Y, another; three owners whose N sources (N = 2, 5, 10; the 5 include
    # the owner's own human identity) each have exactly X's record; and an owner S whose two agents split
    # X's record between them (three claims each)
    x, y = factories.human(), factories.human()
    swarms = {}
    for n in (2, 5, 10):
        owner = factories.verified_user()
        agents = [factories.agent(owner=owner) for _ in range(n - (n == 5))]
        swarms[n] = agents + ([factories.human(owner)] if n == 5 else [])
    splitter = factories.verified_user()
    halves = [factories.agent(owner=splitter), factories.agent(owner=splitter)]
    copies = [member for members in swarms.values() for member in members]
    for i in range(6):
        claim = new_claim(author, domain)
        for member in [x, *copies, halves[i // 3]]:
            state(member, claim, Decimal("0.9"), key=f"record:{claim.pk}:{member.pk}")
        state(y, claim, Decimal("0.6"), key=f"record:{claim.pk}:{y.pk}")
        resolve(claim, "yes", resolver)
    raw = reliability_weights([x.pk, *(m.pk for m in copies), *(h.pk for h in halves)], domain.pk)
    assert {raw[m.pk] for m in copies} == {raw[x.pk]}  # the same record, the same weight

    # when Y says 0.3 beside X alone saying 0.8, and beside each swarm all saying 0.8
    def consensus_with(members):
        claim = new_claim(author, domain)
        state(y, claim, Decimal("0.3"), key=f"y:{claim.pk}")
        for member in members:
            state(member, claim, Decimal("0.8"), key=f"m:{claim.pk}:{member.pk}")
        return claim, consensus_compute(claim)

    claim_x, with_x = consensus_with([x])
    share_x = {c.identity.pk: c.weight for c in with_x.contributors}[x.pk]

    # then every swarm together has exactly X's share, and the consensus is X's to 1e-9
    for n, members in swarms.items():
        claim_n, with_swarm = consensus_with(members)
        shares = {c.identity.pk: c.weight for c in with_swarm.contributors}
        assert len(shares) == n + 1
        assert with_swarm.owners == 2
        assert sum(shares[m.pk] for m in members) == pytest.approx(share_x, abs=1e-9)
        assert with_swarm.pooled_logit == pytest.approx(with_x.pooled_logit, abs=1e-9)
        assert with_swarm.probability == pytest.approx(with_x.probability, abs=1e-9)
        assert Consensus.objects.get(claim=claim_n).probability == Consensus.objects.get(claim=claim_x).probability

    # and the owner who split the record weighs no more than X, so it pulls no harder
    _, with_halves = consensus_with(halves)
    shares = {c.identity.pk: c.weight for c in with_halves.contributors}
    assert max(raw[h.pk] for h in halves) <= raw[x.pk]
    assert shares[halves[0].pk] + shares[halves[1].pk] <= share_x + 1e-12
    assert with_halves.probability <= with_x.probability + 1e-12
