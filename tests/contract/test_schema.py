"""The OpenAPI schema is the truth a generated client is built from: one definition per component name,
required headers required, the formats of cursors, handles, domains and scopes, the unit of every amount,
the error codes as the enum of the codes the API answers, and Retry-After on every 429."""

import ast
from pathlib import Path
from typing import get_args

import pytest
from django.test import Client
from ninja.openapi import schema as ninja_schema

from apps.core.api_types import ErrorCode
from apps.core.errors import ApplicationError
from apps.identities.models import ApiKeyScope
from config.api import api
from tests import factories
from tests.support import bearer

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


@pytest.fixture
def document():
    return Client().get("/api/v1/openapi.json").json()


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _parameters(document) -> dict:
    """(path, name) -> the parameter's schema, without the `null` of an optional one."""
    found = {}
    for path, _method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            options = [one for one in schema.get("anyOf", [schema]) if one.get("type") != "null"]
            assert len(options) == 1, (path, parameter)
            found[(path, parameter["name"])] = options[0]
    return found


def test_no_two_schemas_share_a_component_name(monkeypatch):
    """django-ninja files every model's schema under its class name and lets a later one overwrite an
    earlier one silently (a belief order and a stated belief were both `BeliefIn`)."""
    seen: dict[str, list[dict]] = {}
    original = ninja_schema.OpenAPISchema.add_schema_definitions

    def recording(self, definitions):
        for name, definition in definitions.items():
            if definition not in seen.setdefault(name, []):
                seen[name].append(definition)
        original(self, definitions)

    monkeypatch.setattr(ninja_schema.OpenAPISchema, "add_schema_definitions", recording)
    api.get_openapi_schema(path_prefix="/api/v1/")
    assert seen  # the recorder saw the components
    assert {name: len(versions) for name, versions in seen.items() if len(versions) > 1} == {}


def test_the_belief_order_and_the_stated_belief_are_both_in_the_schema(document):
    schemas = document["components"]["schemas"]
    order = document["paths"]["/api/v1/claims/{claim_id}/trades"]["post"]["requestBody"]["content"]
    refs = {one["$ref"] for one in order["application/json"]["schema"]["oneOf"]}
    assert refs == {f"#/components/schemas/{name}" for name in ("BuyIn", "BeliefOrderIn", "SellIn")}
    assert set(schemas["BeliefOrderIn"]["required"]) == {"kind", "belief", "amount"}
    stated = document["paths"]["/api/v1/claims/{claim_id}/beliefs"]["post"]["requestBody"]["content"]
    assert stated["application/json"]["schema"] == {"$ref": "#/components/schemas/BeliefIn"}
    assert schemas["BeliefIn"]["required"] == ["probability"]


IDEMPOTENT_WRITES = {
    ("post", "/api/v1/claims/{claim_id}/trades"),
    ("post", "/api/v1/claims/{claim_id}/beliefs"),
    ("post", "/api/v1/agents/{agent_id}/fund"),
    ("post", "/api/v1/agents/{agent_id}/withdraw"),
    ("post", "/api/v1/reviews"),
    ("post", "/api/v1/agents/{agent_id}/runs"),
    ("post", "/api/v1/billing/checkout"),
    ("post", "/api/v1/billing/debt/settle"),
    ("post", "/api/v1/billing/verification"),
}


def test_the_idempotency_key_is_a_required_header_of_every_write_that_needs_one(document):
    declared = {}
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"].lower() == "idempotency-key":
                declared[(method, path)] = parameter
    assert set(declared) == IDEMPOTENT_WRITES
    for parameter in declared.values():
        assert (parameter["in"], parameter["required"]) == ("header", True)
        assert parameter["schema"] == {"type": "string", "minLength": 1, "maxLength": 120}


def test_a_missing_idempotency_key_is_refused_as_the_schema_says():
    token = factories.api_key(factories.agent(handle="keyless-bot"), scopes=["read", "trade"])
    response = Client().post(
        "/api/v1/claims/1/beliefs", {"probability": "0.5"}, content_type="application/json", headers=bearer(token)
    )
    assert (response.status_code, response.json()["error"]["code"]) == (422, "idempotency_key_required")


def test_every_cursor_declares_its_format(document):
    cursors = [(path, schema) for (path, name), schema in _parameters(document).items() if name == "cursor"]
    assert len(cursors) == 14
    for path, schema in cursors:
        expected = r"^[0-9]{1,9}$" if path == "/api/v1/leaderboards" else r"^[0-9]{1,18}$"
        assert (schema["type"], schema["pattern"]) == ("string", expected), path


@pytest.mark.parametrize("cursor", ["-1", " 5", "+5", "5.0", "\uff15", "1_000", "9" * 19])
def test_a_cursor_outside_its_format_is_refused_with_its_code(cursor):
    response = Client().get("/api/v1/claims", {"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_cursor",
        "message": "cursor is not valid.",
        "detail": {"cursor": cursor},
    }


def test_scopes_are_an_enum_and_handles_and_domains_have_patterns(document):
    schemas = document["components"]["schemas"]
    scopes = set(ApiKeyScope.values)
    assert set(schemas["KeyIn"]["properties"]["scopes"]["items"]["enum"]) == scopes
    assert set(schemas["KeyOut"]["properties"]["scopes"]["items"]["enum"]) == scopes
    agent_handle = schemas["AgentIn"]["properties"]["handle"]
    assert agent_handle["pattern"] == r"^(?!.*--)[A-Za-z0-9][A-Za-z0-9-]{1,38}[A-Za-z0-9]$"
    assert schemas["ClaimIn"]["properties"]["domain"]["pattern"] == r"^[A-Za-z0-9_-]{1,40}$"
    parameters = _parameters(document)
    for where in [
        ("/api/v1/identities/{handle}", "handle"),
        ("/api/v1/identities/{handle}/track-record", "handle"),
        ("/api/v1/claims", "author"),
    ]:
        assert parameters[where]["pattern"] == r"^[A-Za-z0-9_-]{1,40}$", where
    for where in [("/api/v1/claims", "domain"), ("/api/v1/leaderboards", "domain"), ("/api/v1/track-record", "domain")]:
        assert parameters[where]["pattern"] == r"^[A-Za-z0-9_-]{1,40}$", where


def test_a_handle_outside_its_pattern_is_a_422():
    for path in ("/api/v1/identities/a.b", "/api/v1/identities/a.b/track-record"):
        response = Client().get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (422, "validation_failed"), path


# Integer fields that carry credit or shares, wherever they appear.
MONEY = {
    "amount",
    "balance",
    "balance_after",
    "owner_balance",
    "agent_balance",
    "cost",
    "fee",
    "fees_paid",
    "wallet_change",
    "volume",
    "liquidity",
    "subsidy",
    "net_invested",
    "value",
    "pnl",
    "profit",
    "bond",
}
SHARES = {"shares", "yes_shares", "no_shares", "q_yes", "q_no"}


def test_every_amount_and_share_count_says_its_unit(document):
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            if prop.get("type") != "integer" or field not in MONEY | SHARES:
                continue
            unit = "micro-credits" if field in MONEY else "micro-shares"
            assert unit in prop.get("description", "").lower(), (name, field, prop.get("description"))
            checked += 1
    assert checked >= 30


def _codes_in_the_code() -> set[str]:
    """Every error code the API can answer, read from the code: the ApplicationError family's classes,
    every `code="..."` given at a raise, and the codes the handlers in apps/core write themselves."""
    codes = set()

    def family(cls):
        codes.add(cls.code)
        for sub in cls.__subclasses__():
            family(sub)

    family(ApplicationError)
    for source in [*(ROOT / "apps").rglob("*.py"), *(ROOT / "config").rglob("*.py")]:
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(node.value, ast.Constant):
                codes.add(node.value.value)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"_error", "error_body"}:
                position = 3 if node.func.id == "_error" else 0
                if len(node.args) > position and isinstance(node.args[position], ast.Constant):
                    codes.add(node.args[position].value)
            # Status -> code maps: {404: "not_found"} or {404: ("not_found", "message")}
            if (
                isinstance(node, ast.Dict)
                and node.keys
                and all(isinstance(k, ast.Constant) and isinstance(k.value, int) for k in node.keys)
                and all(400 <= k.value < 600 for k in node.keys)
            ):
                for value in node.values:
                    first = value.elts[0] if isinstance(value, ast.Tuple) else value
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        codes.add(first.value)
            # A map's fallback: _CODES_BY_STATUS.get(status, "error")
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "get"
                and getattr(node.func.value, "id", "").startswith("_CODES")
                and len(node.args) == 2
                and isinstance(node.args[1], ast.Constant)
            ):
                codes.add(node.args[1].value)
    return codes


def test_the_error_codes_are_the_enum_of_the_codes_that_exist(document):
    declared = document["components"]["schemas"]["ErrorBody"]["properties"]["code"]
    assert declared["type"] == "string"
    assert set(declared["enum"]) == set(get_args(ErrorCode))
    in_code = _codes_in_the_code()
    assert sorted(in_code - set(declared["enum"])) == [], "add these to apps.core.api_types.ErrorCode"
    assert sorted(set(declared["enum"]) - in_code) == [], "nothing answers these: remove them from ErrorCode"


def test_every_429_declares_retry_after(document):
    throttled = 0
    for path, method, operation in _operations(document):
        response = operation["responses"].get("429")
        if response is None:
            continue
        throttled += 1
        header = response["headers"]["Retry-After"]
        assert header["schema"] == {"type": "integer", "minimum": 1}, (method, path)
    assert throttled == sum(1 for _ in _operations(document))  # every operation can be throttled


def test_an_anonymous_429_sends_retry_after(tight_limits):
    client = Client()
    assert [client.get("/api/v1/claims").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/v1/claims")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == refused.json()["error"]["detail"]["retry_after"]
    assert 1 <= int(refused["Retry-After"]) <= 60
