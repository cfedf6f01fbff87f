"""A NUL character (U+0000) in any string the API accepts is refused with a 4xx in the error shape, and
nothing is written. PostgreSQL cannot store a NUL in text, so a NUL that reached a query was a 500.

The cases come from the OpenAPI schema: for every operation, every string it declares (a path or query
parameter, a header, a property of the JSON body at any depth, an item of a list of strings) gets its own
request carrying a NUL there, sent with valid credentials and an otherwise valid request, so that the NUL
is the only thing wrong with it.
"""

import json
from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.identities.models import ApiKey, Identity
from apps.ledger.models import Transfer
from apps.markets.models import Claim, Clarification, Resolution, Trade
from apps.reputation.models import Belief
from config.api import api
from tests import factories
from tests.factories import new_claim

pytestmark = pytest.mark.django_db

NUL = "a\x00b"
SCHEMA = json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1")))  # as served: string status keys
COMPONENTS = SCHEMA["components"]["schemas"]

# An otherwise valid body for every operation that takes one (keyed by the discriminator's value where
# the body is one of several schemas), so that a refusal can only be the NUL's.
CLAIM_BODY = {
    "title": "Will the bridge open by June?",
    "criteria": "Resolves YES if the city opens the bridge to traffic before 1 June.",
    "domain": "science",
    "closes_at": "2099-01-01T00:00:00Z",
    "resolve_by": "2099-02-01T00:00:00Z",
    "liquidity": 10 * CREDIT,
    "tags": ["bridges"],
}
ORDERS = {
    "buy": {"kind": "buy", "side": "yes", "amount": CREDIT, "rationale": "cheap"},
    "belief": {"kind": "belief", "belief": "0.6", "amount": CREDIT, "rationale": "cheap"},
    "sell": {"kind": "sell", "side": "yes", "shares": 1, "rationale": "cheap"},
}
BUDGETS = {"budget_per_run": CREDIT, "budget_per_day": CREDIT, "budget_per_position": CREDIT}
BODIES = {
    ("post", "/api/v1/agents"): {"handle": "nul-new-bot", "autonomy_level": "advisory"},
    ("patch", "/api/v1/agents/{agent_id}"): {},
    ("post", "/api/v1/agents/{agent_id}/suspend"): {"reason": "Paused."},
    ("post", "/api/v1/agents/{agent_id}/keys"): {"name": "prod", "scopes": ["read"]},
    ("post", "/api/v1/agents/{agent_id}/fund"): {"amount": CREDIT},
    ("post", "/api/v1/billing/checkout"): {"package": 1},
    ("post", "/api/v1/billing/verification"): {"statement": "A person with a profile.", "links": ["https://a.example"]},
    ("post", "/api/v1/agents/{agent_id}/withdraw"): {"amount": CREDIT},
    ("post", "/api/v1/claims"): CLAIM_BODY,
    ("post", "/api/v1/moderation/flags"): {"target_type": "claim", "target_id": 1, "reason": "spam", "note": "Ads."},
    ("post", "/api/v1/moderation/actions/{action_id}/appeal"): {"statement": "Please look at this again."},
    ("post", "/api/v1/claims/{claim_id}/clarifications"): {"text": "Traffic means cars."},
    ("post", "/api/v1/claims/{claim_id}/trades"): ORDERS,
    ("post", "/api/v1/claims/{claim_id}/quote"): ORDERS,
    ("post", "/api/v1/claims/{claim_id}/resolution"): {"outcome": "yes", "evidence": "The city's notice."},
    ("post", "/api/v1/claims/{claim_id}/resolution/challenge"): {"evidence": "The notice was withdrawn."},
    ("post", "/api/v1/claims/{claim_id}/beliefs"): {"probability": "0.6", "rationale": "Base rates."},
    ("put", "/api/v1/agents/{agent_id}/supervision"): {"review_orders_above": CREDIT},
    ("put", "/api/v1/agents/{agent_id}/hosting"): {
        "base_rate": {"strategy": "base_rate", "domains": ["science"], **BUDGETS},
        "consensus_arbitrage": {"strategy": "consensus_arbitrage", **BUDGETS},
        "extremizer": {"strategy": "extremizer", **BUDGETS},
        "language_model": {
            "strategy": "language_model",
            "config": {"endpoint_url": "https://models.example.com/v1", "model": "m"},
            "secrets": {"api_key": "sk-1"},
            **BUDGETS,
        },
    },
    ("patch", "/api/v1/agents/{agent_id}/hosting"): {"domains": ["science"]},
    ("post", "/api/v1/agents/{agent_id}/hosting/stop"): {"reason": "Holiday."},
    ("post", "/api/v1/agents/{agent_id}/runs"): {"claims": [1]},
    ("post", "/api/v1/reviews"): {
        "question": "Is it so?",
        "answer": {"type": "string", "enum": ["yes", "no"], "title": "Pick one"},
        "reviewers": {"kind": "panel", "domain": "science"},
    },
    ("post", "/api/v1/agents/{agent_id}/webhooks"): {
        "url": "https://hooks.example/in",
        "kinds": ["claim.opened"],
        "description": "Claims.",
    },
    ("patch", "/api/v1/agents/{agent_id}/webhooks/{webhook_id}"): {},
    ("post", "/api/v1/reviews/assignments/{assignment_id}/decision"): {
        "approve": {"decision": "approve", "reason": "Fine."},
        "edit": {"decision": "edit", "value": {}, "reason": "Smaller."},
        "reject": {"decision": "reject", "reason": "No."},
        "answer": {"decision": "answer", "value": "yes", "reason": "Seen it."},
    },
}


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _branches(schema: dict) -> list[dict]:
    schema = _resolve(schema)
    return [_resolve(s) for s in schema.get("anyOf", schema.get("oneOf", []))] or [schema]


def _is_string(schema: dict) -> bool:
    return any(branch.get("type") == "string" for branch in _branches(schema))


def _string_paths(schema: dict, prefix: tuple = ()) -> list[tuple]:
    """Every place a string can go in a JSON value of this schema: a tuple of keys (0 for a list's item)."""
    paths = []
    for branch in _branches(schema):
        if branch.get("type") == "string":
            paths.append(prefix)
        elif branch.get("type") == "array":
            paths += _string_paths(branch["items"], (*prefix, 0))
        elif branch.get("type") == "object":
            for name, prop in branch.get("properties", {}).items():
                paths += _string_paths(prop, (*prefix, name))
    return list(dict.fromkeys(paths))


def _body_variants(operation: dict, method: str, path: str) -> list[tuple[dict, dict]]:
    """(schema, valid body) for each shape the operation's JSON body may take."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return []
    schema, baseline = content["schema"], BODIES[(method, path)]
    mapping = schema.get("discriminator", {}).get("mapping")
    if mapping:
        return [(COMPONENTS[ref.rsplit("/", 1)[1]], baseline[value]) for value, ref in mapping.items()]
    return [(_resolve(schema), baseline)]


def _with_nul(value, path: tuple):
    """A copy of `value` with a NUL at `path` (what is missing is created; 0 is a list's only item)."""
    if not path:
        return NUL
    key, rest = path[0], path[1:]
    if key == 0:
        return [_with_nul(value[0] if value else None, rest)]
    return {**(value or {}), key: _with_nul((value or {}).get(key), rest)}


def _cases() -> list:
    cases = []
    for path, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if _is_string(parameter["schema"]):
                    where, name = parameter["in"], parameter["name"]
                    cases.append(pytest.param(method, path, where, (name,), id=f"{method} {path} {where}:{name}"))
            for schema, baseline in _body_variants(operation, method, path):
                for field in _string_paths(schema):
                    tag = baseline.get("kind", baseline.get("strategy"))
                    kind = f"[{tag}]" if tag else ""
                    label = ".".join(str(k) for k in field)
                    cases.append(
                        pytest.param(method, path, "body", (baseline, field), id=f"{method} {path} body{kind}:{label}")
                    )
    return cases


CASES = _cases()


def test_the_walk_covers_every_string_the_issue_found():
    """The schema walk reaches the fields the 500s were seen on (so it cannot quietly walk nothing)."""
    ids = {case.id for case in CASES}
    for expected in (
        "get /api/v1/identities query:q",
        "get /api/v1/identities/{handle} path:handle",
        "post /api/v1/agents body:display_name",
        "patch /api/v1/agents/{agent_id} body:description",
        "post /api/v1/agents/{agent_id}/keys body:name",
        "post /api/v1/agents/{agent_id}/keys body:scopes.0",
        "post /api/v1/agents/{agent_id}/suspend body:reason",
        "post /api/v1/claims/{claim_id}/resolution body:evidence",
        "post /api/v1/agents/{agent_id}/fund header:Idempotency-Key",
        "post /api/v1/claims/{claim_id}/trades body[buy]:rationale",
    ):
        assert expected in ids
    every_body = {
        (method, path) for path, ops in SCHEMA["paths"].items() for method, op in ops.items() if "requestBody" in op
    }
    assert every_body == set(BODIES)


@pytest.fixture
def world(db):
    """A signed-in owner with an agent and a key; claims by someone else: open, closed, and proposed."""
    owner = factories.verified_user()
    bot = factories.agent(owner, handle="nul-bot")
    factories.api_key(bot, scopes=["read"])
    author, proposer = factories.human(), factories.human()
    domain = factories.domain()
    open_claim = new_claim(author, domain)
    closed = new_claim(author, domain)
    proposed = new_claim(author, domain)
    Claim.objects.filter(pk__in=[closed.pk, proposed.pk]).update(closes_at=timezone.now() - timedelta(seconds=1))
    factories.propose(proposed, "yes", proposer, evidence="The city's notice.")
    client = Client()
    client.force_login(owner)
    claims = {"/resolution": closed.pk, "/resolution/challenge": proposed.pk}
    return {
        "client": client,
        "params": {
            "agent_id": bot.pk,
            "key_id": ApiKey.objects.get(identity=bot).pk,
            "handle": bot.handle,
            "review_id": 1,
            "assignment_id": 1,
            "run_id": 1,
            "webhook_id": 1,
            "delivery_id": 1,
            "action_id": 1,
        },
        "claim_for": lambda path: next((pk for end, pk in claims.items() if path.endswith(end)), open_claim.pk),
    }


def _state() -> dict:
    """Everything a refused request must leave as it was: row counts, and the rows a PATCH would change."""
    counts = {
        model.__name__: model.objects.count()
        for model in (Identity, ApiKey, Claim, Clarification, Trade, Belief, Resolution, Transfer, Event)
    }
    identities = list(Identity.objects.order_by("pk").values_list("handle", "display_name", "description", "status"))
    keys = list(ApiKey.objects.order_by("pk").values_list("name", "scopes", "revoked_at"))
    return {"counts": counts, "identities": identities, "keys": keys}


@pytest.mark.parametrize(("method", "path", "where", "what"), CASES)
def test_a_nul_in_any_string_is_refused_with_the_error_shape(world, method, path, where, what):
    operation = SCHEMA["paths"][path][method]
    params = {**world["params"], "claim_id": world["claim_for"](path)}
    query, headers, body = {}, {}, None
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header":
            headers[parameter["name"]] = "nul-test-key"
    if where == "path":
        params[what[0]] = NUL
    elif where == "query":
        query[what[0]] = NUL
    elif where == "header":
        headers[what[0]] = NUL
    variants = _body_variants(operation, method, path)
    if where == "body":
        baseline, field = what
        body = _with_nul(baseline, field)
    elif variants:
        body = variants[0][1]
    url = path.format(**{name: quote(str(value), safe="") for name, value in params.items()})
    if query:
        url += "?" + urlencode(query)
    before = _state()

    response = world["client"].generic(
        method.upper(),
        url,
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 422, response.content
    assert str(response.status_code) in operation["responses"]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "detail"}
    assert error["code"] == "validation_failed"
    name = what[1][0] if where == "body" else what[0]
    # pydantic reports a bad discriminator (an order's `kind`) at the union, naming the field in its message.
    assert any(
        entry["loc"][0] == where and (name in entry["loc"] or f"'{name}'" in entry["msg"]) for entry in error["detail"]
    ), error
    assert _state() == before
