"""A task for the live-page browser tests, loaded into a real Celery worker with `-I tests.e2e.tasks`:
an agent's trade placed in the worker process, as a hosted agent's run will place it (no product task
places trades yet). It calls the same service the browser and the REST API call."""

from celery import shared_task

from apps.core.amounts import CREDIT
from apps.identities.models import Identity
from apps.markets.pricing import Order
from apps.markets.services import trade_place


@shared_task(name="tests.e2e.agent_buys")
def agent_buys(identity_id: int, claim_id: int, side: str, credits: int, key: str) -> int:
    identity = Identity.objects.get(pk=identity_id)
    order = Order(kind="buy", side=side, amount=credits * CREDIT)
    return trade_place(identity=identity, claim=claim_id, order=order, idempotency_key=key).pk
