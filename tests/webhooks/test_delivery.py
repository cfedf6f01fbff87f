"""Deliveries end to end in one process: the outbox's events fanned out, POSTed to real receivers on
127.0.0.1, and verified there with the standardwebhooks library; retries on an injected clock up to the
failing state and the owner's notification; secret rotation; SSRF refusals at delivery; a disabled
subscription; a receiver that hangs. Transactional: the fan-out reads only committed events."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from apps.realtime.models import Notification
from apps.webhooks import services
from apps.webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests import factories
from tests.webhooks.receivers import fan_out, receiving, subscribe, touch

pytestmark = pytest.mark.django_db(transaction=True)


def _verify(secret: str, received) -> dict:
    return Webhook(secret).verify(received.body, received.headers)


def test_a_delivery_verifies_with_standardwebhooks_on_the_receiving_side():
    bot = factories.agent(handle="hooked")
    with receiving(status=204) as receiver:
        _subscription, secret = subscribe(bot, receiver.url)
        touch(bot)
        assert fan_out() == 1
        attempted = services.deliveries_send_due()
    delivery = WebhookDelivery.objects.get()
    [received] = receiver.received
    body = _verify(secret, received)
    event = delivery.event
    assert body == {
        "type": "identity.updated",
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "id": event.pk,
            "subject": f"identity:{bot.pk}",
            "payload": {"fields": ["description"]},
            "actor_identity_id": None,
            "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        },
    }
    assert received.headers["webhook-id"] == f"evt_{event.pk}"
    assert received.headers["content-type"] == "application/json"
    assert attempted == [delivery.pk]
    assert (delivery.state, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryState.DELIVERED,
        1,
        204,
        "",
    )
    assert delivery.delivered_at is not None
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.error, attempt.delivery_id) == (204, "", delivery.pk)
    # A wrong secret does not verify.
    with pytest.raises(WebhookVerificationError):
        _verify(services.signing.secret_new(), received)


def test_a_retry_carries_the_same_webhook_id_and_a_fresh_signature():
    bot = factories.agent()
    with receiving(status=500, body=b"down") as receiver:
        _, secret = subscribe(bot, receiver.url)
        touch(bot)
        fan_out()
        now = timezone.now()
        services.deliveries_send_due(now=now)
        delivery = WebhookDelivery.objects.get()
        receiver.status = 200
        services.deliveries_send_due(now=delivery.next_attempt_at)
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"evt_{delivery.event_id}"
    assert first.body == second.body
    _verify(secret, second)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (DeliveryState.DELIVERED, 2, 200)
    log = list(delivery.attempt_log.order_by("id").values_list("status_code", "response_excerpt", "error"))
    assert log == [(500, "down", "answered 500"), (200, "down", "")]


def test_during_rotation_both_secrets_verify_and_after_it_only_the_new_one():
    bot = factories.agent()
    with receiving(status=204) as receiver:
        subscription, old = subscribe(bot, receiver.url)
        now = timezone.now()
        new, until = services.subscription_rotate_secret(subscription=subscription, now=now)
        assert until == now + timedelta(hours=24)
        services.ping_send(subscription=subscription, now=now)
        services.deliveries_send_due(now=now)
        after = until + timedelta(seconds=1)
        services.ping_send(subscription=subscription, now=after)
        services.deliveries_send_due(now=after)
    during, later = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    # Verified at the time each was signed (the library checks the timestamp against its own clock).
    with _clock(now):
        assert _verify(old, during)["type"] == "webhook.ping"
        assert _verify(new, during)["type"] == "webhook.ping"
    with _clock(after):
        assert _verify(new, later)["data"]["subscription"] == subscription.pk
        with pytest.raises(WebhookVerificationError):
            _verify(old, later)
    assert len(later.headers["webhook-signature"].split(" ")) == 1


def _clock(moment):
    """Move standardwebhooks' clock (it reads datetime.now) to `moment` for a verification."""
    import datetime as real
    from unittest import mock

    class Frozen(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return moment.astimezone(tz)

    return mock.patch("standardwebhooks.webhooks.datetime", Frozen)


def test_a_second_rotation_drops_the_oldest_secret():
    bot = factories.agent()
    subscription, _first = subscribe(bot, "http://127.0.0.1:9/hooks")
    now = timezone.now()
    second, _ = services.subscription_rotate_secret(subscription=subscription, now=now)
    third, _ = services.subscription_rotate_secret(subscription=subscription, now=now + timedelta(minutes=1))
    assert [s.secret for s in subscription.secrets.order_by("id")] == [second, third]


def test_retries_back_off_for_a_day_then_the_subscription_is_failing_and_its_owner_told():
    bot = factories.agent(handle="flaky-bot")
    with receiving(status=503) as receiver:
        subscription, _ = subscribe(bot, receiver.url)
        touch(bot)
        fan_out()
        start = timezone.now()
        now = start
        waits = []
        while True:
            services.deliveries_send_due(now=now)
            delivery = WebhookDelivery.objects.get()
            if delivery.state != DeliveryState.PENDING:
                break
            waits.append((delivery.next_attempt_at - now).total_seconds())
            now = delivery.next_attempt_at
            assert services.deliveries_send_due(now=now - timedelta(seconds=1)) == []  # nothing before it is due
    bases = [5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800]
    for wait, base in zip(waits, bases, strict=False):
        assert base * 0.9 <= wait <= base * 1.1
    assert len(waits) == len(receiver.received) - 1
    assert now == start + timedelta(hours=24)  # the last attempt is exactly a day after the first
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        DeliveryState.FAILED,
        len(receiver.received),
        503,
    )
    subscription.refresh_from_db()
    assert (subscription.state, subscription.failing_since) == ("failing", now)
    assert subscription.consecutive_failures == delivery.attempts
    notification = Notification.objects.get(user=bot.owner)
    assert notification.kind == "webhook_failing"
    assert notification.text.startswith("@flaky-bot's webhook to http://127.0.0.1:")
    assert notification.link == f"/me/agents/{bot.pk}/webhooks/{subscription.pk}/"
    [email] = mail.outbox
    assert email.to == [bot.owner.email]
    assert email.subject == "Credence: @flaky-bot's webhook is failing"


def test_a_failing_subscription_is_active_again_after_its_next_success():
    bot = factories.agent()
    with receiving(status=500) as receiver:
        subscription, _ = subscribe(bot, receiver.url)
        touch(bot)
        fan_out()
        now = timezone.now()
        services.deliveries_send_due(now=now)
        services.deliveries_send_due(now=now + timedelta(hours=24))
        subscription.refresh_from_db()
        assert subscription.state == "failing"
        receiver.status = 200
        touch(bot)
        fan_out()
        later = now + timedelta(hours=25)
        services.deliveries_send_due(now=later)
    subscription.refresh_from_db()
    assert (subscription.state, subscription.failing_since, subscription.consecutive_failures) == ("active", None, 0)
    assert Notification.objects.filter(kind="webhook_failing").count() == 1


def test_a_dns_answer_that_changes_after_saving_is_refused_at_delivery_without_a_connection(settings, monkeypatch):
    settings.CREDENCE_HTTP_ALLOW_LOOPBACK = False
    bot = factories.agent()
    answers = {"hooks.example": ["93.184.215.14"]}
    _subscription, _ = subscribe(bot, "https://hooks.example/in", resolver=lambda host, port: answers[host])
    touch(bot)
    fan_out()
    answers["hooks.example"] = ["169.254.169.254"]  # rebound to the metadata service
    connected = []
    monkeypatch.setattr("apps.core.http.post", lambda *a, **k: connected.append(a))
    services.deliveries_send_due(resolver=lambda host, port: answers[host])
    delivery = WebhookDelivery.objects.get()
    assert connected == []
    expected = "refused: hooks.example resolves to a cloud metadata address: Credence calls only public addresses."
    assert (delivery.state, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryState.PENDING,
        1,
        None,
        expected,
    )
    assert WebhookAttempt.objects.get().error == expected


def test_loopback_is_refused_at_delivery_once_the_settings_stop_allowing_it(settings, monkeypatch):
    bot = factories.agent()
    subscribe(bot, "http://127.0.0.1:9/hooks")  # saved while loopback was allowed
    touch(bot)
    fan_out()
    settings.CREDENCE_HTTP_ALLOW_LOOPBACK = False
    connected = []
    monkeypatch.setattr("apps.core.http.post", lambda *a, **k: connected.append(a))
    services.deliveries_send_due()
    assert connected == []
    assert WebhookDelivery.objects.get().last_error == "refused: The URL must use https."


def test_a_disabled_subscription_gets_no_deliveries_and_its_pending_ones_are_not_sent():
    bot = factories.agent()
    with receiving(status=204) as receiver:
        subscription, _ = subscribe(bot, receiver.url)
        touch(bot)
        fan_out()  # one pending delivery
        services.subscription_update(subscription=subscription, enabled=False)
        touch(bot, 2)
        assert fan_out() == 0  # nothing created while disabled
        assert services.deliveries_send_due() == []  # the pending one is not sent
        assert WebhookDelivery.objects.get().state == DeliveryState.PENDING
        with pytest.raises(services.WebhookDisabled):
            services.ping_send(subscription=subscription)
        services.subscription_update(subscription=subscription, enabled=True)
        assert len(services.deliveries_send_due()) == 1
    assert len(receiver.received) == 1


def test_a_receiver_that_hangs_does_not_hold_the_others(settings):
    settings.CREDENCE_WEBHOOK_SEND_CONCURRENCY = 2
    settings.CREDENCE_WEBHOOK_TIMEOUT_SECONDS = 1.0
    bot = factories.agent()
    with receiving(hang=True) as stuck, receiving(status=200) as fine:
        subscribe(bot, stuck.url)
        subscribe(bot, fine.url)
        touch(bot, 3)
        assert fan_out() == 6
        services.deliveries_send_due()
        still_hanging = not stuck.release.is_set()
    assert still_hanging  # the sender returned while the stuck receiver still held its requests
    by_url = {}
    for delivery in WebhookDelivery.objects.select_related("subscription"):
        by_url.setdefault(delivery.subscription.url, []).append((delivery.state, delivery.last_error))
    assert sorted(by_url[fine.url]) == [(DeliveryState.DELIVERED, "")] * 3
    assert sorted(by_url[stuck.url]) == [(DeliveryState.PENDING, "timed out")] * 3
    assert len(fine.received) == 3


def test_redelivery_sends_a_delivered_event_again_with_the_same_id():
    bot = factories.agent()
    with receiving(status=200) as receiver:
        _subscription, secret = subscribe(bot, receiver.url)
        touch(bot)
        fan_out()
        services.deliveries_send_due()
        delivery = WebhookDelivery.objects.get()
        services.delivery_redeliver(delivery=delivery)
        services.deliveries_send_due()
    first, again = receiver.received
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert _verify(secret, again) == json.loads(first.body)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 2)


def test_two_senders_at_once_send_each_delivery_once(settings):
    from tests.support import race

    # What is tested is that each delivery is sent once, not how fast a loaded machine answers: the test
    # settings' 1 s deadline let a busy receiver time out one of the twelve (seen once in CI).
    settings.CREDENCE_WEBHOOK_TIMEOUT_SECONDS = 10.0
    bot = factories.agent()
    with receiving(status=200) as receiver:
        subscribe(bot, receiver.url)
        touch(bot, 12)
        fan_out()
        results = race(3, lambda i: services.deliveries_send_due(limit=12))
    assert all(isinstance(r, list) for r in results), results
    sent = sorted(pk for r in results for pk in r)
    assert sent == sorted(WebhookDelivery.objects.values_list("pk", flat=True))
    assert len(receiver.received) == 12
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 12


def test_a_deleted_subscription_takes_its_log_with_it():
    bot = factories.agent()
    with receiving(status=200) as receiver:
        subscription, _ = subscribe(bot, receiver.url)
        touch(bot)
        fan_out()
        services.deliveries_send_due()
    services.subscription_delete(subscription=subscription)
    assert (WebhookSubscription.objects.count(), WebhookDelivery.objects.count(), WebhookAttempt.objects.count()) == (
        0,
        0,
        0,
    )
