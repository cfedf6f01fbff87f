"""The beat's dispatch tick: 1,000 due hosted agents, each given its run by one tick (`agents_dispatch`: the due
agents taken with SKIP LOCKED, the busy ones left out, the runs inserted, the schedules moved on, the runs
queued to Redis through one producer after commit), against a bare `SELECT ... FOR UPDATE SKIP LOCKED` of the
same rows in its own transaction, in the same run. Reported: milliseconds per tick, with and without the
queueing, and the ratio to the bare select.

Knobs (environment): BENCH_AGENTS (default 1000), BENCH_ROUNDS (default 5).
"""

import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from apps.agents import services
from apps.agents.models import AgentRun, HostedAgent
from apps.core.amounts import CREDIT
from apps.identities.services import agent_create
from tests import factories
from tests.bench.harness import env_number, median, print_table
from tests.support import routed

pytestmark = pytest.mark.django_db(transaction=True)

AGENTS = int(env_number("BENCH_AGENTS", 1000))
ROUNDS = int(env_number("BENCH_ROUNDS", 5))
QUEUE = "bench-agent-dispatch"
BARE = (
    "SELECT id FROM agents_hostedagent WHERE stopped_by = '' AND next_run_at <= %s "
    "ORDER BY next_run_at LIMIT %s FOR UPDATE SKIP LOCKED"
)


def _due_again() -> None:
    AgentRun.objects.all().delete()
    HostedAgent.objects.update(next_run_at=timezone.now() - timedelta(minutes=1), due_reason={})


def _bare() -> tuple[float, int]:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(BARE, [timezone.now(), AGENTS])
        rows = cursor.fetchall()
    return (time.perf_counter() - started) * 1000, len(rows)


def _tick(monkeypatch, *, queue: bool) -> tuple[float, int]:
    if not queue:
        monkeypatch.setattr(services, "_queue", lambda run_ids: None)
    started = time.perf_counter()
    run_ids = services.agents_dispatch(limit=AGENTS)
    elapsed = (time.perf_counter() - started) * 1000
    monkeypatch.undo()
    return elapsed, len(run_ids)


def test_dispatch_tick(settings, monkeypatch):
    settings.CREDENCE_MAX_AGENTS_PER_OWNER = AGENTS + 1
    owner = factories.verified_user()
    identities = [agent_create(owner=owner, handle=f"due-{n}", autonomy_level="autonomous") for n in range(AGENTS)]
    budgets = {"budget_per_run": CREDIT, "budget_per_day": CREDIT, "budget_per_position": CREDIT}
    HostedAgent.objects.bulk_create(
        HostedAgent(identity=i, strategy="base_rate", config={}, every_minutes=10, **budgets) for i in identities
    )
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    bare, db_only, full = [], [], []
    with routed("agents.run", QUEUE):
        for _ in range(ROUNDS):
            _due_again()
            elapsed, rows = _bare()
            assert rows == AGENTS
            bare.append(elapsed)
            _due_again()
            elapsed, runs = _tick(monkeypatch, queue=False)
            assert runs == AGENTS == AgentRun.objects.count()
            db_only.append(elapsed)
            _due_again()
            client.delete(QUEUE)
            elapsed, runs = _tick(monkeypatch, queue=True)
            assert runs == AGENTS and client.llen(QUEUE) == AGENTS  # every run queued once
            full.append(elapsed)
    client.delete(QUEUE)
    b, d, f = median(bare), median(db_only), median(full)
    print_table(
        f"Dispatch of {AGENTS} due agents by one tick: ms, median of {ROUNDS} rounds",
        ["", "ms per tick", "vs the bare select"],
        [
            ["SELECT ... FOR UPDATE SKIP LOCKED (bare)", f"{b:.1f}", "1.00"],
            ["agents_dispatch, runs not queued", f"{d:.1f}", f"{d / b:.2f}"],
            ["agents_dispatch, runs queued to Redis", f"{f:.1f}", f"{f / b:.2f}"],
        ],
    )
