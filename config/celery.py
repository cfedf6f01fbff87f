import os
from pathlib import Path

from celery import Celery
from django.conf import settings

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
