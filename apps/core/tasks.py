"""Core Celery tasks."""

from celery import shared_task
from django.utils import timezone

from apps.core import context


@shared_task(name="core.ping")
def ping() -> dict:
    """A round trip through the broker, a worker and the result backend (health and smoke checks), and the
    request id the task ran under: the one of the request that queued it (config/celery.py carries it).

    Touches nothing else, so a reply proves the Celery path alone works.
    """
    return {"pong": True, "at": timezone.now().isoformat(), "request_id": context.request_id()}
