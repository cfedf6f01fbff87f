"""Becoming a verified human: Stripe Identity's events (verified, requires_input, canceled, a reused document) and,
without Stripe, a staff review through the `identity.verify` checkpoint."""

import pytest
from django.test import Client

from apps.accounts.models import User, VerificationLevel
from apps.billing.models import StripeEvent, Verification, VerificationStatus
from apps.billing.verification import document_fingerprint, verification_request_review
from apps.core.errors import ValidationFailed
from apps.realtime.models import Notification
from apps.reviews import services as reviews
from apps.reviews.models import Pool, RequestState, ReviewRequest
from tests import factories
from tests.billing.fake_stripe import event, signed
from tests.support import race, signed_in

WEBHOOK = "/billing/stripe/webhook"
PASSPORT = {"issuing_country": "FR", "type": "passport", "number": "18AV12345", "first_name": "Ada", "last_name": "L"}


def deliver(client, payload: dict):
    body, header = signed(payload)
    return client.post(WEBHOOK, body, content_type="application/json", headers={"Stripe-Signature": header})


def start(user, key: str = "v1"):
    return signed_in(user).post(
        "/api/v1/billing/verification", {}, content_type="application/json", headers={"Idempotency-Key": key}
    )


def level(user) -> str:
    return User.objects.get(pk=user.pk).verification_level


@pytest.fixture
def person(db):
    return factories.unverified_user()


@pytest.mark.django_db
def test_starting_creates_a_stripe_session_once_per_key(fake_stripe, person):
    first, again = start(person), start(person)
    assert first.status_code == 201 and again.json() == first.json()
    body = first.json()
    assert body["method"] == "stripe" and body["status"] == "created"
    session = fake_stripe.verifications[Verification.objects.get().stripe_session_id]
    assert body["verification_url"] == session["url"]
    assert session["type"] == "document" and session["options"] == {"document": {"require_matching_selfie": "true"}}
    assert session["metadata"] == {"verification": str(body["id"]), "user": str(person.pk)}
    assert len(fake_stripe.verifications) == 1


@pytest.mark.django_db
def test_verified_raises_the_level_and_keeps_only_a_fingerprint(fake_stripe, stripe_client, person):
    item = Verification.objects.get(pk=start(person).json()["id"])
    session = fake_stripe.verify(item.stripe_session_id, PASSPORT)

    response = deliver(stripe_client, event("identity.verification_session.verified", session))

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.status == VerificationStatus.VERIFIED
    assert level(person) == VerificationLevel.VERIFIED_HUMAN
    report = {"document": PASSPORT}
    assert item.fingerprint == document_fingerprint(report) and len(item.fingerprint) == 64
    stored = StripeEvent.objects.get()
    assert stored.outcome == f"verification #{item.pk}: verified"
    assert "18AV12345" not in item.fingerprint and "18AV12345" not in str(Verification.objects.values().get())
    # the number was read with the expansion that reveals it, and nothing else of the document is stored
    get = [r for r in fake_stripe.requests if r[0] == "GET"][-1]
    assert get[2]["expand"] == ["last_verification_report", "last_verification_report.document.number"]
    assert (
        Notification.objects.get(user=person).text
        == "You are now a verified human: everything in Credence is open to you."
    )
    page = signed_in(person).get("/me/verification/").content.decode()
    assert 'data-level="verified_human"' in page


@pytest.mark.django_db
def test_requires_input_and_canceled_say_what_to_do_next(fake_stripe, stripe_client, person):
    item = Verification.objects.get(pk=start(person).json()["id"])
    session = dict(fake_stripe.verifications[item.stripe_session_id])
    session["last_error"] = {"code": "document_expired", "reason": "The document is expired."}
    assert deliver(stripe_client, event("identity.verification_session.requires_input", session)).status_code == 200
    item.refresh_from_db()
    assert (item.status, item.error_code) == (VerificationStatus.REQUIRES_INPUT, "document_expired")
    page = signed_in(person).get("/me/verification/").content.decode()
    assert "Your last attempt needs another try: The document is expired." in page
    assert "Verify with Stripe" in page  # a new attempt can start

    session["status"] = "canceled"
    assert deliver(stripe_client, event("identity.verification_session.canceled", session)).status_code == 200
    item.refresh_from_db()
    assert item.status == VerificationStatus.CANCELED
    assert "Your last attempt was canceled" in signed_in(person).get("/me/verification/").content.decode()
    assert level(person) == VerificationLevel.EMAIL_VERIFIED


@pytest.mark.django_db
def test_a_late_processing_event_does_not_undo_verified(fake_stripe, stripe_client, person):
    item = Verification.objects.get(pk=start(person).json()["id"])
    session = fake_stripe.verify(item.stripe_session_id, PASSPORT)
    deliver(stripe_client, event("identity.verification_session.verified", session))
    deliver(stripe_client, event("identity.verification_session.processing", dict(session, status="processing")))
    item.refresh_from_db()
    assert item.status == VerificationStatus.VERIFIED and level(person) == VerificationLevel.VERIFIED_HUMAN


@pytest.mark.django_db
def test_a_document_that_verified_another_account_is_refused_and_flagged(fake_stripe, stripe_client, person):
    first = Verification.objects.get(pk=start(person).json()["id"])
    deliver(
        stripe_client,
        event("identity.verification_session.verified", fake_stripe.verify(first.stripe_session_id, PASSPORT)),
    )
    second_person = factories.unverified_user()
    second = Verification.objects.get(pk=start(second_person, "v2").json()["id"])

    response = deliver(
        stripe_client,
        event("identity.verification_session.verified", fake_stripe.verify(second.stripe_session_id, PASSPORT)),
    )

    assert response.status_code == 200
    second.refresh_from_db()
    assert second.status == VerificationStatus.REFUSED and second.flagged
    assert second.flag_reason == f"The same document already verified account #{person.pk}."
    assert level(second_person) == VerificationLevel.EMAIL_VERIFIED
    assert level(person) == VerificationLevel.VERIFIED_HUMAN
    assert (
        "This document already verified another account"
        in signed_in(second_person).get("/me/verification/").content.decode()
    )
    admin = signed_in(User.objects.create_superuser("root@staff.example.com", factories.PASSWORD))
    listing = admin.get("/admin/billing/verification/?flagged__exact=1").content.decode()
    assert "The same document already verified account" in listing


@pytest.mark.django_db
def test_a_verified_person_cannot_start_again(fake_stripe, person):
    User.objects.filter(pk=person.pk).update(verification_level=VerificationLevel.VERIFIED_HUMAN)
    response = start(person)
    assert response.status_code == 409 and response.json()["error"]["code"] == "already_verified"
    assert Verification.objects.count() == 0


# --- Without Stripe: a staff review -------------------------------------------------------------------------


def ask_review(
    user, statement="I am Ada, a statistician in Lyon; my profile is linked.", links="https://example.org/ada"
):
    return signed_in(user).post(
        "/me/verification/start", {"idempotency_key": "r1", "statement": statement, "links": links}
    )


@pytest.mark.django_db
def test_without_stripe_a_statement_goes_to_staff_and_approval_verifies(person):
    response = ask_review(person)
    assert response.status_code == 302 and response["Location"] == "/me/verification/"
    item = Verification.objects.get()
    review = ReviewRequest.objects.get()
    assert item.status == VerificationStatus.IN_REVIEW and item.review_id == review.pk
    assert (review.checkpoint, review.pool, review.subject) == ("identity.verify", Pool.STAFF, f"user:{person.pk}")
    assert review.payload["links"] == ["https://example.org/ada"]
    assert 'data-status="in_review"' in signed_in(person).get("/me/verification/").content.decode()
    assert ask_review(person).status_code == 302  # the same form again: the same request
    assert ReviewRequest.objects.count() == 1

    staff = factories.staff_member()
    assignment = reviews.review_take_next(reviewer=staff)
    assert assignment.request_id == review.pk
    reviews.review_decide(assignment_id=assignment.pk, reviewer=staff, kind="approve")
    reviews.review_resume(request_id=review.pk)

    item.refresh_from_db()
    assert item.status == VerificationStatus.VERIFIED and level(person) == VerificationLevel.VERIFIED_HUMAN


@pytest.mark.django_db
def test_without_stripe_a_rejection_tells_the_reason(person):
    ask_review(person)
    review = ReviewRequest.objects.get()
    staff = factories.staff_member()
    assignment = reviews.review_take_next(reviewer=staff)
    reviews.review_decide(assignment_id=assignment.pk, reviewer=staff, kind="reject", reason="The link shows no one")
    reviews.review_resume(request_id=review.pk)
    assert ReviewRequest.objects.get().state == RequestState.REJECTED
    item = Verification.objects.get()
    assert item.status == VerificationStatus.REJECTED and level(person) == VerificationLevel.EMAIL_VERIFIED
    page = signed_in(person).get("/me/verification/").content.decode()
    assert "A reviewer did not approve your last request: The link shows no one" in page


@pytest.mark.django_db
def test_without_stripe_a_short_statement_is_refused_on_the_form(person):
    response = ask_review(person, statement="me")
    assert response.status_code == 422
    assert "A statement of 20-2000 characters (no NUL) is required." in response.content.decode()
    assert Verification.objects.count() == 0 and ReviewRequest.objects.count() == 0
    api = signed_in(person).post(
        "/api/v1/billing/verification",
        {"statement": "me", "links": []},
        content_type="application/json",
        headers={"Idempotency-Key": "k"},
    )
    assert api.status_code == 422 and api.json()["error"]["detail"] == {"field": "statement"}


@pytest.mark.django_db(transaction=True)
def test_two_accounts_verifying_one_document_at_once_verify_one(fake_stripe):
    people = [factories.unverified_user() for _ in range(2)]
    items = [Verification.objects.get(pk=start(p, f"v{i}").json()["id"]) for i, p in enumerate(people)]
    payloads = [
        signed(event("identity.verification_session.verified", fake_stripe.verify(item.stripe_session_id, PASSPORT)))
        for item in items
    ]

    def deliver_one(i: int) -> int:
        body, header = payloads[i]
        return (
            Client()
            .post(WEBHOOK, body, content_type="application/json", headers={"Stripe-Signature": header})
            .status_code
        )

    assert race(2, deliver_one) == [200, 200]
    statuses = sorted(Verification.objects.values_list("status", flat=True))
    assert statuses == [VerificationStatus.REFUSED, VerificationStatus.VERIFIED]
    assert sorted(level(p) for p in people) == [VerificationLevel.EMAIL_VERIFIED, VerificationLevel.VERIFIED_HUMAN]
    assert Verification.objects.get(status=VerificationStatus.REFUSED).flagged


@pytest.mark.django_db
def test_a_nul_in_the_statement_or_a_link_is_refused(person):
    assert ask_review(person, statement="A statistician in Lyon\x00 with a profile.").status_code == 400  # the site's
    with pytest.raises(ValidationFailed, match="no NUL"):
        verification_request_review(
            user=person, statement="A statistician in Lyon\x00 with a profile.", links=[], idempotency_key="k"
        )
    with pytest.raises(ValidationFailed, match="Links must be"):
        verification_request_review(
            user=person,
            statement="A statistician in Lyon with a profile.",
            links=["https://a\x00"],
            idempotency_key="k",
        )
    assert Verification.objects.count() == 0 and ReviewRequest.objects.count() == 0
