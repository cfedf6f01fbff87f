"""docs/examples/supervised_order.py runs for real against a live server: the agent's order waits, its owner
approves it, and the agent is told by a signed webhook to its own receiver (or, with --poll, by polling)."""

import ast
import importlib.util
import io
import sys
import threading
import time
from pathlib import Path

import pytest

from apps.core.amounts import CREDIT
from apps.identities.models import AutonomyLevel
from apps.markets.models import Trade
from apps.reviews import services as reviews
from apps.reviews.models import ReviewRequest
from apps.webhooks import services as webhooks
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from tests import factories

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _load():
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("supervised_order", EXAMPLES / "supervised_order.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(live_server, *, poll: bool):
    """The example as an agent runs it, its owner approving; the outbox's fan-out and the webhook sender
    (the beat's work) pumped from the test while it waits. Returns the outcome, the output, the trade, the
    review's id."""
    bot = factories.funded_agent(handle="supervised-example", autonomy_level=AutonomyLevel.SUPERVISED)
    owner = factories.human(bot.owner)
    claim = factories.new_claim(factories.human(), factories.domain())
    token = factories.api_key(bot, scopes=["read", "trade", "webhooks"])
    example = _load()
    out, outcome = io.StringIO(), {}

    def agent():
        outcome.update(example.main(live_server.url, token, claim.pk, credits=20, poll=poll, timeout=30, out=out))

    thread = threading.Thread(target=agent)
    thread.start()
    # the owner finds the order waiting, approves it, and (no Celery worker here) the continuation is run
    deadline = time.monotonic() + 30
    while not ReviewRequest.objects.filter(requester=bot).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assignment = reviews.review_take_next(reviewer=owner)
    reviews.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="approve")
    reviews.review_resume(request_id=assignment.request_id)
    while thread.is_alive() and time.monotonic() < deadline:
        webhooks.webhooks_fanout()
        webhooks.deliveries_send_due()
        thread.join(timeout=0.05)
    thread.join(timeout=5)
    return outcome, out.getvalue(), Trade.objects.get(identity=bot), assignment.request_id


@pytest.mark.django_db(transaction=True)
def test_the_documented_supervised_order_is_told_by_a_webhook(live_server):
    outcome, printed, trade, review_id = _run(live_server, poll=False)

    assert outcome == {
        "paused": True,
        "review": review_id,
        "state": "approved",
        "told_by": "webhook",
        "traded": True,
        "trade": trade.pk,
        "retry": trade.pk,
    }
    assert trade.cost + trade.fee <= 20 * CREDIT
    assert f"the order waits for review #{review_id}; 20.00 credits held" in printed
    # told by a delivery its receiver verified (one it could not verify would have been answered 401 and never
    # reached the agent), which reported what the review's continuation did; and it unsubscribed when done
    said = {
        "continued": True,
        "traded": True,
        "trade": trade.pk,
        "shares": trade.shares,
        "cost": trade.cost,
        "fee": trade.fee,
    }
    assert f"review #{review_id} approved (told by webhook): " in printed
    assert ast.literal_eval(printed.split("(told by webhook): ", 1)[1]) == said
    assert not WebhookSubscription.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_documented_supervised_order_can_poll_instead(live_server):
    outcome, _, trade, review_id = _run(live_server, poll=True)
    assert outcome["review"] == review_id

    assert (outcome["told_by"], outcome["state"], outcome["trade"]) == ("polling", "approved", trade.pk)
    assert not WebhookDelivery.objects.exists()
