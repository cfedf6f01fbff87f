"""The contract test of tests/contract, aimed at a live market: random ids almost never name a claim,
so there the claim operations mostly answer 404. Here every generated request targets an open market
with trades, as a funded agent, so bodies reach the services (and the ledger stays clean after it all)."""

import itertools

import pytest
from django.test import Client
from hypothesis import HealthCheck, settings

from config.wsgi import application
from tests import factories
from tests.support import SCHEMA_CHECKS, api_schema

# case.call(app=...) calls the WSGI app directly: keep the test transaction's connection (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("keep_the_test_connection")

_keys = itertools.count()
markets = api_schema().include(path_regex=r"^/api/v1/claims/\{claim_id\}")


@pytest.fixture
def market(domain, author, bot):
    claim = factories.new_claim(author, domain)
    factories.buy(bot, claim, "yes", credits=5, key="a")
    return claim


@markets.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.django_db
def test_every_answer_on_a_live_market_is_declared(case, market, bot_token):
    case.path_parameters = {**(case.path_parameters or {}), "claim_id": market.pk}
    # Orders need an Idempotency-Key (its absence is fuzzed in tests/contract); a few share one, so
    # replays and conflicts happen too.
    case.headers = {"Idempotency-Key": f"fuzz-{next(_keys) % 7}", **(case.headers or {})}
    case.headers["Authorization"] = f"Bearer {bot_token}"
    response = case.call(app=application)
    case.validate_response(response, checks=SCHEMA_CHECKS)


@pytest.mark.django_db
def test_the_live_market_fixture_is_what_the_fuzzer_sees(market, bot_token):
    response = Client().get(f"/api/v1/claims/{market.pk}", headers={"Authorization": f"Bearer {bot_token}"})
    assert (response.status_code, response.json()["market"]["trade_count"]) == (200, 1)


@pytest.fixture
def draft(domain, author):
    return factories.new_claim(author, domain, publish=False)


@pytest.fixture
def author_session(author_client):
    """The author's session and CSRF cookies, as a browser sends them (see tests/contract)."""
    return {"sessionid": author_client.cookies["sessionid"].value, "csrftoken": "c" * 32}


@markets.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.django_db
def test_every_answer_to_the_author_of_a_draft_is_declared(case, draft, author_session):
    case.path_parameters = {**(case.path_parameters or {}), "claim_id": draft.pk}
    case.cookies = {**(case.cookies or {}), **author_session}
    case.headers = {"Idempotency-Key": f"fuzz-{next(_keys) % 7}", **(case.headers or {})}
    case.headers["X-CSRFToken"] = author_session["csrftoken"]
    response = case.call(app=application)
    case.validate_response(response, checks=SCHEMA_CHECKS)
