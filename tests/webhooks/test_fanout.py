"""The fan-out (services.webhooks_fanout): the outbox read with its cursor into delivery rows, one per
(subscription, event) the agent may see, in one statement per batch. Visibility, the own-trades filter,
rolled-back transactions, restarts and two workers racing. Transactional: the outbox reads only what
committed."""

import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.core.errors import ValidationFailed
from apps.core.models import Event
from apps.core.outbox import outbox_lag
from apps.webhooks import services
from apps.webhooks.models import WebhookDelivery
from tests import factories
from tests.support import race
from tests.webhooks.receivers import fan_out, subscribe, touch

pytestmark = pytest.mark.django_db(transaction=True)
URL = "http://127.0.0.1:9/hooks"  # never sent to here: these tests only fan out


def _delivered(subscription) -> list[tuple[str, str]]:
    rows = WebhookDelivery.objects.filter(subscription=subscription).select_related("event").order_by("event_id")
    return [(d.kind, d.event.subject) for d in rows]


def test_an_agent_gets_its_own_identity_events_and_never_anothers():
    mine, theirs = factories.agent(handle="mine"), factories.agent(handle="theirs")
    subscription, _ = subscribe(mine, URL, kinds=["identity.updated", "api_key.created"])
    touch(mine)
    touch(theirs)
    factories.api_key(theirs)
    factories.api_key(mine)
    fan_out()
    assert _delivered(subscription) == [
        ("identity.updated", f"identity:{mine.pk}"),
        ("api_key.created", f"identity:{mine.pk}"),
    ]


def test_a_review_event_goes_only_to_the_agent_that_asked():
    mine, theirs = factories.agent(), factories.agent()
    subscription, _ = subscribe(mine, URL, kinds=["review.requested"])
    other, _ = subscribe(theirs, URL, kinds=["review.requested"])
    asked = factories.question(mine)
    factories.question(theirs)
    fan_out()
    assert _delivered(subscription) == [("review.requested", f"review:{asked.pk}")]
    assert len(_delivered(other)) == 1


def test_claim_events_are_public_and_the_own_trades_filter_keeps_only_the_agents_trades():
    mine = factories.funded_agent(handle="trader-a")
    theirs = factories.funded_agent(handle="trader-b")
    everything, _ = subscribe(mine, URL, kinds=["trade.placed", "market.price_changed"])
    own, _ = subscribe(mine, URL, kinds=["trade.placed", "market.price_changed"], own_trades_only=True)
    claim = factories.new_claim(factories.human(), factories.domain())
    factories.buy(mine, claim, "yes", credits=2, key="a-1")
    factories.buy(theirs, claim, "no", credits=2, key="b-1")
    fan_out()
    subject = f"claim:{claim.pk}"
    assert sorted(_delivered(everything)) == sorted([("trade.placed", subject), ("market.price_changed", subject)] * 2)
    # The filter is on trade.placed only: price changes still come for every trade.
    assert sorted(_delivered(own)) == sorted(
        [("trade.placed", subject), ("market.price_changed", subject), ("market.price_changed", subject)]
    )
    [trade] = WebhookDelivery.objects.filter(subscription=own, kind="trade.placed").select_related("event")
    assert trade.event.actor_identity_id == mine.pk


def test_private_kinds_cannot_be_chosen_and_user_subjects_are_never_visible():
    bot = factories.agent()
    with pytest.raises(ValidationFailed) as refused:
        subscribe(bot, URL, kinds=["notification.created", "identity.updated"])
    assert refused.value.detail == {"field": "kinds", "unknown": ["notification.created"]}
    assert "notification.created" not in services.OFFERED_KINDS
    assert "reviews.queue_changed" not in services.OFFERED_KINDS
    for subject in (f"user:{bot.owner_id}", f"user:{bot.pk}", "nothing:1", "identity:x", "review:"):
        assert not services.may_see(Event(kind="identity.updated", subject=subject), bot.pk, {})
    assert WebhookDelivery.objects.count() == 0


def test_an_event_of_a_rolled_back_transaction_is_never_delivered():
    bot = factories.agent()
    subscription, _ = subscribe(bot, URL)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        touch(bot, 2)
        raise Undo
    assert fan_out() == 0
    touch(bot)
    assert fan_out() == 1
    assert len(_delivered(subscription)) == 1


def test_events_before_a_subscription_and_kinds_it_did_not_choose_are_not_delivered():
    bot = factories.agent()
    touch(bot)  # before the subscription
    subscription, _ = subscribe(bot, URL, kinds=["api_key.created"])
    touch(bot)  # a kind it did not choose
    factories.api_key(bot)
    fan_out()
    assert [kind for kind, _ in _delivered(subscription)] == ["api_key.created"]


def test_a_crash_mid_batch_loses_nothing_and_a_rerun_repeats_nothing(monkeypatch):
    bot = factories.agent()
    subscription, _ = subscribe(bot, URL)
    touch(bot, 3)
    real = WebhookDelivery.objects.bulk_create

    def crash(*args, **kwargs):
        raise RuntimeError("the worker died")

    monkeypatch.setattr(WebhookDelivery.objects, "bulk_create", crash)
    with pytest.raises(RuntimeError):  # tried until it reads the batch (another transaction may hold the horizon)
        for _ in range(1200):
            services.webhooks_fanout()
            time.sleep(0.05)
    monkeypatch.setattr(WebhookDelivery.objects, "bulk_create", real)
    assert fan_out() == 3  # the cursor had not moved: the batch comes again
    assert fan_out() == 0
    touch(bot)
    assert fan_out() == 1
    assert len(_delivered(subscription)) == 4


def test_two_fan_out_workers_racing_create_each_delivery_once():
    bot = factories.agent()
    subscription, _ = subscribe(bot, URL)
    touch(bot, 30)

    def worker(i: int) -> int:
        written = 0
        deadline = time.monotonic() + 60
        while outbox_lag(services.CONSUMER) and time.monotonic() < deadline:
            found = services.webhooks_fanout(limit=4)
            written += found or 0
        return written

    results = race(2, worker)
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 30  # no batch was read twice (each counts what it wrote)
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == 30
    assert WebhookDelivery.objects.values("event_id").distinct().count() == 30


def test_a_batch_is_written_in_a_constant_number_of_queries():
    bot = factories.agent()
    for _ in range(3):
        subscribe(bot, URL, kinds=["identity.updated", "review.requested"])
    touch(bot, 2)
    factories.question(bot)
    with CaptureQueriesContext(connection) as small:
        assert fan_out() == 9
    touch(bot, 20)
    for _ in range(3):
        factories.question(bot)
    with CaptureQueriesContext(connection) as large:
        assert fan_out() == 69
    assert len(large) == len(small)
