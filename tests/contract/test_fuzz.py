"""A request the schema admits is never refused as malformed, and nothing is a server error.

Schemathesis generates schema-valid requests for every operation, as an agent whose key has every scope
and as a signed-in person (session and CSRF token), and checks `positive_data_acceptance` (no 400, 413
or 422 for a request the schema admits: a rule the server keeps is in the schema, and a refusal that
depends on state is a 409, 404 or 403) and `not_a_server_error`. The ids in the path are the seeded
agent and open claim, so bodies reach the services rather than a 404.

A few examples per operation keep this under two minutes; tests/contract/explore_schemathesis.py is the
long exploration over a live server (thousands of cases, every phase, three callers).
"""

from decimal import Decimal

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, settings

from apps.core.amounts import CREDIT
from apps.identities.models import ApiKeyScope
from apps.reputation.services import belief_state
from config.wsgi import application
from tests import factories
from tests.factories import new_claim

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
# case.call(app=...) calls the WSGI app directly: keep the test transaction's connection (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("keep_the_test_connection")
schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])

CHECKS = [schemathesis.checks.positive_data_acceptance, schemathesis.checks.not_a_server_error]
CSRF = "f" * 32
FUZZ = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture
def world(db):
    """A verified owner; their agent, funded, hosted, with a key of every scope and a run; an open claim of
    the agent's with a trade and a belief on it, so sells, quotes and beliefs meet a real market."""
    owner = factories.verified_user()
    bot = factories.funded_agent(owner, handle="fuzz-bot", amount=500 * CREDIT)
    token = factories.api_key(bot, scopes=list(ApiKeyScope.values))
    claim = new_claim(bot, factories.domain(), title="Will the fuzzer find nothing?")
    factories.buy(bot, claim.pk, "yes", credits=10, key="f-1")
    belief_state(identity=bot, claim=claim.pk, probability=Decimal("0.6"), idempotency_key="fuzz-belief")
    run = factories.manual_run(factories.hosted(bot), key="fuzz-run")
    client = Client()
    client.force_login(owner)
    return {
        "ids": {"claim_id": claim.pk, "agent_id": bot.pk, "run_id": run.pk},
        "agent": {"Authorization": f"Bearer {token}"},
        "session": {"cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF}},
    }


def _call(case, world, *, headers: dict, cookies: dict | None = None) -> None:
    for name, value in world["ids"].items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    # schemathesis makes up a bearer token for operations that take one: the person sends their session. A Host
    # it makes up is refused by Django (400) before any operation runs: the HTTP layer's, not the API's.
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("authorization", "host")}
    case.headers.update(headers)
    if cookies:
        case.cookies = {**(case.cookies or {}), **cookies}
    response = case.call(app=application)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@FUZZ
@pytest.mark.django_db
def test_a_request_the_schema_admits_is_accepted_for_an_agent(case, world):
    _call(case, world, headers=world["agent"])


@schema.parametrize()
@FUZZ
@pytest.mark.django_db
def test_a_request_the_schema_admits_is_accepted_for_a_signed_in_person(case, world):
    _call(case, world, headers={"X-CSRFToken": CSRF}, cookies=world["session"]["cookies"])
