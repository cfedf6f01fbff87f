"""A real Celery worker process, on the test environment's Redis, runs `core.ping` and returns its result."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout
from django.utils import timezone

from apps.core.tasks import ping
from config.celery import app

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def worker(tmp_path):
    """`celery -A config worker` on a queue of its own (other suites may share this Redis database)."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        # The worker must talk to exactly the broker and result store this process uses.
        CELERY_BROKER_URL=app.conf.broker_url,
        CELERY_RESULT_BACKEND=app.conf.result_backend,
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: S603 (fixed argv)
            [
                *[sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO"],
                *["--pool", "prefork", "--concurrency", "1", "--queues", queue, "--hostname", f"{queue}@%h"],
                *["--without-mingle", "--without-gossip", "--without-heartbeat"],
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its pool processes share its group: one killpg reaches them all
        )
    try:
        yield proc, queue, log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # a pool process that outlived the main one
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_for(result, proc, log_path: Path, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return result.get(timeout=2)
        except CeleryTimeout:
            if proc.poll() is not None:
                pytest.fail(f"the worker exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
    pytest.fail(f"no result within {timeout}s; worker log:\n{log_path.read_text()[-3000:]}")


def test_a_worker_runs_core_ping_and_returns_its_result(worker):
    proc, queue, log_path = worker
    sent_at = timezone.now()

    result = ping.apply_async(queue=queue)
    reply = wait_for(result, proc, log_path)

    assert reply["pong"] is True
    answered_at = datetime.fromisoformat(reply["at"])
    assert sent_at - timedelta(seconds=1) <= answered_at <= timezone.now() + timedelta(seconds=1)
    assert result.status == "SUCCESS"
    assert f"Task core.ping[{result.id}] received" in log_path.read_text()  # this worker, not another


def test_the_worker_stops_cleanly_on_sigterm(worker):
    proc, queue, log_path = worker
    wait_for(ping.apply_async(queue=queue), proc, log_path)

    os.killpg(proc.pid, signal.SIGTERM)

    assert proc.wait(timeout=30) == 0
    with pytest.raises(ProcessLookupError):  # no pool process outlived the main one
        os.killpg(proc.pid, 0)
