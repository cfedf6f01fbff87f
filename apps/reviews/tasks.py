"""Resuming finished requests and the beat sweep. Each task calls one idempotent service."""

from celery import shared_task

from apps.reviews import services


@shared_task(name="reviews.resume", acks_late=True, reject_on_worker_lost=True)
def resume(request_id: int) -> dict | None:
    """Run a finished request's continuation (once, whatever the deliveries: services.review_resume)."""
    return services.review_resume(request_id=request_id)


@shared_task(name="reviews.sweep")
def sweep() -> dict:
    return services.reviews_sweep()


def review_resume_soon(request_id: int) -> None:
    """Queue the continuation. Called after the decision commits; if the broker is down the sweep queues it
    again later (finished requests not resumed after CREDENCE_REVIEW_RESUME_GRACE_SECONDS)."""
    try:
        resume.delay(request_id)
    except Exception:
        import logging

        logging.getLogger(__name__).exception("could not queue the continuation of review #%s", request_id)
