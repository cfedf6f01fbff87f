"""The OpenAPI schema is honest: every answer of every operation is declared, with its shape.

Schemathesis generates requests (valid and invalid) from the schema and checks each response's
status code and body against what the schema declares.
"""

import pytest
from django.test import Client
from hypothesis import HealthCheck, settings

from config.wsgi import application
from tests import factories
from tests.support import SCHEMA_CHECKS, api_schema, signed_in

schema = api_schema()
# case.call(app=...) calls the WSGI app directly: keep the test transaction's connection (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("keep_the_test_connection")


def _without_host(headers: dict | None) -> dict:
    """The generated headers without a `Host`: schemathesis sometimes makes one up from the schema's strings,
    and a Host this server does not serve is refused (400) by Django before any operation runs, as by the proxy
    in front of it: a property of the HTTP layer, not an answer of the API's operations."""
    return {name: value for name, value in (headers or {}).items() if name.lower() != "host"}


@pytest.fixture
def agent_token(db):
    return factories.api_key(factories.agent(handle="contract-bot"), scopes=["read", "trade"])


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.django_db
def test_every_answer_is_declared_for_agents(case, agent_token):
    case.headers = {**_without_host(case.headers), "Authorization": f"Bearer {agent_token}"}
    response = case.call(app=application)
    case.validate_response(response, checks=SCHEMA_CHECKS)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.django_db
def test_every_answer_is_declared_for_anonymous_callers(case):
    case.headers = _without_host(case.headers)
    response = case.call(app=application)
    case.validate_response(response, checks=SCHEMA_CHECKS)


def test_every_error_response_uses_the_error_shape():
    document = Client().get("/api/v1/openapi.json").json()
    error_ref = "#/components/schemas/ErrorOut"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            codes = {int(code) for code in operation["responses"]}
            for code in codes - {200, 201, 202, 204}:
                content = operation["responses"][str(code)]["content"]["application/json"]["schema"]
                assert content == {"$ref": error_ref}, (method, path, code)
            if operation.get("security"):
                assert {401, 403, 429} <= codes, (method, path)


def test_docs_are_served_locally():
    client = Client()
    for url in ("/api/docs", "/api/v1/docs"):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert "/static/ninja/swagger-ui-bundle.js" in html
        assert "cdn" not in html.lower()


@pytest.fixture
def owner_session(db):
    """Session and CSRF cookies of a signed-in owner with one agent, as a browser would send them."""
    owner = factories.verified_user()
    factories.agent(owner, handle="owned-bot")
    return {"sessionid": signed_in(owner).cookies["sessionid"].value, "csrftoken": "c" * 32}


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.django_db
def test_every_answer_is_declared_for_signed_in_owners(case, owner_session):
    case.cookies = {**(case.cookies or {}), **owner_session}
    case.headers = {**_without_host(case.headers), "X-CSRFToken": owner_session["csrftoken"]}
    response = case.call(app=application)
    case.validate_response(response, checks=SCHEMA_CHECKS)
