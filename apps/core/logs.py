"""Logs: one line per event, through structlog, for our own loggers and for every stdlib logger (Django,
Celery, gunicorn, uvicorn, the apps' `logging.getLogger(__name__)`) alike.

Two renderings of the same fields: readable console lines (local settings, `make run`) and one JSON object
per line (production settings, or `LOG_FORMAT=json` anywhere). Every line says `timestamp`, `level`,
`logger` and `event`, plus the request it belongs to (`request_id`, and `user_id` once the person is known)
from apps.core.context, so a request's lines, the tasks it enqueued and its socket's lines can be found by
one id; a worker's lines add `task` and `task_id`; with tracing on, `trace_id` and `span_id`.

Settings build the dictConfig with `logging_settings()` and name `logging_configure` as LOGGING_CONFIG, which
configures structlog's own loggers too. Nothing here imports Django: gunicorn's master configures its own
lines with the same dictionary before any Django code is loaded (config/gunicorn.py).
"""

import logging
import logging.config
import sys

import structlog

from apps.core import context

FORMATS = ("console", "json")


def add_request_context(logger, method_name: str, event_dict: dict) -> dict:
    """The request (or task, or socket) the line was written in, from apps.core.context."""
    current = context.current()
    if current is not None:
        event_dict.setdefault("request_id", current.request_id)
        if current.user_id is not None:
            event_dict.setdefault("user_id", current.user_id)
    return event_dict


def add_trace_context(logger, method_name: str, event_dict: dict) -> dict:
    """The trace and span the line was written in, when tracing is on (apps/core/tracing.py). Looked up in
    sys.modules so that a process without tracing never imports OpenTelemetry for its logs."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is not None:
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            event_dict.setdefault("trace_id", format(span.trace_id, "032x"))
            event_dict.setdefault("span_id", format(span.span_id, "016x"))
    return event_dict


def drop_formatted_fields(logger, method_name: str, event_dict: dict) -> dict:
    """A stdlib record another handler's formatter saw first carries what that formatter added (`message`,
    `asctime`): not extras the caller passed (logging refuses those names in `extra=`). uvicorn passes its
    message again with terminal colours (`color_message`), for its own formatter."""
    for name in ("message", "asctime", "color_message"):
        event_dict.pop(name, None)
    return event_dict


# What every line gets, whichever logger wrote it: structlog's bound context (a worker's task), the request,
# the trace, the logger's name, the level and the time.
_SHARED = [
    structlog.contextvars.merge_contextvars,
    add_request_context,
    add_trace_context,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _without_celery_data(logger, method_name: str, event_dict: dict) -> dict:
    """Celery repeats a task line's message as a `data` field: in JSON it is fields to query, on a terminal it
    only doubles the line."""
    if event_dict.get("logger", "").startswith("celery."):
        event_dict.pop("data", None)
    return event_dict


def formatter(renderer: str = "console") -> structlog.stdlib.ProcessorFormatter:
    """The handler's formatter (a dictConfig factory: `{"()": "apps.core.logs.formatter", "renderer": ...}`).
    A stdlib record's `extra=` fields become fields of the line."""
    if renderer == "json":
        render = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        render = [_without_celery_data, structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder(), drop_formatted_fields],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
    )


def logging_settings(log_format: str, level: str) -> dict:
    """The LOGGING dictionary: one handler on the root logger, in `log_format` ("console" or "json").

    Loggers that come with handlers of their own (Django's, gunicorn's, uvicorn's) are sent to it too: they
    would otherwise keep their plain-text format, and Django's would write each of its lines twice. The
    servers' access lines are left out: the access line of apps.core.middleware.AccessLogMiddleware replaces
    them (with the route, the duration and the request id). uvicorn's are dropped below WARNING; gunicorn's
    logger is left alone, so that WEB_ACCESS_LOG still writes its own file (it is off by default)."""
    if log_format not in FORMATS:
        # Not ImproperlyConfigured: gunicorn's master calls this before Django is imported.
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    handed_to_root = {"handlers": [], "propagate": True}
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": "apps.core.logs.formatter", "renderer": log_format}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's defaults give "django" a plain-text handler of its own (and mail to ADMINS, which is empty).
            "django": {**handed_to_root, "level": level},
            "django.server": {**handed_to_root, "level": level},
            "gunicorn.error": {**handed_to_root, "level": level},
            "uvicorn": {**handed_to_root, "level": level},
            "uvicorn.error": {**handed_to_root, "level": level},
            "uvicorn.access": {**handed_to_root, "level": "WARNING"},
        },
    }


def logging_configure(config: dict) -> None:
    """LOGGING_CONFIG: structlog's loggers hand their events to the stdlib handlers of `config`, so both kinds
    of logger come out through the one formatter."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(config)
