"""What hosting costs an order: the same orders placed by a hosted agent's run (run_execute: the agent's lock,
the budgets, the journal saved with each order, the AgentOrder row) against `trade_place` called directly, in
the same run. Target: >= 0.8 of the direct throughput.

Each variant buys one credit of YES then NO alternately on its own claim, so prices stay where they are; a
run places ORDERS orders (one journal saved per order: the journal grows with the run, so longer runs cost
more per order, and the table shows two lengths).

Knobs (environment): BENCH_ROUNDS (default 3), BENCH_ORDERS (orders per run, default 20 and 100).
"""

import os
import time
from itertools import count

import pytest

from apps.agents.services import agent_run_request, run_execute
from apps.core.amounts import CREDIT
from apps.markets.models import Trade
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from tests import factories
from tests.agents import scripted
from tests.bench.harness import env_number, median, print_table

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = int(env_number("BENCH_ROUNDS", 3))
LENGTHS = [int(n) for n in os.environ.get("BENCH_ORDERS", "20,100").split(",")]
BIG = 10**6 * CREDIT


@pytest.fixture(autouse=True)
def _scripted():
    scripted.register()
    yield
    scripted.unregister()


def _direct(trader, claim, orders: int, keys) -> float:
    started = time.perf_counter()
    for n in range(orders):
        trade = trade_place(
            identity=trader,
            claim=claim.pk,
            order=Order(kind="buy", side="yes" if n % 2 == 0 else "no", amount=CREDIT),
            idempotency_key=f"direct-{next(keys)}",
        )
        assert isinstance(trade, Trade)
    return orders / (time.perf_counter() - started)


def _hosted(agent, keys) -> float:
    run = agent_run_request(hosted=agent, by=agent.identity.owner, key=f"bench-{next(keys)}")
    started = time.perf_counter()
    state = run_execute(run_id=run.pk)
    elapsed = time.perf_counter() - started
    run.refresh_from_db()
    assert state == "succeeded" and run.orders_placed == len(agent.config["steps"]), run.outcome
    return run.orders_placed / elapsed


def test_hosted_run_overhead(settings):
    settings.CREDENCE_MAX_AGENTS_PER_OWNER = 100
    rows = []
    keys = count()
    for orders in LENGTHS:
        trader, bot = factories.agent(), factories.agent()
        factories.fund(trader, 100_000), factories.fund(bot, 100_000)
        direct_claim, hosted_claim = factories.new_claim(), factories.new_claim()
        steps = [
            {"do": "order", "claim": hosted_claim.pk, "amount": CREDIT, "side": "yes" if n % 2 == 0 else "no"}
            for n in range(orders)
        ]
        agent = factories.hosted(
            bot,
            strategy="scripted",
            config={"steps": steps},
            budget_per_run=BIG,
            budget_per_day=BIG,
            budget_per_position=BIG,
        )
        _direct(trader, direct_claim, orders, keys), _hosted(agent, keys)  # warm up
        direct, hosted = [], []
        for _ in range(ROUNDS):
            direct.append(_direct(trader, direct_claim, orders, keys))
            hosted.append(_hosted(agent, keys))
        d, h = median(direct), median(hosted)
        rows.append([orders, f"{d:.0f}", f"{h:.0f}", f"{h / d:.2f}"])
    print_table(
        f"Hosted run overhead: orders/s, median of {ROUNDS} rounds (target >= 0.8)",
        ["orders per run", "trade_place directly", "through a hosted run", "ratio"],
        rows,
    )
