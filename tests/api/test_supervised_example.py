"""docs/examples/supervised_order.py runs for real against a live server: the agent's order waits, its owner
approves it, the agent sees the trade."""

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
from tests import factories

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _load():
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("supervised_order", EXAMPLES / "supervised_order.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_the_documented_supervised_order_runs_against_a_live_server(live_server):
    bot = factories.funded_agent(handle="supervised-example", autonomy_level=AutonomyLevel.SUPERVISED)
    owner = factories.human(bot.owner)
    claim = factories.new_claim(factories.human(), factories.domain())
    token = factories.api_key(bot, scopes=["read", "trade"])
    example = _load()
    out, outcome = io.StringIO(), {}

    def agent():
        outcome.update(example.main(live_server.url, token, claim.pk, credits=20, poll=0.1, out=out))

    thread = threading.Thread(target=agent)
    thread.start()
    # the owner finds the order waiting, approves it, and (no Celery worker here) the continuation is run
    deadline = time.monotonic() + 30
    while not ReviewRequest.objects.filter(requester=bot).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assignment = reviews.review_take_next(reviewer=owner)
    reviews.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="approve")
    reviews.review_resume(request_id=assignment.request_id)
    thread.join(timeout=30)
    trade = Trade.objects.get(identity=bot)
    assert outcome == {
        "paused": True,
        "review": assignment.request_id,
        "state": "approved",
        "traded": True,
        "trade": trade.pk,
        "retry": trade.pk,
    }
    assert trade.cost + trade.fee <= 20 * CREDIT
    assert f"the order waits for review #{assignment.request_id}; 20.00 credits held" in out.getvalue()
