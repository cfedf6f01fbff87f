"""Notifications from settlement: the author hears their claim resolved, every person whose wallet (or
whose agents' wallets) the settlement credited hears how much, exactly once however often settlement
runs, and nothing at all if the settlement rolls back."""

import pytest

from apps.core.amounts import format_credits
from apps.core.models import Event
from apps.ledger.models import AccountKind, Entry
from apps.markets import hooks
from apps.markets.models import Claim, Position
from apps.markets.resolution import claim_void
from apps.markets.settlement import market_settle
from apps.markets.tasks import finalize_due
from apps.realtime.models import Notification
from apps.realtime.services import notification_message, notifications_on_settlement
from tests import factories
from tests.factories import buy, fund, new_claim, resolve
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
    factories.resolve(claim, "no", settled=False)

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
    monkeypatch.setattr(hooks.claim_settled, "listeners", [*hooks.claim_settled.listeners, fails])
    with pytest.raises(RuntimeError):
        resolve(claim, "yes", factories.human())
    assert Claim.objects.get(pk=claim.pk).settled_at is None
    assert _rows() == [] and _events() == []

    # when it is settled again without the failure, then everyone is told once
    monkeypatch.setattr(hooks.claim_settled, "listeners", [h for h in hooks.claim_settled.listeners if h is not fails])
    market_settle(claim=Claim.objects.get(pk=claim.pk))
    assert len(_rows()) == 4
    assert len(_events()) == 4


def test_a_voided_claim_tells_its_author_and_refunds_everyone_who_put_credit_in(market):
    claim, people = market
    staff = factories.moderator("staff@example.com")
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


def test_an_owner_paid_through_the_most_agents_with_the_longest_handles_is_told_within_the_column(
    author, domain, settings
):
    # given a claim with the longest title, and a person whose every allowed agent (each with a 40-character
    # handle) bought YES beside them: listing every payee passes the notification column's 500 characters
    claim = new_claim(author, domain)
    Claim.objects.filter(pk=claim.pk).update(title="T" * 200)
    claim.refresh_from_db()
    person = factories.human()
    agents = [
        factories.agent(owner=person.user, handle=f"{'a' * 36}-{i:03d}")
        for i in range(settings.CREDENCE_MAX_AGENTS_PER_OWNER)
    ]
    buy(person, claim, "yes", credits=1, key="person")
    for i, agent in enumerate(agents):
        fund(agent, 5)
        buy(agent, claim, "yes", credits=1, key=f"agent-{i}")
    assert len(agents[0].handle) == 40

    # when it resolves YES and settles
    resolve(claim, "yes", factories.human())

    # then the settlement committed and paid all eleven wallets
    assert Claim.objects.get(pk=claim.pk).settled_at is not None
    paid = {identity.pk: _received(claim, identity) for identity in [person, *agents]}
    assert all(paid.values())

    # and the person is told the whole total, with as many payees as fit and how many more
    text = Notification.objects.get(user=person.user, kind="payout").text
    limit = Notification._meta.get_field("text").max_length
    total = format_credits(sum(paid.values()))
    assert len(text) <= limit
    assert text.startswith(f"You received {total} credits from the settlement of “{'T' * 119}…” (resolved YES): ")
    shown = text.count("@")
    assert 1 <= shown < 11
    assert text.endswith(f" and {11 - shown} more.")
    # the payees listed are the person first, then their agents by handle, each with what it received
    listed = text.split(": ", 1)[1].rsplit(" and ", 1)[0].split(", ")
    expected = [f"@{person.handle} {format_credits(paid[person.pk])}"]
    expected += [f"@{a.handle} {format_credits(paid[a.pk])}" for a in agents]
    assert listed == expected[:shown]


def test_a_display_listener_that_fails_at_the_database_does_not_fail_the_settlement(market, monkeypatch):
    claim, people = market

    def writes_too_much(claim, outcome):
        Notification.objects.create(user=people["bob"].user, kind="payout", subject="other", text="x" * 501)

    # given a display listener whose insert PostgreSQL refuses (value too long), before the real one
    monkeypatch.setattr(
        hooks.claim_settled_announce, "listeners", [writes_too_much, *hooks.claim_settled_announce.listeners]
    )

    # when the claim resolves and settles
    resolve(claim, "yes", factories.human())

    # then the settlement committed, and only the failing listener's writes were undone
    assert Claim.objects.get(pk=claim.pk).settled_at is not None
    assert Event.objects.filter(kind="claim.settled", subject=f"claim:{claim.pk}").count() == 1
    assert not Notification.objects.filter(subject="other").exists()
    assert len(_rows()) == 4


def test_what_settlement_listeners_copy_from_an_identity_fits_where_they_copy_it():
    # Scoring, inside the settlement's transaction, copies an agent's declared version onto each Score row:
    # a narrower column there would fail every settlement that scores such an agent.
    from apps.identities.models import Identity
    from apps.reputation.models import Score

    source = Identity._meta.get_field("model_version").max_length
    assert Score._meta.get_field("model_version").max_length >= source
