"""Real processes for live-update tests: a uvicorn serving the project's ASGI app (pages and sockets) and a
Celery worker, both on this test run's database, so a change made in one process reaches a browser
attached to another exactly as in production (they share only the database and Redis)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.bench.harness import ROOT, Server, database_url, free_port, running_server


@contextmanager
def page_server(*, log_dir: Path, poll_ms: int = 100, port: int | None = None) -> Iterator[Server]:
    """uvicorn serving config.asgi with tests/realtime/settings.py (test settings, static files from the
    source folders, the notifications pages mounted) and this process's secret key, so a session made
    here (Client.force_login) is valid there. `port`: a given one (to restart a server where browsers
    expect it), else a free one."""
    port = port or free_port()
    command = [
        *[sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        *["--workers", "1", "--lifespan", "off", "--no-access-log", "--log-level", "warning"],
    ]
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.realtime.settings",
        # The test process signs the sessions it logs people in with: the server must verify them.
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "CREDENCE_REALTIME_POLL_MS": str(poll_ms),
    }
    log = log_dir / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
    with running_server(command, port=port, env=env, log=log) as server:
        yield server


@dataclass
class Worker:
    process: subprocess.Popen
    queue: str
    log: Path

    def wait(self, result, timeout: float = 60):
        """The task's return value; fails with the worker's log if it does not come."""
        from celery.exceptions import TimeoutError as CeleryTimeout

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return result.get(timeout=2)
            except CeleryTimeout:
                if self.process.poll() is not None:
                    tail = self.log.read_text()[-3000:]
                    raise RuntimeError(f"the worker exited ({self.process.returncode}):\n{tail}")
        raise RuntimeError(f"no result within {timeout}s; worker log:\n{self.log.read_text()[-3000:]}")


@contextmanager
def celery_worker(*, log_dir: Path, include: list[str] = ()) -> Iterator[Worker]:
    """`celery -A config worker` on a queue of its own, with this run's test database, broker and result
    store; `include` names extra task modules to load (-I)."""
    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=app.conf.broker_url,
        CELERY_RESULT_BACKEND=app.conf.result_backend,
        PYTHONUNBUFFERED="1",
    )
    command = [
        *[sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO"],
        *["--pool", "solo", "--queues", queue, "--hostname", f"{queue}@%h"],
        *["--without-mingle", "--without-gossip", "--without-heartbeat"],
    ]
    if include:
        command += ["-I", ",".join(include)]
    log = log_dir / f"worker-{queue}.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 (fixed argv)
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Worker(process=process, queue=queue, log=log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def receive(ws, n: int, timeout: float = 5.0) -> list[dict]:
    """Up to `n` JSON frames from a socket, within `timeout` seconds in all."""
    messages, deadline = [], time.monotonic() + timeout
    while len(messages) < n and time.monotonic() < deadline:
        try:
            messages.append(json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01))))
        except TimeoutError:
            break
    return messages


def quiet(ws, seconds: float = 0.6) -> bool:
    """True when the socket receives nothing for `seconds`."""
    try:
        ws.recv(timeout=seconds)
    except TimeoutError:
        return True
    return False
