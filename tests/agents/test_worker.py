"""Hosted agents on a real Celery worker (Redis): a scheduled agent dispatched by the beat's tick runs end to end;
its worker's pool process killed (kill -9) in the middle of the run, the redelivered run places exactly the
trades of an uninterrupted one; a run that asks its owner frees the worker, and the answer resumes it once.
The worker reads this test's database, so the test commits its rows (transaction=True)."""

import os
import re
import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

from apps.agents import services
from apps.agents.models import AgentRun
from apps.core.amounts import CREDIT
from apps.ledger.selectors import ledger_verify_report
from apps.markets.models import Trade
from apps.reviews import services as reviews
from apps.reviews.models import ReviewRequest
from tests import factories
from tests.agents import scripted
from tests.support import celery_worker, routed, worker_wait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]


def _test_database_url() -> str:
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/credence"))
    return url._replace(path=f"/{connection.settings_dict['NAME']}").geturl()


@pytest.fixture
def worker(tmp_path, transactional_db):
    """A worker with the scripted strategy, reading this test's database; the agents' runs and the reviews'
    continuations are routed to its queue."""
    log_path = tmp_path / "worker.log"
    env = {"DATABASE_URL": _test_database_url(), "CREDENCE_TEST_WORKER": "1"}
    with (
        celery_worker(log_path, include=(scripted.__name__,), env=env) as (proc, queue),
        routed("agents.run", queue),
        routed("reviews.resume", queue),
    ):
        yield proc, queue, log_path


def attempts_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def trades_of(agent) -> list[Trade]:
    return list(Trade.objects.filter(identity=agent.identity).order_by("pk"))


def deliveries(log_path: Path) -> list[str]:
    return re.findall(r"Task agents\.run\[([0-9a-f-]+)\] received", log_path.read_text())


def test_a_scheduled_run_killed_midway_is_delivered_again_and_trades_as_one_run(worker, tmp_path):
    proc, _, log_path = worker
    # given a scheduled agent that orders, waits at a gate, and orders again; and its twin's claims
    claims = [factories.new_claim() for _ in range(4)]
    attempts, gate = tmp_path / "attempts", tmp_path / "gate"
    gate.touch()
    steps = [
        {"do": "order", "claim": claims[0].pk, "amount": 3 * CREDIT, "belief": "0.75"},
        {"do": "wait", "gate": str(gate)},
        {"do": "order", "claim": claims[1].pk, "amount": 2 * CREDIT, "belief": "0.3"},
    ]
    agent = factories.hosted(strategy="scripted", every_minutes=60, config={"steps": steps, "attempts": str(attempts)})

    # when the beat's tick dispatches it, and the worker's pool process is killed while the run waits at the gate
    [run_id] = services.agents_dispatch()
    [first_pid] = worker_wait(lambda: attempts_in(attempts), proc, log_path, "the run started")
    worker_wait(lambda: len(trades_of(agent)) == 1, proc, log_path, "the first order placed")
    os.kill(first_pid, signal.SIGKILL)

    # then the run is delivered again to a new pool process, which replays the first order and waits at the gate
    worker_wait(lambda: len(attempts_in(attempts)) == 2, proc, log_path, "the run delivered again")
    assert attempts_in(attempts)[1] not in (first_pid, proc.pid)
    gate.unlink()
    done = worker_wait(
        lambda: AgentRun.objects.filter(pk=run_id, state="succeeded").first(), proc, log_path, "the run finished"
    )
    assert "WorkerLostError" in log_path.read_text()
    first, again = deliveries(log_path)
    assert first == again  # the same task, rejected back to the queue when its process was lost
    assert done.attempts == 2 and done.orders_placed == 2

    # and its trades are exactly those of the same run uninterrupted (a twin on twin markets, in this process)
    twin_steps = [dict(steps[0], claim=claims[2].pk), dict(steps[2], claim=claims[3].pk)]
    twin = factories.hosted(strategy="scripted", config={"steps": twin_steps})
    twin_run = factories.manual_run(twin)
    services.run_execute(run_id=twin_run.pk)
    shape = [(t.side, t.shares, t.cost, t.fee) for t in trades_of(agent)]
    assert shape == [(t.side, t.shares, t.cost, t.fee) for t in trades_of(twin)]
    assert [t.idempotency_key for t in trades_of(agent)] == [f"agent-run:{run_id}:1", f"agent-run:{run_id}:2"]
    assert ledger_verify_report().ok


def test_a_run_that_asks_frees_the_worker_and_the_answer_resumes_it_once(worker):
    from config.celery import app

    proc, queue, log_path = worker
    claim = factories.new_claim()
    steps = [
        {"do": "ask", "question": "Buy YES?", "schema": {"type": "boolean"}, "timeout": 600, "default": False},
        {"do": "order", "claim": claim.pk, "amount": 2 * CREDIT, "belief": "0.7"},
    ]
    agent = factories.hosted(strategy="scripted", config={"steps": steps})

    # when the owner runs it now: the run asks and pauses
    run = factories.manual_run(agent)
    worker_wait(lambda: AgentRun.objects.filter(pk=run.pk, state="paused").exists(), proc, log_path, "paused")
    worker_wait(lambda: "succeeded in" in log_path.read_text(), proc, log_path, "the task ended")

    # then no worker waits for the answer: the worker has no task in hand
    destination = f"{queue}@{socket.gethostname()}"
    active = app.control.inspect(destination=[destination], timeout=5).active()
    assert active == {destination: []}
    assert Trade.objects.count() == 0

    # when the owner answers yes, the continuation (in the worker) queues the run, which goes on and orders
    review = ReviewRequest.objects.get(requester=agent.identity)
    owner = factories.human(agent.identity.owner)
    assignment = reviews.review_take_next(reviewer=owner)
    reviews.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="answer", value=True)
    done = worker_wait(
        lambda: AgentRun.objects.filter(pk=run.pk, state="succeeded").first(), proc, log_path, "the run resumed"
    )
    assert [e["op"] for e in done.journal] == ["ask", "decide", "order"]
    assert done.journal[0]["answer"] is True and done.attempts == 2
    assert len(trades_of(agent)) == 1
    assert ReviewRequest.objects.get(pk=review.pk).resume_result == {"continued": True, "run": run.pk, "queued": True}
    assert len(deliveries(log_path)) == 2  # the first run and its resumption, nothing more
