"""API keys: valid, expired, revoked, wrong scope, malformed, suspended identity; sessions with CSRF."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.identities.models import ApiKey
from apps.identities.services import LAST_USED_RESOLUTION, api_key_revoke, identity_suspend
from tests import factories
from tests.support import bearer

pytestmark = pytest.mark.django_db

INVALID = {
    "error": {
        "code": "invalid_api_key",
        "message": "The API key is malformed, unknown, revoked or expired, or its identity is suspended.",
        "detail": None,
    }
}


def test_valid_key_identifies_the_agent(bot):
    token = factories.api_key(bot, scopes=["read"])
    response = Client().get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["auth"] == "api_key"
    assert body["scopes"] == ["read"]
    assert body["email"] is None
    assert body["identity"]["handle"] == "bot-one"
    assert body["identity"]["kind"] == "agent"
    assert body["identity"]["owner_handle"] == factories.human(bot.owner).handle


def test_key_use_records_last_used_at_once_per_resolution(bot):
    token = factories.api_key(bot)
    key = ApiKey.objects.get(identity=bot)
    assert key.last_used_at is None
    Client().get("/api/v1/me", headers=bearer(token))
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    Client().get("/api/v1/me", headers=bearer(token))
    key.refresh_from_db()
    assert key.last_used_at == first  # not rewritten within the resolution window
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - LAST_USED_RESOLUTION - timedelta(seconds=1))
    Client().get("/api/v1/me", headers=bearer(token))
    key.refresh_from_db()
    assert key.last_used_at > first


@pytest.mark.parametrize(
    "token",
    [
        "",
        "cred_",
        "not-a-key",
        "cred_short_secret",
        "cred_abcdefabcdef_" + "x" * 42,  # secret one character short
        "cred_ABCDEFABCDEF_" + "x" * 43,  # prefix must be lowercase hex
    ],
)
def test_malformed_key_is_401_with_the_error_shape(token):
    response = Client().get("/api/v1/me", headers=bearer(token) if token else {"Authorization": "Bearer "})
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] in {"invalid_api_key", "not_authenticated"}
    assert set(body["error"]) == {"code", "message", "detail"}


def test_unknown_prefix_and_wrong_secret_are_401(bot):
    token = factories.api_key(bot)
    prefix, secret = token.split("_", 2)[1:]
    wrong_secret = f"cred_{prefix}_{'A' * 43}"
    unknown_prefix = f"cred_{'0' * 12}_{secret}"
    for candidate in (wrong_secret, unknown_prefix):
        response = Client().get("/api/v1/me", headers=bearer(candidate))
        assert response.status_code == 401
        assert response.json() == INVALID


def test_expired_key_is_401(bot):
    token = factories.api_key(bot, expires_at=timezone.now() + timedelta(minutes=5))
    assert Client().get("/api/v1/me", headers=bearer(token)).status_code == 200
    ApiKey.objects.filter(identity=bot).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == INVALID


def test_revoked_key_is_401(bot):
    token = factories.api_key(bot)
    api_key_revoke(key=ApiKey.objects.get(identity=bot), by=factories.moderator())
    response = Client().get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == INVALID


def test_suspended_identity_key_is_401(bot):
    token = factories.api_key(bot)
    identity_suspend(identity=bot, reason="testing", moderator=factories.moderator())
    response = Client().get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == INVALID


def test_key_without_the_needed_scope_is_403(bot):
    token = factories.api_key(bot, scopes=["trade"])
    response = Client().get("/api/v1/wallet", headers=bearer(token))
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": "missing_scope",
            "message": "This API key lacks the 'read' scope.",
            "detail": {"required": "read"},
        }
    }
    assert Client().get("/api/v1/wallet", headers=bearer(factories.api_key(bot, scopes=["read"]))).status_code == 200


def test_no_credentials_is_401():
    response = Client().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_session_me_is_the_human(owner, owner_client):
    body = owner_client.get("/api/v1/me").json()
    assert body["auth"] == "session"
    assert body["scopes"] == ["*"]
    assert body["email"] == owner.email
    assert body["verification_level"] == "verified_human"  # the factories' people are verified
    assert body["identity"]["kind"] == "human"
    assert body["identity"]["owner_handle"] is None


def test_session_writes_need_the_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    payload = {"handle": "csrf-bot", "autonomy_level": "advisory"}
    refused = client.post("/api/v1/agents", payload, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    assert not owner.agents.exists()

    token = "k" * 32  # an unmasked CSRF secret, as the cookie carries it
    client.cookies["csrftoken"] = token
    accepted = client.post("/api/v1/agents", payload, content_type="application/json", headers={"X-CSRFToken": token})
    assert accepted.status_code == 201
    assert owner.agents.get().handle == "csrf-bot"


def test_an_agent_key_cannot_manage_agents(bot):
    token = factories.api_key(bot, scopes=["read", "trade", "propose", "review:request", "webhooks"])
    response = Client().get("/api/v1/agents", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "session_required"


@pytest.mark.parametrize(
    ("body", "content_type"), [(b"{not json", "application/json"), (b"--x", "multipart/form-data")]
)
def test_unparseable_body_is_a_clear_400_not_a_500(owner_client, bot, body, content_type):
    response = owner_client.generic(
        "POST", f"/api/v1/agents/{bot.pk}/fund", body, content_type=content_type, headers={"Idempotency-Key": "k"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_body"


def test_agent_me_is_one_query_for_the_key_and_its_owner(bot, django_assert_num_queries):
    token = factories.api_key(bot)
    client = Client()
    client.get("/api/v1/me", headers=bearer(token))  # records last_used_at (a write, once a minute)
    with django_assert_num_queries(1):
        body = client.get("/api/v1/me", headers=bearer(token)).json()
    assert body["identity"]["owner_handle"] == factories.human(bot.owner).handle


def test_a_suspended_owners_agents_are_refused_too(bot):
    token = factories.api_key(bot)
    identity_suspend(identity=factories.human(bot.owner), reason="moderation", moderator=factories.moderator())
    response = Client().get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == INVALID
