"""Budgets under races: eight runs of one agent at once, each in its own thread and database connection, never
spend more than the day's budget together, to the micro-credit; the ledger agrees."""

import threading

import pytest
from django.db import connection

from apps.agents.models import AgentOrder, AgentRun, HostedAgent
from apps.agents.services import run_execute
from apps.core.amounts import CREDIT
from apps.ledger.selectors import ledger_verify_report
from apps.markets.models import Trade
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

RUNS = 8


def test_eight_runs_at_once_never_spend_past_the_day_budget():
    # given an agent allowed 10 credits a day and 3 a run, whose every run orders 1.5 credits on each of 3 claims
    claims = [factories.new_claim() for _ in range(3)]
    steps = [{"do": "order", "claim": c.pk, "amount": 1_500_000, "belief": "0.8"} for c in claims]
    agent = factories.hosted(
        strategy="scripted",
        config={"steps": steps},
        budget_per_run=3 * CREDIT,
        budget_per_day=10 * CREDIT,
        budget_per_position=100 * CREDIT,
    )
    runs = [factories.manual_run(agent, key=f"race-{n}") for n in range(RUNS)]
    barrier, failures = threading.Barrier(RUNS), []

    def execute(run_id: int) -> None:
        try:
            barrier.wait()
            run_execute(run_id=run_id)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=execute, args=(run.pk,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then every run finished, and together they spent what their trades cost, no more than the day allows
    assert failures == []
    assert sorted(AgentRun.objects.values_list("state", flat=True)) == ["succeeded"] * RUNS
    trades = Trade.objects.filter(identity=agent.identity)
    cost = sum(max(t.cost, 0) + t.fee for t in trades)
    agent = HostedAgent.objects.get(pk=agent.pk)
    assert agent.spent_today == cost == sum(AgentRun.objects.values_list("spent", flat=True))
    assert cost <= 10 * CREDIT
    assert cost > 10 * CREDIT - 1_500_000  # the day was spent to its last order's worth, not stopped early
    for run in AgentRun.objects.all():
        assert run.spent <= 3 * CREDIT
        assert run.spent == sum(AgentOrder.objects.filter(run=run).values_list("spent", flat=True))
    # the orders the day had no room for were refused, none placed past it
    refused = AgentOrder.objects.filter(refused="budget").count()
    assert refused + trades.count() == RUNS * 3
    assert refused > 0
    assert ledger_verify_report().ok
