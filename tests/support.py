"""Helpers for tests that build no rows: request headers and clients, row counts, what a page shows, races.
Rows are built in tests/factories.py."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import schemathesis
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client

from apps.core.amounts import CENT, exact_credits, format_credits
from apps.core.models import Event
from apps.ledger.models import Account, Entry, Transfer
from apps.markets.models import Claim, Clarification, Market, Position, PricePoint, Trade
from apps.reputation.models import (
    Agreement,
    Belief,
    Calibration,
    ClaimRecord,
    Consensus,
    ExtremizingFit,
    Reliability,
    Score,
)

ROOT = Path(__file__).resolve().parents[1]


def clear_test_cache() -> None:
    """Delete this run's cache keys only. cache.clear() would FLUSHDB the whole Redis database,
    taking with it anything else there (a Celery queue, another run's keys)."""
    client = cache._cache.get_client(write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    from apps.markets.checkpoints import facts_forget
    from apps.reviews.services import policies_forget

    policies_forget()
    facts_forget()  # each process keeps the current review policies a few seconds: not from test to test


def race(n: int, work: Callable[[int], object], *, timeout: float = 120) -> list[object]:
    """Run work(i) in n threads released together by a barrier, so their transactions really overlap.
    Each thread closes its own database connection. Returns each result, or the exception it raised."""
    barrier = threading.Barrier(n, timeout=30)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock or lock wait?)"
    return results


# --- Requests and what they write -----------------------------------------------------------------------

HTMX = {"HTTP_HX_REQUEST": "true"}  # the header htmx sends: a view answers with the fragment alone


def bearer(token: str) -> dict:
    """The Authorization header an agent sends its API key in."""
    return {"Authorization": f"Bearer {token}"}


def signed_in(user) -> Client:
    """A test client with `user`'s session."""
    client = Client()
    client.force_login(user)
    return client


def iso(moment) -> str:
    """A datetime as the API writes it."""
    return DjangoJSONEncoder().default(moment)


def snapshot() -> dict:
    """Row counts of everything a claim or a trade can write: compare before and after a refused request."""
    models = (Claim, Market, Clarification, Trade, Position, PricePoint, Transfer, Entry, Account, Event)
    return {model.__name__: model.objects.count() for model in models}


def belief_snapshot() -> dict:
    """Row counts of everything stating a belief (or scoring one) can write."""
    return {
        model.__name__: model.objects.count() for model in (Belief, Consensus, Event, Score, Reliability, ClaimRecord)
    }


NOTHING_SCORED = {"scores": [], "reliability": [], "calibration": [], "agreements": [], "records": [], "fits": []}


def reputation_rows() -> dict:
    """Every row scoring writes, as plain values: compare before and after to prove nothing changed."""
    return {
        "scores": list(Score.objects.order_by("id").values()),
        "reliability": list(Reliability.objects.order_by("id").values()),
        "calibration": list(Calibration.objects.order_by("id").values()),
        "agreements": list(Agreement.objects.order_by("id").values()),
        "records": list(ClaimRecord.objects.order_by("id").values()),
        "fits": list(ExtremizingFit.objects.order_by("id").values()),
    }


# --- The API's schema ----------------------------------------------------------------------------------

# What every answer must satisfy: no 500, and a status code, content type and body the schema declares.
SCHEMA_CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


def api_schema():
    """The API's OpenAPI schema as schemathesis loads it from the WSGI app. Its cases call the app directly,
    so a test that runs them uses the keep_the_test_connection fixture (tests/conftest.py). Load it at
    module level: schemathesis's pytest fixture loader does not work with pytest >= 9.2."""
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


# --- What a page shows ----------------------------------------------------------------------------------


def hidden_value(html: str, name: str) -> str:
    """The value of a hidden input, as the browser would send it back."""
    match = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden input {name!r}"
    return match.group(1)


def amount(shown: str, exact: str) -> str:
    """How a page shows a rounded amount of credits: the figure people read, every digit on hover."""
    return f'<span class="amount" title="{exact} credits">{shown}</span>'


def shown(micro: int, *, signed: bool = False) -> str:
    """What a page shows for an amount computed in a test (`|credits`, or `|signed_credits` if signed): the
    amounts module's two formats, whose exact outputs tests/web/test_amounts.py pins down."""
    sign = "+" if signed and micro > 0 else ""
    rounded = sign + format_credits(micro)
    return rounded if micro % CENT == 0 or abs(micro) < CENT else amount(rounded, sign + exact_credits(micro))


# What a checkpoint's conditions may read in the conditions tests and bench: an order's actor, order and claim.
ORDER_VARIABLES = {
    "actor": {
        "kind": "string",
        "handle": "string",
        "autonomy_level": "string",
        "reliability": "double",
        "age_days": "int",
    },
    "order": {"kind": "string", "side": "string", "amount": "int", "shares": "int", "limit_price": "double"},
    "claim": {"id": "int", "domain": "string", "title": "string", "tags": "list(string)"},
}


def worker_wait(condition, proc, log_path: Path, what: str, *, timeout: float = 60, every: float = 0.1):
    """Poll `condition` until it gives something true (returned), failing with the end of the worker's log if
    the worker exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        if proc.poll() is not None:
            pytest.fail(f"the worker exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout}s; worker log:\n{log_path.read_text()[-3000:]}")


def worker_result(result, proc, log_path: Path, *, timeout: float = 60):
    """A task's result from a test worker, failing with the end of its log if it exits or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return result.get(timeout=2)
        except CeleryTimeout:
            if proc.poll() is not None:
                pytest.fail(f"the worker exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
    pytest.fail(f"no result within {timeout}s; worker log:\n{log_path.read_text()[-3000:]}")


@contextlib.contextmanager
def routed(task: str, queue: str):
    """Send `task` to `queue` (a test worker's own) while the block runs."""
    from config.celery import app

    routes = app.conf.task_routes
    app.conf.update(task_routes={**(routes or {}), task: {"queue": queue}})  # nested: both routes hold
    try:
        yield
    finally:
        app.conf.update(task_routes=routes)


@contextlib.contextmanager
def celery_worker(log_path, *, include: tuple[str, ...] = (), env: dict | None = None):
    """`celery -A config worker` (prefork, one process) on a queue of its own, since other suites may share
    this Redis database, talking to exactly the broker and result store this process uses; yields
    (process, queue). Stopped (its whole process group) on exit."""
    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:12]}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CELERY_BROKER_URL=app.conf.broker_url,
        CELERY_RESULT_BACKEND=app.conf.result_backend,
        PYTHONUNBUFFERED="1",
        CREDENCE_TEST_QUEUE=queue,  # tasks the worker itself queues may be routed back to it (tests/agents/scripted.py)
        **(env or {}),
    )
    with open(log_path, "w") as log:
        proc = subprocess.Popen(  # noqa: S603 (fixed argv)
            [
                *[sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO"],
                *["--pool", "prefork", "--concurrency", "1", "--queues", queue, "--hostname", f"{queue}@%h"],
                *["--without-mingle", "--without-gossip", "--without-heartbeat"],
                *[arg for module in include for arg in ("--include", module)],
            ],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its pool processes share its group: one killpg reaches them all
        )
    try:
        yield proc, queue
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # a pool process that outlived the main one
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
