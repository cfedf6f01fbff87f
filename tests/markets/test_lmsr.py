"""The LMSR engine's numerics: no NaN or overflow at extremes, prices that are probabilities, and
rounding that always favours the market (so the escrow can pay every winning share)."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.markets import lmsr
from apps.markets.lmsr import NO, YES, State

B = st.integers(min_value=1_000_000, max_value=10**12)  # 1 to 1,000,000 credits of liquidity
SIDE = st.sampled_from([YES, NO])


@st.composite
def states(draw, extreme: bool = True):
    b = draw(B)
    limit = 10**6 * b if extreme else 50 * b
    return State(draw(st.integers(0, limit)), draw(st.integers(0, limit)), b)


def test_a_fresh_market_is_even_and_costs_b_ln_2():
    state = State(0, 0, 100 * 10**6)
    assert lmsr.price(state) == Decimal("0.5")
    assert lmsr.initial_subsidy(state.b) == 69_314_719  # ceil(100e6 * ln 2) = ceil(69314718.05...)


@settings(max_examples=300)
@given(states())
def test_prices_are_probabilities_that_sum_to_one_even_at_extremes(state):
    p_yes, p_no = lmsr.price(state, YES), lmsr.price(state, NO)
    for p in (p_yes, p_no):
        assert p.is_finite() and Decimal(0) <= p <= Decimal(1)
    assert abs(p_yes + p_no - 1) < Decimal("1e-40")
    assert lmsr.cost(state).is_finite()


@settings(max_examples=300)
@given(states())
def test_the_cost_covers_every_outstanding_winning_share(state):
    assert lmsr.cost(state) >= max(state.q_yes, state.q_no)


@settings(max_examples=200)
@given(states(extreme=False), SIDE, st.integers(1, 10**13))
def test_spending_an_amount_never_charges_more_than_it(state, side, amount):
    shares = lmsr.shares_for_amount(state, side, amount)
    assert lmsr.buy_cost(state, side, shares) <= amount
    # and it is the most: one more micro-share would cost more than the amount
    assert lmsr.buy_cost(state, side, shares + 1) > amount


@settings(max_examples=300)
@given(states(extreme=False), SIDE, st.integers(1, 10**12))
def test_a_buy_then_sell_round_trip_never_nets_the_trader_credit(state, side, shares):
    paid = lmsr.buy_cost(state, side, shares)
    received = lmsr.sell_payout(state.moved(side, shares), side, shares)
    assert received <= paid


@settings(max_examples=200)
@given(states(extreme=False), SIDE, st.decimals(min_value="0.01", max_value="0.99", places=4))
def test_buying_to_a_target_price_reaches_it_without_passing_it(state, side, target):
    shares = lmsr.shares_to_price(state, side, target)
    after = lmsr.price(state.moved(side, shares), side)
    if shares == 0:
        assert lmsr.price(state, side) >= target - Decimal("1e-6")
    else:
        assert after <= target
        # one more micro-share per credit of liquidity would get within rounding of the target
        assert target - after < Decimal(1) / state.b * 2


@settings(max_examples=200)
@given(states(extreme=False), SIDE, st.decimals(min_value="0.01", max_value="0.99", places=4))
def test_selling_to_a_target_price_stops_at_it(state, side, target):
    """Selling toward a lower price never overshoots it (capped by the shares there are to sell)."""
    wanted = lmsr.shares_to_sell_to_price(state, side, target)
    if lmsr.price(state, side) <= target:
        assert wanted == 0  # already at or below the target: nothing to sell
        return
    shares = min(wanted, state.shares(side))
    assert lmsr.price(state.moved(side, -shares), side) >= target


@settings(max_examples=100)
@given(st.lists(st.tuples(SIDE, st.integers(1, 10**11), st.booleans()), min_size=1, max_size=30), B)
def test_an_escrow_funded_by_rounded_trades_stays_solvent(trades, b):
    """Escrow = subsidy + charges - payouts, with the engine's rounding; it must cover max(q) always."""
    state = State(0, 0, b)
    escrow = lmsr.initial_subsidy(b)
    for side, amount, sell in trades:
        if sell and state.shares(side) > 0:
            shares = min(amount, state.shares(side))
            escrow -= lmsr.sell_payout(state, side, shares)
            state = state.moved(side, -shares)
        else:
            shares = lmsr.shares_for_amount(state, side, amount)
            escrow += lmsr.buy_cost(state, side, shares)
            state = state.moved(side, shares)
        assert escrow >= lmsr.cost(state) >= max(state.q_yes, state.q_no)


def test_bad_arguments_are_refused():
    state = State(5, 0, 10**6)
    with pytest.raises(ValueError):
        lmsr.sell_payout(state, YES, 6)
    with pytest.raises(ValueError):
        lmsr.buy_cost(state, YES, -1)
    with pytest.raises(ValueError):
        lmsr.shares_to_price(state, YES, Decimal(1))
