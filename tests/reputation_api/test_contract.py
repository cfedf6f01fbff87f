"""The contract test of tests/contract, aimed at live data: random ids and handles almost never name a
claim or an identity, so there these operations mostly answer 404. Here every generated request targets
an open claim with forecasts and an identity with a track record, as an agent with a trade key."""

import itertools

import pytest
from hypothesis import HealthCheck, settings

from config.wsgi import application
from tests import factories
from tests.factories import history, new_claim, state
from tests.support import SCHEMA_CHECKS, api_schema

# case.call(app=...) calls the WSGI app directly: keep the test transaction's connection (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("keep_the_test_connection")

_keys = itertools.count()
reputation = api_schema().include(tag="reputation")


@pytest.fixture
def live(author, domain, resolver, alice, bot):
    history({alice: "0.7", bot: "0.9"}, author, domain, resolver, claims=2)
    claim = new_claim(author, domain)
    state(alice, claim, "0.4")
    state(factories.human(), claim, "0.8")
    return claim


@reputation.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.django_db
def test_every_answer_on_live_data_is_declared(case, live, bot, bot_token):
    params = {"claim_id": live.pk, "handle": bot.handle}
    case.path_parameters = {**(case.path_parameters or {}), **{k: v for k, v in params.items() if k in case.path}}
    # A few requests share an Idempotency-Key, so replays and conflicts happen too.
    case.headers = {"Idempotency-Key": f"fuzz-{next(_keys) % 5}", **(case.headers or {})}
    case.headers["Authorization"] = f"Bearer {bot_token}"
    response = case.call(app=application)
    case.validate_response(response, checks=SCHEMA_CHECKS)
