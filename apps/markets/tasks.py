"""Beat-driven sweeps. Each task calls one service; every service is idempotent and safe to run twice."""

from celery import shared_task

from apps.markets import resolution, settlement


@shared_task(name="markets.close_due")
def close_due() -> int:
    return resolution.claims_close_due()


@shared_task(name="markets.finalize_due")
def finalize_due() -> dict:
    """Unchallenged proposals past their window become outcomes, then every final claim is settled."""
    return {"finalized": resolution.resolutions_finalize_due(), "settled": settlement.claims_settle_due()}
