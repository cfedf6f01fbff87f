"""Notifications from settlement: the author hears their claim resolved, every person whose wallet (or
whose agents' wallets) the settlement credited hears how much, exactly once however often settlement
runs, and nothing at all if the settlement rolls back."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.core.amounts import format_credits
from apps.core.models import Event
from apps.ledger.models import AccountKind, Entry
from apps.markets import hooks
from apps.markets.models import Claim, Position, Resolution
from apps.markets.resolution import claim_void, market_settle, resolution_finalize, resolution_propose
from apps.markets.tasks import finalize_due
from apps.realtime.models import Notification
from apps.realtime.services import notification_message, notifications_on_settlement
from tests import factories
from tests.reputation.conftest import buy, close, fund, new_claim, resolve
from tests.support import race

pytestmark = pytest.mark.django_db
TITLE = "Will the experiment replicate?"  # tests.markets.conftest.make_claim's


def _received(claim, identity) -> int:
    """What the settlement transfer credited to the identity's wallet."""
    return sum(
        Entry.objects.filter(
            transfer__idempotency_key=f"settle:{claim.pk}", account__kind=AccountKind.WALLET, account__identity=identity
        ).values_list("amount", flat=True)
    )


def _finalized(claim: Claim, outcome: str) -> None:
    """Closed, proposed and final, not yet settled."""
    close(claim)
    resolution_propose(claim=claim, proposer=factories.human(), outcome=outcome, evidence="The record says so.")
    Resolution.objects.filter(claim=claim).update(challenge_deadline=timezone.now() - timedelta(seconds=1))
    resolution_finalize(claim=claim)


def _rows() -> list[tuple]:
    fields = ("user_id", "kind", "subject", "text", "link", "read_at")
    return list(Notification.objects.order_by("id").values_list(*fields))


def _events() -> list[tuple]:
    return list(Event.objects.filter(kind="notification.created").order_by("id").values_list("subject", "payload"))


@pytest.fixture
def market(author, domain):
    """alice's claim; bob and carol (and carol's agent) buy YES, dave buys NO."""
    claim = new_claim(author, domain)
    people = {"alice": author, "bob": factories.human(), "carol": factories.human(), "dave": factories.human()}
    people["bot"] = factories.agent(owner=people["carol"].user, handle="carol-bot")
    fund(people["bot"], 50)
    buy(people["bob"], claim, "yes", credits=6, key="bob")
    buy(people["carol"], claim, "yes", credits=3, key="carol")
    buy(people["bot"], claim, "yes", credits=2, key="bot")
    buy(people["dave"], claim, "no", credits=4, key="dave")
    return claim, people


def test_settlement_tells_the_author_and_everyone_it_paid(market):
    claim, people = market
    resolver = factories.human()

    # when the claim resolves YES and settles
    resolve(claim, "yes", resolver)

    # then the author hears the outcome, and each person paid hears how much: carol once, for herself and her agent
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    residual, won = _received(claim, alice), {k: _received(claim, people[k]) for k in ("bob", "carol", "bot")}
    assert won == {k: Position.objects.get(identity=people[k]).yes_shares for k in ("bob", "carol", "bot")}
    assert residual > 0 and all(won.values())
    why = f"from the settlement of “{TITLE}” (resolved YES)"
    link = f"/claims/{claim.pk}/"
    subject = f"claim:{claim.pk}"
    assert _rows() == [
        (alice.user_id, "claim_resolved", subject, f"Your claim “{TITLE}” resolved YES.", link, None),
        (alice.user_id, "payout", subject, f"You received {format_credits(residual)} credits {why}.", link, None),
        (bob.user_id, "payout", subject, f"You received {format_credits(won['bob'])} credits {why}.", link, None),
        (
            carol.user_id,
            "payout",
            subject,
            f"You received {format_credits(won['carol'] + won['bot'])} credits {why}: "
            f"@{carol.handle} {format_credits(won['carol'])}, @carol-bot {format_credits(won['bot'])}.",
            link,
            None,
        ),
    ]
    # and dave, who lost, and the resolver, whose bond came back outside settlement, hear nothing
    assert not Notification.objects.filter(user__in=[people["dave"].user, resolver.user]).exists()

    # and each notification is an outbox event on its person's private stream, with their unread count
    notifications = list(Notification.objects.order_by("id"))
    unread = {alice.user_id: 2, bob.user_id: 1, carol.user_id: 1}
    assert _events() == [
        (f"user:{n.user_id}", {"notification": notification_message(n), "unread": unread[n.user_id]})
        for n in notifications
    ]
    assert notification_message(notifications[0]) == {
        "id": notifications[0].pk,
        "kind": "claim_resolved",
        "text": f"Your claim “{TITLE}” resolved YES.",
        "link": link,
        "created_at": notifications[0].created_at.isoformat(),
    }


def test_settling_again_or_sweeping_again_notifies_no_one_twice(market):
    claim, _ = market
    resolve(claim, "yes", factories.human())
    rows, events = _rows(), _events()
    assert len(rows) == 4

    # when settlement is run again: directly, by the beat sweep's task, and the listener itself once more
    market_settle(claim=Claim.objects.get(pk=claim.pk))
    assert finalize_due() == {"finalized": 0, "settled": 0}
    assert notifications_on_settlement(Claim.objects.get(pk=claim.pk), "yes") == []

    # then nothing new
    assert _rows() == rows
    assert _events() == events


@pytest.mark.django_db(transaction=True)
def test_two_settlements_racing_notify_once(market):
    claim, people = market
    _finalized(claim, "no")

    # when two workers settle the claim at the same moment
    results = race(2, lambda i: market_settle(claim=Claim.objects.get(pk=claim.pk)))

    # then one settlement, and one notification each: the author's two, and dave's (the only NO holder)
    assert [r for r in results if isinstance(r, Exception)] == []
    alice, dave = people["alice"].user_id, people["dave"].user_id
    assert [(user_id, kind) for user_id, kind, *_ in _rows()] == [
        (alice, "claim_resolved"),
        (alice, "payout"),
        (dave, "payout"),
    ]
    assert len(_events()) == 3


def test_a_settlement_that_rolls_back_leaves_no_notification(market, monkeypatch):
    claim, _ = market

    def fails(claim, outcome):
        raise RuntimeError("a later listener fails")

    # given a listener after ours that fails: the settlement's transaction rolls back
    monkeypatch.setattr(hooks, "claim_settled", [*hooks.claim_settled, fails])
    with pytest.raises(RuntimeError):
        resolve(claim, "yes", factories.human())
    assert Claim.objects.get(pk=claim.pk).settled_at is None
    assert _rows() == [] and _events() == []

    # when it is settled again without the failure, then everyone is told once
    monkeypatch.setattr(hooks, "claim_settled", [h for h in hooks.claim_settled if h is not fails])
    market_settle(claim=Claim.objects.get(pk=claim.pk))
    assert len(_rows()) == 4
    assert len(_events()) == 4


def test_a_voided_claim_tells_its_author_and_refunds_everyone_who_put_credit_in(market):
    claim, people = market
    staff = User.objects.create_user("staff@example.com", "x", is_staff=True)
    claim_void(claim=claim, user=staff, reason="The lab withdrew the study.")
    market_settle(claim=Claim.objects.get(pk=claim.pk))

    why = f"from the settlement of “{TITLE}” (voided: stakes refunded)"
    texts = {(user_id, kind): text for user_id, kind, _, text, _, _ in _rows()}
    alice, dave = people["alice"], people["dave"]
    assert texts[(alice.user_id, "claim_resolved")] == f"Your claim “{TITLE}” was voided."
    assert texts[(dave.user_id, "payout")] == f"You received {format_credits(_received(claim, dave))} credits {why}."
    assert _received(claim, dave) == Position.objects.get(identity=dave).net_invested
    assert sorted(texts) == sorted(
        [(alice.user_id, "claim_resolved"), (alice.user_id, "payout")]
        + [(people[k].user_id, "payout") for k in ("bob", "carol", "dave")]
    )


def test_an_agents_claim_is_announced_to_its_owner(domain):
    owner = factories.verified_user()
    agent = factories.agent(owner=owner, handle="poster-bot")
    fund(agent, 200)
    claim = new_claim(agent, domain)
    buy(factories.human(), claim, "no", credits=5, key="n")

    resolve(claim, "no", factories.human())

    owned = Notification.objects.filter(user=owner).order_by("id")
    assert [(n.kind, n.text) for n in owned] == [
        ("claim_resolved", f"The claim “{TITLE}” by your agent @poster-bot resolved NO."),
        (
            "payout",
            f"Your agent @poster-bot received {format_credits(_received(claim, agent))} credits "
            f"from the settlement of “{TITLE}” (resolved NO).",
        ),
    ]
