"""Registering and managing agents through the pages: provenance, suspension, API keys."""

import re

import pytest
from django.urls import reverse

from apps.core.models import Event
from apps.identities.models import ApiKey, AutonomyLevel, Identity, IdentityKind, IdentityStatus
from apps.identities.services import api_key_authenticate
from tests import factories
from tests.support import HTMX

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"cred_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")

NEW_AGENT = {
    "handle": "base-rate-bot",
    "autonomy_level": "supervised",
    "display_name": "Base rate bot",
    "description": "Forecasts from domain base rates.",
    "model_name": "gpt-5-mini",
    "provider": "OpenAI",
    "model_version": "2025-08-07",
    "homepage_url": "https://example.com/bot",
    "code_url": "https://github.com/example/bot",
}


def test_registering_an_agent_creates_it_and_opens_its_page(owner, owner_client):
    response = owner_client.post(reverse("my-agents"), NEW_AGENT)
    agent = Identity.objects.get(handle="base-rate-bot")
    assert response.status_code == 302
    assert response["Location"] == reverse("agent-detail", kwargs={"agent_id": agent.pk})
    assert (agent.kind, agent.owner_id, agent.status) == (IdentityKind.AGENT, owner.pk, IdentityStatus.ACTIVE)
    assert {field: getattr(agent, field) for field in NEW_AGENT} == NEW_AGENT

    page = owner_client.get(response["Location"])
    assert page.status_code == 200
    assert "Agent @base-rate-bot is registered. Fund it and give it an API key." in page.content.decode()
    listing = owner_client.get(reverse("my-agents")).content.decode()
    assert "@base-rate-bot" in listing


def test_a_taken_handle_is_refused_on_the_form(owner, owner_client, bot):
    response = owner_client.post(reverse("my-agents"), {**NEW_AGENT, "handle": "BOT-ONE"})
    assert response.status_code == 409
    assert response.context["form"].errors == {"__all__": ["That handle is taken."]}
    assert Identity.objects.filter(owner=owner).count() == 1


def test_a_malformed_handle_is_refused_on_its_field(owner, owner_client):
    events = Event.objects.count()
    response = owner_client.post(reverse("my-agents"), {**NEW_AGENT, "handle": "-bad--handle-"})
    assert response.status_code == 422
    assert response.context["form"].errors == {
        "handle": [
            "A handle is 3-40 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."
        ]
    }
    assert Identity.objects.filter(owner=owner).count() == 0
    assert Event.objects.count() == events


def test_a_missing_autonomy_level_is_refused_by_the_form(owner, owner_client):
    response = owner_client.post(reverse("my-agents"), {"handle": "no-autonomy"})
    assert response.status_code == 422
    assert response.context["form"].errors == {"autonomy_level": ["This field is required."]}
    assert Identity.objects.filter(owner=owner).count() == 0


def test_the_agent_limit_is_shown_not_raised(owner, owner_client, settings):
    settings.CREDENCE_MAX_AGENTS_PER_OWNER = 1
    factories.agent(owner, handle="first-bot")
    response = owner_client.post(reverse("my-agents"), NEW_AGENT)
    assert response.status_code == 409
    assert response.context["form"].errors == {"__all__": ["An owner may register at most 1 agent."]}
    assert "An owner may register at most 1 agent." in response.content.decode()


def test_provenance_is_updated(owner_client, bot):
    data = {**NEW_AGENT, "autonomy_level": "advisory", "model_version": "2026-01"}
    del data["handle"]
    response = owner_client.post(reverse("agent-update", kwargs={"agent_id": bot.pk}), data)
    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.autonomy_level, bot.model_name, bot.model_version, bot.handle) == (
        AutonomyLevel.ADVISORY,
        "gpt-5-mini",
        "2026-01",
        "bot-one",
    )


def test_a_non_http_link_is_refused_by_the_service_and_nothing_changes(owner_client, bot):
    data = {"autonomy_level": "advisory", "homepage_url": "ftp://example.com/bot", "model_name": "changed"}
    response = owner_client.post(reverse("agent-update", kwargs={"agent_id": bot.pk}), data)
    assert response.status_code == 422
    assert response.context["update_form"].errors == {"homepage_url": ["Links must be http(s) URLs."]}
    bot.refresh_from_db()
    assert (bot.autonomy_level, bot.model_name, bot.homepage_url) == (AutonomyLevel.AUTONOMOUS, "m1", "")


def test_suspend_then_reactivate(owner_client, bot):
    token = factories.api_key(bot)
    response = owner_client.post(reverse("agent-suspend", kwargs={"agent_id": bot.pk}), {"reason": "misbehaving"})
    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.status, bot.suspended_reason) == (IdentityStatus.SUSPENDED, "misbehaving")
    page = owner_client.get(reverse("agent-detail", kwargs={"agent_id": bot.pk})).content.decode()
    assert "misbehaving" in page
    assert "Reactivate agent" in page

    response = owner_client.post(reverse("agent-reactivate", kwargs={"agent_id": bot.pk}))
    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.status, bot.suspended_reason, bot.suspended_at) == (IdentityStatus.ACTIVE, "", None)
    assert api_key_authenticate(token=token).identity_id == bot.pk


def test_creating_a_key_shows_its_token_once(owner, owner_client, bot):
    response = owner_client.post(
        reverse("agent-key-create", kwargs={"agent_id": bot.pk}), {"name": "production", "scopes": ["read", "trade"]}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    tokens = TOKEN_RE.findall(html)
    assert len(set(tokens)) == 1
    token = tokens[0]
    assert "Copy it now." in html
    key = ApiKey.objects.get(identity=bot)
    assert (key.name, key.scopes, key.created_by_id, key.expires_at) == (
        "production",
        ["read", "trade"],
        owner.pk,
        None,
    )
    assert token.startswith(f"cred_{key.prefix}_")
    assert api_key_authenticate(token=token).pk == key.pk

    again = owner_client.get(reverse("agent-detail", kwargs={"agent_id": bot.pk})).content.decode()
    assert token not in again
    assert TOKEN_RE.search(again) is None
    assert f"cred_{key.prefix}_…" in again


def test_a_key_with_an_expiry(owner_client, bot):
    response = owner_client.post(
        reverse("agent-key-create", kwargs={"agent_id": bot.pk}),
        {"name": "short", "scopes": ["read"], "expires_at": "2999-01-31T12:30"},
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(identity=bot)
    assert key.expires_at.isoformat() == "2999-01-31T12:30:00+00:00"


def test_a_key_expiring_in_the_past_is_refused_with_the_services_message(owner_client, bot):
    response = owner_client.post(
        reverse("agent-key-create", kwargs={"agent_id": bot.pk}),
        {"name": "stale", "scopes": ["read"], "expires_at": "2001-01-01T00:00"},
    )
    assert response.status_code == 409  # the service's status: a date the clock rules out (date_conflict)
    assert response.context["key_form"].errors == {"expires_at": ["expires_at must be in the future."]}
    assert TOKEN_RE.search(response.content.decode()) is None
    assert ApiKey.objects.filter(identity=bot).count() == 0


def test_a_key_without_scopes_is_refused(owner_client, bot):
    response = owner_client.post(reverse("agent-key-create", kwargs={"agent_id": bot.pk}), {"name": "none"})
    assert response.status_code == 422
    assert response.context["key_form"].errors == {"scopes": ["This field is required."]}
    assert ApiKey.objects.filter(identity=bot).count() == 0


def test_a_suspended_agent_gets_no_key(owner_client, bot):
    owner_client.post(reverse("agent-suspend", kwargs={"agent_id": bot.pk}), {"reason": ""})
    response = owner_client.post(
        reverse("agent-key-create", kwargs={"agent_id": bot.pk}), {"name": "x", "scopes": ["read"]}
    )
    assert response.status_code == 403
    assert response.context["key_form"].errors == {"__all__": ["This identity is suspended."]}
    assert ApiKey.objects.filter(identity=bot).count() == 0


def test_revoking_a_key_with_htmx_swaps_its_row(owner_client, bot):
    factories.api_key(bot, name="old")
    key = ApiKey.objects.get(identity=bot)
    url = reverse("agent-key-revoke", kwargs={"agent_id": bot.pk, "key_id": key.pk})
    page = owner_client.get(reverse("agent-detail", kwargs={"agent_id": bot.pk})).content.decode()
    assert f'hx-post="{url}" hx-target="#key-{key.pk}" hx-swap="outerHTML"' in page

    response = owner_client.post(url, **HTMX)
    assert response.status_code == 200
    html = response.content.decode().strip()
    assert html.startswith(f'<tr id="key-{key.pk}">')
    assert html.endswith("</tr>")
    assert "revoked" in html
    assert url not in html  # no second revoke button
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_revoking_a_key_without_htmx_redirects_and_is_idempotent(owner_client, bot):
    factories.api_key(bot, name="old")
    key = ApiKey.objects.get(identity=bot)
    url = reverse("agent-key-revoke", kwargs={"agent_id": bot.pk, "key_id": key.pk})
    response = owner_client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("agent-detail", kwargs={"agent_id": bot.pk})
    key.refresh_from_db()
    first = key.revoked_at
    assert first is not None
    assert owner_client.post(url).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at == first
    assert Event.objects.filter(kind="api_key.revoked").count() == 1
