"""The owner's webhook pages (apps/web/views/webhooks.py) and the admin: create (the secret shown once),
edit, disable, rotate (the new secret shown once), the delivery log with status codes and timing,
redeliver (htmx), delete; someone else's agent is a 404; staff never see a secret."""

import pytest

from apps.accounts.models import User
from apps.webhooks import services
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from tests import factories
from tests.support import HTMX, signed_in
from tests.webhooks.receivers import receiving

pytestmark = pytest.mark.django_db
URL = "http://127.0.0.1:9/hooks"


@pytest.fixture
def bot():
    return factories.agent(handle="paged-bot")


def test_the_agent_page_links_to_its_webhooks(bot):
    page = signed_in(bot.owner).get(f"/me/agents/{bot.pk}/")
    assert f'href="/me/agents/{bot.pk}/webhooks/"' in page.content.decode()


def test_adding_a_webhook_shows_its_secret_once(bot):
    client = signed_in(bot.owner)
    response = client.post(
        f"/me/agents/{bot.pk}/webhooks/",
        {"url": URL, "kinds": ["claim.resolved", "trade.placed"], "own_trades_only": "on", "description": "mine"},
    )
    assert response.status_code == 201
    subscription = WebhookSubscription.objects.get()
    secret = subscription.secrets.get().secret
    assert secret in response.content.decode()
    assert (subscription.kinds, subscription.own_trades_only, subscription.description) == (
        ["claim.resolved", "trade.placed"],
        True,
        "mine",
    )
    for page in (f"/me/agents/{bot.pk}/webhooks/", f"/me/agents/{bot.pk}/webhooks/{subscription.pk}/"):
        shown = client.get(page)
        assert shown.status_code == 200
        assert URL in shown.content.decode()
        assert secret not in shown.content.decode()


def test_a_refused_url_is_shown_on_its_field_and_nothing_is_written(bot):
    response = signed_in(bot.owner).post(
        f"/me/agents/{bot.pk}/webhooks/", {"url": "https://169.254.169.254/latest", "kinds": ["claim.resolved"]}
    )
    assert response.status_code == 409
    assert "169.254.169.254 resolves to a cloud metadata address" in response.content.decode()
    assert WebhookSubscription.objects.count() == 0
    empty = signed_in(bot.owner).post(f"/me/agents/{bot.pk}/webhooks/", {"url": URL})
    assert empty.status_code == 422
    assert WebhookSubscription.objects.count() == 0


def test_editing_disabling_rotating_and_deleting(bot):
    client = signed_in(bot.owner)
    subscription, old = services.subscription_create(agent=bot, url=URL, kinds=["claim.resolved"])
    base = f"/me/agents/{bot.pk}/webhooks/{subscription.pk}"
    edited = client.post(f"{base}/edit", {"url": URL, "kinds": ["claim.settled", "position.paid"]})
    assert edited.status_code == 302
    subscription.refresh_from_db()
    assert subscription.kinds == ["claim.settled", "position.paid"]
    assert client.post(f"{base}/state", {"enabled": "false"}).status_code == 302
    subscription.refresh_from_db()
    assert subscription.state == "disabled"
    assert "Enable" in client.get(f"{base}/").content.decode()
    client.post(f"{base}/state", {"enabled": "true"})
    subscription.refresh_from_db()
    assert subscription.state == "active"
    rotated = client.post(f"{base}/rotate")
    new = subscription.secrets.order_by("-id").first().secret
    assert new != old
    assert new in rotated.content.decode() and old not in rotated.content.decode()
    assert client.post(f"{base}/delete").status_code == 302
    assert WebhookSubscription.objects.count() == 0


def test_the_delivery_log_shows_status_codes_and_timing_and_redelivers_with_htmx(bot):
    client = signed_in(bot.owner)
    with receiving(status=502, body=b"bad gateway") as receiver:
        subscription, _ = services.subscription_create(agent=bot, url=receiver.url, kinds=["claim.resolved"])
        base = f"/me/agents/{bot.pk}/webhooks/{subscription.pk}"
        assert client.post(f"{base}/ping").status_code == 302
        services.deliveries_send_due()
    delivery = WebhookDelivery.objects.get()
    page = client.get(f"{base}/").content.decode()
    assert f"ping_{delivery.pk}" in page
    assert '<span class="status-code">502</span> answered 502' in page
    assert f"{delivery.last_duration_ms} ms" in page
    row = client.post(f"{base}/deliveries/{delivery.pk}/redeliver", **HTMX)
    assert row.status_code == 200
    assert row.content.decode().lstrip().startswith(f'<tr id="delivery-{delivery.pk}">')
    delivery.refresh_from_db()
    assert delivery.state == "pending" and delivery.first_attempt_at is None


def test_someone_elses_agent_and_webhook_are_404(bot):
    subscription, _ = services.subscription_create(agent=bot, url=URL, kinds=["claim.resolved"])
    stranger = signed_in(factories.verified_user())
    base = f"/me/agents/{bot.pk}/webhooks"
    assert stranger.get(f"{base}/").status_code == 404
    assert stranger.get(f"{base}/{subscription.pk}/").status_code == 404
    assert stranger.post(f"{base}/{subscription.pk}/delete").status_code == 404
    assert stranger.post(f"{base}/{subscription.pk}/state", {"enabled": "false"}).status_code == 404
    mine = factories.agent(factories.verified_user())
    assert signed_in(mine.owner).get(f"/me/agents/{mine.pk}/webhooks/{subscription.pk}/").status_code == 404
    subscription.refresh_from_db()
    assert subscription.state == "active"


def test_staff_see_subscriptions_and_deliveries_but_never_a_secret(bot):
    subscription, secret = services.subscription_create(agent=bot, url=URL, kinds=["claim.resolved"])
    delivery = services.ping_send(subscription=subscription)
    staff = signed_in(User.objects.create_superuser(email="hooks-staff@example.com", password=factories.PASSWORD))
    for path in (
        "/admin/webhooks/webhooksubscription/",
        f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/",
        "/admin/webhooks/webhookdelivery/",
        f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/",
    ):
        page = staff.get(path)
        assert page.status_code == 200, path
        assert secret not in page.content.decode()
        assert secret.removeprefix("whsec_") not in page.content.decode()
    assert staff.get("/admin/webhooks/webhooksecret/").status_code == 404
