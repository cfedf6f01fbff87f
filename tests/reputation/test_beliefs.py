"""belief_state: what it stores on an open claim, and every refusal, each of which leaves no Belief, no
Event and no Consensus behind."""

import contextlib
import math
import threading
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.errors import NotFound, ValidationFailed
from apps.core.models import Event
from apps.identities.errors import IdentitySuspended
from apps.identities.services import identity_suspend
from apps.ledger.errors import IdempotencyConflict
from apps.ledger.models import Entry
from apps.markets.models import Claim, Market
from apps.reputation.errors import ClaimNotOpen
from apps.reputation.models import Belief, Consensus
from apps.reputation.selectors import as_decimal
from apps.reputation.services import belief_state
from tests import factories
from tests.factories import buy, close, new_claim, state
from tests.support import race

pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(author, domain):
    return new_claim(author, domain)


@pytest.fixture
def alice(db):
    return factories.human()


def nothing_written_since(events: int, entries: int) -> None:
    assert Belief.objects.count() == 0
    assert Event.objects.count() == events
    assert Entry.objects.count() == entries
    assert not Consensus.objects.exists()


def test_a_belief_is_stored_with_the_price_it_stood_against(claim, alice):
    # given a claim whose price a trade moved
    buy(factories.human(), claim, "yes", credits=10, key="move")
    price = Market.objects.get(claim=claim).price_yes
    entries = Entry.objects.count()

    # when alice states 0.734 with a rationale
    belief = belief_state(
        identity=alice, claim=claim, probability="0.734", rationale="  Two labs agree.  ", idempotency_key="k1"
    )

    # then it is stored as given, against the current price, with one event and a refreshed consensus
    stored = Belief.objects.get()
    assert (stored.pk, stored.identity, stored.claim_id) == (belief.pk, alice, claim.pk)
    assert (stored.probability, stored.market_price, stored.rationale) == (Decimal("0.734"), price, "Two labs agree.")
    assert belief.replayed is False
    consensus = Consensus.objects.get(claim=claim)
    assert consensus.contributors == 2
    event = Event.objects.get(kind="belief.stated")
    assert (event.subject, event.actor_identity_id) == (f"claim:{claim.pk}", alice.pk)
    assert event.payload == {"belief": belief.pk, "probability": "0.734", "consensus": str(consensus.probability)}
    assert Entry.objects.count() == entries  # no credit moves


@pytest.mark.parametrize(
    "probability",
    [0, 1, -1, 2, "0", "1", "1.0", "-0.5", float("nan"), "NaN", "Infinity", "x", "", None, True, "0.1234567", 1e-7],
    ids=repr,
)
def test_a_probability_outside_the_open_interval_or_too_precise_is_refused(claim, alice, probability):
    # given nothing stated yet
    events, entries = Event.objects.count(), Entry.objects.count()

    # when alice states it, then it is refused and nothing is written
    with pytest.raises(ValidationFailed) as refused:
        belief_state(identity=alice, claim=claim, probability=probability, idempotency_key="k")
    assert refused.value.detail == {"field": "probability"}
    nothing_written_since(events, entries)


@pytest.mark.parametrize("probability", ["0.000001", "0.999999", 0.5, Decimal("0.25"), "0.1000000"], ids=repr)
def test_a_probability_at_six_decimals_or_fewer_is_taken(claim, alice, probability):
    belief = belief_state(identity=alice, claim=claim, probability=probability, idempotency_key="k")
    assert belief.probability == Decimal(str(probability))
    assert Belief.objects.get().probability == Decimal(str(probability))


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"idempotency_key": ""}, "idempotency_key_required"),
        ({"idempotency_key": "k" * 121}, "idempotency_key_required"),
    ],
)
def test_a_missing_or_oversized_key_is_refused(claim, alice, changes, code):
    events, entries = Event.objects.count(), Entry.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        belief_state(**{"identity": alice, "claim": claim, "probability": "0.5", "idempotency_key": "k", **changes})
    assert refused.value.code == code
    nothing_written_since(events, entries)


@pytest.mark.parametrize("rationale", ["x" * 2001, "nul \x00 byte"])
def test_an_oversized_or_binary_rationale_is_refused(claim, alice, rationale):
    events, entries = Event.objects.count(), Entry.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        belief_state(identity=alice, claim=claim, probability="0.5", rationale=rationale, idempotency_key="k")
    assert refused.value.detail == {"field": "rationale"}
    nothing_written_since(events, entries)


def test_an_unknown_claim_is_not_found(alice):
    events, entries = Event.objects.count(), Entry.objects.count()
    with pytest.raises(NotFound):
        belief_state(identity=alice, claim=10**9, probability="0.5", idempotency_key="k")
    nothing_written_since(events, entries)


def test_someone_elses_draft_is_not_found_and_ones_own_is_not_open(author, domain, alice):
    # given an unpublished draft
    draft = new_claim(author, domain, publish=False)
    events, entries = Event.objects.count(), Entry.objects.count()

    # then to anyone else it does not exist; to its author it is not open
    with pytest.raises(NotFound):
        belief_state(identity=alice, claim=draft, probability="0.5", idempotency_key="k")
    with pytest.raises(ClaimNotOpen):
        belief_state(identity=author, claim=draft.pk, probability="0.5", idempotency_key="k")
    nothing_written_since(events, entries)


def test_a_closed_claim_takes_no_belief(claim, alice):
    # given a claim closed by the sweep
    close(claim)
    events, entries = Event.objects.count(), Entry.objects.count()

    # then a belief is refused and nothing stored
    with pytest.raises(ClaimNotOpen):
        belief_state(identity=alice, claim=claim, probability="0.5", idempotency_key="k")
    nothing_written_since(events, entries)


def test_a_claim_past_its_close_takes_no_belief_before_the_sweep_runs(claim, alice):
    # given a claim whose closes_at passed, still OPEN because the close sweep has not run
    Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now())
    events, entries = Event.objects.count(), Entry.objects.count()

    with pytest.raises(ClaimNotOpen):
        belief_state(identity=alice, claim=claim.pk, probability="0.5", idempotency_key="k")
    nothing_written_since(events, entries)


def test_a_suspended_identity_is_refused(claim, alice):
    identity_suspend(identity=alice, reason="spam", moderator=factories.moderator())
    events, entries = Event.objects.count(), Entry.objects.count()

    with pytest.raises(IdentitySuspended):
        belief_state(identity=alice, claim=claim, probability="0.5", idempotency_key="k")
    nothing_written_since(events, entries)


def test_a_replay_returns_the_first_belief_and_a_changed_body_conflicts(author, domain, claim, alice):
    # given a stated belief (and another open claim)
    other = new_claim(author, domain)
    first = belief_state(identity=alice, claim=claim, probability="0.6", rationale="why", idempotency_key="k")
    rows = list(Belief.objects.values())
    events, consensus = Event.objects.count(), Consensus.objects.get().updated_at

    # when the same request is replayed (the claim given by id), then the first row comes back
    again = belief_state(identity=alice, claim=claim.pk, probability="0.6", rationale="why", idempotency_key="k")
    assert (again.pk, again.replayed) == (first.pk, True)

    # and the same key with a different probability, rationale or claim is a conflict
    for changed in (
        {"probability": "0.61", "rationale": "why", "claim": claim},
        {"probability": "0.6", "rationale": "because", "claim": claim},
        {"probability": "0.6", "rationale": "why", "claim": other},
    ):
        with pytest.raises(IdempotencyConflict) as conflict:
            belief_state(identity=alice, idempotency_key="k", **changed)
        assert conflict.value.detail == {"idempotency_key": "k"}

    # and nothing was written by any of them
    assert list(Belief.objects.values()) == rows
    assert Event.objects.count() == events
    assert Consensus.objects.get().updated_at == consensus
    assert not Consensus.objects.filter(claim=other).exists()


def test_a_replay_with_the_probability_spelled_differently_is_the_same_request(claim, alice):
    first = belief_state(identity=alice, claim=claim, probability="0.6", idempotency_key="k")
    again = belief_state(identity=alice, claim=claim, probability=Decimal("0.60"), idempotency_key="k")
    assert (again.pk, again.replayed) == (first.pk, True)


@pytest.mark.django_db(transaction=True)
def test_a_request_sent_twice_at_once_stores_one_belief(claim, alice):
    # when the same belief is sent by two threads at the same moment
    results = race(2, lambda i: belief_state(identity=alice, claim=claim.pk, probability="0.6", idempotency_key="k"))

    # then one stored it and the other got it back as a replay
    assert [r for r in results if isinstance(r, Exception)] == []
    assert {r.pk for r in results} == {Belief.objects.get().pk}
    assert sorted(r.replayed for r in results) == [False, True]
    assert Event.objects.filter(kind="belief.stated").count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_key_used_on_two_claims_at_once_is_a_conflict(author, domain, claim, alice, monkeypatch):
    # given two open claims, and both requests past their idempotency check before either inserts
    other = new_claim(author, domain)
    barrier = threading.Barrier(2, timeout=5)
    real_create = Belief.objects.create

    def create_together(**fields):
        with contextlib.suppress(threading.BrokenBarrierError):  # a fix that serialises them: let it by
            barrier.wait()
        return real_create(**fields)

    monkeypatch.setattr(Belief.objects, "create", create_together)

    # when alice sends one key with each claim at the same moment
    claims = [claim.pk, other.pk]
    results = race(2, lambda i: belief_state(identity=alice, claim=claims[i], probability="0.6", idempotency_key="k"))

    # then one belief is stored and the other request is told it conflicts (today: IntegrityError)
    assert sorted(type(r).__name__ for r in results) == ["Belief", "IdempotencyConflict"]
    assert Belief.objects.count() == 1


def test_the_same_key_is_a_different_belief_for_another_identity(claim, alice):
    bob = factories.human()
    mine = belief_state(identity=alice, claim=claim, probability="0.6", idempotency_key="k")
    theirs = belief_state(identity=bob, claim=claim, probability="0.6", idempotency_key="k")
    assert mine.pk != theirs.pk
    assert Belief.objects.count() == 2


def test_a_later_belief_replaces_an_earlier_one_in_the_consensus(claim, alice):
    # given alice said 0.2 then 0.9 (two keys)
    state(alice, claim, Decimal("0.2"), key="first")
    state(alice, claim, Decimal("0.9"), key="second")

    # then both are kept (append-only) and the consensus is her latest alone
    assert list(Belief.objects.order_by("id").values_list("probability", flat=True)) == [Decimal("0.2"), Decimal("0.9")]
    consensus = Consensus.objects.get(claim=claim)
    assert consensus.contributors == 1
    assert consensus.probability == as_decimal(1 / (1 + math.exp(-math.log(9))))
