"""Becoming a `verified_human`: Stripe Identity where Stripe is configured, a person's review otherwise.

- Stripe Identity: `verification_start` creates a VerificationSession (a document and a matching selfie) and
  sends the person to Stripe's page; Stripe's `identity.verification_session.*` events move the attempt
  (`verification_update`). On `verified` the session is read back with its report, and only a keyed
  fingerprint of the document (HMAC-SHA256 of issuing country, type and number) is kept. A fingerprint that
  already verified another account refuses this one and flags it for staff; a unique index on verified
  fingerprints makes that hold under races too.
- Without Stripe: `verification_request_review` opens an `identity.verify` review (the person's statement and
  links) for staff, or for the pool of a current `identity.verify` policy; the decision raises the level
  (`verification_resume`, the `billing.verify` continuation) or records the reason for the person to read.
"""

import hashlib
import hmac
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User, VerificationLevel
from apps.billing import gateway
from apps.billing.errors import AlreadyVerified, BillingNotConfigured, VerificationInProgress
from apps.billing.models import Verification, VerificationMethod, VerificationStatus
from apps.billing.services import HANDLERS, _person, request_key
from apps.core import events
from apps.core.errors import ValidationFailed
from apps.core.services import event_emit
from apps.identities.errors import VERIFICATION_PAGE
from apps.identities.selectors import is_verified_human
from apps.realtime.models import NotificationKind
from apps.realtime.services import notification_send, user_subject
from apps.reviews import checkpoints
from apps.reviews import services as reviews
from apps.reviews.models import Decision, Pool, RequestState, ReviewRequest, TimeoutAction

log = logging.getLogger(__name__)

VERIFY = "identity.verify"
VERIFY_CONTINUATION = "billing.verify"
FINAL = (VerificationStatus.VERIFIED, VerificationStatus.REFUSED, VerificationStatus.CANCELED)
MAX_LINKS = 5

checkpoints.register(
    checkpoints.Checkpoint(
        name=VERIFY,
        label="A person asks to be verified as a human",
        variables={"actor": {"kind": "string", "handle": "string", "age_days": "int"}},
    )
)


def _require_unverified(user: User) -> None:
    if is_verified_human(user):  # read from the database, not the request's copy of the user
        raise AlreadyVerified()


def _announce(verification: Verification, text: str = "") -> None:
    event_emit(
        kind=events.VERIFICATION_CHANGED.name,
        subject=user_subject(verification.user_id),
        payload={"verification": verification.pk, "status": verification.status},
    )
    if not text:
        return
    try:  # for display: never fails the change it tells of
        with transaction.atomic():
            notification_send(
                user_id=verification.user_id,
                kind=NotificationKind.VERIFICATION,
                subject=f"verification:{verification.pk}:{verification.status}",
                text=text,
                link=VERIFICATION_PAGE,
            )
    except Exception:
        log.exception("billing: the notification for verification %s failed", verification.pk)


def _raise_level(user_id: int) -> None:
    User.objects.filter(pk=user_id).exclude(verification_level=VerificationLevel.VERIFIED_HUMAN).update(
        verification_level=VerificationLevel.VERIFIED_HUMAN
    )


# --- Stripe Identity ---------------------------------------------------------------------------------------


def verification_start(*, user: User, idempotency_key: str, return_url: str) -> Verification:
    """Start a Stripe Identity verification: the attempt's row first (committed, so the session's idempotency
    key names it), then the VerificationSession; the person goes to `verification_url`."""
    if not gateway.identity_configured():
        raise BillingNotConfigured("Stripe Identity is not configured here: ask for a review instead.")
    key = request_key(idempotency_key)
    with transaction.atomic():
        _person(user, lock=True)
        _require_unverified(user)
        verification, _ = Verification.objects.get_or_create(
            user=user, idempotency_key=key, defaults={"method": VerificationMethod.STRIPE}
        )
    if verification.stripe_session_id:
        return verification
    session = gateway.call(
        gateway.client().v1.identity.verification_sessions.create,
        params={
            "type": "document",
            "client_reference_id": str(verification.pk),
            "metadata": {"verification": str(verification.pk), "user": str(user.pk)},
            "options": {"document": {"require_matching_selfie": True}},
            "return_url": return_url,
        },
        options={"idempotency_key": f"credence-verification-{verification.pk}"},
    )
    with transaction.atomic():
        verification = Verification.objects.select_for_update(no_key=True).get(pk=verification.pk)
        if not verification.stripe_session_id:
            verification.stripe_session_id = session["id"]
            verification.verification_url = session.get("url") or ""
            verification.save(update_fields=["stripe_session_id", "verification_url", "updated_at"])
    return verification


def document_fingerprint(report: dict) -> str:
    """A keyed fingerprint of the document a report verified: the same document gives the same value, and
    nothing of the document can be read back from it. Without the document's number (a secret key, not a
    restricted one, cannot read it) the name and date of birth stand in for it."""
    document = report.get("document") or {}
    parts = [document.get("issuing_country") or "", document.get("type") or ""]
    if document.get("number"):
        parts.append(str(document["number"]).replace(" ", "").upper())
    else:
        dob = document.get("dob") or {}
        parts += [
            (document.get("first_name") or "").strip().lower(),
            (document.get("last_name") or "").strip().lower(),
            f"{dob.get('year')}-{dob.get('month')}-{dob.get('day')}",
        ]
    key = settings.CREDENCE_IDENTITY_FINGERPRINT_KEY or f"credence-fingerprint:{settings.SECRET_KEY}"
    return hmac.new(key.encode(), "|".join(parts).encode(), hashlib.sha256).hexdigest()


def _verified_report(session_id: str) -> dict:
    session = gateway.call(
        gateway.client().v1.identity.verification_sessions.retrieve,
        session_id,
        params={"expand": ["last_verification_report", "last_verification_report.document.number"]},
    )
    report = session.get("last_verification_report")
    if not isinstance(report, dict) or (report.get("document") or {}).get("status") != "verified":
        raise gateway.PaymentProviderError(detail={"stripe": f"{session_id} has no verified document report"})
    return report


def verification_update(*, session: dict) -> str:
    """Stripe says where a VerificationSession stands (the event's snapshot). A final state is never left: a late
    'processing' does not undo 'verified'. On 'verified' the report is read back (outside any lock), then the
    attempt, the person's level and the fingerprint are written in one transaction."""
    query = Q(stripe_session_id=session.get("id"))
    own = (session.get("metadata") or {}).get("verification")
    if isinstance(own, str) and own.isdigit():
        query |= Q(pk=int(own), stripe_session_id__isnull=True)
    if not Verification.objects.filter(query).exists():
        return "not a Credence verification"
    status = session.get("status")
    report = _verified_report(session["id"]) if status == "verified" else None
    with transaction.atomic():
        verification = Verification.objects.select_for_update(no_key=True).filter(query).first()
        if verification.status in FINAL:
            return f"verification #{verification.pk} already {verification.status}"
        verification.stripe_session_id = session["id"]
        if report is not None:
            return _verified(verification, document_fingerprint(report))
        if status == "requires_input":
            error = session.get("last_error") or {}
            verification.status = VerificationStatus.REQUIRES_INPUT
            verification.error_code = (error.get("code") or "")[:100]
            verification.error_reason = (error.get("reason") or "")[:1000]
            text = "Your identity check needs another attempt: " + (
                verification.error_reason or "see your account page."
            )
        elif status == "canceled":
            verification.status = VerificationStatus.CANCELED
            text = "Your identity check was canceled. You can start a new one from your account page."
        else:
            verification.status = VerificationStatus.PROCESSING
            text = ""
        verification.save()
        _announce(verification, text)
        return f"verification #{verification.pk}: {verification.status}"


def _verified(verification: Verification, fingerprint: str) -> str:
    """A verified document: the person becomes a verified human, unless the document already verified someone
    else, which refuses this account and flags it for staff (the index refuses it if two race)."""
    verification.fingerprint = fingerprint
    taken = (
        Verification.objects.filter(status=VerificationStatus.VERIFIED, fingerprint=fingerprint)
        .exclude(user_id=verification.user_id)
        .values_list("user_id", flat=True)
        .first()
    )
    if taken is None:
        verification.status = VerificationStatus.VERIFIED
        try:
            with transaction.atomic():
                verification.save()
        except IntegrityError:  # another account's verification of this document committed first
            taken = Verification.objects.filter(
                status=VerificationStatus.VERIFIED, fingerprint=fingerprint
            ).values_list("user_id", flat=True)[0]
    if taken is not None:
        verification.status = VerificationStatus.REFUSED
        verification.flagged = True
        verification.flag_reason = f"The same document already verified account #{taken}."
        verification.save()
        _announce(
            verification,
            "Your identity check was refused: this document already verified another account. Staff will look at it.",
        )
        log.warning("billing: verification %s reuses a document of user %s", verification.pk, taken)
        return f"verification #{verification.pk}: refused (document of user {taken})"
    _raise_level(verification.user_id)
    _announce(verification, "You are now a verified human: everything in Credence is open to you.")
    return f"verification #{verification.pk}: verified"


for _type in ("verified", "requires_input", "canceled", "processing"):
    HANDLERS[f"identity.verification_session.{_type}"] = lambda obj, _: verification_update(session=obj)


def verification_method() -> str:
    """How a verification started now goes: "stripe" (Stripe Identity) where it is configured, else "review"."""
    return VerificationMethod.STRIPE if gateway.identity_configured() else VerificationMethod.REVIEW


def verification_begin(*, user: User, idempotency_key: str, return_url: str, statement: str, links) -> Verification:
    """Start verifying `user` the way this server verifies people (`verification_method`): a Stripe Identity
    session (the statement and links are not needed), or a reviewer's look at the statement and links."""
    if verification_method() == VerificationMethod.STRIPE:
        return verification_start(user=user, idempotency_key=idempotency_key, return_url=return_url)
    return verification_request_review(user=user, statement=statement, links=links, idempotency_key=idempotency_key)


# --- The review path ---------------------------------------------------------------------------------------


def _links(links) -> list[str]:
    cleaned = [str(link).strip() for link in (links or []) if str(link).strip()]
    if len(cleaned) > MAX_LINKS:
        raise ValidationFailed(f"At most {MAX_LINKS} links.", detail={"field": "links"})
    for link in cleaned:
        if not link.startswith(("https://", "http://")) or len(link) > 500 or "\x00" in link:
            raise ValidationFailed("Links must be http(s) URLs of at most 500 characters.", detail={"field": "links"})
    return cleaned


@transaction.atomic
def verification_request_review(*, user: User, statement: str, links, idempotency_key: str) -> Verification:
    """Ask a person to verify you (where Stripe Identity is not available): a short statement of who you are and
    links that show it. Staff review it, or the pool of a current `identity.verify` policy."""
    human = _person(user, lock=True)
    _require_unverified(user)
    key = request_key(idempotency_key)
    existing = Verification.objects.filter(user=user, idempotency_key=key).first()
    if existing is not None:
        return existing
    if Verification.objects.filter(user=user, status=VerificationStatus.IN_REVIEW).exists():
        raise VerificationInProgress()
    statement = (statement or "").strip()
    if not 20 <= len(statement) <= 2000 or "\x00" in statement:
        raise ValidationFailed("A statement of 20-2000 characters (no NUL) is required.", detail={"field": "statement"})
    links = _links(links)
    verification = Verification.objects.create(
        user=user,
        method=VerificationMethod.REVIEW,
        status=VerificationStatus.IN_REVIEW,
        statement=statement,
        links=links,
        idempotency_key=key,
    )
    age_days = (timezone.now() - user.date_joined).days
    fired = reviews.checkpoint_check(
        checkpoint=VERIFY,
        activation={"actor": {"kind": human.kind, "handle": human.handle, "age_days": age_days}},
        subject=f"user:{user.pk}",
    )
    values = {}
    if fired is None:  # no policy: staff decide, and a timeout escalates (it is never a rejection)
        values = {
            "reviewers_required": 1,
            "agreement": "first",
            "pool": Pool.STAFF,
            "timeout_seconds": settings.CREDENCE_VERIFICATION_REVIEW_TIMEOUT_SECONDS,
            "on_timeout": TimeoutAction.ESCALATE,
        }
    verification.review = reviews.review_request_open(
        checkpoint=VERIFY,
        requester=human,
        subject=f"user:{user.pk}",
        payload={
            "handle": human.handle,
            "joined": user.date_joined.date().isoformat(),
            "statement": statement,
            "links": links,
        },
        idempotency_key=f"verify:{verification.pk}",
        continuation=VERIFY_CONTINUATION,
        policy=fired.policy if fired else None,
        why=fired.why if fired else {},
        question="Is this a real person acting under this one account? Approve, or reject with a reason for them.",
        decisions=[Decision.APPROVE, Decision.REJECT],
        price=0,
        **values,
    )
    verification.save(update_fields=["review", "updated_at"])
    _announce(verification)
    return verification


@checkpoints.continuation(VERIFY_CONTINUATION)
def verification_resume(request: ReviewRequest) -> dict:
    """The review of a verification finished: approved raises the person's level; rejected records the reason for
    them; a cancellation closes the attempt. (A timeout escalates to staff: the request is not finished then.)"""
    verification = Verification.objects.select_for_update(no_key=True).filter(review=request).first()
    if verification is None or verification.status != VerificationStatus.IN_REVIEW:
        return {"verified": False, "state": request.state}
    if request.state == RequestState.APPROVED:
        verification.status = VerificationStatus.VERIFIED
        verification.save(update_fields=["status", "updated_at"])
        _raise_level(verification.user_id)
        _announce(verification, "A reviewer verified you: you are now a verified human.")
        return {"verified": True}
    if request.state == RequestState.REJECTED:
        verification.status = VerificationStatus.REJECTED
        verification.error_reason = ((request.outcome or {}).get("reason") or "")[:1000]
        verification.save(update_fields=["status", "error_reason", "updated_at"])
        _announce(verification, f"Your verification was not approved: {verification.error_reason}")
        return {"verified": False, "rejected": True}
    verification.status = VerificationStatus.CANCELED
    verification.save(update_fields=["status", "updated_at"])
    _announce(verification)
    return {"verified": False, "state": request.state}
