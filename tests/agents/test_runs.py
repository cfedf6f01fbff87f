"""A hosted agent's run, in-process: its orders within its budgets, its journal, the kill switch between two
orders, a worker lost between two orders (the run executed again places each order once), a supervised
agent's orders paused at the trade checkpoint, and the ways a run ends."""

from decimal import Decimal

import pytest

from apps.agents import services
from apps.agents.models import AgentOrder, AgentRun, AgentStep
from apps.agents.services import run_execute
from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.identities.models import AutonomyLevel
from apps.markets.models import Position, Trade
from apps.reviews.models import ReviewRequest
from tests import factories
from tests.agents import scripted

pytestmark = pytest.mark.django_db


def order(claim, amount, belief="0.7") -> dict:
    return {"do": "order", "claim": claim.pk, "amount": amount, "belief": belief}


def scripted_agent(*steps, bot=None, **budgets):
    budgets = {
        "budget_per_run": 50 * CREDIT,
        "budget_per_day": 100 * CREDIT,
        "budget_per_position": 30 * CREDIT,
    } | budgets
    return factories.hosted(bot, strategy="scripted", config={"steps": list(steps)}, **budgets)


def run_once(agent, key="run-1"):
    run = factories.manual_run(agent, key=key)
    state = run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.state == state
    return run


def trades_of(agent) -> list[Trade]:
    return list(Trade.objects.filter(identity=agent.identity).order_by("pk"))


def spent(trades) -> int:
    return sum(max(t.cost, 0) + t.fee for t in trades)


def test_a_run_places_its_orders_with_keys_of_its_steps_and_keeps_them_in_its_journal():
    # given a hosted agent that orders on two claims
    first, second = factories.new_claim(), factories.new_claim()
    agent = scripted_agent(order(first, 2 * CREDIT), order(second, 3 * CREDIT, belief="0.2"))

    # when it runs
    run = run_once(agent)

    # then both orders are trades keyed by the run and its step, recorded with what they cost
    placed = trades_of(agent)
    assert [(t.market.claim_id, t.side, t.idempotency_key) for t in placed] == [
        (first.pk, "yes", f"agent-run:{run.pk}:1"),
        (second.pk, "no", f"agent-run:{run.pk}:2"),
    ]
    assert run.state == "succeeded" and run.outcome == "0 decisions, 2 orders placed"
    assert run.spent == spent(placed) and 0 < run.spent <= 5 * CREDIT
    assert run.orders_placed == 2 and run.attempts == 1 and run.duration_ms is not None
    assert list(AgentOrder.objects.filter(run=run).order_by("step").values_list("step", "trade_id", "spent")) == [
        (1, placed[0].pk, max(placed[0].cost, 0) + placed[0].fee),
        (2, placed[1].pk, max(placed[1].cost, 0) + placed[1].fee),
    ]
    assert [(e["op"], e["result"]["trade"]) for e in run.journal] == [("order", placed[0].pk), ("order", placed[1].pk)]
    agent.refresh_from_db()
    assert agent.spent_today == run.spent
    # and its end is an event on the agent's own subject
    finished = Event.objects.get(kind="agent.run.finished")
    assert finished.subject == f"identity:{agent.identity_id}"
    assert finished.payload == {"run": run.pk, "outcome": "succeeded", "orders": 2, "spent": run.spent}


def test_an_order_is_cut_to_what_the_run_budget_leaves_and_the_next_is_refused():
    # given a run budget of 4 credits and orders of 3 credits each
    first, second, third = factories.new_claim(), factories.new_claim(), factories.new_claim()
    agent = scripted_agent(
        order(first, 3 * CREDIT), order(second, 3 * CREDIT), order(third, 3 * CREDIT), budget_per_run=4 * CREDIT
    )

    run = run_once(agent)

    # then the second order was cut to the 1 credit the first left (and spent within it), the third refused
    one, two = trades_of(agent)
    orders = [e for e in run.journal if e["op"] == "order"]
    assert [e["order"]["amount"] for e in orders] == [3 * CREDIT, 4 * CREDIT - spent([one]), 3 * CREDIT]
    assert spent([two]) <= 4 * CREDIT - spent([one])
    assert orders[2]["result"]["refused"] == "budget" and orders[2]["result"]["trade"] is None
    assert run.spent == spent([one, two]) <= 4 * CREDIT
    assert AgentOrder.objects.get(run=run, step=3).refused == "budget"


def test_the_day_budget_holds_across_runs():
    claim = factories.new_claim()
    agent = scripted_agent(order(claim, 4 * CREDIT), budget_per_day=6 * CREDIT)

    first = run_once(agent, key="a")
    second = run_once(agent, key="b")
    third = run_once(agent, key="c")

    assert first.spent > 0 and second.spent <= 6 * CREDIT - first.spent
    assert [e["result"]["refused"] for e in third.journal] == ["budget"]
    agent.refresh_from_db()
    assert agent.spent_today == first.spent + second.spent == spent(trades_of(agent)) <= 6 * CREDIT


def test_the_position_budget_counts_what_is_already_invested_in_the_claim():
    claim = factories.new_claim()
    bot = factories.funded_agent()
    factories.buy(bot, claim, "yes", credits=2)  # invested by hand before it was hosted
    invested = Position.objects.get(identity=bot).net_invested
    agent = scripted_agent(order(claim, 10 * CREDIT), bot=bot, budget_per_position=5 * CREDIT)

    run = run_once(agent)

    [entry] = run.journal
    assert entry["order"]["amount"] == 5 * CREDIT - invested
    assert Position.objects.get(identity=bot).net_invested <= 5 * CREDIT


def test_the_kill_switch_stops_a_run_between_two_orders():
    first, second = factories.new_claim(), factories.new_claim()
    agent = scripted_agent(order(first, CREDIT), {"do": "hook", "name": "stop"}, order(second, CREDIT))
    scripted.HOOKS["stop"] = lambda ctx: services.hosted_agent_stop(
        hosted=agent, by=agent.identity.owner, reason="Enough."
    )

    run = run_once(agent)

    assert run.state == "stopped" and run.outcome == "Stopped by its owner during the run."
    assert [t.market.claim_id for t in trades_of(agent)] == [first.pk]
    assert run.orders_placed == 1
    agent.refresh_from_db()
    assert (agent.stopped_by, agent.stopped_reason, agent.next_run_at) == ("owner", "Enough.", None)


def test_a_run_whose_worker_died_between_orders_places_each_order_once_when_executed_again(tmp_path):
    # given two agents with the same script on twin markets; the first one's worker dies after its first order
    claims = [factories.new_claim() for _ in range(4)]
    died = scripted_agent(
        order(claims[0], 3 * CREDIT), {"do": "die_once", "marker": str(tmp_path / "m")}, order(claims[1], 2 * CREDIT)
    )
    steady = scripted_agent(order(claims[2], 3 * CREDIT), order(claims[3], 2 * CREDIT))
    run = factories.manual_run(died)
    with pytest.raises(scripted.WorkerDied):
        run_execute(run_id=run.pk)
    assert len(trades_of(died)) == 1
    assert AgentRun.objects.get(pk=run.pk).state == "running"
    assert list(AgentStep.objects.filter(run=run).values_list("step", "entry__op")) == [(1, "order")]

    # when the run is executed again (its task delivered again)
    assert run_execute(run_id=run.pk) == "succeeded"

    # then it placed exactly the trades an uninterrupted run places
    run_once(steady)
    shape = [(t.side, t.shares, t.cost, t.fee) for t in trades_of(died)]
    assert shape == [(t.side, t.shares, t.cost, t.fee) for t in trades_of(steady)]
    run.refresh_from_db()
    assert run.attempts == 2 and run.orders_placed == 2 and run.spent == spent(trades_of(died))
    assert [(e["step"], e["op"]) for e in run.journal] == [
        (1, "order"),
        (2, "order"),
    ]  # step 1 replayed, not placed again


def test_a_supervised_agents_order_pauses_at_the_trade_checkpoint_and_holds_its_budget():
    claim = factories.new_claim()
    bot = factories.funded_agent(autonomy_level=AutonomyLevel.SUPERVISED)
    agent = scripted_agent(order(claim, 2 * CREDIT), bot=bot)

    run = run_once(agent)

    review = ReviewRequest.objects.get(requester=bot)
    assert (review.checkpoint, review.held) == ("trade.place", 2 * CREDIT)
    [entry] = run.journal
    assert entry["result"] == {
        "placed": False, "trade": None, "review": review.pk, "refused": None, "spent": 2 * CREDIT, "paused": True
    }  # fmt: skip
    assert run.state == "succeeded" and run.spent == 2 * CREDIT and trades_of(agent) == []
    assert AgentOrder.objects.get(run=run).review_id == review.pk


def test_a_refused_order_is_recorded_and_the_run_goes_on():
    closed, open_claim = factories.new_claim(), factories.new_claim()
    factories.close(closed)
    agent = scripted_agent(order(closed, CREDIT), order(open_claim, CREDIT))

    run = run_once(agent)

    assert [e["result"]["refused"] for e in run.journal] == ["market_closed", None]
    assert run.state == "succeeded" and run.orders_placed == 1


def test_a_strategy_that_raises_fails_its_run_with_the_traceback_for_its_owner():
    agent = scripted_agent({"do": "fail", "message": "no data"})

    run = run_once(agent)

    assert run.state == "failed" and run.outcome == "RuntimeError: no data"
    assert run.error == "RuntimeError: no data"
    assert 'raise RuntimeError(step.get("message", "scripted failure"))' in run.traceback


def test_a_stopped_or_suspended_agent_does_not_run():
    claim = factories.new_claim()
    agent = scripted_agent(order(claim, CREDIT))
    run = factories.manual_run(agent)
    services.hosted_agent_stop(hosted=agent, by=factories.moderator(), reason="Abuse.")

    assert run_execute(run_id=run.pk) == "stopped"

    run.refresh_from_db()
    assert run.outcome == "Stopped by staff before it ran." and trades_of(agent) == []


def test_a_run_lost_too_many_times_is_failed_instead_of_tried_forever(settings, tmp_path):
    settings.CREDENCE_AGENT_RUN_MAX_ATTEMPTS = 2
    agent = scripted_agent({"do": "hook", "name": "die"})

    def die(ctx):
        raise scripted.WorkerDied()

    scripted.HOOKS["die"] = die
    run = factories.manual_run(agent)
    for _ in range(2):
        with pytest.raises(scripted.WorkerDied):
            run_execute(run_id=run.pk)

    assert run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.outcome == "Gave up after 2 attempts: its worker was lost each time."


def test_a_strategy_that_takes_other_steps_when_replayed_fails_its_run():
    claim = factories.new_claim()
    agent = scripted_agent(order(claim, CREDIT))
    run = factories.manual_run(agent)
    AgentStep.objects.create(run=run, step=1, entry={"step": 1, "op": "claims", "args": {}, "result": []})

    assert run_execute(run_id=run.pk) == "failed"

    run.refresh_from_db()
    assert run.outcome.startswith("JournalMismatch: Step 1 was 'claims' when this run first took it, and is 'order'")
    assert trades_of(agent) == []


def test_executing_a_finished_run_again_does_nothing():
    claim = factories.new_claim()
    agent = scripted_agent(order(claim, CREDIT))
    run = run_once(agent)

    assert run_execute(run_id=run.pk) == "succeeded"

    assert len(trades_of(agent)) == 1
    assert AgentRun.objects.get(pk=run.pk).attempts == 1


def test_the_run_remembers_the_prices_it_saw_and_moved_to():
    claim = factories.new_claim()
    agent = scripted_agent({"do": "read"}, order(claim, CREDIT))

    run_once(agent)

    agent.refresh_from_db()
    [trade] = trades_of(agent)
    assert agent.seen_prices == {str(claim.pk): format(trade.price_after, "f")}
    assert Decimal(agent.seen_prices[str(claim.pk)]) > Decimal("0.5")


def test_a_run_past_its_soft_time_limit_ends_timed_out_keeping_what_it_ordered():
    from celery.exceptions import SoftTimeLimitExceeded

    claim = factories.new_claim()

    def too_slow(ctx):
        raise SoftTimeLimitExceeded()

    scripted.HOOKS["slow"] = too_slow
    agent = scripted_agent(order(claim, CREDIT), {"do": "hook", "name": "slow"}, order(claim, CREDIT))

    run = run_once(agent)

    assert run.state == "timed_out" and run.outcome == "Ran past its time limit (SoftTimeLimitExceeded)."
    assert len(trades_of(agent)) == 1 and run.orders_placed == 1
    assert Event.objects.get(kind="agent.run.finished").payload["outcome"] == "timed_out"
