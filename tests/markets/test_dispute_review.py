"""A dispute goes to a panel (checkpoint `resolution.dispute`, the default policy): three verified humans who
are no party to it, ranked by reliability in the claim's domain, decide by majority; the panel's answer stands
once the overrule window has passed, resolving the claim, and the loser's half bond pays the panel. Within the
window staff may confirm it (the panel is paid at once) or overrule it, deciding otherwise or voiding: the
overrule is recorded on the review and scored against the panelists it overturns. A panel that times out
escalates to staff; staff deciding in the admin withdraws the review."""

from datetime import timedelta

import pytest

from apps.core.errors import PermissionDenied
from apps.core.models import Event
from apps.ledger.models import Transfer
from apps.ledger.selectors import wallet_balance
from apps.markets.errors import IllegalTransition
from apps.markets.models import ClaimStatus, Resolution
from apps.markets.resolution import claim_void, dispute_decide, resolution_challenge, resolutions_finalize_due
from apps.realtime.models import Notification
from apps.reviews import services as reviews
from apps.reviews.errors import DecisionInvalid, ReviewClosed
from apps.reviews.models import ReviewEvent, ReviewRequest
from apps.reviews.selectors import reviewer_records
from tests import factories

pytestmark = pytest.mark.django_db

OVERRULE_WINDOW = timedelta(hours=24)  # CREDENCE_DISPUTE_OVERRULE_HOURS's default


@pytest.fixture
def dispute():
    """A closed claim with a trader holding shares, proposed YES, challenged: disputed."""
    author = factories.human()
    claim = factories.new_claim(author, factories.domain())
    holder = factories.verified_human()
    factories.buy(holder, claim, "yes", credits=5)
    factories.close(claim)
    proposer, challenger = factories.human(), factories.human()
    factories.propose(claim, "yes", proposer)
    resolution_challenge(claim=claim, challenger=challenger, evidence="The report was retracted.")
    claim.refresh_from_db()
    return {"claim": claim, "author": author, "holder": holder, "proposer": proposer, "challenger": challenger}


@pytest.fixture
def panel():
    return [factories.verified_human() for _ in range(4)]


def review_of(claim) -> ReviewRequest:
    return ReviewRequest.objects.get(checkpoint="resolution.dispute", subject=f"claim:{claim.pk}")


def answer(person, value):
    assignment = reviews.review_take_next(reviewer=person)
    return reviews.review_decide(assignment_id=assignment.pk, reviewer=person, kind="answer", value=value)


def test_a_challenge_opens_a_panel_review_without_the_parties(panel, dispute):
    review = review_of(dispute["claim"])
    assert (review.pool, review.reviewers_required, review.agreement) == ("panel", 3, "majority")
    assert (review.requester_id, review.price, review.pool_scope) == (dispute["challenger"].pk, 0, "domain:science")
    assert review.answer_schema["enum"] == ["yes", "no", "void"]
    assert review.policy.key == "disputes-to-a-panel"
    # the holder of shares (verified too) is a party: only the panel is invited, and told
    assert set(review.invitations.values_list("reviewer_id", flat=True)) == {p.pk for p in panel}
    told = Notification.objects.filter(kind="review_waiting", subject=f"review:{review.pk}")
    assert set(told.values_list("user_id", flat=True)) == {p.user_id for p in panel}
    assert reviews.review_take_next(reviewer=dispute["holder"]) is None


def test_the_panels_majority_resolves_the_claim_and_the_losers_half_bond_pays_the_panel(panel, dispute):
    claim = dispute["claim"]
    review = review_of(claim)
    bond = Resolution.objects.get(claim=claim).bond
    people = (*panel, dispute["proposer"], dispute["challenger"])
    before = {p.pk: wallet_balance(p) for p in people}
    answer(panel[0], "yes")
    answer(panel[1], "no")
    decided = answer(panel[2], "yes")
    assert (decided.state, decided.outcome["value"]) == ("answered", "yes")
    # the panel's answer is recorded, and waits out the overrule window: nothing is paid yet
    resumed = reviews.review_resume(request_id=review.pk)
    resolution = Resolution.objects.get(claim=claim)
    assert (
        OVERRULE_WINDOW <= resolution.overrule_deadline - decided.finished_at < OVERRULE_WINDOW + timedelta(minutes=1)
    )
    assert resumed == {
        "continued": True,
        "resolved": False,
        "outcome": "yes",
        "stands_at": resolution.overrule_deadline.isoformat(),
    }
    assert (resolution.review_id, resolution.review_outcome, resolution.finalized_at) == (review.pk, "yes", None)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DISPUTED
    assert [wallet_balance(p) - before[p.pk] for p in people] == [0] * 6
    assert Event.objects.filter(kind="claim.answered", subject=f"claim:{claim.pk}").get().payload == {
        "outcome": "yes",
        "review": review.pk,
        "stands_at": resolution.overrule_deadline.isoformat(),
    }
    # a minute before the window ends the sweep leaves it; once it has ended, the answer stands and pays
    assert resolutions_finalize_due(now=resolution.overrule_deadline - timedelta(minutes=1)) == 0
    assert resolutions_finalize_due(now=resolution.overrule_deadline) == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_YES
    half = bond // 2
    share = (bond - half) // 3
    assert wallet_balance(dispute["proposer"]) - before[dispute["proposer"].pk] == bond + half
    assert wallet_balance(dispute["challenger"]) == before[dispute["challenger"].pk]
    assert [wallet_balance(p) - before[p.pk] for p in panel] == [share, share, share, 0]
    award = Transfer.objects.get(idempotency_key=f"bond-decide:{claim.pk}")
    assert award.metadata == {"review": review.pk, "panel": [panel[0].pk, panel[1].pk, panel[2].pk]}


def test_staff_deciding_in_the_admin_withdraws_the_panels_review(dispute):
    claim = dispute["claim"]
    moderator = factories.verified_user(is_staff=True)
    dispute_decide(claim=claim, user=moderator, outcome="no", reason="The report was retracted.")
    review = review_of(claim)
    assert (review.state, review.outcome) == ("cancelled", {"withdrawn": "decided by staff"})
    assert reviews.review_resume(request_id=review.pk) == {"continued": True, "resolved": False, "state": "cancelled"}
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_NO


def test_a_panel_that_does_not_answer_in_time_escalates_to_staff_who_decide(dispute):
    claim = dispute["claim"]
    review = review_of(claim)
    reviews.reviews_sweep(now=review.due_at + timedelta(seconds=1))
    review.refresh_from_db()
    assert review.state == "escalated"
    successor = review.escalated_to
    assert (successor.pool, successor.decisions, successor.answer_schema) == ("staff", ["answer"], review.answer_schema)
    staff = factories.staff_member()
    answer(staff, "no")
    assert reviews.review_resume(request_id=review.pk) == {"continued": False}  # the escalated one does nothing
    assert reviews.review_resume(request_id=successor.pk) == {"continued": True, "resolved": True, "outcome": "no"}
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_NO
    # the staff member who decided is paid the loser's half bond
    bond = Resolution.objects.get(claim=claim).bond
    assert wallet_balance(staff) == factories.GRANT + (bond - bond // 2)


def test_a_staff_member_who_is_a_party_is_passed_over(dispute):
    claim = dispute["claim"]
    review = review_of(claim)
    reviews.reviews_sweep(now=review.due_at + timedelta(seconds=1))
    author_user = dispute["author"].user
    author_user.is_staff = True
    author_user.save(update_fields=["is_staff"])
    assert reviews.review_take_next(reviewer=dispute["author"]) is None
    other = factories.staff_member()
    assert reviews.review_take_next(reviewer=other).request_id == review_of_successor(review)


def review_of_successor(review) -> int:
    review.refresh_from_db()
    return review.escalated_to.pk


# --- Within the overrule window ---------------------------------------------------------------------------


@pytest.fixture
def answered(panel, dispute):
    """The panel answered YES, two to one (panel[0] and panel[2] for YES, panel[1] for NO); the answer waits
    out its overrule window."""
    answer(panel[0], "yes")
    answer(panel[1], "no")
    answer(panel[2], "yes")
    review = review_of(dispute["claim"])
    reviews.review_resume(request_id=review.pk)
    return review


def test_staff_confirming_the_panels_answer_resolves_it_now_and_pays_the_panel(panel, dispute, answered):
    claim = dispute["claim"]
    bond = Resolution.objects.get(claim=claim).bond
    before = {p.pk: wallet_balance(p) for p in panel}
    moderator = factories.verified_user(is_staff=True)
    dispute_decide(claim=claim, user=moderator, outcome="yes", reason="The panel read the criteria right.")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_YES
    share = (bond - bond // 2) // 3
    assert [wallet_balance(p) - before[p.pk] for p in panel] == [share, share, share, 0]
    answered.refresh_from_db()
    assert answered.overruled_at is None
    resolution = Resolution.objects.get(claim=claim)
    assert (resolution.decided_by, resolution.decision_reason) == (moderator, "The panel read the criteria right.")
    # and the sweep finds nothing left to finalize when the window ends
    assert resolutions_finalize_due(now=resolution.overrule_deadline) == 0


def test_staff_overruling_the_panel_decide_the_other_way_and_it_counts_against_the_majority(panel, dispute, answered):
    claim = dispute["claim"]
    bond = Resolution.objects.get(claim=claim).bond
    before = {p.pk: wallet_balance(p) for p in (*panel, dispute["challenger"])}
    moderator = factories.verified_user(is_staff=True)
    dispute_decide(claim=claim, user=moderator, outcome="no", reason="The source was retracted on the 3rd.")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_NO
    # the challenger was right: bond back plus half the proposer's; the panel is paid nothing
    assert wallet_balance(dispute["challenger"]) - before[dispute["challenger"].pk] == bond + bond // 2
    assert [wallet_balance(p) - before[p.pk] for p in panel] == [0, 0, 0, 0]
    # the overrule is on the review and in its timeline
    answered.refresh_from_db()
    assert (answered.state, answered.outcome["value"]) == ("answered", "yes")
    assert answered.overruled_by == moderator
    assert answered.overruled_outcome == {"decision": "answer", "value": "no"}
    assert answered.overrule_reason == "The source was retracted on the 3rd."
    event = answered.events.get(kind="overruled")
    assert (event.actor, event.detail) == (
        moderator.human_identity,
        {"decision": "answer", "value": "no", "reason": "The source was retracted on the 3rd."},
    )
    # and it is scored against the two who answered YES; the one who answered NO agreed with the outcome
    records = reviewer_records([p.pk for p in panel[:3]])
    assert [(records[p.pk].on_panels, records[p.pk].agreed, records[p.pk].overruled) for p in panel[:3]] == [
        (1, 0, 1),
        (1, 1, 0),
        (1, 0, 1),
    ]
    # and nothing is left for the sweep; deciding again is refused
    assert resolutions_finalize_due(now=Resolution.objects.get(claim=claim).overrule_deadline) == 0
    with pytest.raises(IllegalTransition):
        dispute_decide(claim=claim, user=moderator, outcome="yes", reason="Changed my mind.")


def test_staff_voiding_within_the_window_overrules_the_panel_and_returns_both_bonds(panel, dispute, answered):
    claim = dispute["claim"]
    bond = Resolution.objects.get(claim=claim).bond
    parties = (dispute["proposer"], dispute["challenger"])
    before = {p.pk: wallet_balance(p) for p in parties}
    moderator = factories.verified_user(is_staff=True)
    claim_void(claim=claim, user=moderator, reason="The criteria cannot be judged.")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.VOIDED
    assert [wallet_balance(p) - before[p.pk] for p in parties] == [bond, bond]
    answered.refresh_from_db()
    assert answered.overruled_outcome == {"decision": "answer", "value": "void"}
    assert reviewer_records([panel[0].pk])[panel[0].pk].overruled == 1


def test_an_overrule_needs_staff_a_reason_and_a_decided_review_once(panel, dispute, answered):
    moderator = factories.verified_user(is_staff=True)
    with pytest.raises(PermissionDenied):
        reviews.review_overrule(request_id=answered.pk, user=panel[3].user, decision="answer", value="no", reason="x")
    with pytest.raises(DecisionInvalid):
        reviews.review_overrule(request_id=answered.pk, user=moderator, decision="answer", value="no", reason=" ")
    reviews.review_overrule(request_id=answered.pk, user=moderator, decision="answer", value="no", reason="Wrong.")
    with pytest.raises(ReviewClosed):
        reviews.review_overrule(request_id=answered.pk, user=moderator, decision="answer", value="void", reason="No.")
    open_one = factories.question(factories.funded_agent(handle="asks-bot"))
    with pytest.raises(ReviewClosed):
        reviews.review_overrule(request_id=open_one.pk, user=moderator, decision="answer", value="no", reason="No.")
    assert ReviewEvent.objects.filter(kind="overruled").count() == 1


def test_a_staff_answer_after_an_escalation_stands_at_once(dispute):
    claim = dispute["claim"]
    review = review_of(claim)
    reviews.reviews_sweep(now=review.due_at + timedelta(seconds=1))
    review.refresh_from_db()
    staff = factories.staff_member()
    answer(staff, "yes")
    reviews.review_resume(request_id=review.escalated_to.pk)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_YES
    assert not Event.objects.filter(kind="claim.answered").exists()


def test_staff_deciding_before_the_panels_answer_is_recorded_still_overrule_it(panel, dispute):
    # given the panel has answered YES, its continuation not yet run (the worker has not picked it up)
    claim = dispute["claim"]
    answer(panel[0], "yes")
    answer(panel[1], "yes")
    review = review_of(claim)
    assert (review.state, review.resumed_at) == ("answered", None)

    # when staff decide NO in those seconds
    moderator = factories.verified_user(is_staff=True)
    dispute_decide(claim=claim, user=moderator, outcome="no", reason="The source was retracted on the 3rd.")

    # then it is an overrule of the panel's answer, scored against the two who gave it
    review.refresh_from_db()
    assert review.overruled_outcome == {"decision": "answer", "value": "no"}
    assert [reviewer_records([p.pk])[p.pk].overruled for p in panel[:2]] == [1, 1]
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_NO
    # and the continuation, when it runs, finds the dispute decided and changes nothing
    resumed = reviews.review_resume(request_id=review.pk)
    assert (resumed["continued"], resumed["refused"]) == (False, "illegal_transition")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_NO
