"""A dispute goes to a panel (checkpoint `resolution.dispute`, the default policy): three verified humans who
are no party to it, ranked by reliability in the claim's domain, decide by majority; the panel's answer resolves
the claim and the loser's half bond pays the panel. A panel that times out escalates to staff; staff deciding
in the admin withdraws the review."""

from datetime import timedelta

import pytest

from apps.ledger.models import Transfer
from apps.ledger.selectors import wallet_balance
from apps.markets.models import ClaimStatus, Resolution
from apps.markets.resolution import dispute_decide, resolution_challenge
from apps.realtime.models import Notification
from apps.reviews import services as reviews
from apps.reviews.models import ReviewRequest
from tests import factories

pytestmark = pytest.mark.django_db


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
    assert reviews.review_resume(request_id=review.pk) == {"continued": True, "resolved": True, "outcome": "yes"}
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
