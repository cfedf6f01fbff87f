from celery import shared_task

from apps.reputation import services


@shared_task(name="reputation.consensus_refresh", ignore_result=True)
def consensus_refresh_task(claim_id: int) -> None:
    services.consensus_refresh_now(claim_id)


@shared_task(name="reputation.score_due", ignore_result=True)
def score_due_task() -> int:
    return services.claims_score_due()
