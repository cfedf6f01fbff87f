"""From a decision's commit to its continuation's commit, with a real Celery worker: p50, p90, p99 and max, on the
broker the test settings use (Redis, REDIS_URL) and on the embedded one (kombu's `filesystem://` transport, what
the product runs on without Redis). Target on this machine: p50 < 200 ms, p99 < 1 s.

One decision at a time: open a request paused at the test checkpoint, take it as the agent's owner, approve it,
wait until its continuation has committed, next. The worker is the one tests/reviews/test_worker.py starts
(tests.support.celery_worker: prefork, one process, a queue of its own that `reviews.resume` is routed to, this
run's test database); it also imports this module, which gives it the continuation below. The first few
decisions of each leg are not counted: a fresh pool process opens its database connection on its first task.

The two instants, both time.time() on this machine's one clock:
- The decision's commit: taken in the test right after `review_decide` returns. It is @transaction.atomic, so
  it has committed; the continuation was queued (`resume.delay`, in transaction.on_commit) before it returned,
  so the figures leave out the publish itself (one Redis LPUSH, or one file written) and are short of the true
  interval by that much.
- The continuation's commit: the continuation registers a transaction.on_commit callback that appends
  "<request id> <time.time()>" to the leg's commits file. It runs in the worker right after review_resume's
  COMMIT returns, so it has no polling error (the test polls the file only to know when to go on).
  `resumed_at` would read early: review_resume takes it before writing its events and committing; the table
  shows by how much ("resumed_at lead").

The filesystem transport polls: a worker waiting for a message lists the folder, finds nothing and sleeps
its `polling_interval` (the product sets CREDENCE_EMBEDDED_BROKER_POLL_SECONDS, 0.1 s; kombu's default of
1.0 s gave p50 529 ms and p99 1,005 ms here), so a message waits up to that long. Deciding right after the
previous resume keeps every decision in step with the worker's poll: the
worker went back to sleep just after taking the previous message, so each decision waits almost the whole
interval (tried with 20 decisions: p50 920 ms, max 1044 ms). So on that leg the test first pauses a random
fraction of the interval, and a decision arrives at a random moment of the cycle, as a person's would. Redis
delivers on push (BRPOP): no pause there.

For the filesystem leg this process's Celery app is pointed at a folder under tmp_path (the product's
transport options: one data folder in and out, a processed folder, store_processed off) and its connection
and producer pools are dropped, so `resume.delay` writes files there; the worker gets the same folder through
CREDENCE_DATA_DIR. The worker's only broker is that folder, so every resume it runs was published there.

Knobs (environment): BENCH_RESUME_DECISIONS (per broker, default 200).
"""

import os
import random
import re
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import kombu.pools
import pytest
from django.conf import settings
from django.db import transaction
from kombu.transport.filesystem import Transport as FilesystemTransport

from apps.reviews import checkpoints, services
from apps.reviews.models import ReviewEvent, ReviewRequest
from config.celery import app
from tests import factories
from tests.bench.harness import database_url, env_number, print_table
from tests.reviews import worker_continuations as continuations
from tests.support import celery_worker, routed, worker_wait

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1800)]

DECISIONS = int(env_number("BENCH_RESUME_DECISIONS", 200))
WARMUP = 3
CONTINUATION = "test.bench.resume_latency"
WORKER_ENV = "CREDENCE_BENCH_RESUME_WORKER"


def resume_noting_commit(request) -> dict:
    """Does nothing but note, once its transaction has committed, when that was."""
    path, request_id = Path(request.payload["commits"]), request.pk

    def note() -> None:
        with path.open("a") as commits:
            commits.write(f"{request_id} {time.time()!r}\n")

    transaction.on_commit(note)
    return {}


if os.environ.get(WORKER_ENV) == "1":  # in the worker, which imports this module (--include)
    checkpoints.continuation(CONTINUATION)(resume_noting_commit)


@pytest.fixture(autouse=True)
def _registered():
    continuations.register()  # the test checkpoint the requests pause at
    yield
    continuations.unregister()


def _use_broker(url: str, options: dict) -> None:
    """Point this process's Celery app at `url`. The app caches its connection pool and producer pool, made for
    the broker it first published to: drop them (kombu keeps each broker's pool, keyed by URL and options, so
    switching back finds the old one)."""
    app.conf.update(broker_url=url, broker_transport_options=options)
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def _broker(url: str, options: dict):
    saved = app.conf.broker_url, dict(app.conf.broker_transport_options or {})
    _use_broker(url, options)
    try:
        with app.producer_or_acquire() as producer:
            driver = producer.connection.transport.driver_type
        yield driver
    finally:
        # Close every pool and forget them: kombu keeps its pools in a registry keyed by connection, so a pool
        # only closed would be handed back to the next publisher ("Acquire on closed pool": the benches after
        # this one could not queue a task).
        kombu.pools.reset()
        _use_broker(*saved)


@contextmanager
def _worker(folder: Path, env: dict):
    """A worker on the app's current broker with this module's continuation, ready to take tasks; yields
    (process, log path)."""
    log_path = folder / "worker.log"
    env = {"DATABASE_URL": database_url(), WORKER_ENV: "1", **env}
    with celery_worker(log_path, include=(__name__,), env=env) as (proc, queue), routed("reviews.resume", queue):
        _wait(lambda: " ready." in log_path.read_text(), proc, log_path, "the worker ready", timeout=120)
        yield proc, log_path


def _wait(condition, proc, log_path: Path, what: str, timeout: float = 30):
    return worker_wait(condition, proc, log_path, what, timeout=timeout, every=0.002)


def _commits(path: Path) -> dict[int, list[float]]:
    """Each request's commit times as the worker noted them (one each, unless a continuation committed twice)."""
    found: dict[int, list[float]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        request_id, at = line.split()
        found.setdefault(int(request_id), []).append(float(at))
    return found


def _decide_and_wait(leg: str, i: int, bot, owner, commits: Path, proc, log_path: Path) -> tuple[int, float, float]:
    """One decision through the services; returns (request id, decision's commit, continuation's commit)."""
    review = factories.paused(
        bot,
        checkpoint=continuations.CHECKPOINT,
        subject="test:latency",
        payload={"commits": str(commits)},
        key=f"latency-{leg}-{i}",
        continuation=CONTINUATION,
    )
    assignment = services.review_take_next(reviewer=owner)
    assert assignment.request_id == review.pk
    services.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="approve")
    decided = time.time()  # review_decide has committed, and queued the continuation on commit
    [committed] = _wait(lambda: _commits(commits).get(review.pk), proc, log_path, f"request {review.pk} resumed")
    return review.pk, decided, committed


def _ms(ordered: list[float], q: float) -> str:
    """The q-quantile (nearest rank) of sorted seconds, in ms."""
    return f"{1000 * ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]:.1f}"


def test_a_decisions_continuation_commits_soon_after_it_on_redis_and_on_the_filesystem_broker(tmp_path):
    bot = factories.agent(handle="latency-bot")
    owner = factories.human(bot.owner)
    data = tmp_path / "data"
    folder = data / "celery"
    filesystem_options = {  # what config/settings/base.py and config/celery.py make of CREDENCE_DATA_DIR
        "data_folder_in": str(folder / "broker"),
        "data_folder_out": str(folder / "broker"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        "polling_interval": settings.CREDENCE_EMBEDDED_BROKER_POLL_SECONDS,
        "control_folder": str(folder / "control"),
    }
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        Path(filesystem_options[key]).mkdir(parents=True, exist_ok=True)
    polling = settings.CREDENCE_EMBEDDED_BROKER_POLL_SECONDS  # the product's (kombu's default is 1 s)
    legs = [
        ("redis", app.conf.broker_url, dict(app.conf.broker_transport_options or {}), {}, 0.0),
        ("filesystem", "filesystem://localhost/", filesystem_options, {"CREDENCE_DATA_DIR": str(data)}, polling),
    ]

    rows, ids, commits_of = [], {}, {}
    for leg, url, options, env, pause in legs:
        (tmp_path / leg).mkdir()
        commits = tmp_path / leg / "commits"
        with _broker(url, options) as driver, _worker(tmp_path / leg, env) as (proc, log_path):
            assert driver == leg  # this process publishes to the leg's broker
            assert f"transport:   {url.split(':')[0]}://" in log_path.read_text()  # and the worker reads it
            latencies, leads, ids[leg] = [], [], []
            for i in range(WARMUP + DECISIONS):
                time.sleep(random.uniform(0, pause))
                request_id, decided, committed = _decide_and_wait(leg, i, bot, owner, commits, proc, log_path)
                ids[leg].append(request_id)
                if i >= WARMUP:
                    latencies.append(committed - decided)
                    resumed_at = ReviewRequest.objects.values_list("resumed_at", flat=True).get(pk=request_id)
                    leads.append(committed - resumed_at.timestamp())
            received = len(re.findall(r"Task reviews\.resume\[[0-9a-f-]+\] received", log_path.read_text()))
        commits_of[leg] = _commits(commits)
        ordered = sorted(latencies)
        rows.append(
            [
                leg,
                f"{pause:.1f}",
                len(ordered),
                _ms(ordered, 0.50),
                _ms(ordered, 0.90),
                _ms(ordered, 0.99),
                f"{1000 * ordered[-1]:.1f}",
                f"{1000 * statistics.median(leads):.1f}",
                received,
            ]
        )

    print_table(
        f"Decision commit -> continuation commit, one decision at a time, a real worker (prefork x1) "
        f"(cpus: {os.cpu_count()}; {WARMUP} warm-up decisions per broker not counted)",
        [
            "broker",
            "pause max s",
            "decisions",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "resumed_at lead ms",
            "deliveries",
        ],
        rows,
    )
    print(
        f"  filesystem transport polling_interval: {polling} s (CREDENCE_EMBEDDED_BROKER_POLL_SECONDS; kombu's "
        f"default, {FilesystemTransport.polling_interval} s, gave p50 529 ms, p99 1,005 ms); "
        "target p50 < 200 ms, p99 < 1 s"
    )

    # every request was decided and resumed exactly once: one commit noted, one "resumed" event, resumed_at set
    for leg, requested in ids.items():
        assert len(requested) == WARMUP + DECISIONS
        assert {request_id: len(times) for request_id, times in commits_of[leg].items()} == dict.fromkeys(requested, 1)
    everyone = sorted(request_id for requested in ids.values() for request_id in requested)
    resumed = ReviewEvent.objects.filter(request_id__in=everyone, kind="resumed").order_by("request_id")
    assert list(resumed.values_list("request_id", "detail")) == [
        (pk, {"result": {"continued": True}}) for pk in everyone
    ]
    finished = ReviewRequest.objects.filter(pk__in=everyone, resumed_at__isnull=False).order_by("pk")
    assert list(finished.values_list("pk", "state", "resume_result")) == [
        (pk, "approved", {"continued": True}) for pk in everyone
    ]
