"""`consensus.updated`: the outbox event live claim pages follow to redraw the consensus. Written in the
refresh's transaction, once per change of the stored probability, never when a refresh changes nothing."""

from decimal import Decimal

import pytest

from apps.core.models import Event
from apps.reputation.models import Consensus
from apps.reputation.services import consensus_refresh, consensus_refresh_now
from tests import factories
from tests.factories import buy, new_claim, state
from tests.support import race

pytestmark = pytest.mark.django_db


def _updates(claim) -> list[dict]:
    return list(
        Event.objects.filter(kind="consensus.updated", subject=f"claim:{claim.pk}")
        .order_by("id")
        .values_list("payload", flat=True)
    )


def _stored(claim) -> Decimal | None:
    return Consensus.objects.get(claim=claim).probability


def test_each_change_of_the_consensus_is_announced_once(author, domain):
    claim = new_claim(author, domain)
    alice, bob = factories.human(), factories.human()

    # when a first belief gives the claim a consensus, then one event carries it
    state(alice, claim, "0.7")
    first = _stored(claim)
    assert first == Decimal("0.7")  # alice's belief is the only forecast
    assert [list(u) for u in _updates(claim)] == [["probability"]]
    assert Decimal(_updates(claim)[0]["probability"]) == first

    # when a refresh finds nothing new, then no event
    consensus_refresh(claim=claim)
    assert _stored(claim) == first
    assert len(_updates(claim)) == 1

    # when another belief moves it, then one more event with the new value
    state(bob, claim, "0.2")
    second = _stored(claim)
    assert second != first
    assert [Decimal(u["probability"]) for u in _updates(claim)] == [first, second]


def test_a_refresh_on_a_claim_without_sources_announces_nothing(author, domain):
    claim = new_claim(author, domain)
    consensus_refresh(claim=claim)
    assert _stored(claim) is None
    assert _updates(claim) == []


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_racing_after_a_trade_announce_the_change_once(author, domain):
    # given a consensus that a trade has made stale (the refresh it queued has not run yet)
    claim = new_claim(author, domain)
    state(factories.human(), claim, "0.6")
    buy(factories.human(), claim, "yes", credits=20, key="stale")
    stale = _stored(claim)
    assert len(_updates(claim)) == 1

    # when two workers refresh it at the same moment
    results = race(2, lambda i: consensus_refresh_now(claim.pk))

    # then both succeed and the change is announced exactly once, with the value stored
    assert [r for r in results if isinstance(r, Exception)] == []
    fresh = _stored(claim)
    assert fresh != stale
    assert [Decimal(u["probability"]) for u in _updates(claim)] == [stale, fresh]
