"""Integers, booleans and probabilities are strict everywhere in the API: a JSON body's integer is a JSON
integer, its boolean a JSON boolean, a probability a JSON number or a string matching the schema's pattern,
and a path or query integer ASCII digits. Each refused value is a 422 with the error shape, and nothing
is written."""

import pytest
from django.test import Client

from apps.core.amounts import CREDIT
from apps.ledger.models import Transfer
from apps.ledger.selectors import wallet_balance
from apps.markets.models import Claim
from apps.reputation.models import Belief
from tests import factories
from tests.factories import new_claim
from tests.support import bearer, signed_in, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(db):
    return new_claim(factories.human(), factories.domain())


@pytest.fixture
def token(db):
    owner = factories.verified_user()
    bot = factories.funded_agent(owner, handle="strict-bot", amount=100 * CREDIT)
    return factories.api_key(bot, scopes=["read", "trade"])


def _post(path: str, body: str, token: str, key: str | None = "strict-1", client: Client | None = None):
    headers = bearer(token) if token else {}
    if key is not None:
        headers["Idempotency-Key"] = key
    return (client or Client()).post(path, body, content_type="application/json", headers=headers)


def _refused(response, *loc: str) -> None:
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("validation_failed", "The request is not valid.")
    assert [e["loc"][-len(loc) :] for e in error["detail"]] == [list(loc)], error["detail"]


# Raw JSON: json.dumps would write 1e6 as 1000000.0 and could not send the exponent as the client wrote it.
@pytest.mark.parametrize(
    ("order", "loc"),
    [
        ('{"kind": "buy", "side": "yes", "amount": true}', ("buy", "amount")),
        ('{"kind": "buy", "side": "yes", "amount": 1.0000005e6}', ("buy", "amount")),
        ('{"kind": "buy", "side": "yes", "amount": "1000000"}', ("buy", "amount")),
        ('{"kind": "buy", "side": "yes", "amount": 1000000.5}', ("buy", "amount")),
        # Read as a float it would be 1000000.0, a whole number: the body's numbers are read exactly.
        ('{"kind": "buy", "side": "yes", "amount": 1000000.0000000001}', ("buy", "amount")),
        # Whole, but no integer of that size is built to find it out of range.
        ('{"kind": "buy", "side": "yes", "amount": 1e100000000}', ("buy", "amount")),
        ('{"kind": "buy", "side": "yes", "amount": 1000000, "allow_partial": "yes"}', ("buy", "allow_partial")),
        ('{"kind": "buy", "side": "yes", "amount": 1000000, "allow_partial": 1}', ("buy", "allow_partial")),
        ('{"kind": "buy", "side": "yes", "amount": 1000000, "limit_price": ".6"}', ("buy", "limit_price")),
        ('{"kind": "buy", "side": "yes", "amount": 1000000, "belief": true}', ("buy", "belief")),
        ('{"kind": "belief", "belief": ".5", "amount": 1000000}', ("belief", "belief")),
        ('{"kind": "belief", "belief": "0.5e0", "amount": 1000000}', ("belief", "belief")),
        ('{"kind": "belief", "belief": "\uff10.\uff15", "amount": 1000000}', ("belief", "belief")),
        ('{"kind": "belief", "belief": " 0.5", "amount": 1000000}', ("belief", "belief")),
        ('{"kind": "belief", "belief": "0.000", "amount": 1000000}', ("belief", "belief")),
        ('{"kind": "sell", "side": "yes", "shares": "1000000"}', ("sell", "shares")),
        ('{"kind": "sell", "side": "yes", "shares": true}', ("sell", "shares")),
    ],
)
def test_a_coerced_order_is_refused_and_writes_nothing(claim, token, order, loc):
    before = snapshot()
    _refused(_post(f"/api/v1/claims/{claim.pk}/trades", order, token), *loc)
    _refused(_post(f"/api/v1/claims/{claim.pk}/quote", order, token, key=None), *loc)
    assert snapshot() == before


@pytest.mark.parametrize(
    "probability", ['".5"', '"0.5e0"', '"\uff10.\uff15"', "true", '"0.50000000"', "1e100000000", "1e-100000000"]
)
def test_a_coerced_stated_belief_is_refused_and_writes_nothing(claim, token, probability):
    response = _post(f"/api/v1/claims/{claim.pk}/beliefs", f'{{"probability": {probability}}}', token)
    _refused(response, "probability")
    assert not Belief.objects.exists()


@pytest.mark.parametrize(("body", "field"), [('{"probability": "0.5"}', "0.5"), ('{"probability": 0.25}', "0.25")])
def test_a_probability_as_the_schema_writes_it_is_read(claim, token, body, field):
    response = _post(f"/api/v1/claims/{claim.pk}/beliefs", body, token)
    assert (response.status_code, response.json()["probability"]) == (201, field)


@pytest.mark.parametrize("amount", ["true", "1.0000005e6", '"1000000"'])
def test_a_coerced_amount_moves_no_credit_to_an_agent(amount):
    owner = factories.verified_user()
    bot = factories.agent(owner, handle="funded-bot")
    client = signed_in(owner)
    before = (Transfer.objects.count(), wallet_balance(factories.human(owner)), wallet_balance(bot))
    response = client.post(
        f"/api/v1/agents/{bot.pk}/fund",
        f'{{"amount": {amount}}}',
        content_type="application/json",
        headers={"Idempotency-Key": "fund-1"},
    )
    _refused(response, "amount")
    assert (Transfer.objects.count(), wallet_balance(factories.human(owner)), wallet_balance(bot)) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ('"liquidity": "100000000"', "liquidity"),
        ('"publish": "yes"', "publish"),
        ('"challenge_window_hours": 24.5', "challenge_window_hours"),
    ],
)
def test_a_coerced_claim_is_refused_and_writes_nothing(token, change, field):
    body = (
        '{"title": "Will it rain?", "criteria": "Rain at the station.", "domain": "science", '
        '"closes_at": "2099-01-01T00:00:00Z", "resolve_by": "2099-02-01T00:00:00Z", "liquidity": 100000000, '
        f"{change}}}"
    )
    before = snapshot()
    _refused(_post("/api/v1/claims", body, token, key=None), field)
    assert snapshot() == before
    assert not Claim.objects.filter(title="Will it rain?").exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/claims?limit=5.0",
        "/api/v1/claims?limit=%2B5",
        "/api/v1/claims?limit=%205",
        "/api/v1/claims?closing_soon=1_0",
        "/api/v1/leaderboards?min_forecasts=%EF%BC%95",
        "/api/v1/claims/{id}/consensus?top=5.0",
    ],
)
def test_a_query_integer_is_ascii_digits(claim, path):
    response = Client().get(path.format(id=claim.pk))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


@pytest.mark.parametrize("claim_id", ["+{id}", "{id}.0", "%20{id}", "{id}_0"])
def test_a_path_integer_is_ascii_digits(claim, claim_id):
    response = Client().get(f"/api/v1/claims/{claim_id.format(id=claim.pk)}")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"
    assert Client().get(f"/api/v1/claims/{claim.pk}").status_code == 200


@pytest.mark.parametrize("amount", ["1e6", "1000000.0", "1.0e6"])
def test_a_whole_number_is_the_integer_the_schema_says(claim, token, amount):
    """OpenAPI 3.1's integer is JSON Schema's: any number without a fractional part. `1e6` and
    `1000000.0` are the integer 1000000 (a client's JSON encoder may write either), read exactly, so the
    order is the same as `1000000`'s and a retry of it with the same key replays."""
    first = _post(f"/api/v1/claims/{claim.pk}/trades", '{"kind": "buy", "side": "yes", "amount": 1000000}', token)
    assert first.status_code == 201
    spelt = f'{{"kind": "buy", "side": "yes", "amount": {amount}}}'
    before = snapshot()
    replayed = _post(f"/api/v1/claims/{claim.pk}/trades", spelt, token)
    assert (replayed.status_code, replayed.json()["replayed"], replayed.json()["id"]) == (200, True, first.json()["id"])
    assert snapshot() == before
    quoted = _post(f"/api/v1/claims/{claim.pk}/quote", spelt, token, key=None)
    assert (quoted.status_code, quoted.json()["wallet_change"]) == (200, -1000000)
