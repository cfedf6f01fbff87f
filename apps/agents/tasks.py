"""Celery tasks of hosted agents: the beat's dispatch tick and a run.

A run is `acks_late` with `reject_on_worker_lost`: a worker killed mid-run puts it back on the queue and its
redelivery replays the run's journal (apps/agents/runtime.py), so no trade is lost or placed twice. Its soft
time limit ends it as timed out (what it ordered stays); the hard limit kills the pool process, which counts
as an attempt (a run lost CREDENCE_AGENT_RUN_MAX_ATTEMPTS times is failed, never retried forever).
"""

from celery import shared_task
from django.conf import settings

from apps.agents import services


@shared_task(
    name="agents.run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.CREDENCE_AGENT_RUN_SOFT_SECONDS,
    time_limit=settings.CREDENCE_AGENT_RUN_HARD_SECONDS,
)
def run(run_id: int) -> str:
    return services.run_execute(run_id=run_id)


@shared_task(name="agents.dispatch", ignore_result=True)
def dispatch() -> dict:
    """One beat tick: events turned into due agents, every due agent given its run, lost runs queued again."""
    triggered = services.agents_triggers()
    return {
        "triggered": triggered,
        "runs": len(services.agents_dispatch()),
        "requeued": len(services.agents_requeue()),
    }
