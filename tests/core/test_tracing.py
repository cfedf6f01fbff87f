"""Tracing (apps/core/tracing.py): off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; on, a request's span reaches
an OTLP/HTTP collector (here a local one on 127.0.0.1) tagged with the request id, as does the span of a task
queued in a request's context, and the request's log lines name its trace. The traced process is a child:
tracing, once on, stays on in its process."""

import contextlib
import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.core.tracing import REQUEST_ID_ATTRIBUTE, tracing_configure

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def collector() -> Iterator[tuple[str, list]]:
    """An OTLP/HTTP trace collector on 127.0.0.1: yields its endpoint and the (path, export request) received."""
    received: list[tuple[str, ExportTraceServiceRequest]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.append((self.path, ExportTraceServiceRequest.FromString(body)))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_tracing_is_off_without_an_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    middleware = list(settings.MIDDLEWARE)

    assert tracing_configure("credence-web") is False
    assert middleware == settings.MIDDLEWARE


# The web entry point (config/wsgi.py) turns tracing on before Django builds its middleware; the test client
# then serves one request through the same settings.
# A task queued in a request's context is traced too (a queue nobody consumes, purged after).
_ONE_TRACED_REQUEST = """
import config.wsgi
from django.test import Client
from opentelemetry import trace
from apps.core.context import RequestContext, request_context
from apps.core.tasks import ping
from config.celery import app
response = Client().get("/favicon.ico", HTTP_HOST="localhost", HTTP_X_REQUEST_ID="trace-abcdef123456")
with request_context(RequestContext("trace-task-123456")):
    ping.apply_async(queue="tracing-test")
with app.connection_for_write() as conn:
    conn.default_channel.queue_purge("tracing-test")
trace.get_tracer_provider().shutdown()  # exports what is left
print(response.status_code, response["X-Request-ID"])
"""


def test_the_spans_of_a_request_and_of_a_queued_task_reach_the_collector_with_their_request_ids():
    with collector() as (endpoint, received):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.test", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, LOG_FORMAT="json"
        )
        result = subprocess.run(  # noqa: S603 (fixed argv)
            [sys.executable, "-c", _ONE_TRACED_REQUEST], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["302", "trace-abcdef123456"]
    assert [path for path, _ in received] == ["/v1/traces"]
    [(_, export)] = received
    [resource_spans] = export.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "credence-web"
    spans = {span.name: span for scope in resource_spans.scope_spans for span in scope.spans}
    assert set(spans) == {"GET favicon.ico", "apply_async/core.ping"}
    span = spans["GET favicon.ico"]
    attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
    assert attributes[REQUEST_ID_ATTRIBUTE] == "trace-abcdef123456"
    assert attributes["http.route"] == "favicon.ico"
    task = {a.key: a.value.string_value for a in spans["apply_async/core.ping"].attributes}
    assert task[REQUEST_ID_ATTRIBUTE] == "trace-task-123456"
    # The request's access line names the trace and the span it was written in. (Python's warnings are not logs.)
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    [access] = [line for line in lines if line["event"] == "http_request"]
    assert access["request_id"] == "trace-abcdef123456"
    assert access["trace_id"] == span.trace_id.hex()
    assert access["span_id"] == span.span_id.hex()
