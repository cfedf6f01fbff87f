"""Pricing an order without placing it: what an order asks for (`Order`), what it would get (`Fill`), the
fee, and whether a market is open. `trade_place` charges exactly what `order_price` quotes; the quote
endpoint, the ticket and the consensus's reading of a trade use these without touching the services."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.markets import lmsr
from apps.markets.errors import InsufficientShares, NothingToTrade, PriceLimitCrossed
from apps.markets.models import Claim, ClaimStatus, Market, Position, Side

BPS = 10_000


PRICE_QUANTUM = Decimal("1e-20")  # prices are stored to 20 decimal places


@dataclass(frozen=True)
class Order:
    """What a trader asks for. `kind`: 'buy' (spend `amount` on `side`), 'belief' (trade toward
    probability `belief` of YES, spending at most `amount`), or 'sell' (`shares` of `side` back)."""

    kind: str
    side: str | None = None
    amount: int | None = None
    shares: int | None = None
    belief: Decimal | None = None
    limit_price: Decimal | None = None
    allow_partial: bool = False
    rationale: str = ""

    def body_sha256(self, claim_id: int) -> str:
        # Decimals by value, not spelling: 0.7 and 0.70 are the same order.
        body = {k: (format(v.normalize(), "f") if isinstance(v, Decimal) else v) for k, v in self.__dict__.items()}
        body["claim"] = claim_id
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Fill:
    """A priced order, not yet placed (the quote endpoint returns this)."""

    side: str
    shares: int  # + buy, - sell
    cost: int  # + paid to the market, - received from it (fee excluded)
    fee: int
    price_before: Decimal
    price_after: Decimal


def _fee(gross: int) -> int:
    return -(-gross * settings.CREDENCE_TRADING_FEE_BPS // BPS)  # rounded up: fees favour the platform


def _affordable(state: lmsr.State, side: str, budget: int) -> int:
    """The most shares of `side` whose cost plus fee fits the budget."""
    shares = lmsr.shares_for_amount(state, side, budget * BPS // (BPS + settings.CREDENCE_TRADING_FEE_BPS))
    while shares > 0:
        cost = lmsr.buy_cost(state, side, shares)
        if cost + _fee(cost) <= budget:
            break
        shares -= 1
    return shares


def _check_probability(value: Decimal | None, field: str) -> Decimal:
    if value is None or not (Decimal(0) < value < Decimal(1)):
        raise ValidationFailed(f"{field} must be a probability strictly between 0 and 1.", detail={"field": field})
    return value


def order_price(*, market: Market, order: Order, position: Position | None = None) -> Fill:
    """Price an order against the market's current state, applying its limit (refuse or partial fill)."""
    state = lmsr.State(market.q_yes, market.q_no, market.liquidity)
    if order.kind == "belief":
        belief = _check_probability(order.belief, "belief")
        if order.amount is None or order.amount <= 0:
            raise ValidationFailed(
                "A belief order needs a positive amount to spend at most.", detail={"field": "amount"}
            )
        side = Side.YES if lmsr.price(state, lmsr.YES) < belief else Side.NO
        target = belief if side == Side.YES else 1 - belief
        shares = min(lmsr.shares_to_price(state, side, target), _affordable(state, side, order.amount))
        sign = 1
    elif order.kind == "buy":
        side = order.side
        if side not in Side.values:
            raise ValidationFailed("side must be 'yes' or 'no'.", detail={"field": "side"})
        if type(order.amount) is not int or order.amount <= 0:
            raise ValidationFailed("amount must be a positive integer of micro-credits.", detail={"field": "amount"})
        shares = _affordable(state, side, order.amount)
        if order.limit_price is not None:
            limit = _check_probability(order.limit_price, "limit_price")
            reachable = lmsr.shares_to_price(state, side, limit)
            if shares > reachable:
                if not order.allow_partial:
                    raise PriceLimitCrossed(detail={"limit_price": str(limit)})
                shares = reachable
        sign = 1
    elif order.kind == "sell":
        side = order.side
        if side not in Side.values:
            raise ValidationFailed("side must be 'yes' or 'no'.", detail={"field": "side"})
        if type(order.shares) is not int or order.shares <= 0:
            raise ValidationFailed("shares must be a positive integer of micro-shares.", detail={"field": "shares"})
        held = 0 if position is None else (position.yes_shares if side == Side.YES else position.no_shares)
        if order.shares > held:
            raise InsufficientShares(detail={"held": held, "requested": order.shares})
        shares = order.shares
        if order.limit_price is not None:
            limit = _check_probability(order.limit_price, "limit_price")
            reachable = lmsr.shares_to_sell_to_price(state, side, limit)
            if shares > reachable:
                if not order.allow_partial:
                    raise PriceLimitCrossed(detail={"limit_price": str(limit)})
                shares = reachable
        sign = -1
    else:
        raise ValidationFailed("kind must be 'buy', 'belief' or 'sell'.", detail={"field": "kind"})
    if shares <= 0:
        raise NothingToTrade()
    if sign > 0:
        cost = lmsr.buy_cost(state, side, shares)
        fee = _fee(cost)
    else:
        payout = lmsr.sell_payout(state, side, shares)
        cost, fee = -payout, _fee(payout)
        if payout - fee <= 0:
            raise NothingToTrade("The sale would pay nothing after the fee.")
    after = state.moved(side, sign * shares)
    return Fill(
        side=side,
        shares=sign * shares,
        cost=cost,
        fee=fee,
        # At the precision a trade records, so a quote reads exactly as the trade it prices.
        price_before=lmsr.price(state, lmsr.YES).quantize(PRICE_QUANTUM),
        price_after=lmsr.price(after, lmsr.YES).quantize(PRICE_QUANTUM),
    )


def market_is_open(claim: Claim, now: datetime | None = None) -> bool:
    """Open for trading: published and not past closes_at (whether or not the close sweep ran)."""
    return claim.status == ClaimStatus.OPEN and claim.closes_at > (now or timezone.now())


BELIEF_QUANTUM = Decimal("0.000001")


BELIEF_BOUNDS = (Decimal("0.000001"), Decimal("0.999999"))


def implied_belief(stated: Decimal | None, price_after: Decimal) -> Decimal:
    """The probability of YES a trade stands for: the belief its order stated, else the price it moved
    the market to (a buyer of YES at least believes that much). Kept inside (0, 1) at 6 decimals."""
    value = (stated if stated is not None else price_after).quantize(BELIEF_QUANTUM)
    return min(max(value, BELIEF_BOUNDS[0]), BELIEF_BOUNDS[1])
