"""Every answer under /api/ that is an error is `{"error": {"code", "message", "detail"}}` as JSON, whoever
wrote it (Django's URL resolver, ninja's method dispatch, the body size limit, an unexpected exception); a
write without credentials is 401, and an API key where only a session will do is 403 session_required."""

import json

import pytest
from django.test import Client

from apps.core.models import Event
from apps.identities.models import Identity
from apps.markets.models import Claim
from config.api import api
from tests import factories
from tests.support import bearer

pytestmark = pytest.mark.django_db

JSON = "application/json; charset=utf-8"


def _error(response) -> dict:
    assert response["Content-Type"] == JSON
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}
    return body["error"]


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/claims/1/nope", "/api/nope", "/api/v1/me/"])
def test_an_unknown_path_is_a_json_404(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert _error(response) == {
        "code": "not_found",
        "message": "No such path in the API; the operations are listed at /api/v1/openapi.json.",
        "detail": None,
    }


def test_a_method_the_path_does_not_take_is_a_json_405_that_says_which_it_takes(owner_client):
    response = owner_client.delete("/api/v1/agents")
    assert response.status_code == 405
    assert _error(response) == {
        "code": "method_not_allowed",
        "message": "DELETE is not allowed here; this path takes GET, POST.",
        "detail": {"allowed": ["GET", "POST"]},
    }
    assert sorted(response["Allow"].split(", ")) == ["GET", "POST"]


def test_a_body_over_the_size_limit_is_a_json_413_and_writes_nothing(owner, owner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = (Identity.objects.count(), Event.objects.count())
    body = {"handle": "big-bot", "autonomy_level": "advisory", "description": "x" * 1000}
    response = owner_client.post("/api/v1/agents", body, content_type="application/json")
    assert response.status_code == 413
    assert _error(response) == {
        "code": "body_too_large",
        "message": "The request body is larger than the server accepts (detail.limit, in bytes).",
        "detail": {"limit": 1000},
    }
    assert (Identity.objects.count(), Event.objects.count()) == before


def test_an_unexpected_failure_is_a_json_500(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("apps.markets.api.selectors.claims_listed", broken)
    response = Client(raise_request_exception=False).get("/api/v1/claims")
    assert response.status_code == 500
    assert _error(response) == {
        "code": "server_error",
        "message": "Something went wrong on our side; the error was recorded. Try again later.",
        "detail": None,
    }


def test_pages_outside_the_api_keep_their_html_errors(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/agents", {"handle": "lost-bot", "autonomy_level": "advisory"}),
        ("/api/v1/claims", {"title": "t"}),
    ],
)
def test_a_write_without_credentials_is_401_not_a_csrf_failure(path, body):
    """As an agent that forgot its key sends it (no cookie, no token): Django's test client skips CSRF
    checks unless told to enforce them."""
    response = Client(enforce_csrf_checks=True).post(path, body, content_type="application/json")
    assert response.status_code == 401
    assert _error(response) == {
        "code": "not_authenticated",
        "message": "Authentication is required: send a valid API key or log in.",
        "detail": None,
    }
    assert not Claim.objects.exists()


SESSION_REQUIRED = {
    "code": "session_required",
    "message": "This operation is for a signed-in person (the owner's browser session); an API key cannot call it.",
    "detail": None,
}


def test_an_api_key_on_a_session_only_operation_is_403_session_required(bot):
    token = factories.api_key(bot, scopes=["read", "trade", "propose", "review:request", "webhooks"])
    client = Client(enforce_csrf_checks=True)
    for response in (
        client.get("/api/v1/agents", headers=bearer(token)),
        client.get(f"/api/v1/agents/{bot.pk}/wallet", headers=bearer(token)),
        client.post(
            "/api/v1/agents",
            {"handle": "child-bot", "autonomy_level": "advisory"},
            content_type="application/json",
            headers=bearer(token),
        ),
    ):
        assert response.status_code == 403
        assert _error(response) == SESSION_REQUIRED
    assert Identity.objects.filter(handle="child-bot").count() == 0


def test_a_signed_in_person_without_the_csrf_token_is_still_refused(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/api/v1/agents", {"handle": "x-bot", "autonomy_level": "advisory"}, content_type=JSON)
    assert response.status_code == 403
    assert _error(response)["code"] == "csrf_failed"
    assert not owner.agents.exists()


def test_the_schema_declares_the_errors_every_operation_can_answer():
    document = json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1")))
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"422", "500"} | ({"413"} if "requestBody" in operation else set())
            assert expected <= set(responses), (method, path)
            for status in expected:
                assert responses[status]["content"]["application/json"]["schema"] == error_ref
            if operation.get("security") == [{"SessionAuth": []}]:
                assert {"401", "403"} <= set(responses), (method, path)
