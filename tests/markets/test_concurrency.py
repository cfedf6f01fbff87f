"""16 threads trading at once on PostgreSQL: no deadlock, no lost update, the market's books add up."""

import pytest
from django.db.models import Sum

from apps.core.amounts import CREDIT
from apps.ledger.selectors import ledger_verify_report
from apps.markets.models import Market, Position, Trade
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from tests import factories
from tests.support import race

pytestmark = pytest.mark.django_db(transaction=True)
THREADS = 16


def _assert_books_balance(market: Market) -> None:
    market.refresh_from_db()
    trades = Trade.objects.filter(market=market)
    assert market.trade_count == trades.count()
    totals = trades.aggregate(cost=Sum("cost"))
    assert market.escrow.balance == market.subsidy + (totals["cost"] or 0)
    positions = Position.objects.filter(market=market).aggregate(yes=Sum("yes_shares"), no=Sum("no_shares"))
    assert (market.q_yes, market.q_no) == (positions["yes"] or 0, positions["no"] or 0)
    assert market.escrow.balance >= max(market.q_yes, market.q_no)


def test_sixteen_traders_on_one_market(db):
    domain = factories.domain("hot")
    claim = factories.new_claim(factories.human(), domain)
    traders = [factories.human() for _ in range(THREADS)]

    def trade(i: int, n: int):
        side = "yes" if (i + n) % 2 else "no"
        if n == 3:  # sell back half of what this trader holds on one side
            position = Position.objects.get(market__claim=claim, identity=traders[i])
            held = position.yes_shares or position.no_shares
            side = "yes" if position.yes_shares else "no"
            order = Order(kind="sell", side=side, shares=max(held // 2, 1))
        else:
            order = Order(kind="buy", side=side, amount=(i + 1) * CREDIT)
        return trade_place(identity=traders[i], claim=claim, order=order, idempotency_key=f"{i}-{n}")

    results = race(THREADS, lambda i: [trade(i, n) for n in range(4)])
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert Trade.objects.count() == THREADS * 4
    _assert_books_balance(Market.objects.get(claim=claim))
    assert ledger_verify_report().ok


def test_sixteen_traders_across_four_markets(db):
    domain = factories.domain("many")
    claims = [factories.new_claim(factories.human(), domain) for _ in range(4)]
    traders = [factories.human() for _ in range(THREADS)]

    def trade(i: int, n: int):
        claim = claims[(i + n) % 4]
        order = Order(kind="buy", side="yes" if n % 2 else "no", amount=2 * CREDIT)
        return trade_place(identity=traders[i], claim=claim, order=order, idempotency_key=f"{i}-{n}")

    results = race(THREADS, lambda i: [trade(i, n) for n in range(4)])
    assert [r for r in results if isinstance(r, Exception)] == []
    for claim in claims:
        _assert_books_balance(Market.objects.get(claim=claim))
    assert ledger_verify_report().ok
