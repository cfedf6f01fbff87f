"""Independence beyond the owner: owners whose forecasts keep coinciding are one source said twice
(apps/reputation/maths.py, "Independence beyond the owner"). The test's maths against the likelihood ratio
it stands for; through the services, a copier is found from its record and then weighs nothing beside the
source it copies, owners who agree now and then stay apart, a pair that stops agreeing is counted apart
again, every claim is folded in exactly once (also when two are scored at once), and the stored records
equal what the migration rebuilds from the scores."""

import itertools
import math
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from apps.markets import hooks
from apps.reputation import maths, tasks
from apps.reputation.models import Agreement
from apps.reputation.selectors import consensus_compute
from apps.reputation.services import claim_score
from tests import factories
from tests.factories import new_claim, resolve, state, track
from tests.support import race, reputation_rows

# --- the maths ---------------------------------------------------------------------------------------------


LOGITS = st.dictionaries(
    st.integers(1, 300), st.one_of(st.sampled_from([0.0, 0.03, 0.06, 0.847, 2.0]), st.floats(-3, 3)), max_size=90
)


@given(LOGITS)
def test_the_sweeps_find_exactly_what_comparing_every_pair_finds(logits):
    # an owner is at a focal value with COPY_CROWD - 1 others or more within the tolerance; a pair agrees
    # when within the tolerance and neither is at a focal value
    def near(a, b):
        return abs(logits[a] - logits[b]) <= maths.COPY_TOLERANCE

    crowded = {a for a in logits if sum(1 for b in logits if b != a and near(a, b)) >= maths.COPY_CROWD - 1}
    agreeing = {(a, b) for a, b in itertools.combinations(sorted(logits), 2) if near(a, b) and not {a, b} & crowded}
    comparison = maths.compare(logits)
    assert (comparison.crowded, comparison.agreeing) == (crowded, agreeing)
    for a, b in itertools.combinations(sorted(logits), 2):
        assert comparison.agree(a, b) == (None if near(a, b) and {a, b} & crowded else near(a, b))
    # and the pairs to look at stay O(owners): each owner agrees with fewer than COPY_CROWD others
    assert len(agreeing) <= len(logits) * (maths.COPY_CROWD - 1) / 2


def test_a_value_twenty_owners_share_is_focal_and_nineteen_are_not():
    nineteen = dict.fromkeys(range(1, 20), 0.0) | {20: 0.051}
    assert maths.compare(nineteen).crowded == frozenset()
    assert len(maths.compare(nineteen).agreeing) == 19 * 18 / 2
    twenty = dict.fromkeys(range(1, 21), 0.0) | {21: 1.0, 22: 1.01}
    assert maths.compare(twenty).crowded == frozenset(range(1, 21))
    assert maths.compare(twenty).agreeing == {(21, 22)}


def test_an_owners_log_odds_on_a_claim_is_the_mean_over_its_identities():
    logits = maths.owner_logits([(1, 0.8), (1, 0.6), (2, 0.3)])
    assert logits == pytest.approx({1: (math.log(4) + math.log(1.5)) / 2, 2: math.log(3 / 7)})


def test_two_owners_count_as_one_where_the_likelihood_ratio_favours_copying():
    # each agreement after the first multiplies the odds of copying by 0.9 / 0.1, each disagreement by
    # 0.1 / 0.9, on prior odds of 1 to 99
    for claims in range(1, 16):
        for agreed in range(1, claims + 1):
            odds = (1 / 99) * 9 ** (agreed - 1) * (1 / 9) ** (claims - agreed)
            assert maths.copies(claims, agreed) == (odds > 1), (claims, agreed)
            assert maths.independent(claims, agreed) == (odds <= (1 / 99) / 9**3), (claims, agreed)
    assert [maths.copies(n, n) for n in range(1, 6)] == [False, False, False, True, True]
    assert [maths.independent(n, 1) for n in range(1, 6)] == [False, False, False, True, True]
    assert (maths.copies(6, 5), maths.copies(5, 4), maths.copies(7, 5)) == (True, False, False)


def test_groups_join_copying_pairs_transitively_among_the_owners_present():
    groups = maths.copying_groups([3, 5, 8, 9], [(3, 5), (5, 8), (8, 11), (2, 9)])
    assert groups == {3: 3, 5: 3, 8: 3, 9: 9}  # 11 and 2 are not on the claim
    assert maths.copying_groups([4, 7], []) == {4: 4, 7: 7}


# --- through the services ----------------------------------------------------------------------------------


def pair(x, y) -> Agreement:
    a, b = sorted((x.user_id, y.user_id))
    return Agreement.objects.get(owner_a_id=a, owner_b_id=b)


@pytest.mark.django_db
def test_an_owner_who_copies_another_is_found_and_then_adds_nothing_to_the_consensus(author, domain, resolver):
    # given a source, a person who states exactly its beliefs, and an independent source who differs
    # (less sure of the same side, so that each is in the others' pool and none weighs nothing)
    original, copier, other = factories.human(), factories.human(), factories.human()
    says = {original: Decimal("0.8"), copier: Decimal("0.8"), other: Decimal("0.6")}
    track(says, author, domain, resolver, outcome="yes", claims=3)
    # (after three shared claims, the first agreement and two more, the pair is watched, not yet one)
    assert (pair(original, copier).claims, pair(original, copier).agreed, pair(original, copier).copies) == (
        3,
        3,
        False,
    )
    assert not Agreement.objects.filter(owner_a_id__in=[other.user_id], copies=True).exists()
    both, alone = new_claim(author, domain), new_claim(author, domain)
    for who in (original, copier, other):
        state(who, both, says[who], key=f"both:{who.pk}")
    for who in (original, other):
        state(who, alone, says[who], key=f"alone:{who.pk}")
    before = consensus_compute(both), consensus_compute(alone)
    assert (before[0].owners, before[0].copying_groups) == (3, 3)
    assert before[0].probability > before[1].probability + 0.01  # the copy still counts twice

    # when one more claim both forecast resolves
    track(says, author, domain, resolver, outcome="yes")

    # then the pair counts as one source: with the copier beside it, the consensus is what the original
    # alone gives (their records are the same, so the group weighs what one of them does)
    assert (pair(original, copier).claims, pair(original, copier).agreed, pair(original, copier).copies) == (4, 4, True)
    with_copy, without = consensus_compute(both, explain=True), consensus_compute(alone)
    assert with_copy.probability == pytest.approx(without.probability, abs=1e-12)
    assert (with_copy.owners, with_copy.copying_groups) == (3, 2)
    counted = {c.identity.pk: c.counted_with for c in with_copy.contributors}
    assert counted == {original.pk: (copier.user_id,), copier.pk: (original.user_id,), other.pk: ()}
    shares = {c.identity.pk: c.weight for c in with_copy.contributors}
    alone_shares = {c.identity.pk: c.weight for c in without.contributors}
    assert shares[original.pk] + shares[copier.pk] == pytest.approx(alone_shares[original.pk], abs=1e-12)
    # and the copier's pull is nothing: without it, its original carries the whole group
    assert {c.identity.pk: c.pull for c in with_copy.contributors}[copier.pk] == pytest.approx(0, abs=1e-12)


@pytest.mark.django_db
def test_owners_who_agree_now_and_then_stay_independent(author, domain, resolver):
    # given two people who give the same round number on every other claim, and differ in between
    alice, bob = factories.human(), factories.human()
    for n in range(10):
        track(
            {alice: Decimal("0.7"), bob: Decimal("0.7") if n % 2 == 0 else Decimal("0.6")},
            author,
            domain,
            resolver,
            outcome="yes",
        )

    # then their record says so, and they are never counted as one
    row = pair(alice, bob)
    assert (row.claims, row.agreed, row.copies) == (10, 5, False)
    claim = new_claim(author, domain)
    state(alice, claim, Decimal("0.7"), key="alice")
    state(bob, claim, Decimal("0.7"), key="bob")
    view = consensus_compute(claim)
    assert (view.owners, view.copying_groups) == (2, 2)
    assert {c.counted_with for c in view.contributors} == {()}


@pytest.mark.django_db
def test_a_pair_that_stops_agreeing_is_counted_apart_again(author, domain, resolver):
    # given a copier found after four claims
    original, copier = factories.human(), factories.human()
    track({original: Decimal("0.9"), copier: Decimal("0.9")}, author, domain, resolver, outcome="yes", claims=4)
    assert pair(original, copier).copies

    # when it goes its own way on two claims
    track({original: Decimal("0.9"), copier: Decimal("0.5")}, author, domain, resolver, outcome="yes", claims=2)

    # then three later agreements against two disagreements no longer make it a copy
    row = pair(original, copier)
    assert (row.claims, row.agreed, row.copies) == (6, 4, False)


@pytest.mark.django_db
def test_a_pair_that_keeps_disagreeing_is_forgotten_and_watched_afresh_if_it_agrees_again(author, domain, resolver):
    # given two people who agreed once by chance
    alice, bob = factories.human(), factories.human()
    track({alice: Decimal("0.6"), bob: Decimal("0.6")}, author, domain, resolver, outcome="yes")
    track({alice: Decimal("0.6"), bob: Decimal("0.8")}, author, domain, resolver, outcome="yes", claims=2)
    assert (pair(alice, bob).claims, pair(alice, bob).agreed) == (3, 1)

    # when they disagree once more, then agree again
    track({alice: Decimal("0.6"), bob: Decimal("0.8")}, author, domain, resolver, outcome="yes")
    assert not Agreement.objects.exists()  # three disagreements, no later agreement: independent
    track({alice: Decimal("0.3"), bob: Decimal("0.3")}, author, domain, resolver, outcome="no")

    # then the pair starts afresh from that agreement
    assert (pair(alice, bob).claims, pair(alice, bob).agreed, pair(alice, bob).copies) == (1, 1, False)


@pytest.mark.django_db
def test_twenty_people_who_give_one_number_are_not_compared_and_two_who_give_another_are(author, domain, resolver):
    # given twenty people who all say 50%, and two who say 85%
    crowd = [factories.human() for _ in range(maths.COPY_CROWD)]
    pair_of_them = [factories.human(), factories.human()]
    says = {**dict.fromkeys(crowd, Decimal("0.5")), **dict.fromkeys(pair_of_them, Decimal("0.85"))}

    # when their claim resolves
    track(says, author, domain, resolver, outcome="yes")

    # then 50% is a focal value: none of the 190 pairs in the crowd is watched, only the two at 85%
    assert list(Agreement.objects.values_list("owner_a_id", "owner_b_id", "claims", "agreed")) == [
        (*sorted(p.user_id for p in pair_of_them), 1, 1)
    ]


@pytest.mark.django_db
def test_a_claim_counts_once_per_pair_of_owners_and_agents_speak_for_their_owner(author, domain, resolver):
    # given an owner whose two agents say 0.6 and 0.8 (0.7101 in the mean of their log-odds), a person
    # who says 0.7101 and one who says 0.6
    owner = factories.verified_user()
    bots = [factories.agent(owner, handle=f"pair-bot-{n}") for n in range(2)]
    person, other = factories.human(), factories.human()
    mean = maths.sigmoid((maths.logit(0.6) + maths.logit(0.8)) / 2)
    assert round(mean, 4) == 0.7101
    says = {bots[0]: Decimal("0.6"), bots[1]: Decimal("0.8"), person: Decimal("0.7101"), other: Decimal("0.6")}

    # when one claim they all forecast resolves
    track(says, author, domain, resolver, outcome="no")

    # then the owner agrees with the person (its agents' mean), not with the one who says 0.6 like one of
    # its agents does, and the pair holds one claim
    rows = list(Agreement.objects.values_list("owner_a_id", "owner_b_id", "claims", "agreed", "copies"))
    assert rows == [(*sorted((owner.pk, person.user_id)), 1, 1, False)]


@pytest.mark.django_db
def test_scoring_a_claim_again_changes_no_agreement(author, domain, resolver):
    # given a scored claim on which two owners agreed
    alice, bob = factories.human(), factories.human()
    (claim,) = track({alice: Decimal("0.75"), bob: Decimal("0.75")}, author, domain, resolver, outcome="yes")
    rows = reputation_rows()
    assert len(rows["agreements"]) == 1

    # when it is scored again
    claim_score(claim=claim)

    # then nothing changed
    assert reputation_rows() == rows


@pytest.mark.django_db(transaction=True)
def test_two_claims_scored_at_once_both_fold_into_a_new_pair(domain, monkeypatch):
    # given two owners whose agents agreed on two claims (other agents on each), both settled while the
    # hook was lost, so both are due
    monkeypatch.setattr(tasks.consensus_refresh_task, "delay", lambda claim_id: None)
    monkeypatch.setattr(hooks.claim_settled, "listeners", [])
    first, second = factories.verified_user(), factories.verified_user()
    claims = []
    for n in range(2):
        claim = new_claim(factories.human(), domain)
        state(factories.agent(first, handle=f"first-{n}"), claim, Decimal("0.65"), key=f"f{n}")
        state(factories.agent(second, handle=f"second-{n}"), claim, Decimal("0.65"), key=f"s{n}")
        claims.append(resolve(claim, "yes", factories.human()))
    assert not Agreement.objects.exists()

    # when both are scored at the same moment
    results = race(2, lambda i: claim_score(claim=claims[i]).pk)

    # then both succeed, and the pair holds both claims, once each
    assert [r for r in results if isinstance(r, Exception)] == []
    assert list(Agreement.objects.values_list("owner_a_id", "owner_b_id", "claims", "agreed")) == [
        (*sorted((first.pk, second.pk)), 2, 2)
    ]


@pytest.mark.django_db
def test_the_migration_rebuilds_exactly_the_records_kept_at_settlement(author, domain, other_domain, resolver):
    # given records kept claim by claim: a copier found, a pair that drifted apart, agents of one owner,
    # and claims in two domains
    original, copier, drifter, person = (factories.human() for _ in range(4))
    owner = factories.verified_user()
    bots = [factories.agent(owner, handle=f"kept-bot-{n}") for n in range(2)]
    crowd = [factories.human() for _ in range(maths.COPY_CROWD)]
    for n in range(6):
        says = {original: Decimal("0.8"), copier: Decimal("0.8"), person: Decimal("0.4")}
        says[drifter] = Decimal("0.4") if n < 1 else Decimal("0.55")
        if n == 5:  # a focal value, where person and drifter meet again
            says |= dict.fromkeys(crowd, Decimal("0.4")) | {drifter: Decimal("0.4")}
        says[bots[n % 2]] = Decimal("0.8") if n % 3 else Decimal("0.2")
        track(says, author, domain if n % 2 else other_domain, resolver, outcome="yes" if n % 3 else "no")
    kept = {
        (r.owner_a_id, r.owner_b_id): (r.claims, r.agreed, r.copies, r.since) for r in Agreement.objects.order_by("pk")
    }
    assert pair(original, copier).copies
    assert sum(1 for claims, agreed, copies, _ in kept.values() if 0 < agreed < claims) >= 1
    # the drifter agreed with the person once, then disagreed three times: forgotten; the crowd's claim
    # was no observation for anyone in it
    assert not Agreement.objects.filter(
        owner_a_id__in=[person.user_id, drifter.user_id], owner_b_id__in=[person.user_id, drifter.user_id]
    ).exists()
    assert not Agreement.objects.filter(owner_a_id__in=[c.user_id for c in crowd]).exists()

    # when the rows are rebuilt from the scores, as the migration does
    backfill = __import__("apps.reputation.migrations.0003_agreement", fromlist=["backfill"]).backfill
    Agreement.objects.all().delete()
    backfill(django_apps, None)

    # then they are the same rows (the first agreement dated by its claim's scoring)
    rebuilt = {(r.owner_a_id, r.owner_b_id): (r.claims, r.agreed, r.copies, r.since) for r in Agreement.objects.all()}
    assert rebuilt == kept


@pytest.mark.django_db
def test_scoring_takes_as_many_queries_for_thirty_owners_as_for_three(author, domain, resolver, monkeypatch):
    # given two settled claims the hook did not score: three people (two of whom agree), and thirty-two
    # (twenty at a focal value, two who agree, ten apart)
    monkeypatch.setattr(hooks.claim_settled, "listeners", [])
    small, big = new_claim(author, domain), new_claim(author, domain)
    for n, probability in enumerate(("0.7", "0.7", "0.2")):
        state(factories.human(), small, Decimal(probability), key=f"small-{n}")
    says = ["0.5"] * maths.COPY_CROWD + ["0.9", "0.9", "0.03"] + [f"0.{n}5" for n in range(1, 10)]
    for n, probability in enumerate(says):
        state(factories.human(), big, Decimal(probability), key=f"big-{n}")
    for claim in (small, big):
        resolve(claim, "yes", resolver)

    # when each is scored under a query counter
    counts = []
    for claim in (small, big):
        with CaptureQueriesContext(connection) as queries:
            claim_score(claim=claim)
        counts.append(len(queries))

    # then the count does not grow with the owners, and each claim started one watched pair
    assert counts[0] == counts[1]
    assert Agreement.objects.count() == 2
