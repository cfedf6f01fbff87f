"""A checkpoint may set a floor under its panels' verification level (`Checkpoint.min_reviewer_level`), whatever
its policies say: candidates below it are never invited, and a panelist whose level fell below it after the
invitation cannot take or decide the request. Staff's and owners' requests have no level. (Markets' disputes
use it: tests/markets/test_verification.py.)"""

import pytest

from apps.accounts.models import User, VerificationLevel
from apps.identities.errors import VerificationRequired
from apps.reviews import checkpoints, services
from apps.reviews.models import ReviewAssignment, ReviewDecision
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def floored():
    """A checkpoint whose panels are verified humans only, registered for the test."""
    checkpoints.register(
        checkpoints.Checkpoint(
            name="test.floored", label="A guarded pause", min_reviewer_level=VerificationLevel.VERIFIED_HUMAN
        )
    )
    yield "test.floored"
    checkpoints.CHECKPOINTS.pop("test.floored")


def _pause(requester, checkpoint, **values):
    return factories.paused(requester, checkpoint=checkpoint, pool="panel", subject="test:1", **values)


def test_a_floor_keeps_email_verified_people_off_the_panel(owner, floored):
    # given an email-verified person and a verified one, neither the requester's party
    unverified, verified = factories.unverified_human(), factories.verified_human()
    bot = factories.funded_agent(owner)

    # when a request of the floored checkpoint asks a panel (its own level: email_verified)
    review = _pause(bot, floored)

    # then only the verified person is invited, and only they can take it
    assert review.pool_min_level == "email_verified"
    assert services.panel_levels(review) == ["verified_human"]
    assert list(review.invitations.values_list("reviewer_id", flat=True)) == [verified.pk]
    assert services.review_take_next(reviewer=unverified) is None
    assert services.review_take_next(reviewer=verified).request_id == review.pk


def test_without_a_floor_the_requests_level_decides(owner):
    unverified, verified = factories.unverified_human(), factories.verified_human()
    review = _pause(factories.funded_agent(owner), "explicit")
    assert services.panel_levels(review) == ["email_verified", "verified_human"]
    assert set(review.invitations.values_list("reviewer_id", flat=True)) == {unverified.pk, verified.pk}


def test_a_panelist_lowered_below_the_floor_can_neither_take_nor_decide(owner, floored):
    first, second = factories.verified_human(), factories.verified_human()
    review = _pause(factories.funded_agent(owner), floored, reviewers_required=2, agreement="majority")
    lease = services.review_take_next(reviewer=first)
    User.objects.filter(pk__in=[first.user_id, second.user_id]).update(verification_level="email_verified")

    message = (
        "Sitting on the panel of a guarded pause needs a verified identity: verify on your account page "
        "(/me/verification/)."
    )
    with pytest.raises(VerificationRequired) as refused:
        services.review_take_next(reviewer=second)
    assert (refused.value.code, refused.value.message) == ("verification_required", message)
    with pytest.raises(VerificationRequired):
        services.review_decide(assignment_id=lease.pk, reviewer=first, kind="approve")
    assert not ReviewDecision.objects.filter(request=review).exists()
    assert list(ReviewAssignment.objects.filter(request=review).values_list("reviewer_id", flat=True)) == [first.pk]
