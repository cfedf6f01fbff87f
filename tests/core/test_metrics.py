"""/metrics: who may read it, and that each counter and gauge moves when its event happens, by exactly as
much, scraped before and after through the view as Prometheus scrapes it. Counters count after commit, so
the tests that commit run the transaction's on-commit callbacks (django_capture_on_commit_callbacks) and the
ones that roll back prove nothing was counted."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from apps.agents.models import HostedAgent
from apps.agents.services import run_execute
from apps.core.models import Event, OutboxCursor
from apps.core.services import event_emit
from apps.core.tasks import ping
from apps.reviews import metrics as review_metrics
from apps.reviews.models import ReviewRequest
from apps.webhooks import services as webhooks
from config.celery import app as celery_app
from tests import factories
from tests.support import routed, signed_in
from tests.webhooks.receivers import receiving, subscribe

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-for-the-tests-0123456789"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _token():
    with override_settings(CREDENCE_METRICS_TOKEN=TOKEN):
        yield


def scrape() -> dict:
    """Every sample /metrics answers, as {(name, ((label, value), ...)): value}."""
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:500]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def moved(before: dict, after: dict, name: str, **labels) -> float:
    """How far a counter or gauge moved between two scrapes (a series not there yet counts as 0)."""
    return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)


def db_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


# --- Who may read it --------------------------------------------------------------------------------------


def test_metrics_are_a_404_for_an_anonymous_visitor_and_a_member():
    assert Client().get("/metrics").status_code == 404
    assert signed_in(factories.verified_user()).get("/metrics").status_code == 404


def test_metrics_are_served_with_the_token_and_to_staff():
    with_token = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    as_staff = signed_in(factories.verified_user(is_staff=True)).get("/metrics")

    for response in (with_token, as_staff):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "no-cache" in response["Cache-Control"]
        assert "# TYPE credence_http_requests_total counter" in response.content.decode()


def test_a_wrong_token_is_a_401_even_for_staff():
    staff = signed_in(factories.verified_user(is_staff=True))

    response = staff.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"credence_" not in response.content


def test_without_a_configured_token_no_token_is_accepted():
    with override_settings(CREDENCE_METRICS_TOKEN=""):
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer x").status_code == 401


# --- Requests ---------------------------------------------------------------------------------------------


def test_a_request_is_counted_under_its_route_and_status_and_timed():
    before = scrape()

    Client().get("/favicon.ico")
    Client().get("/api/v1/claims/987654")
    Client().get("/no/such/page")

    after = scrape()
    assert moved(before, after, "credence_http_requests_total", method="GET", route="/favicon.ico", status="302") == 1
    assert moved(before, after, "credence_http_request_duration_seconds_count", method="GET", route="/favicon.ico") == 1
    api = {"method": "GET", "route": "/api/v1/claims/<claim_id>"}
    assert moved(before, after, "credence_http_requests_total", **api, status="404") == 1
    assert moved(before, after, "credence_http_request_duration_seconds_count", **api) == 1
    assert moved(before, after, "credence_http_requests_total", method="GET", route="unmatched", status="404") == 1
    # The pattern, never the path: no series names the claim's id or the unknown page.
    assert not [key for key in after if "987654" in str(key) or "/no/such" in str(key)]


# --- Counters of the domain -------------------------------------------------------------------------------


def test_a_trade_is_counted_once_it_commits(django_capture_on_commit_callbacks):
    claim, trader = factories.new_claim(), factories.human()
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        factories.buy(trader, claim, "yes", credits=2)

    after = scrape()
    assert moved(before, after, "credence_trades_total", side="yes") == 1
    assert moved(before, after, "credence_trades_total", side="no") == 0


def test_a_trade_rolled_back_is_not_counted(django_capture_on_commit_callbacks):
    claim, trader = factories.new_claim(), factories.human()
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        factories.buy(trader, claim, "no")
        raise RuntimeError("the caller's transaction fails after the trade")

    assert moved(before, scrape(), "credence_trades_total", side="no") == 0


def test_a_settlement_is_counted_once_and_its_replay_not_at_all(django_capture_on_commit_callbacks):
    claim = factories.new_claim()
    factories.buy(factories.human(), claim, "yes")
    claim = factories.resolve(claim, "yes", settled=False)
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        factories.settle(claim)
    once = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        factories.settle(claim)  # already settled: returns the first transfer

    assert moved(before, once, "credence_settlements_total", outcome="yes") == 1
    assert moved(once, scrape(), "credence_settlements_total", outcome="yes") == 0


def test_an_agent_run_is_counted_by_its_outcome(django_capture_on_commit_callbacks):
    agent = factories.hosted()
    gone = factories.hosted()
    HostedAgent.objects.filter(pk=gone.pk).update(strategy="no-longer-offered")
    runs = factories.manual_run(agent), factories.manual_run(gone)
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        states = [run_execute(run_id=run.pk) for run in runs]

    after = scrape()
    assert states == ["succeeded", "failed"]
    assert moved(before, after, "credence_agent_runs_total", outcome="succeeded") == 1
    assert moved(before, after, "credence_agent_runs_total", outcome="failed") == 1


def test_a_webhook_delivery_attempt_is_counted_by_what_it_led_to(django_capture_on_commit_callbacks):
    bot = factories.agent()
    with receiving(status=500) as receiver:
        subscription, _secret = subscribe(bot, receiver.url)
        webhooks.ping_send(subscription=subscription)  # its own on-commit (queue the sender) never runs here
        before = scrape()
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.deliveries_send_due()
        failed_once = scrape()
        receiver.status = 204
        delivery = subscription.deliveries.get()
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.deliveries_send_due(now=delivery.next_attempt_at)
    after = scrape()

    assert moved(before, failed_once, "credence_webhook_deliveries_total", outcome="retrying") == 1
    assert moved(before, failed_once, "credence_webhook_deliveries_total", outcome="delivered") == 0
    assert moved(failed_once, after, "credence_webhook_deliveries_total", outcome="delivered") == 1
    assert moved(failed_once, after, "credence_webhook_deliveries_total", outcome="retrying") == 0


# --- Gauges read at scrape time ---------------------------------------------------------------------------


def test_the_review_queue_shows_an_opened_request_and_its_age():
    requester = factories.agent()
    before = scrape()

    request = factories.paused(requester, checkpoint="explicit")
    # An hour older than the instant the reader measures from (the transaction's start: this test's).
    ReviewRequest.objects.filter(pk=request.pk).update(created_at=db_now() - timedelta(hours=1))

    after = scrape()
    assert value(before, "credence_review_queue_depth", checkpoint="explicit") is None  # nothing open: no series
    assert value(after, "credence_review_queue_depth", checkpoint="explicit") == 1
    assert value(after, "credence_review_queue_oldest_age_seconds", checkpoint="explicit") == 3600
    assert value(after, "credence_metrics_reader_up", reader="reviews") == 1


def test_the_outbox_lag_counts_an_event_written_past_a_cursor():
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_current(), coalesce(max(id), 0) FROM core_event")
        txid, last = cursor.fetchone()
    # A consumer that has read everything up to now (in this transaction's own place in the order).
    OutboxCursor.objects.create(name="metrics-test", txid=txid, event_id=last)
    before = scrape()

    event = event_emit(kind="identity.updated", subject="identity:1", payload={"fields": ["description"]})
    Event.objects.filter(pk=event.pk).update(created_at=db_now() - timedelta(minutes=10))

    after = scrape()
    assert value(before, "credence_outbox_lag_events", consumer="metrics-test") == 0
    assert value(before, "credence_outbox_lag_oldest_age_seconds", consumer="metrics-test") == 0
    assert value(after, "credence_outbox_lag_events", consumer="metrics-test") == 1
    assert value(after, "credence_outbox_lag_oldest_age_seconds", consumer="metrics-test") == 600


def test_the_celery_queue_length_counts_the_tasks_waiting_in_redis():
    queue = "metrics-test"  # no worker consumes it
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)  # what an interrupted run may have left
    try:
        with routed("core.ping", queue):
            before = scrape()
            ping.apply_async()
            ping.apply_async()
            after = scrape()
    finally:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)

    assert value(before, "credence_celery_queue_length", queue=queue) == 0
    assert value(after, "credence_celery_queue_length", queue=queue) == 2
    assert value(after, "credence_metrics_reader_up", reader="celery") == 1


def test_a_reader_that_fails_is_left_out_and_the_scrape_goes_on(monkeypatch, caplog):
    def broken():
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
        return []

    monkeypatch.setattr(review_metrics, "open_by_checkpoint", broken)

    after = scrape()  # the failed query rolled back its savepoint: the next readers still query

    assert value(after, "credence_metrics_reader_up", reader="reviews") == 0
    assert value(after, "credence_metrics_reader_up", reader="outbox") == 1
    assert not [key for key in after if key[0].startswith("credence_review_queue")]
    [failure] = [r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "metrics_reader_failed"]
    assert failure.msg["reader"] == "reviews"
    assert failure.levelname == "ERROR"


# --- Several processes ------------------------------------------------------------------------------------

_COUNT_IN_ANOTHER_PROCESS = (
    "import django; django.setup(); from apps.core import metrics; metrics.TRADES.labels(side='no').inc()"
)


def test_with_a_multiprocess_folder_the_counters_of_every_process_are_added_up(tmp_path):
    """Two other processes (a web worker, a Celery worker) count into the folder; /metrics adds them up."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    for _ in range(2):
        subprocess.run(  # noqa: S603 (fixed argv)
            [sys.executable, "-c", _COUNT_IN_ANOTHER_PROCESS], cwd=ROOT, env=env, check=True, timeout=120
        )

    with override_settings(PROMETHEUS_MULTIPROC_DIR=str(tmp_path)):
        samples = scrape()

    assert value(samples, "credence_trades_total", side="no") == 2
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process, named by host and pid
    assert value(samples, "credence_metrics_reader_up", reader="outbox") == 1  # gauges are read as ever
