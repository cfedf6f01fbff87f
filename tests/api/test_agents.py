import pytest
from django.test import Client

from apps.core.models import Event
from apps.identities.models import ApiKey, Identity
from tests import factories
from tests.support import bearer

pytestmark = pytest.mark.django_db

NEW_AGENT = {
    "handle": "base-rate-bot",
    "autonomy_level": "supervised",
    "display_name": "Base rate bot",
    "description": "Forecasts from domain base rates.",
    "model_name": "gbm",
    "provider": "self-hosted",
    "model_version": "2026.11",
    "homepage_url": "https://example.com/bot",
    "code_url": "https://example.com/bot.git",
}


def _post(client, path, payload=None, **headers):
    return client.post(path, payload or {}, content_type="application/json", headers=headers)


def test_create_agent_returns_it_with_provenance(owner, owner_client):
    response = _post(owner_client, "/api/v1/agents", NEW_AGENT)
    assert response.status_code == 201
    body = response.json()
    agent = Identity.objects.get(handle="base-rate-bot")
    assert body["id"] == agent.pk
    assert {k: body[k] for k in NEW_AGENT} == NEW_AGENT
    assert body["kind"] == "agent"
    assert body["status"] == "active"
    assert body["owner_handle"] == factories.human(owner).handle
    assert agent.owner == owner
    assert Event.objects.filter(kind="identity.created", subject=f"identity:{agent.pk}").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"handle": "Bad Handle"}, "handle"),
        ({"handle": "-edge"}, "handle"),
        ({"homepage_url": "javascript:alert(1)"}, "homepage_url"),
    ],
)
def test_invalid_agent_is_422_and_creates_nothing(owner_client, change, field):
    response = _post(owner_client, "/api/v1/agents", {**NEW_AGENT, **change})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"
    assert response.json()["error"]["detail"] == {"field": field}
    assert not Identity.objects.filter(kind="agent").exists()
    assert not Event.objects.filter(kind="identity.created", payload__kind="agent").exists()


def test_unknown_autonomy_level_is_422(owner_client):
    response = _post(owner_client, "/api/v1/agents", {**NEW_AGENT, "autonomy_level": "godlike"})
    assert response.status_code == 422
    assert response.json()["error"]["detail"][0]["loc"] == ["body", "payload", "autonomy_level"]


def test_taken_handle_is_409_case_insensitively(owner, owner_client, bot):
    response = _post(owner_client, "/api/v1/agents", {**NEW_AGENT, "handle": "BOT-ONE".lower()})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "handle_taken"
    human_handle = factories.human(owner).handle
    assert _post(owner_client, "/api/v1/agents", {**NEW_AGENT, "handle": human_handle}).status_code == 409


def test_agent_limit_per_owner(owner, owner_client, settings):
    settings.CREDENCE_MAX_AGENTS_PER_OWNER = 2
    assert _post(owner_client, "/api/v1/agents", {**NEW_AGENT, "handle": "bot-a"}).status_code == 201
    assert _post(owner_client, "/api/v1/agents", {**NEW_AGENT, "handle": "bot-b"}).status_code == 201
    response = _post(owner_client, "/api/v1/agents", {**NEW_AGENT, "handle": "bot-c"})
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "too_many_agents",
        "message": "An owner may register at most 2 agents.",
        "detail": {"limit": 2},
    }
    assert owner.agents.count() == 2


def test_unverified_user_cannot_register_agents():
    user = factories.UserFactory()
    client = Client()
    client.force_login(user)
    response = _post(client, "/api/v1/agents", NEW_AGENT)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "email_not_verified"
    assert not Identity.objects.exists()


def test_list_my_agents_only(owner, owner_client, bot, django_assert_num_queries):
    other = factories.agent(factories.verified_user(), handle="not-mine")
    for n in range(3):
        factories.agent(owner, handle=f"mine-{n}")
    with django_assert_num_queries(4):  # session, user, caller identity, agents (owner handle joined in)
        response = owner_client.get("/api/v1/agents")
    handles = [a["handle"] for a in response.json()]
    assert handles == ["mine-2", "mine-1", "mine-0", "bot-one"]
    assert other.handle not in handles
    for n in range(3, 9):
        factories.agent(owner, handle=f"mine-{n}")
    with django_assert_num_queries(4):
        assert len(owner_client.get("/api/v1/agents").json()) == 10


def test_update_provenance(owner_client, bot):
    response = owner_client.patch(
        f"/api/v1/agents/{bot.pk}",
        {"model_version": "v2", "autonomy_level": "advisory"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["model_version"] == "v2"
    assert response.json()["model_name"] == "m1"  # untouched
    bot.refresh_from_db()
    assert (bot.model_version, bot.autonomy_level) == ("v2", "advisory")


def test_suspend_and_reactivate(owner_client, bot):
    token = factories.api_key(bot)
    response = _post(owner_client, f"/api/v1/agents/{bot.pk}/suspend", {"reason": "misbehaving"})
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    assert Client().get("/api/v1/me", headers=bearer(token)).status_code == 401
    response = _post(owner_client, f"/api/v1/agents/{bot.pk}/reactivate")
    assert response.json()["status"] == "active"
    assert Client().get("/api/v1/me", headers=bearer(token)).status_code == 200


def test_key_is_shown_once_and_stored_as_a_hash(owner_client, bot):
    response = _post(owner_client, f"/api/v1/agents/{bot.pk}/keys", {"name": "prod", "scopes": ["read", "trade"]})
    assert response.status_code == 201
    body = response.json()
    token = body["token"]
    assert token.startswith(f"cred_{body['prefix']}_")
    key = ApiKey.objects.get(pk=body["id"])
    assert token.split("_", 2)[2] not in key.secret_sha256
    assert len(key.secret_sha256) == 64
    assert body["state"] == "active"
    assert body["scopes"] == ["read", "trade"]
    listed = owner_client.get(f"/api/v1/agents/{bot.pk}/keys").json()
    assert [k["id"] for k in listed] == [key.pk]
    assert "token" not in listed[0]
    assert Client().get("/api/v1/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"name": "k", "scopes": ["admin"]}, "validation_failed"),
        ({"name": "k", "scopes": []}, "validation_failed"),
        ({"name": "   ", "scopes": ["read"]}, "validation_failed"),
        ({"name": "k", "scopes": ["read"], "label": "prod"}, "validation_failed"),  # not a field of a key
    ],
)
def test_invalid_key_requests_are_422(owner_client, bot, payload, code):
    response = _post(owner_client, f"/api/v1/agents/{bot.pk}/keys", payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert not ApiKey.objects.exists()


def test_a_key_expiring_in_the_past_is_409(owner_client, bot):
    """The schema admits any date-time: one the clock has passed conflicts with the present."""
    payload = {"name": "k", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}
    response = _post(owner_client, f"/api/v1/agents/{bot.pk}/keys", payload)
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "date_conflict",
        "message": "expires_at must be in the future.",
        "detail": {"field": "expires_at"},
    }
    assert not ApiKey.objects.exists()


def test_revoke_key(owner_client, bot):
    token = factories.api_key(bot)
    key = ApiKey.objects.get(identity=bot)
    response = _post(owner_client, f"/api/v1/agents/{bot.pk}/keys/{key.pk}/revoke")
    assert response.status_code == 200
    assert response.json()["state"] == "revoked"
    revoked_at = response.json()["revoked_at"]
    assert Client().get("/api/v1/me", headers=bearer(token)).status_code == 401
    again = _post(owner_client, f"/api/v1/agents/{bot.pk}/keys/{key.pk}/revoke")
    assert again.json()["revoked_at"] == revoked_at


def test_key_list_query_count_does_not_grow(owner_client, bot, django_assert_num_queries):
    factories.api_key(bot)
    with django_assert_num_queries(5):  # session, user, caller identity, agent, keys
        assert len(owner_client.get(f"/api/v1/agents/{bot.pk}/keys").json()) == 1
    for _ in range(5):
        factories.api_key(bot)
    with django_assert_num_queries(5):
        assert len(owner_client.get(f"/api/v1/agents/{bot.pk}/keys").json()) == 6


def test_public_directory_lists_agents_with_owner(bot, django_assert_num_queries):
    owner_handle = factories.human(bot.owner).handle
    factories.agent(factories.verified_user(), handle="other-bot")
    client = Client()
    with django_assert_num_queries(1):
        body = client.get("/api/v1/identities", {"kind": "agent"}).json()
    assert [(a["handle"], a["owner_handle"]) for a in body["items"]][-1] == ("bot-one", owner_handle)
    assert body["next_cursor"] is None
    for n in range(5):
        factories.agent(bot.owner, handle=f"many-{n}")
    with django_assert_num_queries(1):
        page = client.get("/api/v1/identities", {"kind": "agent", "limit": 3}).json()
    assert len(page["items"]) == 3
    rest = client.get("/api/v1/identities", {"kind": "agent", "limit": 10, "cursor": page["next_cursor"]}).json()
    assert len(page["items"]) + len(rest["items"]) == 7
    assert {a["handle"] for a in page["items"]}.isdisjoint({a["handle"] for a in rest["items"]})
    detail = client.get("/api/v1/identities/BOT-ONE")
    assert detail.status_code == 200
    assert detail.json()["owner_handle"] == owner_handle
    assert client.get("/api/v1/identities/nobody-here").status_code == 404


def test_bad_cursor_is_a_clear_422():
    response = Client().get("/api/v1/identities", {"cursor": "abc"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"
