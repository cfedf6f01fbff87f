import logging
import os
from contextlib import ExitStack
from pathlib import Path

import structlog
from celery import Celery, signals
from django.conf import settings

from apps.core import context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("credence")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A static schedule: django-celery-beat 2.9 declares Django<6.1 (pip would fall back to a 2020 release).
# Per-agent schedules live in our own models (apps/agents) and are dispatched by one tick listed here.
app.conf.beat_schedule = {
    "markets.close_due": {"task": "markets.close_due", "schedule": 30.0},
    "markets.finalize_due": {"task": "markets.finalize_due", "schedule": 60.0},
    # A safety net: settlement scores its claim in the same transaction; this catches any that were not.
    "reputation.score_due": {"task": "reputation.score_due", "schedule": 300.0},
    # Expired review leases back to the queue, timeouts applied, continuations not yet run queued again.
    "reviews.sweep": {"task": "reviews.sweep", "schedule": 15.0},
    # Hosted agents: events turned into due agents, then one run for each due agent (apps/agents/tasks.py).
    "agents.dispatch": {
        "task": "agents.dispatch",
        "schedule": float(os.environ.get("CREDENCE_AGENTS_DISPATCH_SECONDS", "10")),
    },
    # Webhooks: the outbox to delivery rows (the cursor makes extra ticks cheap), and retries that came due.
    "webhooks.fanout": {"task": "webhooks.fanout", "schedule": settings.CREDENCE_WEBHOOK_FANOUT_SECONDS},
    "webhooks.send": {"task": "webhooks.send", "schedule": settings.CREDENCE_WEBHOOK_SEND_SECONDS},
}


@app.on_after_configure.connect
def _prepare_local_folders(sender: Celery, **kwargs) -> None:
    """Create the folders the embedded mode's broker and result backend use, in whichever process
    configures Celery first.

    The filesystem broker never creates its message folders (it fails on the first poll without them),
    the file result backend refuses a missing directory, and kombu keeps its fanout tables in
    `control_folder`, which is relative to the working directory unless set: without the default below,
    every worker would litter a `control/` folder wherever it was started.
    """
    conf = sender.conf
    folders: list[Path] = []
    if (conf.broker_url or "").startswith("filesystem://"):
        options = dict(conf.broker_transport_options or {})
        if "data_folder_in" in options:
            options.setdefault("control_folder", str(Path(options["data_folder_in"]).parent / "control"))
            conf.broker_transport_options = options
        folders += [
            Path(options[key])
            for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
            if key in options
        ]
    backend = conf.result_backend or ""
    if backend.startswith("file://"):
        folders.append(Path(backend.removeprefix("file://localhost").removeprefix("file://")))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)


# --- The request id travels with the task (apps/core/context.py) ------------------------------------------

REQUEST_ID_HEADER = "credence_request_id"
_running: dict[str, ExitStack] = {}  # task id -> the context opened for it in this process


@signals.before_task_publish.connect
def _send_request_id(headers: dict | None = None, **kwargs) -> None:
    """A task queued during a request (or by another task) carries that request's id in its headers."""
    request_id = context.request_id()
    if request_id is not None and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@signals.task_prerun.connect
def _open_task_context(task_id: str, task, **kwargs) -> None:
    """The task runs in the context of the request that queued it: its log lines, the events it writes and
    the tasks it queues carry that request's id. A task nobody's request queued (beat's) gets an id of its
    own. A task called in-process (eager, or directly) keeps the context it was called in."""
    stack = ExitStack()
    offered = getattr(task.request, REQUEST_ID_HEADER, None)
    if offered is not None or context.current() is None:
        stack.enter_context(context.request_context(context.RequestContext(context.new_request_id(offered))))
    stack.enter_context(structlog.contextvars.bound_contextvars(task=task.name, task_id=task_id))
    _running[task_id] = stack


@signals.task_postrun.connect
def _close_task_context(task_id: str, **kwargs) -> None:
    stack = _running.pop(task_id, None)
    if stack is not None:
        stack.close()


@signals.setup_logging.connect
def _logging(loglevel=None, **kwargs) -> None:
    """The worker and beat log as the web does (apps/core/logs.py): connecting here keeps Celery from replacing
    the root logger's handlers with its own plain-text one. `--loglevel` still sets the level."""
    from apps.core.logs import logging_configure

    logging_configure(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@signals.worker_process_init.connect
def _tracing(**kwargs) -> None:
    """Each pool process exports its own spans (a batch exporter's thread does not survive the fork)."""
    from apps.core.tracing import tracing_configure

    tracing_configure("credence-worker")
