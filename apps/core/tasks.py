"""Core Celery tasks."""

from celery import shared_task
from django.utils import timezone


@shared_task(name="core.ping")
def ping() -> dict:
    """A round trip through the broker, a worker and the result backend (health and smoke checks).

    Touches nothing else, so a reply proves the Celery path alone works.
    """
    return {"pong": True, "at": timezone.now().isoformat()}
