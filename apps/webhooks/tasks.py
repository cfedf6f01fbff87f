"""The fan-out and the sender. Both are safe to run twice and at once on several workers: the fan-out's
cursor is taken with SKIP LOCKED (a second worker finds it taken and returns), the sender leases the
deliveries it takes."""

from celery import shared_task
from django.conf import settings

from apps.webhooks import services


@shared_task(name="webhooks.fanout")
def fanout() -> int | None:
    """The outbox to delivery rows, one batch at a time while batches come full (bounded per run)."""
    written = 0
    for _ in range(20):
        found = services.webhooks_fanout()
        if found is None:
            return None
        written += found
        if found < 500:
            break
    return written


@shared_task(name="webhooks.send", acks_late=True)
def send() -> int:
    """Send what is due; queue another run while batches come full."""
    sent = services.deliveries_send_due()
    if len(sent) >= settings.CREDENCE_WEBHOOK_SEND_BATCH:
        send.delay()
    return len(sent)
