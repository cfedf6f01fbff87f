"""The logarithmic market scoring rule, in integers.

State: outstanding shares q_yes, q_no (micro-shares) and liquidity b (micro-credits). A winning
micro-share pays one micro-credit, so every formula below is unit-free.

    C(q) = b * ln(exp(q_yes / b) + exp(q_no / b))      cost function (log-sum-exp form)
    p_yes = exp(q_yes / b) / (exp(q_yes / b) + exp(q_no / b)) = sigmoid((q_yes - q_no) / b)

Decimal at 50 significant digits, shifted by max(q) so nothing overflows however extreme q gets (tested
to 10^6 * b), and the same on every machine. Rounding favours the market: a charge rounds up, a payout and
shares bought round down. So the escrow, which starts at ceil(C(0)) = ceil(b ln 2), always holds at least
C(q) >= max(q_yes, q_no): every winning share can be paid.
"""

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext

YES, NO = "yes", "no"
_CONTEXT = Context(prec=50, Emax=10**9, Emin=-(10**9))
_ONE = Decimal(1)


@dataclass(frozen=True)
class State:
    q_yes: int
    q_no: int
    b: int

    def shares(self, side: str) -> int:
        return self.q_yes if side == YES else self.q_no

    def moved(self, side: str, delta: int) -> "State":
        if side == YES:
            return State(self.q_yes + delta, self.q_no, self.b)
        return State(self.q_yes, self.q_no + delta, self.b)


def _cost(state: State) -> Decimal:
    with localcontext(_CONTEXT):
        b = Decimal(state.b)
        top = max(state.q_yes, state.q_no)
        low = min(state.q_yes, state.q_no)
        # C = top + b * ln(1 + exp((low - top) / b)): the exponent is <= 0, so it never overflows.
        return Decimal(top) + b * (_ONE + ((Decimal(low) - Decimal(top)) / b).exp()).ln()


def cost(state: State) -> Decimal:
    """C(q) in micro-credits, exact to far below one micro-credit."""
    return _cost(state)


def price(state: State, side: str = YES) -> Decimal:
    """The instantaneous price of one share of `side`, in (0, 1); YES and NO prices sum to 1."""
    with localcontext(_CONTEXT):
        diff = (Decimal(state.q_yes) - Decimal(state.q_no)) / Decimal(state.b)
        if side == NO:
            diff = -diff
        # sigmoid(diff), computed from the side that keeps exp() <= 1
        if diff >= 0:
            return _ONE / (_ONE + (-diff).exp())
        e = diff.exp()
        return e / (_ONE + e)


def initial_subsidy(b: int) -> int:
    """What the author puts into the escrow when the market opens: ceil(b ln 2)."""
    return _ceil(cost(State(0, 0, b)))


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def buy_cost(state: State, side: str, shares: int) -> int:
    """Micro-credits charged for buying `shares` of `side` (rounded up)."""
    if shares < 0:
        raise ValueError("shares must be >= 0")
    return _ceil(cost(state.moved(side, shares)) - cost(state))


def sell_payout(state: State, side: str, shares: int) -> int:
    """Micro-credits paid for selling `shares` of `side` back to the market (rounded down)."""
    if shares < 0 or shares > state.shares(side):
        raise ValueError("cannot sell more shares than are outstanding")
    return _floor(cost(state) - cost(state.moved(side, -shares)))


def shares_for_amount(state: State, side: str, amount: int) -> int:
    """The most shares of `side` that `amount` micro-credits buy (rounded down, so the charge <= amount).

    Closed form: after the purchase C' = C + amount, and exp(q_side' / b) = exp(C' / b) - exp(q_other / b),
    so q_side' = q_other + b * ln(exp((C' - q_other) / b) - 1).
    """
    if amount <= 0:
        return 0
    with localcontext(_CONTEXT):
        b = Decimal(state.b)
        other = Decimal(state.q_no if side == YES else state.q_yes)
        target = cost(state) + Decimal(amount)
        new_side = other + b * (((target - other) / b).exp() - _ONE).ln()
        shares = _floor(new_side - Decimal(state.shares(side)))
    # The closed form is exact to ~1e-40, so it can land a hair either side of a whole micro-share
    # (e.g. where the true cost is exactly `amount`): settle the last micro-share by pricing it.
    shares = max(shares, 0)
    while shares > 0 and buy_cost(state, side, shares) > amount:
        shares -= 1
    while buy_cost(state, side, shares + 1) <= amount:
        shares += 1
    return shares


def shares_to_price(state: State, side: str, target: Decimal) -> int:
    """Shares of `side` to buy so that its price reaches `target` (0 when it is already there or above).

    price_side = sigmoid((q_side - q_other) / b), so q_side' = q_other + b * logit(target). Rounded
    down: the price after the purchase never passes the target.
    """
    with localcontext(_CONTEXT):
        if not (Decimal(0) < target < _ONE):
            raise ValueError("a target price lies strictly between 0 and 1")
        b = Decimal(state.b)
        other = Decimal(state.q_no if side == YES else state.q_yes)
        logit = (target / (_ONE - target)).ln()
        needed = _floor(other + b * logit - Decimal(state.shares(side)))
    return max(needed, 0)


def shares_to_sell_to_price(state: State, side: str, target: Decimal) -> int:
    """Shares of `side` to sell so that its price falls to `target` (rounded down: never below it)."""
    with localcontext(_CONTEXT):
        if not (Decimal(0) < target < _ONE):
            raise ValueError("a target price lies strictly between 0 and 1")
        b = Decimal(state.b)
        other = Decimal(state.q_no if side == YES else state.q_yes)
        logit = (target / (_ONE - target)).ln()
        excess = _floor(Decimal(state.shares(side)) - (other + b * logit))
    return max(excess, 0)
