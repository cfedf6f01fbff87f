"""A real Celery worker process, on the test environment's Redis, runs `core.ping` and returns its result."""

import os
import signal
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.core.tasks import ping
from tests.support import celery_worker, worker_result

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def worker(tmp_path):
    log_path = tmp_path / "worker.log"
    with celery_worker(log_path) as (proc, queue):
        yield proc, queue, log_path


def test_a_worker_runs_core_ping_and_returns_its_result(worker):
    proc, queue, log_path = worker
    sent_at = timezone.now()

    result = ping.apply_async(queue=queue)
    reply = worker_result(result, proc, log_path)

    assert reply["pong"] is True
    answered_at = datetime.fromisoformat(reply["at"])
    assert sent_at - timedelta(seconds=1) <= answered_at <= timezone.now() + timedelta(seconds=1)
    assert result.status == "SUCCESS"
    assert f"Task core.ping[{result.id}] received" in log_path.read_text()  # this worker, not another


def test_the_worker_stops_cleanly_on_sigterm(worker):
    proc, queue, log_path = worker
    worker_result(ping.apply_async(queue=queue), proc, log_path)

    os.killpg(proc.pid, signal.SIGTERM)

    assert proc.wait(timeout=30) == 0
    with pytest.raises(ProcessLookupError):  # no pool process outlived the main one
        os.killpg(proc.pid, 0)
