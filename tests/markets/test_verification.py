"""What verification unlocks in markets (docs/architecture.md, "What verification unlocks"): proposing and
challenging an outcome, and sitting on a dispute's panel, are for verified humans and their agents. Refused
below that level with `verification_required` and what to do, and nothing written; allowed at it."""

import pytest

from apps.accounts.models import User, VerificationLevel
from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.identities.errors import VerificationRequired
from apps.ledger.models import Transfer
from apps.ledger.selectors import wallet_balance
from apps.markets.models import ClaimStatus, Resolution
from apps.markets.resolution import resolution_challenge, resolution_propose
from apps.reviews import services as reviews
from apps.reviews.models import CheckpointPolicy, ReviewAssignment, ReviewDecision, ReviewInvitation, ReviewRequest
from tests import factories
from tests.factories import GRANT

pytestmark = pytest.mark.django_db

EVIDENCE = "The replication paper (doi:10.0000/x) reports p = 0.03."
PROPOSING = "Proposing an outcome needs a verified identity: verify on your account page (/me/verification/)."
CHALLENGING = "Challenging a proposal needs a verified identity: verify on your account page (/me/verification/)."
SITTING = (
    "Sitting on the panel of a disputed resolution needs a verified identity: verify on your account page "
    "(/me/verification/)."
)


@pytest.fixture
def closed(claim):
    """A closed claim with a trader on YES."""
    factories.buy(factories.human(), claim, "yes", credits=5, key="y")
    return factories.close(claim)


@pytest.fixture
def proposed(closed):
    factories.propose(closed, "yes", factories.human())
    closed.refresh_from_db()
    return closed


def _rows() -> dict:
    return {
        "resolutions": Resolution.objects.count(),
        "transfers": Transfer.objects.count(),
        "events": Event.objects.count(),
        "reviews": ReviewRequest.objects.count(),
    }


def _lower(identity, level=VerificationLevel.EMAIL_VERIFIED) -> None:
    """Staff lower the person's level (in the database only: the caller's copy still says what it said)."""
    User.objects.filter(pk=identity.controller_id).update(verification_level=level)


# --- Proposing and challenging --------------------------------------------------------------------------------


def test_an_unverified_person_may_not_propose_and_nothing_is_written(closed):
    # given a person who confirmed their email and no more
    person = factories.unverified_human()
    before = _rows()

    # when they propose, then the refusal says what is locked and where to verify
    with pytest.raises(VerificationRequired) as refused:
        resolution_propose(claim=closed, proposer=person, outcome="yes", evidence=EVIDENCE)
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        403,
        "verification_required",
        PROPOSING,
    )

    # and no bond moved, no proposal, no event
    assert _rows() == before
    assert wallet_balance(person) == GRANT
    closed.refresh_from_db()
    assert closed.status == ClaimStatus.CLOSED


def test_an_agent_of_an_unverified_owner_may_not_propose(closed):
    bot = factories.funded_agent(factories.unverified_user(), amount=50 * CREDIT)
    before = _rows()
    with pytest.raises(VerificationRequired, match=r"^Proposing an outcome needs a verified identity"):
        resolution_propose(claim=closed, proposer=bot, outcome="yes", evidence=EVIDENCE)
    assert _rows() == before


def test_a_verified_person_and_their_agent_may_propose(closed, author, domain):
    # given a verified person: their proposal posts the bond
    person = factories.human()
    resolution = resolution_propose(claim=closed, proposer=person, outcome="no", evidence=EVIDENCE)
    assert (resolution.proposer_id, resolution.proposed_outcome) == (person.pk, "no")
    assert wallet_balance(person) == GRANT - resolution.bond
    # and a verified person's agent proposes on another claim
    other = factories.close(factories.new_claim(author, domain, title="Will the second one replicate?"))
    bot = factories.funded_agent()
    assert resolution_propose(claim=other, proposer=bot, outcome="yes", evidence=EVIDENCE).proposer_id == bot.pk
    assert wallet_balance(bot) == factories.BOT_FUNDS - Resolution.objects.get(claim=other).bond


def test_the_level_is_read_from_the_database_not_the_callers_copy(closed):
    # given a person verified when their identity was loaded, then lowered by staff
    person = factories.human()
    assert person.user.verification_level == VerificationLevel.VERIFIED_HUMAN
    _lower(person)

    # when they propose with the copy loaded before, then the level as it is now decides
    with pytest.raises(VerificationRequired):
        resolution_propose(claim=closed, proposer=person, outcome="yes", evidence=EVIDENCE)
    assert not Resolution.objects.exists()


def test_an_unverified_person_may_not_challenge_and_nothing_is_written(proposed):
    person = factories.unverified_human()
    before = _rows()
    with pytest.raises(VerificationRequired) as refused:
        resolution_challenge(claim=proposed, challenger=person, evidence="It was retracted.")
    assert (refused.value.code, refused.value.message) == ("verification_required", CHALLENGING)
    assert _rows() == before
    assert wallet_balance(person) == GRANT
    proposed.refresh_from_db()
    assert proposed.status == ClaimStatus.PROPOSED
    assert Resolution.objects.get(claim=proposed).challenger_id is None


def test_a_verified_person_may_challenge(proposed):
    challenger = factories.human()
    resolution = resolution_challenge(claim=proposed, challenger=challenger, evidence="It was retracted.")
    assert resolution.challenger_id == challenger.pk
    assert wallet_balance(challenger) == GRANT - resolution.bond
    proposed.refresh_from_db()
    assert proposed.status == ClaimStatus.DISPUTED


# --- Dispute panels ----------------------------------------------------------------------------------------------


@pytest.fixture
def loose_policy():
    """The seeded dispute policy replaced by one whose pool takes email-verified people too, and one seat."""
    reviews.policy_retire(policy=CheckpointPolicy.objects.get(key="disputes-to-a-panel", is_current=True))
    factories.policy(
        "resolution.dispute",
        key="disputes-to-anyone",
        decisions=("answer",),
        pool="panel",
        pool_min_level="email_verified",
        on_timeout="escalate",
    )
    reviews.policies_forget()


def _dispute(proposed) -> ReviewRequest:
    resolution_challenge(claim=proposed, challenger=factories.human(), evidence="It was retracted.")
    return ReviewRequest.objects.get(checkpoint="resolution.dispute", subject=f"claim:{proposed.pk}")


def test_a_dispute_panel_invites_only_verified_people_whatever_the_policy_says(loose_policy, proposed):
    # given an email-verified person and a verified one, no party to the claim, and a policy that would take both
    unverified, verified = factories.unverified_human(), factories.verified_human()

    # when the claim is disputed
    review = _dispute(proposed)

    # then the request keeps the policy's level, but only the verified person is invited
    assert (review.policy.key, review.pool_min_level) == ("disputes-to-anyone", "email_verified")
    invited = set(ReviewInvitation.objects.filter(request=review).values_list("reviewer_id", flat=True))
    assert verified.pk in invited and unverified.pk not in invited
    assert reviews.panel_levels(review) == ["verified_human"]

    # and the email-verified person is offered nothing; the verified one takes it
    assert reviews.review_take_next(reviewer=unverified) is None
    assert reviews.review_take_next(reviewer=verified).request_id == review.pk


def test_an_explicit_panel_still_takes_email_verified_people(owner):
    # a checkpoint without a floor keeps the policy's level: an agent's question to a panel of anyone verified
    person = factories.unverified_human()
    review = factories.question(factories.funded_agent(owner), pool="panel", price=0)
    assert person.pk in set(review.invitations.values_list("reviewer_id", flat=True))
    assert reviews.panel_levels(review) == ["email_verified", "verified_human"]
    assert reviews.review_take_next(reviewer=person).request_id == review.pk


def test_a_panelist_whose_level_fell_after_the_invitation_cannot_take_it(proposed):
    # given a verified person invited to a dispute's panel, then lowered by staff
    person = factories.verified_human()
    review = _dispute(proposed)
    assert ReviewInvitation.objects.filter(request=review, reviewer=person).exists()
    _lower(person)

    # when they take the next review, then the refusal says why, and no lease is taken
    with pytest.raises(VerificationRequired) as refused:
        reviews.review_take_next(reviewer=person)
    assert (refused.value.code, refused.value.message) == ("verification_required", SITTING)
    assert refused.value.detail == {"levels": ["verified_human"]}
    assert not ReviewAssignment.objects.filter(reviewer=person).exists()
    review.refresh_from_db()
    assert (review.state, review.seats_open) == ("pending", 3)


def test_a_panelist_whose_level_fell_after_taking_cannot_decide(proposed):
    # given a verified panelist holding a lease, then lowered by staff
    person = factories.verified_human()
    review = _dispute(proposed)
    assignment = reviews.review_take_next(reviewer=person)
    _lower(person)

    # when they decide, then it is refused and nothing is recorded
    with pytest.raises(VerificationRequired, match=r"^Sitting on the panel of a disputed resolution"):
        reviews.review_decide(assignment_id=assignment.pk, reviewer=person, kind="answer", value="no")
    assert not ReviewDecision.objects.filter(request=review).exists()
    assert ReviewAssignment.objects.get(pk=assignment.pk).state == "leased"

    # and raised again, they may
    _lower(person, VerificationLevel.VERIFIED_HUMAN)
    reviews.review_decide(assignment_id=assignment.pk, reviewer=person, kind="answer", value="no")
    assert ReviewDecision.objects.filter(request=review, reviewer=person).count() == 1


def test_staff_deciding_an_escalated_dispute_need_no_level(proposed):
    # given a dispute escalated to staff, and a staff member who is only email-verified
    review = _dispute(proposed)
    reviews.reviews_sweep(now=review.due_at)
    successor = ReviewRequest.objects.get(escalated_from=review)
    staff = factories.human(factories.unverified_user(is_staff=True))

    # when they take and decide it, then nothing stops them
    assignment = reviews.review_take_next(reviewer=staff)
    assert assignment.request_id == successor.pk
    decided = reviews.review_decide(assignment_id=assignment.pk, reviewer=staff, kind="answer", value="no")
    assert decided.state == "answered"
