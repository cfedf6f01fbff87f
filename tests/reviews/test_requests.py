"""A review request's life through the services: opening (the price held), taking (a lease), deciding (alone,
by majority, unanimously), timing out, escalating, cancelling and resuming, with the credit it moves and the
timeline it writes."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import VerificationLevel
from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.ledger.errors import IdempotencyConflict, InsufficientCredit
from apps.ledger.models import Account
from apps.ledger.selectors import wallet_balance
from apps.reviews import checkpoints, services
from apps.reviews.errors import (
    AssignmentNotFound,
    DecisionInvalid,
    DecisionNotAllowed,
    LeaseExpired,
    NotAReviewer,
    ReviewClosed,
)
from apps.reviews.models import (
    AssignmentState,
    CheckpointPolicy,
    ReviewAssignment,
    ReviewDecision,
    ReviewEvent,
    ReviewRequest,
)
from tests import factories

pytestmark = pytest.mark.django_db

YES_NO = {"enum": ["yes", "no"]}
PRICE = 3 * CREDIT


def ask(requester, *, key="ask-1", pool="owner", required=1, agreement="first", price=PRICE, timeout_answer=None):
    return factories.question(
        requester,
        key=key,
        question="Is the source reliable?",
        context={"url": "https://example.org/report"},
        answer_schema=YES_NO,
        pool=pool,
        reviewers_required=required,
        agreement=agreement,
        timeout_seconds=3600,
        timeout_answer=timeout_answer,
        price=price,
    )


def timeline(review) -> list[str]:
    return list(ReviewEvent.objects.filter(request=review).order_by("id").values_list("kind", flat=True))


def verified_humans(n: int):
    return [factories.verified_human() for _ in range(n)]


@pytest.fixture
def bot():
    return factories.funded_agent(handle="asking-bot")


@pytest.fixture
def owner(bot):
    return factories.human(bot.owner)


# --- An agent asks its owner -----------------------------------------------------------------------------


def test_asking_holds_the_price_in_the_request_escrow(bot):
    # given an agent with 200 credits
    # when it asks its owner a question priced at 3 credits
    review = ask(bot)
    # then the request waits for the owner, and the price left the agent's wallet for the request's escrow
    assert (review.state, review.pool, review.pool_user_id, review.seats_open) == ("pending", "owner", bot.owner_id, 1)
    assert review.payload == {"context": {"url": "https://example.org/report"}}
    assert review.decisions == ["answer"]
    assert wallet_balance(bot) == factories.BOT_FUNDS - PRICE
    assert Account.objects.get(pk=review.escrow_id).balance == PRICE
    assert timeline(review) == ["opened"]


def test_a_retry_with_the_same_key_answers_the_first_request_and_another_body_is_a_conflict(bot):
    first = ask(bot)
    again = ask(bot)
    assert (again.pk, again.replayed, first.replayed) == (first.pk, True, False)
    assert wallet_balance(bot) == factories.BOT_FUNDS - PRICE  # held once
    with pytest.raises(IdempotencyConflict):
        ask(bot, price=PRICE + 1)
    assert ReviewRequest.objects.count() == 1


def test_asking_for_more_than_the_wallet_holds_is_refused_and_writes_nothing(bot):
    with pytest.raises(InsufficientCredit):
        ask(bot, price=factories.BOT_FUNDS + 1)
    assert ReviewRequest.objects.count() == 0
    assert wallet_balance(bot) == factories.BOT_FUNDS


def test_the_owner_takes_and_answers_and_is_paid_the_price(bot, owner):
    review = ask(bot)
    before = wallet_balance(owner)
    # when the owner takes the next review and answers it
    assignment = services.review_take_next(reviewer=owner)
    assert (assignment.request_id, assignment.state) == (review.pk, AssignmentState.LEASED)
    decided = services.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="answer", value="yes")
    # then the request is answered, the owner paid, the escrow empty
    assert decided.state == "answered"
    assert decided.outcome == {
        "decision": "answer",
        "value": "yes",
        "reason": "",
        "reviewers": [owner.pk],
        "decided_by": [owner.pk],
    }
    assert wallet_balance(owner) == before + PRICE
    assert Account.objects.get(pk=review.escrow_id).balance == 0
    assert timeline(review) == ["opened", "assigned", "decided", "answered"]
    # and nothing else waits for the owner
    assert services.review_take_next(reviewer=owner) is None


def test_an_answer_outside_the_schema_is_refused_and_changes_nothing(bot, owner):
    review = ask(bot)
    assignment = services.review_take_next(reviewer=owner)
    with pytest.raises(DecisionInvalid) as refused:
        services.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="answer", value="maybe")
    assert refused.value.message == "The answer is refused at (the whole value): 'maybe' is not one of ['yes', 'no']"
    with pytest.raises(DecisionNotAllowed):
        services.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="approve")
    review.refresh_from_db()
    assert (review.state, ReviewDecision.objects.count()) == ("assigned", 0)
    assert timeline(review) == ["opened", "assigned"]


def test_a_decision_on_someone_elses_assignment_is_not_found(bot, owner):
    ask(bot)
    assignment = services.review_take_next(reviewer=owner)
    stranger = factories.human()
    with pytest.raises(AssignmentNotFound):
        services.review_decide(assignment_id=assignment.pk, reviewer=stranger, kind="answer", value="no")
    assert ReviewDecision.objects.count() == 0


def test_an_agent_can_never_review(bot):
    ask(bot)
    other_bot = factories.agent(bot.owner)
    with pytest.raises(NotAReviewer):
        services.review_take_next(reviewer=other_bot)


def test_a_reviewer_in_two_pools_takes_the_soonest_due_across_them(bot):
    # given the bot's owner is staff: one request waits in the owner pool, two in the staff pool, due at
    # different times, and one staff request is already full
    bot.owner.is_staff = True
    bot.owner.save(update_fields=["is_staff"])
    owner = factories.human(bot.owner)
    stranger_bot = factories.funded_agent(handle="stranger-bot")

    def to_staff(key: str) -> ReviewRequest:
        return factories.paused(stranger_bot, key=key, pool="staff")

    mine = ask(bot)
    later, sooner, full = to_staff("staff-later"), to_staff("staff-sooner"), to_staff("staff-full")
    now = timezone.now()
    for review, hours in ((mine, 2), (later, 3), (sooner, 1), (full, 0.5)):
        ReviewRequest.objects.filter(pk=review.pk).update(due_at=now + timedelta(hours=hours))
    ReviewRequest.objects.filter(pk=full.pk).update(seats_open=0, state="assigned")

    # when the owner takes three times, then once more
    taken = [services.review_take_next(reviewer=owner).request_id for _ in range(3)]

    # then they got the soonest due first, whichever pool it waited in, and the full one never
    assert taken == [sooner.pk, mine.pk, later.pk]
    assert services.review_take_next(reviewer=owner) is None


def test_the_people_whose_queue_a_request_leaves_or_rejoins_are_told_so_their_pages_refresh(bot):
    staff = [factories.staff_member() for _ in range(3)]
    everyone = {f"user:{person.user_id}" for person in staff}

    def told() -> list[tuple[str, dict]]:
        moved = Event.objects.filter(kind="reviews.queue_changed").order_by("id")
        return list(moved.values_list("subject", "payload"))

    review = factories.paused(bot, pool="staff", reviewers_required=2, agreement="first", timeout_seconds=3600)
    # a first take leaves a seat: the request is still in every queue, nobody is told
    services.review_take_next(reviewer=staff[0])
    assert told() == []
    # the last seat taken: it leaves the queues of all the staff
    services.review_take_next(reviewer=staff[1])
    assert sorted(told()) == sorted((subject, {"review": review.pk}) for subject in everyone)
    # both leases run out: it comes back to them
    later = timezone.now() + timedelta(seconds=services.settings.CREDENCE_REVIEW_LEASE_SECONDS + 1)
    services.reviews_sweep(now=later)
    assert len(told()) == 6 and {subject for subject, _ in told()[3:]} == everyone
    # and finished with a seat still open (the first decision decides), it leaves them again
    services.review_take_next(reviewer=staff[2])
    services.review_decide(
        assignment_id=ReviewAssignment.objects.get(request=review, reviewer=staff[2], state="leased").pk,
        reviewer=staff[2],
        kind="reject",
        reason="Not this one.",
    )
    assert len(told()) == 9 and {subject for subject, _ in told()[6:]} == everyone


# --- Leases and timeouts ---------------------------------------------------------------------------------


def test_an_expired_lease_goes_back_to_the_queue_and_a_late_decision_is_refused(bot, owner):
    review = ask(bot)
    assignment = services.review_take_next(reviewer=owner)
    later = timezone.now() + timedelta(seconds=services.settings.CREDENCE_REVIEW_LEASE_SECONDS + 1)
    assert services.reviews_sweep(now=later) == {"leases_expired": 1, "timed_out": 0, "resumes_queued": 0}
    review.refresh_from_db()
    assert (review.state, review.seats_open) == ("pending", 1)
    with pytest.raises(LeaseExpired):
        services.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="answer", value="yes")
    # the owner may take it again (an expired lease does not count as their turn)
    again = services.review_take_next(reviewer=owner)
    assert again.request_id == review.pk and again.pk != assignment.pk
    assert timeline(review) == ["opened", "assigned", "lease_expired", "assigned"]


def test_a_timeout_is_recorded_as_a_timeout_and_returns_the_price(bot):
    review = ask(bot, timeout_answer="no")
    later = review.due_at + timedelta(seconds=1)
    assert services.reviews_sweep(now=later)["timed_out"] == 1
    review.refresh_from_db()
    assert review.state == "timed_out"
    assert review.outcome == {"timed_out": True, "applied": "answer", "value": "no"}
    assert wallet_balance(bot) == factories.BOT_FUNDS
    # a second sweep finds nothing to do
    assert services.reviews_sweep(now=later)["timed_out"] == 0
    assert timeline(review) == ["opened", "timed_out"]


def test_a_decision_after_the_timeout_is_refused(bot, owner):
    review = ask(bot)
    assignment = services.review_take_next(reviewer=owner)
    services.reviews_sweep(now=review.due_at + timedelta(seconds=1))
    with pytest.raises(ReviewClosed):
        services.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="answer", value="yes")
    # the lease (15 minutes) ran out before the hour did: the sweep expired it first
    assert ReviewAssignment.objects.get(pk=assignment.pk).state == AssignmentState.EXPIRED


# --- Panels ----------------------------------------------------------------------------------------------


def test_a_panel_of_three_decides_by_majority_and_splits_the_price(bot):
    panel = verified_humans(4)
    review = ask(bot, pool="panel", required=3, agreement="majority")
    assert set(review.invitations.values_list("reviewer_id", flat=True)) == {p.pk for p in panel}
    first, second, third = (services.review_take_next(reviewer=p) for p in panel[:3])
    services.review_decide(assignment_id=first.pk, reviewer=panel[0], kind="answer", value="yes")
    services.review_decide(assignment_id=second.pk, reviewer=panel[1], kind="answer", value="no")
    assert ReviewRequest.objects.get(pk=review.pk).state == "assigned"
    # the fourth person finds no seat left
    assert services.review_take_next(reviewer=panel[3]) is None
    decided = services.review_decide(assignment_id=third.pk, reviewer=panel[2], kind="answer", value="yes")
    assert decided.state == "answered"
    assert decided.outcome["value"] == "yes"
    assert decided.outcome["reviewers"] == [panel[0].pk, panel[2].pk]
    assert [wallet_balance(p) - factories.GRANT for p in panel] == [CREDIT, CREDIT, CREDIT, 0]


def test_a_panel_without_a_majority_escalates_to_staff_with_the_price(bot):
    panel = verified_humans(2)
    review = ask(bot, pool="panel", required=2, agreement="majority")
    for person, answer in zip(panel, ["yes", "no"], strict=True):
        assignment = services.review_take_next(reviewer=person)
        services.review_decide(assignment_id=assignment.pk, reviewer=person, kind="answer", value=answer)
    review.refresh_from_db()
    assert review.state == "escalated"
    successor = review.escalated_to
    assert (successor.pool, successor.state, successor.price) == ("staff", "pending", PRICE)
    assert Account.objects.get(pk=review.escrow_id).balance == 0
    assert Account.objects.get(pk=successor.escrow_id).balance == PRICE
    staff = factories.staff_member()
    assignment = services.review_take_next(reviewer=staff)
    assert assignment.request_id == successor.pk


def test_the_requesters_own_person_is_never_on_its_panel(bot, owner):
    owner.user.verification_level = VerificationLevel.VERIFIED_HUMAN
    owner.user.save(update_fields=["verification_level"])
    others = verified_humans(1)
    review = ask(bot, pool="panel", required=1)
    assert list(review.invitations.values_list("reviewer_id", flat=True)) == [others[0].pk]
    assert services.review_take_next(reviewer=owner) is None


# --- Cancelling and resuming -----------------------------------------------------------------------------


def test_cancelling_returns_the_price_and_closes_the_lease(bot, owner):
    review = ask(bot)
    assignment = services.review_take_next(reviewer=owner)
    cancelled = services.review_cancel(request_id=review.pk, by=bot)
    assert (cancelled.state, cancelled.outcome) == ("cancelled", {"cancelled_by": bot.pk})
    assert wallet_balance(bot) == factories.BOT_FUNDS
    assert ReviewAssignment.objects.get(pk=assignment.pk).state == AssignmentState.CLOSED
    with pytest.raises(ReviewClosed):
        services.review_cancel(request_id=review.pk, by=bot)


@pytest.fixture
def continued():
    """A checkpoint whose continuation records what it saw, registered for the test."""
    calls = []
    checkpoints.register(checkpoints.Checkpoint(name="test.pause", label="A test pause"))

    @checkpoints.continuation("test.resume")
    def resume(request):
        calls.append((request.pk, request.state))
        return {"saw": request.state}

    yield calls
    checkpoints.CHECKPOINTS.pop("test.pause")
    checkpoints.CONTINUATIONS.pop("test.resume")


def test_a_continuation_runs_once_however_often_it_is_resumed(bot, owner, continued):
    review = factories.paused(
        bot, checkpoint="test.pause", subject="test:1", payload={"n": 1}, key="pause-1", continuation="test.resume"
    )
    assignment = services.review_take_next(reviewer=owner)
    services.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="approve")
    assert services.review_resume(request_id=review.pk) == {"continued": True, "saw": "approved"}
    assert services.review_resume(request_id=review.pk) is None
    assert continued == [(review.pk, "approved")]
    review.refresh_from_db()
    assert review.resume_result == {"continued": True, "saw": "approved"}
    assert timeline(review) == ["opened", "assigned", "decided", "approved", "resumed"]


def test_the_database_refuses_to_rewrite_what_was_asked_or_the_timeline(bot):
    review = ask(bot)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewRequest.objects.filter(pk=review.pk).update(payload={"context": "changed"})
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewEvent.objects.filter(request=review).delete()
    assert ReviewRequest.objects.get(pk=review.pk).payload == {"context": {"url": "https://example.org/report"}}


def test_a_stored_condition_that_no_longer_compiles_fires_and_says_why(bot):
    policy = factories.policy("explicit", 'actor.kind == "agent"')
    CheckpointPolicy.objects.filter(pk=policy.pk).update(condition="actor.gone == 1")  # as if the variables changed
    services.policies_forget()
    fired = services.checkpoint_check(checkpoint="explicit", activation={"actor": {"kind": "agent"}}, subject="x")
    assert fired.policy.pk == policy.pk
    assert fired.why["error"].startswith("the condition no longer compiles: unknown field actor.gone")
