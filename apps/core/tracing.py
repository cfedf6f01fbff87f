"""Optional OpenTelemetry tracing: off unless OTEL_EXPORTER_OTLP_ENDPOINT names a collector that takes
OTLP over HTTP (protobuf), e.g. `http://otel-collector:4318`; spans then go to `<endpoint>/v1/traces`.

`tracing_configure()` is called once per process where the work happens: the WSGI and ASGI entry points
(config/wsgi.py, config/asgi.py), before Django builds its middleware, and each Celery pool process
(config/celery.py, worker_process_init). It traces every request (Django) and every task, published and run
(Celery: the trace context travels in the task's headers, so a request's trace goes on in the worker). Each
span started inside a request's context is tagged with its request id (`credence.request_id`), and the
request's own span too, so a trace and the log lines of one request are found by one id; log lines written
inside a span carry its `trace_id` and `span_id` (apps/core/logs.py).

The standard OTEL_* variables apply (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS,
OTEL_TRACES_SAMPLER, ...). OpenTelemetry is imported only when tracing is on.
"""

import os

import structlog

from apps.core import context

log = structlog.get_logger(__name__)

REQUEST_ID_ATTRIBUTE = "credence.request_id"
# Probes and scrapes would be most of the spans, and none of them is worth a trace.
EXCLUDED_URLS = "healthz,metrics"

_configured = False


def tracing_configure(service: str) -> bool:
    """Turn tracing on in this process if OTEL_EXPORTER_OTLP_ENDPOINT is set (once; later calls do nothing).
    `service` names the process's role ("credence-web") unless OTEL_SERVICE_NAME does. True when on."""
    global _configured
    if _configured:
        return True
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    class RequestIdProcessor(SpanProcessor):
        """Tags each span started inside a request's (or task's) context with its request id."""

        def on_start(self, span, parent_context=None) -> None:
            request_id = context.request_id()
            if request_id is not None:
                span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; attributes given here win over them.
    resource = Resource.create({} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(RequestIdProcessor())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # Django's middleware is put first, outside RequestContextMiddleware: the request's span begins before
    # its id is known, so the id is set on it at the answer.
    DjangoInstrumentor().instrument(
        tracer_provider=provider,
        response_hook=_tag_request,
        excluded_urls=os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", EXCLUDED_URLS),
    )
    CeleryInstrumentor().instrument(tracer_provider=provider)
    _configured = True
    log.info(
        "tracing_on", service=resource.attributes.get(SERVICE_NAME), endpoint=os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
    )
    return True


def _tag_request(span, request, response) -> None:
    request_id = getattr(request, "request_id", None)
    if request_id is not None and span.is_recording():
        span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
