"""Trading over the API: orders, retries, quotes, positions and trade histories."""

from decimal import Decimal

import pytest
from django.test import Client

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.ledger.selectors import wallet_balance
from apps.markets.models import Market, Position, Trade
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from tests import factories
from tests.factories import BOT_FUNDS, GRANT, LIQUIDITY, SUBSIDY, closing_time_passes, new_claim
from tests.support import bearer, iso, snapshot

pytestmark = pytest.mark.django_db

BUY_10_YES = {"kind": "buy", "side": "yes", "amount": 10 * CREDIT}
# Buying YES for 10 credits (fee included) on a fresh market of b = 100 credits, with the 1% fee:
SHARES, COST, FEE = 18_909_395, 9_900_990, 99_010
PRICE_AFTER = "0.54713312806414115736"


def _order(client, claim, order, key="order-1", headers=None):
    headers = (headers or {}) | ({"Idempotency-Key": key} if key is not None else {})
    return client.post(f"/api/v1/claims/{claim.pk}/trades", order, content_type="application/json", headers=headers)


def _quote(client, claim, order, headers=None):
    return client.post(f"/api/v1/claims/{claim.pk}/quote", order, content_type="application/json", headers=headers)


def test_a_buy_returns_the_trade_the_new_price_and_my_balance(claim, trader, trader_client):
    response = _order(trader_client, claim, BUY_10_YES | {"rationale": "The original effect was large."})
    assert response.status_code == 201
    trade = Trade.objects.get()
    assert response.json() == {
        "id": trade.pk,
        "claim_id": claim.pk,
        "claim_title": "Will the experiment replicate?",
        "side": "yes",
        "shares": SHARES,
        "cost": COST,
        "fee": FEE,
        "price_before": "0.5",
        "price_after": PRICE_AFTER,
        "belief": None,
        "rationale": "The original effect was large.",
        "idempotency_key": "order-1",
        "transfer_id": trade.transfer_id,
        "created_at": iso(trade.created_at),
        "replayed": False,
        "market": {
            "price_yes": PRICE_AFTER,
            "price_no": "0.45286687193585884264",
            "q_yes": SHARES,
            "q_no": 0,
            "liquidity": LIQUIDITY,
            "volume": COST,
            "subsidy": SUBSIDY,
            "trade_count": 1,
        },
        "balance": GRANT - COST - FEE,
    }
    assert wallet_balance(trader) == GRANT - COST - FEE
    assert (trade.identity, trade.shares, trade.cost, trade.fee) == (trader, SHARES, COST, FEE)


def test_an_agent_trades_with_a_trade_key(claim, bot, bot_token):
    response = _order(Client(), claim, BUY_10_YES, headers=bearer(bot_token))
    assert response.status_code == 201
    assert (response.json()["shares"], response.json()["balance"]) == (SHARES, BOT_FUNDS - COST - FEE)
    assert Trade.objects.get().identity == bot


def test_a_retry_replays_the_first_trade_and_a_changed_order_conflicts(claim, trader, trader_client):
    first = _order(trader_client, claim, BUY_10_YES, key="same")
    before = snapshot()
    again = _order(trader_client, claim, BUY_10_YES, key="same")
    assert again.status_code == 200
    assert again.json() == first.json() | {"replayed": True}
    assert snapshot() == before
    changed = _order(trader_client, claim, BUY_10_YES | {"amount": 11 * CREDIT}, key="same")
    assert changed.status_code == 409
    assert changed.json()["error"] == {
        "code": "idempotency_conflict",
        "message": "This Idempotency-Key was already used with a different request.",
        "detail": {"idempotency_key": "same"},
    }
    elsewhere = new_claim(claim.author, claim.domain)
    before = snapshot()
    assert _order(trader_client, elsewhere, BUY_10_YES, key="same").status_code == 409
    assert snapshot() == before
    assert wallet_balance(trader) == GRANT - COST - FEE


def test_the_same_number_spelt_differently_is_the_same_order(claim, trader_client):
    order = {"kind": "belief", "belief": "0.70", "amount": 100 * CREDIT}
    first = _order(trader_client, claim, order, key="b")
    assert first.status_code == 201
    again = _order(trader_client, claim, order | {"belief": 0.7}, key="b")
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])


def test_a_belief_order_moves_the_price_to_the_belief(claim, trader_client):
    response = _order(trader_client, claim, {"kind": "belief", "belief": "0.7", "amount": 100 * CREDIT})
    assert response.status_code == 201
    body = response.json()
    assert (body["side"], body["belief"], body["shares"]) == ("yes", "0.7", 84_729_786)
    assert Decimal("0.6999") < Decimal(body["market"]["price_yes"]) <= Decimal("0.7")
    assert Trade.objects.get().belief == Decimal("0.7")


def test_selling_returns_credit_less_the_fee(claim, trader, trader_client):
    _order(trader_client, claim, BUY_10_YES, key="buy")
    response = _order(trader_client, claim, {"kind": "sell", "side": "yes", "shares": SHARES}, key="sell")
    assert response.status_code == 201
    body = response.json()
    assert (body["shares"], body["cost"], body["fee"]) == (-SHARES, -9_900_989, 99_010)
    assert body["market"]["price_yes"] == "0.5"
    assert body["balance"] == GRANT - COST - FEE + 9_900_989 - 99_010
    position = Position.objects.get(identity=trader)
    assert (position.yes_shares, position.net_invested) == (0, 1)


def test_a_missing_idempotency_key_is_refused(claim, trader_client):
    before = snapshot()
    response = _order(trader_client, claim, BUY_10_YES, key=None)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert _order(trader_client, claim, BUY_10_YES, key="k" * 121).status_code == 422
    assert snapshot() == before


def _refusals():
    """(name, setup(claim, author), order, status, code): each must write nothing."""
    return [
        ("closed", lambda claim, author: closing_time_passes(claim), BUY_10_YES, 409, "market_closed"),
        (
            "own draft",
            lambda claim, author: new_claim(author, claim.domain, publish=False),
            BUY_10_YES,
            409,
            "market_closed",
        ),
        ("credit", None, BUY_10_YES | {"amount": BOT_FUNDS + 1}, 409, "insufficient_credit"),
        ("limit", None, BUY_10_YES | {"amount": 150 * CREDIT, "limit_price": "0.55"}, 409, "price_limit_crossed"),
        ("shares", None, {"kind": "sell", "side": "yes", "shares": 1}, 409, "insufficient_shares"),
        ("nothing", None, {"kind": "belief", "belief": "0.5", "amount": CREDIT}, 409, "nothing_to_trade"),
        ("kind", None, BUY_10_YES | {"kind": "short"}, 422, "validation_failed"),
        ("no side", None, {"kind": "buy", "amount": CREDIT}, 422, "validation_failed"),
        ("no amount", None, {"kind": "buy", "side": "no"}, 422, "validation_failed"),
        ("zero", None, BUY_10_YES | {"amount": 0}, 422, "validation_failed"),
        ("fraction", None, BUY_10_YES | {"amount": 1.5}, 422, "validation_failed"),
        ("belief 1", None, {"kind": "belief", "belief": 1, "amount": CREDIT}, 422, "validation_failed"),
        ("belief digits", None, {"kind": "belief", "belief": "0.1234567", "amount": CREDIT}, 422, "validation_failed"),
        ("no belief", None, {"kind": "belief", "amount": CREDIT}, 422, "validation_failed"),
        ("limit 1.5", None, BUY_10_YES | {"limit_price": "1.5"}, 422, "validation_failed"),
        ("rationale", None, BUY_10_YES | {"rationale": "x" * 2001}, 422, "validation_failed"),
    ]


@pytest.mark.parametrize(("name", "setup", "order", "status", "code"), _refusals(), ids=[r[0] for r in _refusals()])
def test_refused_orders_write_nothing(claim, author, bot, bot_token, name, setup, order, status, code):
    target = (setup and setup(claim, bot)) or claim
    before = snapshot()
    response = _order(Client(), target, order, headers=bearer(bot_token))
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert snapshot() == before
    assert Market.objects.get(claim=claim).trade_count == 0
    assert wallet_balance(bot) == BOT_FUNDS


def test_another_identitys_draft_is_404_on_every_claim_endpoint(author, domain, trader_client, bot_token):
    draft = new_claim(author, domain, publish=False)
    before = snapshot()
    for method, path, body in [
        ("get", "", None),
        ("get", "/prices", None),
        ("get", "/trades", None),
        ("post", "/publish", None),
        ("post", "/clarifications", {"text": "Mine."}),
        ("post", "/quote", BUY_10_YES),
        ("post", "/trades", BUY_10_YES),
    ]:
        for client, headers in ((trader_client, {}), (Client(), bearer(bot_token))):
            response = getattr(client, method)(
                f"/api/v1/claims/{draft.pk}{path}",
                body or {},
                content_type="application/json",
                headers=headers | {"Idempotency-Key": "k"},
            )
            assert response.status_code == 404, (method, path)
            assert response.json()["error"]["code"] == "not_found"
    assert snapshot() == before


def test_scopes_are_enforced(claim, bot):
    read_only = factories.api_key(bot, scopes=["read"])
    trade_only = factories.api_key(bot, scopes=["trade"])
    before = snapshot()
    refused = _order(Client(), claim, BUY_10_YES, headers=bearer(read_only))
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "missing_scope",
        "message": "This API key lacks the 'trade' scope.",
        "detail": {"required": "trade"},
    }
    assert snapshot() == before
    for path in ("/api/v1/me/positions", "/api/v1/me/trades"):
        assert Client().get(path, headers=bearer(trade_only)).status_code == 403
        assert Client().get(path, headers=bearer(read_only)).status_code == 200
    assert _quote(Client(), claim, BUY_10_YES, headers=bearer(trade_only)).status_code == 403
    assert _quote(Client(), claim, BUY_10_YES, headers=bearer(read_only)).status_code == 200


def test_anonymous_callers_cannot_trade_or_quote(claim):
    before = snapshot()
    assert _order(Client(), claim, BUY_10_YES).status_code == 401
    assert _quote(Client(), claim, BUY_10_YES).status_code == 401
    assert Client().get("/api/v1/me/positions").status_code == 401
    assert snapshot() == before


# --- quotes ---------------------------------------------------------------------------------------------


def test_a_quote_prices_exactly_what_the_order_then_fills_and_writes_nothing(claim, trader_client):
    before = snapshot()
    quote = _quote(trader_client, claim, BUY_10_YES)
    assert quote.status_code == 200
    assert quote.json() == {
        "side": "yes",
        "shares": SHARES,
        "cost": COST,
        "fee": FEE,
        "wallet_change": -(COST + FEE),
        "price_before": "0.5",
        "price_after": PRICE_AFTER,
    }
    assert snapshot() == before
    placed = _order(trader_client, claim, BUY_10_YES).json()
    assert {k: placed[k] for k in ("shares", "cost", "fee", "price_before", "price_after")} == {
        k: quote.json()[k] for k in ("shares", "cost", "fee", "price_before", "price_after")
    }


def test_a_sell_quote_reads_my_position(claim, trader_client):
    refused = _quote(trader_client, claim, {"kind": "sell", "side": "yes", "shares": SHARES})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "insufficient_shares")
    _order(trader_client, claim, BUY_10_YES)
    quote = _quote(trader_client, claim, {"kind": "sell", "side": "yes", "shares": SHARES})
    assert quote.status_code == 200
    assert (quote.json()["cost"], quote.json()["fee"], quote.json()["wallet_change"]) == (-9_900_989, 99_010, 9_801_979)


def test_no_quote_once_the_market_has_closed(claim, trader_client):
    closing_time_passes(claim)
    response = _quote(trader_client, claim, BUY_10_YES)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "market_closed")


# --- positions and trade histories ----------------------------------------------------------------------


def test_my_positions_are_valued_at_the_market_price(claim, author, domain, trader, trader_client):
    other = new_claim(author, domain, liquidity=10 * CREDIT)
    _order(trader_client, claim, BUY_10_YES, key="a")
    _order(trader_client, other, {"kind": "buy", "side": "no", "amount": CREDIT}, key="b")
    response = trader_client.get("/api/v1/me/positions")
    assert response.status_code == 200
    items = response.json()["items"]
    on_claim = Position.objects.get(identity=trader, market__claim=claim)
    assert items[1] == {
        "claim_id": claim.pk,
        "claim_title": "Will the experiment replicate?",
        "claim_status": "open",
        "yes_shares": SHARES,
        "no_shares": 0,
        "net_invested": COST,
        "price_yes": PRICE_AFTER,
        "value": 10_345_956,  # floor(18,909,395 * 0.547133...)
        "fees_paid": FEE,
        "pnl": 10_345_956 - COST - FEE,  # the fee left the wallet like the cost: profit counts it
        "updated_at": iso(on_claim.updated_at),
    }
    assert items[0]["claim_id"] == other.pk
    assert (items[0]["yes_shares"], items[0]["claim_status"]) == (0, "open")
    assert response.json()["next_cursor"] is None


def test_a_resolved_claims_position_is_worth_what_settlement_pays(claim, trader, trader_client):
    _order(trader_client, claim, BUY_10_YES)
    _order(trader_client, claim, {"kind": "buy", "side": "no", "amount": CREDIT}, key="no")
    no_shares = Position.objects.get(identity=trader).no_shares
    closing_time_passes(claim)
    assert trader_client.get("/api/v1/me/positions").json()["items"][0]["claim_status"] == "closed"
    factories.propose(claim, "no", factories.human(), evidence="p = 0.4")
    factories.challenge_window_passes(claim)
    item = trader_client.get("/api/v1/me/positions").json()["items"][0]
    assert (item["claim_status"], item["value"]) == ("resolved_no", no_shares)


def _traded_markets(domain, trader, count):
    authors = [factories.human() for _ in range(-(-count // 10))]
    for n in range(Trade.objects.count(), Trade.objects.count() + count):
        claim = new_claim(authors[n % len(authors)], domain, liquidity=10 * CREDIT)
        factories.buy(trader, claim, "yes", key=f"m{n}")


def test_my_lists_are_one_query_a_page(domain, bot, bot_token, django_assert_num_queries):
    headers = bearer(bot_token)
    Client().get("/api/v1/me", headers=headers)  # the key's last_used_at is written once a minute at most
    _traded_markets(domain, bot, 3)
    for path in ("/api/v1/me/positions", "/api/v1/me/trades"):
        with django_assert_num_queries(2):  # the key with its identity, one page
            assert len(Client().get(path, headers=headers).json()["items"]) == 3
    _traded_markets(domain, bot, 12)
    for path in ("/api/v1/me/positions", "/api/v1/me/trades"):
        with django_assert_num_queries(2):
            assert len(Client().get(path, headers=headers).json()["items"]) == 15


def test_my_trades_are_newest_first_with_private_fields(claim, author, domain, trader_client):
    other = new_claim(author, domain)
    _order(trader_client, claim, BUY_10_YES | {"belief": "0.6", "rationale": "Large effect."}, key="a")
    _order(trader_client, other, BUY_10_YES, key="b")
    items = trader_client.get("/api/v1/me/trades").json()["items"]
    assert [(t["claim_id"], t["idempotency_key"]) for t in items] == [(other.pk, "b"), (claim.pk, "a")]
    assert (items[1]["belief"], items[1]["rationale"]) == ("0.6", "Large effect.")
    only = trader_client.get("/api/v1/me/trades", {"claim_id": claim.pk}).json()["items"]
    assert [t["idempotency_key"] for t in only] == ["a"]
    page = trader_client.get("/api/v1/me/trades", {"limit": 1}).json()
    assert [t["idempotency_key"] for t in page["items"]] == ["b"]
    rest = trader_client.get("/api/v1/me/trades", {"limit": 1, "cursor": page["next_cursor"]}).json()
    assert ([t["idempotency_key"] for t in rest["items"]], rest["next_cursor"]) == (["a"], None)


def test_a_markets_trades_are_public_without_private_fields(claim, trader, trader_client, django_assert_num_queries):
    _order(trader_client, claim, BUY_10_YES | {"belief": "0.6", "rationale": "Private reasoning."})
    trade = Trade.objects.get()
    with django_assert_num_queries(2):  # the claim, one page of trades with their traders
        body = Client().get(f"/api/v1/claims/{claim.pk}/trades").json()
    assert body == {
        "items": [
            {
                "id": trade.pk,
                "trader": trader.handle,
                "side": "yes",
                "shares": SHARES,
                "cost": COST,
                "price_before": "0.5",
                "price_after": PRICE_AFTER,
                "created_at": iso(trade.created_at),
            }
        ],
        "next_cursor": None,
    }
    for n in range(29):
        trade_place(
            identity=factories.human() if n % 10 == 0 else trader,
            claim=claim,
            order=Order(kind="buy", side="no", amount=CREDIT),
            idempotency_key=f"more-{n}",
        )
    with django_assert_num_queries(2):
        items = Client().get(f"/api/v1/claims/{claim.pk}/trades").json()["items"]
    assert len(items) == 30
    assert [t["id"] for t in items] == sorted((t["id"] for t in items), reverse=True)


def test_trading_events_are_written_once(claim, trader_client):
    _order(trader_client, claim, BUY_10_YES)
    _order(trader_client, claim, BUY_10_YES)  # a replay
    assert Event.objects.filter(kind="trade.placed", subject=f"claim:{claim.pk}").count() == 1
