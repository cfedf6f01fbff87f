"""Logs (apps/core/logs.py): JSON lines that carry the request id, from the access log, from any stdlib logger,
from a socket's consumer and from a Celery worker running a task a request queued; production settings write
JSON, local ones readable lines."""

import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import Client, RequestFactory

from apps.core import logs
from apps.core.context import RequestContext, request_context
from apps.core.middleware import RequestContextMiddleware
from apps.core.tasks import ping
from apps.realtime.consumers import MeConsumer
from tests import factories
from tests.support import bearer, celery_worker, signed_in, worker_result, worker_wait

ROOT = Path(__file__).resolve().parents[2]
NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines():
    """What the root logger writes while the test runs, through the JSON formatter, parsed line by line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["event"] == "http_request"]


# --- Requests ---------------------------------------------------------------------------------------------


def test_the_id_a_client_sends_comes_back_and_is_on_the_access_line(json_lines):
    response = Client().get("/favicon.ico", HTTP_X_REQUEST_ID="abcdef123456")

    assert response["X-Request-ID"] == "abcdef123456"
    [line] = access_lines(json_lines())
    duration, timestamp = line.pop("duration_ms"), line.pop("timestamp")
    assert line == {
        "event": "http_request",
        "level": "info",
        "logger": "credence.access",
        "method": "GET",
        "path": "/favicon.ico",
        "route": "/favicon.ico",
        "status": 302,
        "request_id": "abcdef123456",
    }
    assert isinstance(duration, float) and duration >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", timestamp)


@pytest.mark.parametrize("offered", ["bad id!", "short", "x" * 65, ""])
def test_an_id_that_is_not_plain_is_replaced_by_a_new_one(json_lines, offered):
    response = Client().get("/favicon.ico", HTTP_X_REQUEST_ID=offered)

    assert NEW_ID.fullmatch(response["X-Request-ID"])
    [line] = access_lines(json_lines())
    assert line["request_id"] == response["X-Request-ID"]


@pytest.mark.django_db
def test_the_access_line_names_the_signed_in_person(json_lines):
    user = factories.verified_user()

    signed_in(user).get("/favicon.ico", HTTP_X_REQUEST_ID="abcdef123456")

    [line] = access_lines(json_lines())
    assert (line["request_id"], line["user_id"]) == ("abcdef123456", user.pk)


@pytest.mark.django_db
def test_the_access_line_names_an_api_key_s_agent_and_its_owner(json_lines):
    bot = factories.agent()
    key = factories.api_key(bot)

    response = Client().get("/api/v1/me", headers=bearer(key))

    assert response.status_code == 200
    [line] = access_lines(json_lines())
    assert (line["route"], line["status"]) == ("/api/v1/me", 200)
    assert (line["user_id"], line["identity_id"]) == (bot.owner_id, bot.pk)


@pytest.mark.django_db
def test_an_anonymous_request_names_no_one(json_lines):
    Client().get("/favicon.ico")

    [line] = access_lines(json_lines())
    assert "user_id" not in line and "identity_id" not in line


def test_a_probe_answered_is_logged_at_debug_only(json_lines, monkeypatch):
    monkeypatch.setattr("apps.core.views.health_report", lambda: (True, {}))

    Client().get("/healthz")

    assert access_lines(json_lines()) == []  # the root logger is at INFO


# --- Any logger, inside a context ---------------------------------------------------------------------------


def test_a_stdlib_logger_s_line_carries_the_context_and_its_extra_fields(json_lines):
    with request_context(RequestContext("abcdef123456", ip="192.0.2.1", user_id=7)):
        logging.getLogger("apps.example").warning("moved %s credits", 3, extra={"claim": 9})
    logging.getLogger("apps.example").warning("outside any request")

    inside, outside = json_lines()
    inside.pop("timestamp")
    assert inside == {
        "event": "moved 3 credits",
        "level": "warning",
        "logger": "apps.example",
        "request_id": "abcdef123456",
        "user_id": 7,
        "claim": 9,
    }
    assert "request_id" not in outside


def test_an_exception_is_one_json_line_with_its_traceback(json_lines):
    try:
        raise ValueError("the reason")
    except ValueError:
        logging.getLogger("apps.example").exception("it failed")

    [line] = json_lines()
    assert line["event"] == "it failed"
    assert line["level"] == "error"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: the reason")


# --- Which settings log how -------------------------------------------------------------------------------

_LOG_ONE_LINE = (
    "import django, logging; django.setup();"
    "from apps.core.context import RequestContext, request_context;"
    "ctx = request_context(RequestContext('abcdef123456')); ctx.__enter__();"
    "logging.getLogger('django.request').warning('Not Found: %s', '/missing')"
)


def _settings_env(module: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LOG_"))}
    env.update(
        DJANGO_SETTINGS_MODULE=module,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL="postgres://credence:secret@db.internal:5432/credence",  # never connected to
        REDIS_URL="redis://cache.internal:6379/0",
        **extra,
    )
    return env


def _log_one_line(env: dict) -> str:
    result = subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, "-c", _LOG_ONE_LINE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_production_settings_write_one_json_object_per_line():
    [line] = _log_one_line(_settings_env("config.settings.production")).splitlines()

    record = json.loads(line)
    record.pop("timestamp")
    assert record == {
        "event": "Not Found: /missing",
        "level": "warning",
        "logger": "django.request",
        "request_id": "abcdef123456",
    }


def test_local_settings_write_readable_lines_and_log_format_json_switches_them(tmp_path):
    console = _log_one_line(_settings_env("config.settings.local", CREDENCE_DATA_DIR=str(tmp_path)))
    as_json = _log_one_line(_settings_env("config.settings.local", CREDENCE_DATA_DIR=str(tmp_path), LOG_FORMAT="json"))

    [line] = console.splitlines()
    assert re.fullmatch(
        r"\S+Z \[warning\s*\] Not Found: /missing\s+\[django\.request\] request_id=abcdef123456", line.strip()
    )
    assert json.loads(as_json)["request_id"] == "abcdef123456"


def test_an_unknown_log_format_is_refused():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=_settings_env("config.settings.production", LOG_FORMAT="xml"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "LOG_FORMAT must be one of console, json, not 'xml'" in result.stderr


# --- A socket ---------------------------------------------------------------------------------------------


# Channels closes the thread's database connection around each message unless it is in autocommit mode.
@pytest.mark.django_db(transaction=True)
def test_a_socket_s_lines_share_an_id_of_their_own(json_lines):
    scope = {"type": "websocket", "path": "/ws/me/", "query_string": b"", "headers": [], "subprotocols": []}
    scope["user"] = AnonymousUser()

    async def connect_and_leave() -> int:
        socket = ApplicationCommunicator(MeConsumer.as_asgi(), scope)
        await socket.send_input({"type": "websocket.connect"})
        assert (await socket.receive_output(2))["type"] == "websocket.accept"
        closed = await socket.receive_output(2)
        await socket.send_input({"type": "websocket.disconnect", "code": closed["code"]})
        await socket.wait(1)
        return closed["code"]

    code = async_to_sync(connect_and_leave)()

    lines = [line for line in json_lines() if line["logger"] == "apps.realtime.consumers"]
    assert [(line["event"], line.get("code")) for line in lines] == [
        ("websocket_connect", None),
        ("websocket_refused", 4401),
        ("websocket_disconnect", 4401),
    ]
    assert code == 4401
    assert {line["path"] for line in lines} == {"/ws/me/"}
    [socket_id] = {line["request_id"] for line in lines}
    assert NEW_ID.fullmatch(socket_id)


# --- A worker ---------------------------------------------------------------------------------------------


def _task_done_line(log_path: Path, task_id: str) -> dict | None:
    """The worker's JSON line saying the task succeeded (written just after its result is stored)."""
    for line in log_path.read_text().splitlines():
        if line.startswith("{") and (record := json.loads(line))["event"].startswith(
            f"Task core.ping[{task_id}] succeeded"
        ):
            return record
    return None


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_task_a_request_queued_runs_under_the_request_s_id(tmp_path):
    log_path = tmp_path / "worker.log"
    queued = []

    def view(request):
        queued.append(ping.apply_async(queue=queue))
        return HttpResponse("queued")

    with celery_worker(log_path, env={"LOG_FORMAT": "json"}) as (proc, queue):
        # given a request that sends its own id and queues a task
        response = RequestContextMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID="abcdef123456"))
        # when the worker runs it, and a task queued outside any request
        reply = worker_result(queued[0], proc, log_path)
        alone = ping.apply_async(queue=queue)
        reply_alone = worker_result(alone, proc, log_path)
        done = worker_wait(lambda: _task_done_line(log_path, queued[0].id), proc, log_path, "the first task's line")
        done_alone = worker_wait(lambda: _task_done_line(log_path, alone.id), proc, log_path, "the second task's line")

    # then the task ran under the request's id, and the other under one of its own
    assert response["X-Request-ID"] == "abcdef123456"
    assert reply["request_id"] == "abcdef123456"
    assert NEW_ID.fullmatch(reply_alone["request_id"])
    # and the worker's lines say so, as JSON, with the task
    assert (done["request_id"], done["task"], done["task_id"]) == ("abcdef123456", "core.ping", queued[0].id)
    assert (done_alone["request_id"], done_alone["task_id"]) == (reply_alone["request_id"], alone.id)
