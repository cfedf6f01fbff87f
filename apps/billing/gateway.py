"""The one place that talks to Stripe: a `stripe.StripeClient` built from the settings, and the verification
of incoming events' signatures. Everything else in billing takes plain dicts, so the services are tested with
events built in the tests (signed with the library's own helper) and a local Stripe (tests/billing/fake_stripe.py).
"""

import json
import time

import stripe
from django.conf import settings

from apps.billing.errors import BillingNotConfigured, PaymentProviderError


def configured() -> bool:
    """Whether buying credit (and Stripe Identity) is on: a secret key and a webhook secret are both set (an
    endpoint that cannot verify what Stripe sends must not take money)."""
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET)


def identity_configured() -> bool:
    return configured() and settings.STRIPE_IDENTITY_ENABLED


def client() -> stripe.StripeClient:
    if not configured():
        raise BillingNotConfigured()
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    # Retries are safe: every creating call carries an idempotency key, and reads are reads.
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2)


def as_dict(obj) -> dict:
    """A StripeObject (or a dict) as plain JSON-able dicts."""
    if isinstance(obj, dict) and not isinstance(obj, stripe.StripeObject):
        return obj
    return json.loads(json.dumps(obj.to_dict()))


def call(function, *args, **kwargs) -> dict:
    """Call Stripe; any failure of Stripe's (network, refusal) is a PaymentProviderError (502) carrying what
    Stripe said, so the caller's transaction rolls back and the person is told to try again."""
    try:
        return as_dict(function(*args, **kwargs))
    except stripe.StripeError as error:
        raise PaymentProviderError(detail={"stripe": str(error.user_message or error)[:300]}) from error


class BadEvent(Exception):
    """An incoming event that must change nothing: forged, stale, from the future, or not an event."""


def event_verify(payload: bytes, signature: str | None) -> dict:
    """The event in `payload` if `signature` (the Stripe-Signature header) signs it with our webhook secret
    within the tolerance either side of now; BadEvent otherwise. The library checks the signature and
    staleness; a timestamp from the future is refused here (the library lets it through)."""
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
    try:
        stripe.WebhookSignature.verify_header(payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance)
    except stripe.SignatureVerificationError as error:
        raise BadEvent(str(error).split(".")[0][:200]) from error
    stamp = dict(part.split("=", 1) for part in signature.split(",") if "=" in part).get("t", "")
    if not stamp.isdigit() or int(stamp) > time.time() + tolerance:
        raise BadEvent("Timestamp is in the future")
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadEvent("The body is not JSON") from error
    if (
        not isinstance(event, dict)
        or event.get("object") != "event"
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("created"), int)
        or not isinstance((event.get("data") or {}).get("object"), dict)
    ):
        raise BadEvent("The body is not a Stripe event")
    return event
