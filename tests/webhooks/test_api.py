"""The webhooks API: the agent's key (scope webhooks) or its owner's session; someone else's agent,
subscription or delivery is a 404; bad input is a 4xx in the error shape and writes nothing; the secret
is shown at creation and rotation only, and never logged; lists cost the same queries for 1 row or many."""

import logging

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.webhooks import services
from apps.webhooks.models import WebhookDelivery, WebhookSecret, WebhookSubscription
from tests import factories
from tests.support import bearer, iso, signed_in
from tests.webhooks.receivers import receiving

pytestmark = pytest.mark.django_db
URL = "http://127.0.0.1:9/hooks"


@pytest.fixture
def bot():
    return factories.agent(handle="hook-bot")


@pytest.fixture
def agent_client(bot):
    token = factories.api_key(bot, scopes=["webhooks"])
    client = Client()
    client.defaults.update({"HTTP_AUTHORIZATION": bearer(token)["Authorization"]})
    return client


def _rows() -> tuple[int, int, int]:
    return WebhookSubscription.objects.count(), WebhookSecret.objects.count(), WebhookDelivery.objects.count()


def _create(client, agent_id: int, **body):
    body = {"url": URL, "kinds": ["claim.resolved", "position.paid"], **body}
    return client.post(f"/api/v1/agents/{agent_id}/webhooks", body, content_type="application/json")


def test_an_agent_subscribes_with_its_key_and_sees_the_secret_once(bot, agent_client, caplog):
    caplog.set_level(logging.DEBUG)
    response = _create(agent_client, bot.pk, description="  settlements ", own_trades_only=True)
    assert response.status_code == 201
    created = response.json()
    secret = created.pop("secret")
    assert secret.startswith("whsec_") and len(secret) == 6 + 44
    subscription = WebhookSubscription.objects.get()
    assert created == {
        "id": subscription.pk,
        "agent_id": bot.pk,
        "url": URL,
        "kinds": ["claim.resolved", "position.paid"],
        "own_trades_only": True,
        "description": "settlements",
        "state": "active",
        "failing_since": None,
        "consecutive_failures": 0,
        "created_at": response.json()["created_at"],
        "updated_at": response.json()["updated_at"],
    }
    shown = agent_client.get(f"/api/v1/agents/{bot.pk}/webhooks/{subscription.pk}")
    listed = agent_client.get(f"/api/v1/agents/{bot.pk}/webhooks")
    assert shown.json() == {**created}
    assert listed.json() == [created]
    for answer in (shown, listed):
        assert secret not in answer.content.decode()
    assert secret not in caplog.text


def test_the_owner_manages_the_agents_webhooks_with_their_session(bot):
    client = signed_in(bot.owner)
    response = _create(client, bot.pk)
    assert response.status_code == 201
    webhook = response.json()["id"]
    patched = client.patch(
        f"/api/v1/agents/{bot.pk}/webhooks/{webhook}",
        {"kinds": ["trade.placed"], "enabled": False, "description": "trades"},
        content_type="application/json",
    )
    assert patched.status_code == 200
    assert (patched.json()["kinds"], patched.json()["state"], patched.json()["description"]) == (
        ["trade.placed"],
        "disabled",
        "trades",
    )
    assert patched.json()["url"] == URL  # omitted: kept
    enabled = client.patch(
        f"/api/v1/agents/{bot.pk}/webhooks/{webhook}", {"enabled": True}, content_type="application/json"
    )
    assert enabled.json()["state"] == "active"
    assert client.delete(f"/api/v1/agents/{bot.pk}/webhooks/{webhook}").status_code == 204
    assert client.get(f"/api/v1/agents/{bot.pk}/webhooks/{webhook}").status_code == 404
    assert _rows() == (0, 0, 0)


def test_someone_elses_agent_subscription_or_delivery_is_a_404_and_changes_nothing(bot, agent_client):
    other = factories.agent(handle="other-bot")
    theirs, _ = services.subscription_create(agent=other, url=URL, kinds=["claim.opened"])
    ping = services.ping_send(subscription=theirs)
    mine, _ = services.subscription_create(agent=bot, url=URL, kinds=["claim.opened"])
    before = _rows()
    stranger = signed_in(factories.verified_user())
    for client in (agent_client, stranger):
        calls = [
            client.get(f"/api/v1/agents/{other.pk}/webhooks"),
            _create(client, other.pk),
            client.get(f"/api/v1/agents/{other.pk}/webhooks/{theirs.pk}"),
            client.patch(
                f"/api/v1/agents/{other.pk}/webhooks/{theirs.pk}", {"enabled": False}, content_type="application/json"
            ),
            client.delete(f"/api/v1/agents/{other.pk}/webhooks/{theirs.pk}"),
            client.post(f"/api/v1/agents/{other.pk}/webhooks/{theirs.pk}/rotate-secret"),
            client.post(f"/api/v1/agents/{other.pk}/webhooks/{theirs.pk}/ping"),
            client.get(f"/api/v1/agents/{other.pk}/webhooks/{theirs.pk}/deliveries"),
            client.post(f"/api/v1/agents/{other.pk}/webhooks/{theirs.pk}/deliveries/{ping.pk}/redeliver"),
        ]
        for response in calls:
            assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    # Under my agent, with their subscription's or delivery's id: 404 too.
    assert agent_client.get(f"/api/v1/agents/{bot.pk}/webhooks/{theirs.pk}").status_code == 404
    redeliver = agent_client.post(f"/api/v1/agents/{bot.pk}/webhooks/{mine.pk}/deliveries/{ping.pk}/redeliver")
    assert redeliver.status_code == 404
    assert _rows() == before
    theirs.refresh_from_db()
    assert theirs.state == "active"


def test_a_key_without_the_webhooks_scope_is_refused(bot):
    token = factories.api_key(bot, scopes=["read", "trade"])
    response = _create(Client(headers=bearer(token)), bot.pk)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "missing_scope")
    assert _rows() == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"kinds": ["no.such.kind"]}, 422, "validation_failed", None),
        ({"kinds": ["notification.created"]}, 422, "validation_failed", None),
        ({"kinds": []}, 422, "validation_failed", None),
        # The schema states these two (its pattern); the service checks them and names the field.
        ({"url": "ftp://hooks.example/"}, 409, "webhook_url_refused", "url"),
        ({"url": "https://user:pw@hooks.example/"}, 409, "webhook_url_refused", "url"),
        ({"url": "https://10.0.0.1/in"}, 409, "webhook_url_refused", "url"),
        ({"url": "https://[::ffff:169.254.169.254]/"}, 409, "webhook_url_refused", "url"),
        ({"url": "https://hooks.example/"}, 409, "webhook_url_refused", "url"),  # does not resolve
        ({"own_trades_only": "yes"}, 422, "validation_failed", None),
        ({"secret": "whsec_mine"}, 422, "validation_failed", None),
    ],
)
def test_bad_input_is_a_4xx_with_the_error_shape_and_writes_nothing(bot, agent_client, body, status, code, field):
    response = _create(agent_client, bot.pk, **body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    if field:
        assert response.json()["error"]["detail"] == {"field": field}
    assert _rows() == (0, 0, 0)


def test_an_agent_has_at_most_its_limit_of_subscriptions(bot, agent_client, settings):
    settings.CREDENCE_WEBHOOK_MAX_PER_AGENT = 2
    assert [_create(agent_client, bot.pk).status_code for _ in range(2)] == [201, 201]
    response = _create(agent_client, bot.pk)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "too_many_webhooks")
    assert _rows() == (2, 2, 0)


def test_rotation_answers_the_new_secret_and_until_when_the_old_one_signs(bot, agent_client):
    webhook = _create(agent_client, bot.pk).json()
    response = agent_client.post(f"/api/v1/agents/{bot.pk}/webhooks/{webhook['id']}/rotate-secret")
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["secret"] != webhook["secret"] and rotated["secret"].startswith("whsec_")
    old = WebhookSecret.objects.get(secret=webhook["secret"])
    assert rotated["previous_valid_until"] == iso(old.expires_at)


def test_a_ping_is_delivered_and_logged_with_its_status_and_timing(bot, agent_client):
    webhook = _create(agent_client, bot.pk).json()
    with receiving(status=200, body=b"pong") as receiver:
        WebhookSubscription.objects.filter(pk=webhook["id"]).update(url=receiver.url)
        response = agent_client.post(f"/api/v1/agents/{bot.pk}/webhooks/{webhook['id']}/ping")
        assert response.status_code == 202
        ping = response.json()
        assert (ping["kind"], ping["state"], ping["webhook_id"], ping["event_id"]) == (
            "webhook.ping",
            "pending",
            f"ping_{ping['id']}",
            None,
        )
        services.deliveries_send_due()
    log = agent_client.get(f"/api/v1/agents/{bot.pk}/webhooks/{webhook['id']}/deliveries").json()
    [item] = log["items"]
    assert (item["state"], item["attempts"], item["last_status_code"], item["next_attempt_at"]) == (
        "delivered",
        1,
        200,
        None,
    )
    [attempt] = item["attempt_log"]
    assert (attempt["status_code"], attempt["response_excerpt"], attempt["error"]) == (200, "pong", "")
    assert attempt["duration_ms"] >= 0
    assert log["next_cursor"] is None
    again = agent_client.post(f"/api/v1/agents/{bot.pk}/webhooks/{webhook['id']}/deliveries/{item['id']}/redeliver")
    assert (again.status_code, again.json()["state"], again.json()["attempts"]) == (202, "pending", 1)
    assert receiver.received[0].headers["webhook-id"] == f"ping_{item['id']}"


def test_a_disabled_subscription_refuses_a_ping_and_a_redelivery(bot, agent_client):
    webhook = _create(agent_client, bot.pk).json()
    ping = agent_client.post(f"/api/v1/agents/{bot.pk}/webhooks/{webhook['id']}/ping").json()
    agent_client.patch(
        f"/api/v1/agents/{bot.pk}/webhooks/{webhook['id']}", {"enabled": False}, content_type="application/json"
    )
    for path in ("ping", f"deliveries/{ping['id']}/redeliver"):
        response = agent_client.post(f"/api/v1/agents/{bot.pk}/webhooks/{webhook['id']}/{path}")
        assert (response.status_code, response.json()["error"]["code"]) == (409, "webhook_disabled")
    assert WebhookDelivery.objects.count() == 1


def _queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_list_endpoints_cost_the_same_queries_for_one_row_or_many(bot, agent_client):
    first = _create(agent_client, bot.pk).json()
    subscription = WebhookSubscription.objects.get(pk=first["id"])
    services.ping_send(subscription=subscription)
    services.deliveries_send_due()  # one attempt (connection refused on port 9)
    one_list = _queries(agent_client, f"/api/v1/agents/{bot.pk}/webhooks")
    one_log = _queries(agent_client, f"/api/v1/agents/{bot.pk}/webhooks/{first['id']}/deliveries")
    for _ in range(4):
        _create(agent_client, bot.pk)
        services.ping_send(subscription=subscription)
    services.deliveries_send_due()
    WebhookDelivery.objects.update(next_attempt_at=WebhookDelivery.objects.first().created_at)
    services.deliveries_send_due()
    assert _queries(agent_client, f"/api/v1/agents/{bot.pk}/webhooks") == one_list
    assert _queries(agent_client, f"/api/v1/agents/{bot.pk}/webhooks/{first['id']}/deliveries") == one_log
    log = agent_client.get(f"/api/v1/agents/{bot.pk}/webhooks/{first['id']}/deliveries?limit=2").json()
    assert len(log["items"]) == 2 and log["next_cursor"] is not None
    rest = agent_client.get(
        f"/api/v1/agents/{bot.pk}/webhooks/{first['id']}/deliveries?limit=10&cursor={log['next_cursor']}"
    ).json()
    assert len(rest["items"]) == 3 and rest["next_cursor"] is None
    failed = agent_client.get(f"/api/v1/agents/{bot.pk}/webhooks/{first['id']}/deliveries?state=delivered").json()
    assert failed["items"] == []
