"""Calibration: the factor the consensus applies to an owner's log-odds, learned from the owner's resolved
record (apps/reputation/maths.py). The maths against a recomputation by hand; through the services, each
claim counts once per owner (a swarm of copies learns what one of them would, a record dealt out across
agents is learned whole), and the stored records equal what the migration rebuilds from the scores."""

import math
from decimal import Decimal

import pytest
from django.apps import apps as django_apps

from apps.identities.models import IdentityKind
from apps.reputation import maths
from apps.reputation.models import Calibration, Score
from apps.reputation.selectors import calibration_factors, consensus_compute
from tests import factories
from tests.factories import new_claim, state, track

GRID = maths.CALIBRATION_GRID


def factor_by_hand(here: list[tuple[float, bool]], elsewhere: list[tuple[float, bool]] = ()) -> float:
    """The posterior's geometric mean over the grid: prior ln c ~ N(0, sd^2), the domain's forecasts at
    full weight and the other domains' at CALIBRATION_POWER."""

    def loglik(rows, c):
        return sum(math.log(1 / (1 + math.exp(-c * math.log(p / (1 - p)) * (1 if yes else -1)))) for p, yes in rows)

    post = [
        -(math.log(c) ** 2) / (2 * maths.CALIBRATION_PRIOR_SD**2)
        + maths.CALIBRATION_POWER * loglik(elsewhere, c)
        + loglik(here, c)
        for c in GRID
    ]
    mass = [math.exp(v - max(post)) for v in post]
    return math.exp(sum(m * math.log(c) for m, c in zip(mass, GRID, strict=True)) / sum(mass))


def record(rows: list[tuple[float, bool]]) -> maths.Likelihoods:
    total: maths.Likelihoods = ()
    for p, yes in rows:
        total = maths.loglik_plus(total, maths.calibration_loglik(p, yes))
    return total


# --- the maths ---------------------------------------------------------------------------------------------


def test_without_a_record_the_factor_is_one():
    assert maths.calibration_factor((), ()) == 1.0


def test_an_overconfident_record_is_read_as_less_sure_and_an_underconfident_one_as_surer():
    sure_but_often_wrong = [(0.95, True)] * 12 + [(0.95, False)] * 8  # says 95%, right 60% of the time
    timid_but_right = [(0.6, True)] * 18 + [(0.6, False)] * 2  # says 60%, right 90% of the time

    over = maths.calibration_factor(record(sure_but_often_wrong), record(sure_but_often_wrong))
    under = maths.calibration_factor(record(timid_but_right), record(timid_but_right))

    assert over == pytest.approx(factor_by_hand(sure_but_often_wrong), rel=1e-12)
    assert under == pytest.approx(factor_by_hand(timid_but_right), rel=1e-12)
    assert over < 0.45  # 95% read as about 75% (the prior holds it back from 60% on 20 forecasts)
    assert 0.7 < maths.recalibrated(0.95, over) < 0.8
    assert under > 1.5
    assert maths.recalibrated(0.6, under) > 0.65


def test_a_domain_takes_the_other_domains_record_as_its_prior():
    here = [(0.9, True), (0.9, False)]
    elsewhere = [(0.9, True)] * 6 + [(0.9, False)] * 6
    overall = maths.loglik_plus(record(here), record(elsewhere))

    got = maths.calibration_factor(record(here), overall)

    assert got == pytest.approx(factor_by_hand(here, elsewhere), rel=1e-12)
    assert got < maths.calibration_factor(record(here), record(here))  # the record elsewhere pulls it down


def test_copies_of_one_forecast_count_as_one():
    one = maths.calibration_loglik(0.8, False)
    assert maths.loglik_mean([one, one, one]) == pytest.approx(one, rel=1e-15)


def test_pooling_reads_each_voice_through_its_factor():
    voices = [maths.Voice(1, 1, 0.2, 0.9, calibration=0.5), maths.Voice(2, 2, 0.1, 0.3)]
    expected = (0.2 * 0.5 * math.log(9) + 0.1 * math.log(0.3 / 0.7)) / 0.3
    assert maths.pooled_logit(voices, {1: 0.2, 2: 0.1}) == pytest.approx(expected, rel=1e-12)


# --- through the services ----------------------------------------------------------------------------------


def _rows(owner_id: int) -> dict:
    return {r.domain_id: r for r in Calibration.objects.filter(owner_id=owner_id)}


@pytest.mark.django_db
def test_settlement_folds_each_claim_into_the_owners_record_once(author, domain, other_domain, resolver):
    # given a person who says 0.9 on claims in two domains: 3 of 5 come true in science, 1 of 3 in economics
    person = factories.human()
    for outcome in ["yes", "yes", "yes", "no", "no"]:
        track({person: Decimal("0.9")}, author, domain, resolver, outcome=outcome)
    for outcome in ["yes", "no", "no"]:
        track({person: Decimal("0.9")}, author, other_domain, resolver, outcome=outcome)

    # then the owner's records are the sums of those forecasts' likelihoods, and the factors the documented
    # posterior's, in each domain with the other as its prior
    science = [(0.9, True)] * 3 + [(0.9, False)] * 2
    economics = [(0.9, True)] + [(0.9, False)] * 2
    rows = _rows(person.user_id)
    assert {d: r.claims for d, r in rows.items()} == {domain.pk: 5, other_domain.pk: 3, None: 8}
    assert rows[domain.pk].loglik == pytest.approx(list(record(science)), rel=1e-12)
    assert rows[None].loglik == pytest.approx(list(record(science + economics)), rel=1e-12)
    assert rows[domain.pk].factor == pytest.approx(factor_by_hand(science, economics), rel=1e-12)
    assert rows[other_domain.pk].factor == pytest.approx(factor_by_hand(economics, science), rel=1e-12)
    assert rows[None].factor == pytest.approx(factor_by_hand(science + economics), rel=1e-12)
    assert calibration_factors([person.user_id], domain.pk) == {person.user_id: rows[domain.pk].factor}

    # and the consensus reads the person's next forecast through it
    claim = new_claim(author, domain)
    state(person, claim, Decimal("0.9"))
    (contributor,) = consensus_compute(claim).contributors
    assert contributor.calibration == pytest.approx(rows[domain.pk].factor, rel=1e-12)
    assert contributor.read_as == pytest.approx(maths.recalibrated(0.9, contributor.calibration), rel=1e-12)


@pytest.mark.django_db
def test_a_swarm_of_copies_learns_what_one_of_them_would(author, domain, resolver):
    # given an owner whose three agents repeat one belief, and a lone person with the same record
    owner = factories.verified_user()
    swarm = [factories.agent(owner, handle=f"copy-{n}") for n in range(3)]
    lone = factories.human()
    for outcome in ["yes", "no", "no", "yes", "no"]:
        track(
            {**dict.fromkeys(swarm, Decimal("0.85")), lone: Decimal("0.85")}, author, domain, resolver, outcome=outcome
        )

    # then the owner's record and factor are the lone person's: five claims, not fifteen forecasts
    mine, theirs = _rows(owner.pk), _rows(lone.user_id)
    assert mine[domain.pk].claims == theirs[domain.pk].claims == 5
    assert mine[domain.pk].loglik == pytest.approx(theirs[domain.pk].loglik, rel=1e-12)
    factors = calibration_factors([owner.pk, lone.user_id], domain.pk)
    assert factors[owner.pk] == pytest.approx(factors[lone.user_id], rel=1e-12)
    assert factors[owner.pk] < 1  # 85% that comes true 2 times in 5


@pytest.mark.django_db
def test_a_record_dealt_out_across_agents_is_learned_whole(author, domain, resolver):
    # given an owner whose forecasts are spread over three agents, one claim each in turn, and a person
    # who makes all the same forecasts alone
    owner = factories.verified_user()
    agents = [factories.agent(owner, handle=f"part-{n}") for n in range(3)]
    lone = factories.human()
    outcomes = ["yes", "no", "no", "no", "yes", "no"]
    for n, outcome in enumerate(outcomes):
        track({agents[n % 3]: Decimal("0.9"), lone: Decimal("0.9")}, author, domain, resolver, outcome=outcome)

    # then the owner learns the whole record's factor, which no agent's part alone would give
    factors = calibration_factors([owner.pk, lone.user_id], domain.pk)
    assert factors[owner.pk] == pytest.approx(factors[lone.user_id], rel=1e-12)
    part = [(0.9, o == "yes") for o in outcomes[0::3]]
    assert factor_by_hand(part) > factors[owner.pk]  # a part alone would be read as less overconfident
    # and every agent of the owner is read through it
    claim = new_claim(author, domain)
    for agent in agents:
        state(agent, claim, Decimal("0.7"))
    assert {c.calibration for c in consensus_compute(claim).contributors} == {factors[owner.pk]}


@pytest.mark.django_db
def test_the_migration_rebuilds_exactly_the_records_kept_at_settlement(author, domain, other_domain, resolver):
    # given records kept claim by claim: a person, an owner with two agents that sometimes both forecast
    person = factories.human()
    owner = factories.verified_user()
    bots = [factories.agent(owner, handle=f"bot-{n}") for n in range(2)]
    track(
        {person: Decimal("0.7"), bots[0]: Decimal("0.8"), bots[1]: Decimal("0.6")},
        author,
        domain,
        resolver,
        outcome="yes",
    )
    track({person: Decimal("0.3"), bots[0]: Decimal("0.9")}, author, other_domain, resolver, outcome="no")
    track({bots[1]: Decimal("0.55")}, author, domain, resolver, outcome="no")
    kept = {(r.owner_id, r.domain_id): r for r in Calibration.objects.all()}
    assert Score.objects.filter(identity__kind=IdentityKind.AGENT).count() == 4

    # when the rows are rebuilt from the scores, as the migration does
    backfill = __import__("apps.reputation.migrations.0002_calibration", fromlist=["backfill"]).backfill
    Calibration.objects.all().delete()
    backfill(django_apps, None)

    # then they are the same rows
    rebuilt = {(r.owner_id, r.domain_id): r for r in Calibration.objects.all()}
    assert (
        set(rebuilt)
        == set(kept)
        == {(u, d) for u in (person.user_id, owner.pk) for d in (domain.pk, other_domain.pk, None)}
    )
    for key, row in kept.items():
        assert rebuilt[key].claims == row.claims
        assert rebuilt[key].loglik == pytest.approx(row.loglik, rel=1e-12)
        assert rebuilt[key].factor == pytest.approx(row.factor, rel=1e-12)
