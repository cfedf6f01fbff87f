"""Orders that wait for a person (apps/markets/checkpoints.py): a supervised agent's orders above its owner's
threshold, and orders a `trade.place` policy catches. The paused order holds its amount; the owner approves,
edits or rejects; the continuation places it (or not) and gives back what it held."""

from datetime import timedelta

import pytest
from django.test import Client

from apps.core.amounts import CREDIT
from apps.identities.models import AutonomyLevel
from apps.identities.services import agent_supervision_set
from apps.ledger.selectors import wallet_balance
from apps.markets.checkpoints import TradePaused
from apps.markets.models import Claim, Trade
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from apps.reviews import services as reviews
from apps.reviews.models import ReviewRequest
from tests import factories
from tests.support import bearer, signed_in

pytestmark = pytest.mark.django_db

BUY_20 = Order(kind="buy", side="yes", amount=20 * CREDIT)


@pytest.fixture
def claim():
    return factories.new_claim(factories.human(), factories.domain())


@pytest.fixture
def bot():
    return factories.funded_agent(handle="careful-bot", autonomy_level=AutonomyLevel.SUPERVISED)


@pytest.fixture
def owner(bot):
    return factories.human(bot.owner)


def decide(owner, kind, **decision):
    assignment = reviews.review_take_next(reviewer=owner)
    return reviews.review_decide(assignment_id=assignment.pk, reviewer=owner, kind=kind, **decision)


def test_a_supervised_agents_order_waits_for_its_owner_and_holds_its_amount(bot, claim):
    # when the supervised agent (no threshold set: every order) places an order
    paused = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="o-1")
    # then nothing is traded, the amount is held, and its owner is asked
    assert isinstance(paused, TradePaused) and paused.replayed is False
    review = paused.review
    assert (review.checkpoint, review.pool, review.pool_user_id, review.held) == (
        "trade.place",
        "owner",
        bot.owner_id,
        20 * CREDIT,
    )
    assert review.decisions == ["approve", "edit", "reject"]
    assert review.payload["order"] == {
        "kind": "buy",
        "side": "yes",
        "amount": 20 * CREDIT,
        "shares": None,
        "belief": None,
        "limit_price": None,
        "allow_partial": False,
        "rationale": "",
    }
    assert Trade.objects.count() == 0
    assert wallet_balance(bot) == factories.BOT_FUNDS - 20 * CREDIT
    # and a retry with the same key answers the same review
    again = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="o-1")
    assert (again.review.pk, again.replayed) == (review.pk, True)


def test_approved_the_order_is_placed_with_the_agents_key_and_the_hold_comes_back(bot, owner, claim):
    review = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="o-1").review
    decide(owner, "approve")
    result = reviews.review_resume(request_id=review.pk)
    trade = Trade.objects.get()
    assert result == {
        "continued": True,
        "traded": True,
        "trade": trade.pk,
        "shares": trade.shares,
        "cost": trade.cost,
        "fee": trade.fee,
    }
    assert (trade.identity_id, trade.idempotency_key) == (bot.pk, "o-1")
    assert trade.cost + trade.fee <= 20 * CREDIT
    assert wallet_balance(bot) == factories.BOT_FUNDS - trade.cost - trade.fee
    # a retry of the first call now answers the trade
    replay = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="o-1")
    assert (replay.pk, replay.replayed) == (trade.pk, True)


def test_edited_the_order_spends_what_the_owner_allowed(bot, owner, claim):
    review = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="o-1").review
    decide(owner, "edit", value={"amount": 5 * CREDIT}, reason="Smaller, while it learns.")
    reviews.review_resume(request_id=review.pk)
    trade = Trade.objects.get()
    assert trade.cost + trade.fee <= 5 * CREDIT
    assert wallet_balance(bot) == factories.BOT_FUNDS - trade.cost - trade.fee


def test_an_edit_that_spends_more_than_was_held_is_refused(bot, owner, claim):
    review = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="o-1").review
    assignment = reviews.review_take_next(reviewer=owner)
    with pytest.raises(reviews.DecisionInvalid):
        reviews.review_decide(
            assignment_id=assignment.pk, reviewer=owner, kind="edit", value={"amount": 21 * CREDIT}, reason="More."
        )
    assert ReviewRequest.objects.get(pk=review.pk).state == "assigned"


def test_rejected_nothing_trades_and_the_hold_comes_back(bot, owner, claim):
    review = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="o-1").review
    decide(owner, "reject", reason="Not this claim.")
    assert reviews.review_resume(request_id=review.pk) == {"continued": True, "traded": False, "state": "rejected"}
    assert Trade.objects.count() == 0
    assert wallet_balance(bot) == factories.BOT_FUNDS
    # a retry answers the review, rejected: it does not trade behind the owner's back
    again = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="o-1")
    assert (again.review.pk, again.review.state, Trade.objects.count()) == (review.pk, "rejected", 0)


def test_a_market_that_closed_meanwhile_ends_the_review_cleanly(bot, owner, claim):
    review = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="o-1").review
    decide(owner, "approve")
    Claim.objects.filter(pk=claim.pk).update(closes_at=claim.closes_at - timedelta(days=3650))
    result = reviews.review_resume(request_id=review.pk)
    assert result == {
        "continued": True,
        "traded": False,
        "refused": "market_closed",
        "message": "This market is not open for trading.",
    }
    assert Trade.objects.count() == 0
    assert wallet_balance(bot) == factories.BOT_FUNDS


def test_orders_under_the_owners_threshold_trade_at_once(bot, claim):
    bot = agent_supervision_set(owner=bot.owner, agent=bot, review_orders_above=10 * CREDIT)
    small = trade_place(
        identity=bot, claim=claim, order=Order(kind="buy", side="yes", amount=10 * CREDIT), idempotency_key="s"
    )
    assert isinstance(small, Trade)
    large = trade_place(identity=bot, claim=claim, order=BUY_20, idempotency_key="l")
    assert isinstance(large, TradePaused)


def test_a_policy_sends_any_traders_large_orders_to_staff(claim):
    factories.policy("trade.place", "order.amount > 15 * CREDIT", key="large-orders")
    trader = factories.funded_agent(handle="fast-bot")
    assert isinstance(
        trade_place(
            identity=trader, claim=claim, order=Order(kind="buy", side="yes", amount=CREDIT), idempotency_key="a"
        ),
        Trade,
    )
    paused = trade_place(identity=trader, claim=claim, order=BUY_20, idempotency_key="b")
    assert paused.review.pool == "staff"
    assert paused.review.why["policy"] == "large-orders"
    assert paused.review.why["clauses"] == [{"clause": "order.amount > 15 * CREDIT", "value": True}]


def test_through_the_api_a_paused_order_answers_202_with_its_review(bot, owner, claim):
    agent = Client(headers=bearer(factories.api_key(bot, scopes=["read", "trade"])))
    body = {"kind": "buy", "side": "yes", "amount": 20 * CREDIT}
    answer = agent.post(
        f"/api/v1/claims/{claim.pk}/trades", body, content_type="application/json", headers={"Idempotency-Key": "o-1"}
    )
    assert answer.status_code == 202, answer.content
    review_id = answer.json()["review_id"]
    assert answer["Location"] == f"/api/v1/reviews/{review_id}"
    assert answer.json()["held"] == 20 * CREDIT
    # the owner approves with their session
    person = signed_in(bot.owner)
    taken = person.post("/api/v1/reviews/queue/take").json()
    assert taken["review"]["payload"]["order"]["amount"] == 20 * CREDIT
    person.post(
        f"/api/v1/reviews/assignments/{taken['id']}/decision", {"decision": "approve"}, content_type="application/json"
    )
    reviews.review_resume(request_id=review_id)
    seen = agent.get(f"/api/v1/reviews/{review_id}").json()
    assert (seen["state"], seen["resume_result"]["traded"]) == ("approved", True)
    retry = agent.post(
        f"/api/v1/claims/{claim.pk}/trades", body, content_type="application/json", headers={"Idempotency-Key": "o-1"}
    )
    assert (retry.status_code, retry.json()["id"]) == (200, seen["resume_result"]["trade"])


def test_an_order_no_policy_catches_costs_no_query_more(claim):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    trader = factories.funded_agent(handle="screened-bot")
    order = Order(kind="buy", side="yes", amount=CREDIT)

    def queries(key: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert isinstance(trade_place(identity=trader, claim=claim, order=order, idempotency_key=key), Trade)
        return len(captured)

    queries("q-0")  # the trader's first order reads what later ones find ready
    without = queries("q-1")
    factories.policy("trade.place", "order.amount > 500 * CREDIT")
    queries("q-2")  # the first order reads the policies and the claim's facts, kept for a few seconds
    assert queries("q-3") == without
