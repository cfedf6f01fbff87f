"""Every rule the server keeps about a request's shape is in the schema, so a request the schema admits
is never 422 (tests/contract/test_fuzz.py checks it with generated requests; these are the rules it
found, one by one)."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.markets.models import Claim
from tests import factories
from tests.support import bearer, signed_in, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def document():
    return Client().get("/api/v1/openapi.json").json()


def _schemas(node, found=None):
    """Every schema object (a dict with a "type") anywhere in the document."""
    found = [] if found is None else found
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            found.append(node)
        for value in node.values():
            _schemas(value, found)
    elif isinstance(node, list):
        for value in node:
            _schemas(value, found)
    return found


def _request_bodies(document) -> dict:
    components = document["components"]["schemas"]
    bodies = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            schema = content["schema"]
            refs = [one["$ref"] for one in schema.get("oneOf", [schema])]
            for ref in refs:
                bodies[(method, path, ref)] = components[ref.rsplit("/", 1)[1]]
    return bodies


def test_every_string_without_a_stricter_rule_refuses_nul_in_the_schema(document):
    """refuse_nul answers 422 for a NUL in any string: the schema says so on every one (but headers,
    where HTTP itself forbids it)."""
    operations = [op for item in document["paths"].values() for op in item.values()]
    for operation in operations:
        operation["parameters"] = [p for p in operation.get("parameters", []) if p["in"] != "header"]
    for schema in _schemas({"paths": document["paths"], "components": document["components"]}):
        if schema["type"] == "string" and not {"enum", "const", "format"} & set(schema):
            assert "pattern" in schema, schema
            assert not re.search(schema["pattern"], "a\x00b"), schema


def test_every_body_names_all_its_fields(document):
    bodies = _request_bodies(document)
    # 24 operations; the orders are three schemas, a review's decisions four, a hosting one per strategy (four)
    assert len(bodies) == 36
    for where, schema in bodies.items():
        assert schema["additionalProperties"] is False, where


def test_every_integer_a_request_sends_is_bounded(document):
    """The services refuse amounts past MAX_AMOUNT (2**53): every integer of a body or a URL says its
    bounds (the agent's fund and withdraw did not, and 2**53 + 1 was a 422 the schema admitted)."""
    found = []
    for schema in _schemas({"bodies": list(_request_bodies(document).values())}):
        if schema["type"] == "integer":
            found.append(schema)
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["schema"].get("type") == "integer":
                    found.append(parameter["schema"])
    assert len(found) > 10
    for schema in found:
        assert {"minimum", "exclusiveMinimum"} & set(schema) and "maximum" in schema, schema
    amount = document["components"]["schemas"]["AmountIn"]["properties"]["amount"]
    assert (amount["exclusiveMinimum"], amount["maximum"]) == (0, 2**53)


def test_no_path_or_query_parameter_is_declared_nullable(document):
    """A URL cannot carry null; the null branch made fuzzers send `limit=3.0`."""
    for path, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("path", "query"):
                    assert "anyOf" not in parameter["schema"], (path, parameter)


def test_the_schema_states_what_the_services_check(document, settings):
    settings.CREDENCE_LIQUIDITY_MIN_CREDITS, settings.CREDENCE_LIQUIDITY_MAX_CREDITS = 20, 5_000
    document = Client().get("/api/v1/openapi.json").json()  # the bounds are read when the schema is written
    schemas = document["components"]["schemas"]
    claim = schemas["ClaimIn"]["properties"]
    assert (claim["liquidity"]["minimum"], claim["liquidity"]["maximum"]) == (20 * CREDIT, 5_000 * CREDIT)
    window = claim["challenge_window_hours"]["anyOf"][0]
    assert window == {"type": "integer", "minimum": 1, "maximum": 168}
    title = re.compile(claim["title"]["pattern"])
    assert [bool(title.fullmatch(t)) for t in ("Rain by 5?", "  Rain by 5?  ", "         a")] == [True, True, False]
    for name, field in (("ClarificationIn", "text"), ("ProposalIn", "evidence"), ("KeyIn", "name")):
        pattern = re.compile(schemas[name]["properties"][field]["pattern"])
        assert [bool(pattern.fullmatch(t)) for t in ("x", " x ", "   ", "\t\n")] == [True, True, False, False]
    link = re.compile(schemas["AgentIn"]["properties"]["code_url"]["pattern"])
    assert [bool(link.fullmatch(t)) for t in ("", "https://a.example", "ftp://a", "0")] == [True, True, False, False]
    belief = schemas["BeliefIn"]["properties"]["probability"]["anyOf"][0]
    assert belief["multipleOf"] == 1e-6
    assert schemas["BuyIn"]["properties"]["limit_price"]["anyOf"][0]["anyOf"][0]["multipleOf"] == 1e-20
    patch = schemas["AgentPatch"]["properties"]
    assert all("default" not in field and "anyOf" not in field for field in patch.values())


def test_a_patch_with_null_is_refused_and_changes_nothing(owner):
    bot = factories.agent(owner, handle="patched-bot", display_name="Patched")
    response = signed_in(owner).patch(
        f"/api/v1/agents/{bot.pk}", {"autonomy_level": None}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["detail"][0]["loc"] == ["body", "payload", "autonomy_level"]
    bot.refresh_from_db()
    assert (bot.autonomy_level, bot.display_name) == ("autonomous", "Patched")


def test_an_order_with_a_field_no_schema_names_is_refused_and_writes_nothing(owner):
    bot = factories.agent(owner, handle="typo-bot")
    token = factories.api_key(bot, scopes=["read", "trade"])
    claim = factories.new_claim(
        title="Will the typo be caught?",
        criteria="Resolves YES if it is.",
        tags=(),
        closes_in=timedelta(days=2),
        resolves_in=timedelta(days=1),
    )
    before = snapshot()
    response = Client().post(
        f"/api/v1/claims/{claim.pk}/trades",
        {"kind": "buy", "side": "yes", "amount": CREDIT, "limit_prcie": "0.51"},
        content_type="application/json",
        headers={**bearer(token), "Idempotency-Key": "typo-1"},
    )
    assert response.status_code == 422
    detail = response.json()["error"]["detail"]
    assert [(e["loc"][-1], e["type"]) for e in detail] == [("limit_prcie", "extra_forbidden")]
    assert snapshot() == before


def test_publishing_a_draft_whose_close_has_passed_is_409(owner):
    author = factories.human(owner)
    draft = factories.new_claim(
        author,
        title="Will the draft go stale?",
        criteria="Resolves YES if it does.",
        tags=(),
        closes_in=timedelta(days=2),
        resolves_in=timedelta(days=1),
        publish=False,
    )
    Claim.objects.filter(pk=draft.pk).update(closes_at=timezone.now() - timedelta(minutes=1))
    before = snapshot()
    response = signed_in(owner).post(f"/api/v1/claims/{draft.pk}/publish", content_type="application/json")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "market_closed",
        "message": "The claim's closing time has passed.",
        "detail": {"field": "closes_at"},
    }
    assert snapshot() == before
