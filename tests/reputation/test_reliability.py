"""The four reliability properties, through the real services: records are built by stating beliefs on
published claims and resolving them (close, propose, finalize, settle, which scores); weights are read
back the way the consensus reads them (selectors.reliability_weights) and from the stored rows."""

import itertools
import math
from decimal import Decimal

import pytest

from apps.reputation import maths
from apps.reputation.models import Reliability, ReliabilityPopulation, Score
from apps.reputation.selectors import consensus_compute, population_of, reliability_weights
from tests import factories
from tests.factories import buy, new_claim, resolve, signals, state, track
from tests.reputation.by_hand import own_weight_by_hand, population_by_hand, records_by_hand

pytestmark = pytest.mark.django_db

WIN = math.log(0.9 / 0.5)  # a stated 0.9 against the opening price 0.5, resolved YES


def weight(identity, domain) -> float:
    return reliability_weights([identity.pk], domain.pk)[identity.pk]


def by_hand(identity, domain) -> float:
    """The identity's weight in the domain recomputed from the raw Score rows (tests/reputation/by_hand.py)."""
    records = records_by_hand(domain.pk)
    return population_by_hand(records)(records.get(identity.pk))


# --- a. ----------------------------------------------------------------------------------------------------


def test_a_new_identity_weighs_at_most_five_percent_of_an_established_sharp_one(author, domain, resolver):
    # given 30 claims on which a sharp source (noise sd 0.1), five fair ones and a poor one stated beliefs,
    # and a newcomer
    veteran, fair, poor = factories.human(), factories.human(), factories.human()
    crowd = {factories.human(): sd for sd in (0.5, 0.6, 0.7, 0.8)}
    signals({veteran: 0.1, fair: 0.6, poor: 2.0} | crowd, author, domain, resolver, claims=30)
    newcomer = factories.human()

    # when their weights in the domain are read
    weights = reliability_weights([veteran.pk, newcomer.pk, fair.pk, poor.pk], domain.pk)

    # then each is the documented weight of its Score rows, the newcomer's is a newcomer's, the sharp
    # source outweighs the fair ones and they the poor one, and the newcomer weighs at most 5% of the veteran
    row = Reliability.objects.get(identity=veteran, domain=domain)
    assert (row.n, row.fit_n) == (30, 30)
    for who in (veteran, fair, poor):
        assert weights[who.pk] == pytest.approx(by_hand(who, domain), rel=1e-9)
    assert row.weight == pytest.approx(weights[veteran.pk], rel=1e-12)
    assert weights[newcomer.pk] == maths.NEWCOMER_WEIGHT
    assert weights[veteran.pk] > weights[fair.pk] > weights[poor.pk]
    assert weights[newcomer.pk] <= 0.05 * weights[veteran.pk]

    # and on a new claim where they disagree, the newcomer's share of the consensus is under 5%
    claim = new_claim(author, domain)
    state(veteran, claim, Decimal("0.8"))
    state(newcomer, claim, Decimal("0.05"))
    shares = {c.identity.pk: c.weight for c in consensus_compute(claim).contributors}
    assert shares[newcomer.pk] < 0.05
    assert shares[newcomer.pk] == pytest.approx(weights[newcomer.pk] / (weights[newcomer.pk] + weights[veteran.pk]))


def test_each_score_is_fitted_against_the_other_sources_pool_at_close(author, domain, resolver):
    # given a history that gave three sources different weights, and an owner with two agents
    a, b, c = factories.human(), factories.human(), factories.human()
    owner = factories.verified_user()
    d1, d2 = factories.agent(owner=owner), factories.agent(owner=owner)
    signals({a: 0.2, b: 0.6, c: 1.5}, author, domain, resolver, claims=8)

    # when a claim on which all five stated beliefs is scored
    claim = new_claim(author, domain)
    says = {a: "0.8", b: "0.7", c: "0.3", d1: "0.6", d2: "0.9"}
    for who, p in says.items():
        state(who, claim, Decimal(p))
    view = consensus_compute(claim)
    resolve(claim, "yes", resolver)

    # then each score keeps its log-odds as read and the pool of the others outside its owner's group: the
    # weighted mean of their read log-odds, times the extremizing factor at close
    shares = {x.identity.pk: x.weight for x in view.contributors}
    read = {x.identity.pk: x.calibration * maths.logit(x.probability) for x in view.contributors}
    group = {x.identity.pk: x.copying_group for x in view.contributors}
    for score in Score.objects.filter(claim=claim):
        others = [pk for pk in shares if group[pk] != group[score.identity_id]]
        pool = view.alpha * sum(shares[pk] * read[pk] for pk in others) / sum(shares[pk] for pk in others)
        assert score.read_logit == pytest.approx(read[score.identity_id], rel=1e-12)
        assert score.pool_logit == pytest.approx(pool, rel=1e-12)
    # and the owner's two agents were each fitted against the three people only
    assert (
        Score.objects.get(claim=claim, identity=d1).pool_logit == Score.objects.get(claim=claim, identity=d2).pool_logit
    )


def test_a_source_alone_on_a_claim_has_no_pool_and_keeps_its_fit(author, domain, resolver):
    alone = factories.human()
    track({alone: Decimal("0.9")}, author, domain, resolver, outcome="yes", claims=3)
    assert list(Score.objects.filter(identity=alone).values_list("pool_logit", flat=True)) == [None] * 3
    row = Reliability.objects.get(identity=alone, domain=domain)
    assert (row.n, row.fit_n, row.weight) == (3, 0, maths.NEWCOMER_WEIGHT)


# --- b. ----------------------------------------------------------------------------------------------------


def test_an_identity_that_keeps_losing_decays_toward_zero_weight(author, domain, resolver):
    # given an identity that states 0.8 on claims that resolve NO, fifteen times
    loser = factories.human()
    weights = [weight(loser, domain)]
    for _ in range(15):
        track({loser: Decimal("0.8")}, author, domain, resolver, outcome="no")
        weights.append(weight(loser, domain))

    # then its weight starts at a newcomer's, falls at every loss, and ends below a hundredth of it
    assert weights[0] == maths.NEWCOMER_WEIGHT
    assert all(later < earlier for earlier, later in itertools.pairwise(weights))
    assert weights[-1] < maths.NEWCOMER_WEIGHT / 100
    assert Reliability.objects.get(identity=loser, domain=domain).weight == weights[-1]
    assert weights[-1] == pytest.approx(by_hand(loser, domain), rel=1e-12)


def test_a_trader_who_keeps_losing_decays_too(author, domain, resolver):
    # given a trader who buys YES on claims that resolve NO
    trader = factories.human()
    weights = [weight(trader, domain)]
    for i in range(5):
        claim = new_claim(author, domain)
        buy(trader, claim, "yes", credits=20, key=f"lose:{i}")
        resolve(claim, "no", resolver)
        weights.append(weight(trader, domain))

    # then each loss lowers its weight below a newcomer's
    assert weights[0] == maths.NEWCOMER_WEIGHT
    assert all(later < earlier for earlier, later in itertools.pairwise(weights))


# --- c. ----------------------------------------------------------------------------------------------------


def test_skill_away_from_home_neither_lowers_nor_lifts_the_weight_at_home(author, domain, other_domain, resolver):
    # given two specialists who said the same at home (A) on the same twelve claims, among others
    strays, shines = factories.human(), factories.human()
    crowd = {factories.human(): sd for sd in (0.5, 0.9, 1.4)}
    home = signals(crowd | {strays: 0.2}, author, domain, resolver, claims=12, seed=5)
    # (shines states strays' beliefs on twelve more claims with the same crowd: an identical home record
    # on its own claims)
    for claim in home:
        copy = new_claim(author, domain)
        for source in [*crowd, strays]:
            said = Score.objects.get(claim=claim, identity=source).probability
            state(shines if source == strays else source, copy, said, key=f"copy:{copy.pk}:{source.pk}")
        resolve(copy, "yes" if claim.status == "resolved_yes" else "no", resolver)

    # when one then keeps losing in B and the other keeps winning there
    track({strays: Decimal("0.9")}, author, other_domain, resolver, outcome="no", claims=6)
    track({shines: Decimal("0.9")}, author, other_domain, resolver, outcome="yes", claims=6)

    # then the weight at home of each is what its home rows alone give (and the domain's population),
    # unmoved by the record in B
    for who in (strays, shines):
        assert weight(who, domain) == pytest.approx(by_hand(who, domain), rel=1e-9)
        assert Reliability.objects.get(identity=who, domain=domain).fit_n == 12
    assert Reliability.objects.get(identity=strays, domain=other_domain).weight < maths.NEWCOMER_WEIGHT / 10
    assert Reliability.objects.get(identity=shines, domain=other_domain).weight == maths.NEWCOMER_WEIGHT


# --- d. ----------------------------------------------------------------------------------------------------


def test_the_agents_of_one_owner_never_weigh_more_than_their_best_member_alone(author, domain, resolver):
    # given X, an independent human; Y, another; three owners whose N sources (N = 2, 5, 10; the 5 include
    # the owner's own human identity) said what X said on the same six claims; and an owner S whose two
    # agents split those claims between them (three each)
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
        said = Decimal("0.9") if i % 3 else Decimal("0.7")
        for member in [x, *copies, halves[i // 3]]:
            state(member, claim, said, key=f"record:{claim.pk}:{member.pk}")
        state(y, claim, Decimal("0.6") if i % 2 else Decimal("0.8"), key=f"record:{claim.pk}:{y.pk}")
        resolve(claim, "yes", resolver)
    raw = reliability_weights([x.pk, y.pk, *(m.pk for m in copies), *(h.pk for h in halves)], domain.pk)
    records = {r.identity_id: r.record for r in Reliability.objects.filter(domain=domain)}
    population = population_of(domain.pk)

    # when Y says 0.3 beside each swarm all saying 0.8, and beside the swarm's best member alone
    def consensus_with(members):
        claim = new_claim(author, domain)
        state(y, claim, Decimal("0.3"), key=f"y:{claim.pk}")
        for member in members:
            state(member, claim, Decimal("0.8"), key=f"m:{claim.pk}:{member.pk}")
        return claim, consensus_compute(claim)

    # then every swarm together weighs the smaller of its best member and one source holding all its
    # records, never more than its best member alone, so it pulls the consensus no further than that member
    for n, members in swarms.items():
        best = max(members, key=lambda m: (raw[m.pk], -m.pk))
        whole = maths.Record()
        for m in members:
            whole = whole.plus(records[m.pk])
        _, with_swarm = consensus_with(members)
        _, with_best = consensus_with([best])
        shares = {c.identity.pk: c.weight for c in with_swarm.contributors}
        together = min(raw[best.pk], population.shrunk(whole))
        assert (len(shares), with_swarm.owners) == (n + 1, 2)
        assert sum(shares[m.pk] for m in members) == pytest.approx(together / (together + raw[y.pk]), rel=1e-9)
        assert together <= raw[best.pk]
        assert with_swarm.probability <= with_best.probability + 1e-12

    # and the owner who split the record weighs no more than one source holding both halves
    whole = records[halves[0].pk].plus(records[halves[1].pk])
    _, with_halves = consensus_with(halves)
    shares = {c.identity.pk: c.weight for c in with_halves.contributors}
    together = min(max(raw[h.pk] for h in halves), population.shrunk(whole))
    assert shares[halves[0].pk] + shares[halves[1].pk] == pytest.approx(together / (together + raw[y.pk]), rel=1e-9)
    assert together <= population.shrunk(whole)


def test_each_domains_population_is_the_sum_of_its_established_records(author, domain, other_domain, resolver):
    # given histories in two domains, long enough for records to be established (five fitted forecasts)
    people = {factories.human(): sd for sd in (0.2, 0.5, 0.9, 1.5, 3.0, 0.7)}
    signals(people, author, domain, resolver, claims=8, seed=3)
    signals(dict(list(people.items())[:4]), author, other_domain, resolver, claims=6, seed=4)

    # then each population row holds exactly what its established records add up to, recomputed from the
    # Score rows: how many, sum and sum of squares of ln(weight), and their sampling variances
    for d in (domain, other_domain):
        records = records_by_hand(d.pk)
        established = [r for r in records.values() if len(r[1]) >= maths.SHRINK_MIN_FORECASTS]
        logs = [math.log(own_weight_by_hand(r)) for r in established if own_weight_by_hand(r) > 0]
        row = ReliabilityPopulation.objects.get(domain=d)
        assert row.count == len(logs) > 0
        assert row.total == pytest.approx(sum(logs), rel=1e-9)
        assert row.total_sq == pytest.approx(sum(x * x for x in logs), rel=1e-9)
        assert row.noise == pytest.approx(sum(2.5 / (len(r[1]) + 2) for r in established), rel=1e-9)
    overall = ReliabilityPopulation.objects.get(domain__isnull=True)
    assert overall.count == len(people)  # every source has at least five fitted forecasts over both domains
