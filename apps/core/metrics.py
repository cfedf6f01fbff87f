"""Prometheus metrics: what the running system counts, and what /metrics reads at scrape time.

Counters (apps import them from here, the bottom layer, and count once a change has committed):

- `credence_http_requests_total{method, route, status}` and the histogram
  `credence_http_request_duration_seconds{method, route}`: every request, by its URL pattern (never the raw
  path: one series per route, however many claims there are), from apps.core.middleware.AccessLogMiddleware.
- `credence_trades_total{side}`: trades placed (apps/markets/services.py `_placed`).
- `credence_settlements_total{outcome}`: markets settled, paid out (apps/markets/settlement.py).
- `credence_agent_runs_total{outcome}`: hosted agents' runs finished: succeeded, failed, stopped, timed_out
  (apps/agents/services.py `_finish`).
- `credence_webhook_deliveries_total{outcome}`: webhook delivery attempts by what they led to: delivered;
  retrying (the attempt failed, another is scheduled); failed (the last attempt failed; retries have ended)
  (apps/webhooks/services.py `deliveries_record`).

Scrape-time gauges, read from the database and the broker when /metrics is asked (`gauges()` registers
their readers; a reader that fails is logged and left out, and the scrape goes on):

- `credence_review_queue_depth{checkpoint}`, `credence_review_queue_oldest_age_seconds{checkpoint}`: open
  review requests (apps/reviews/metrics.py).
- `credence_celery_queue_length{queue}`: tasks waiting in the broker (Redis or the filesystem broker).
- `credence_outbox_lag_events{consumer}`, `credence_outbox_lag_oldest_age_seconds{consumer}`: events each
  durable outbox consumer has not read yet, and how old the oldest of them is.
- `credence_metrics_reader_up{reader}`: 1 when the reader answered at this scrape, 0 when it failed.

Several processes. With PROMETHEUS_MULTIPROC_DIR set, prometheus_client keeps each process's counters in a
file of that folder, and /metrics adds up every file: gunicorn's or uvicorn's workers and the Celery
workers of one host, writing to one folder, are scraped once, through any web process.
"""

import os
import socket
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from functools import partial

import structlog
from django.db import transaction
from django.db.models import DateTimeField, Func
from kombu.exceptions import ChannelError
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric

log = structlog.get_logger(__name__)

# The text format every Prometheus reads (our names need none of 1.0.0's escaping).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Each process's file is named after its pid, and processes in different containers sharing one folder
    # (docker/compose.yaml) can have the same pid: the host name (a container's id) tells them apart.
    # prometheus_client reads `values.ValueClass` each time a series is created, so this must run before
    # the first one is, as it does: every series below is labelled, created on first use.
    _host = socket.gethostname().replace("_", "-")
    values.ValueClass = values.MultiProcessValue(lambda: f"{_host}-{os.getpid()}")

# `_created` series double every counter for nothing a dashboard reads (and multi-process mode drops them).
disable_created_metrics()

HTTP_REQUESTS = Counter(
    "credence_http_requests",
    "HTTP requests answered, by route (URL pattern) and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "credence_http_request_duration_seconds",
    "Time from the request reaching the app to its answer leaving it, by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TRADES = Counter("credence_trades", "Trades placed (committed).", ["side"])
SETTLEMENTS = Counter("credence_settlements", "Markets settled (committed), by outcome.", ["outcome"])
AGENT_RUNS = Counter("credence_agent_runs", "Hosted agents' runs finished (committed), by outcome.", ["outcome"])
WEBHOOK_DELIVERIES = Counter(
    "credence_webhook_deliveries",
    "Webhook delivery attempts recorded, by outcome: delivered, retrying, failed (retries ended).",
    ["outcome"],
)


def count_on_commit(counter: Counter, amount: int = 1, **labels: str) -> None:
    """Count once the current transaction commits (at once outside one); never if it rolls back. Robust: a
    metric that fails (a full disk under the multi-process folder) is logged, and what committed stands."""
    transaction.on_commit(partial(_count, counter, labels, amount), robust=True)


def _count(counter: Counter, labels: dict, amount: int) -> None:
    counter.labels(**labels).inc(amount)


def request_observe(*, method: str, route: str, status: int, seconds: float) -> None:
    """One answered request, in the requests counter and the latency histogram; never raises."""
    try:
        HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
        HTTP_DURATION.labels(method=method, route=route).observe(seconds)
    except Exception:
        log.exception("metrics_request_failed", route=route)


# --- Scrape-time gauges ----------------------------------------------------------------------------------


class TransactionStart(Func):
    """The time the current transaction started (PostgreSQL's now(); Django's Now() is the statement's): each
    reader runs in a transaction of its own, so every age it reports is measured against one instant."""

    template = "CURRENT_TIMESTAMP"
    output_field = DateTimeField()


Reader = Callable[[], Iterable[Metric]]
_READERS: dict[str, tuple[Reader, bool]] = {}


def gauges(name: str, *, database: bool = True) -> Callable[[Reader], Reader]:
    """Register a reader of scrape-time gauges under `name` (a decorator): it returns metric families,
    built at each scrape from cheap reads (of the database, unless database=False). Apps above core register
    theirs in their AppConfig.ready()."""

    def register(reader: Reader) -> Reader:
        _READERS[name] = (reader, database)
        return reader

    return register


class _ScrapeTime:
    """Runs every registered reader. One that reads the database runs in its own transaction (a savepoint
    inside one), so a query that fails leaves the connection usable for the next. A failure is logged and
    the reader's gauges left out; a reader that needs no database answers even when the database does not."""

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "credence_metrics_reader_up", "1 if the reader answered at this scrape.", labels=["reader"]
        )
        for name, (reader, database) in sorted(_READERS.items()):
            try:
                with transaction.atomic() if database else nullcontext():
                    families = list(reader())
            except Exception:
                log.exception("metrics_reader_failed", reader=name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def exposition(*, multiprocess_dir: str = "") -> bytes:
    """What /metrics answers: the counters (this process's, or with `multiprocess_dir` every process's
    files there), then the scrape-time gauges."""
    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)
    else:
        registry = REGISTRY
    scrape_time = CollectorRegistry(auto_describe=False)
    scrape_time.register(_ScrapeTime())
    return generate_latest(registry) + generate_latest(scrape_time)


# --- Core's own gauges: the outbox and the broker -------------------------------------------------------


@gauges("outbox")
def _outbox() -> list[Metric]:
    from apps.core.outbox import outbox_lags

    events = GaugeMetricFamily(
        "credence_outbox_lag_events", "Outbox events a durable consumer has not read yet.", labels=["consumer"]
    )
    age = GaugeMetricFamily(
        "credence_outbox_lag_oldest_age_seconds",
        "Age of the oldest outbox event a durable consumer has not read yet (0 when none).",
        labels=["consumer"],
    )
    for lag in outbox_lags():
        events.add_metric([lag.consumer], lag.events)
        age.add_metric([lag.consumer], lag.oldest_age.total_seconds() if lag.oldest_age else 0)
    return [events, age]


_COUNTED_BROKERS = ("redis", "filesystem")


@gauges("celery", database=False)
def _celery_queues() -> list[Metric]:
    """Tasks waiting in each queue the app sends to: on Redis, the lengths of the queue's lists (one per
    priority step); on the filesystem broker, its message files. Other brokers are not counted."""
    from config.celery import app

    length = GaugeMetricFamily("credence_celery_queue_length", "Tasks waiting in the broker.", labels=["queue"])
    with app.connection_for_read() as connection:
        if connection.transport.driver_type not in _COUNTED_BROKERS:
            return []
        connection.ensure_connection(max_retries=1, timeout=2)
        channel = connection.default_channel
        for queue in sorted(_queue_names(app)):
            # A passive declare reads the length and creates nothing; on Redis an empty queue has no list
            # at all, which the declare reports as "not found".
            try:
                waiting = channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:
                waiting = 0
            length.add_metric([queue], waiting)
    return [length]


def _queue_names(app) -> set[str]:
    conf = app.conf
    names = {conf.task_default_queue}
    names.update(queue.name for queue in conf.task_queues or ())
    routes = conf.task_routes if isinstance(conf.task_routes, dict) else {}
    names.update(route["queue"] for route in routes.values() if isinstance(route, dict) and "queue" in route)
    return names
