"""Buying credit, and what Stripe's events do to it.

Stripe's guidance, followed here: fulfil from the webhook (and, for speed, from the success redirect: both call
`purchase_fulfil`), create with idempotency keys, and expect every event at least once, late, and in any order.

- A purchase is credited by exactly one ledger transfer, `purchase:<id>:credit`, under the purchase's row lock;
  the ledger's unique key is the backstop. Sixteen deliveries of one event, the redirect racing the webhook,
  a replay: one credit.
- Refunds and disputes set what Stripe took back (`refunded_amount`, the dispute's amount and state) and
  `_reversal_reconcile` moves `reversed_credits` to what that implies: forward (the wallet pays what it holds,
  the rest becomes the person's debt: apps.ledger's debt account, never a negative wallet) or back (a dispute
  won: the debt is forgiven first, then the wallet refilled). Each move is its own transfer. Because the target
  is computed from the state, not from the event, the order events arrive in does not matter.
- An event about a payment we cannot place yet (a refund before its Checkout completed) waits, unprocessed,
  and is processed again when the purchase learns its PaymentIntent.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from apps.accounts.models import User
from apps.billing import gateway
from apps.billing.errors import BillingNotConfigured, SpendingLimitReached
from apps.billing.models import CreditPackage, DisputeStatus, Purchase, PurchaseStatus, StripeEvent
from apps.core import events
from apps.core.amounts import format_credits
from apps.core.errors import NotFound, ValidationFailed
from apps.core.services import event_emit
from apps.identities.errors import EmailNotVerified, IdentitySuspended
from apps.identities.models import Identity
from apps.ledger.errors import IdempotencyConflict
from apps.ledger.selectors import owed_by
from apps.ledger.services import (
    EXTERNAL_WORLD,
    accounts_lock,
    debt_for,
    debt_repay,
    ledger_transfer,
    system_account,
    wallet_for,
)
from apps.realtime.models import NotificationKind
from apps.realtime.services import notification_send, user_subject

log = logging.getLogger(__name__)

WAITING = "waiting"


# --- Checkout ------------------------------------------------------------------------------------------


def _person(user: User, *, lock: bool) -> Identity:
    if not user.is_email_verified:
        raise EmailNotVerified()
    people = Identity.objects.filter(user=user)
    human = (people.select_for_update(no_key=True) if lock else people).first()
    if human is None:
        raise EmailNotVerified()
    if not human.is_active:
        raise IdentitySuspended()
    return human


def request_key(value: str | None) -> str:
    """A client's idempotency key as the services store it: 1-120 characters of text without NUL (a form's
    hidden field is as editable as a header)."""
    key = (value or "").strip()
    if not key or len(key) > 120 or "\x00" in key:
        raise ValidationFailed(
            "idempotency_key of 1-120 characters (no NUL) is required.", detail={"field": "idempotency_key"}
        )
    return key


def spent_today(user: User, now: datetime) -> int:
    """What the person's purchases of the last 24 hours came to (minor units): the paid ones and the ones still
    open, not those that failed, expired or were never sent to Stripe."""
    counted = Purchase.objects.filter(user=user, created_at__gt=now - timedelta(hours=24)).exclude(
        status__in=[PurchaseStatus.FAILED, PurchaseStatus.EXPIRED]
    )
    counted = counted.exclude(status=PurchaseStatus.CREATED, failure__gt="")
    return counted.aggregate(total=Sum("amount", default=0))["total"]


def daily_limit_for(user: User, now: datetime) -> int | None:
    """The most a person may buy per 24 hours (minor units), or None: only new accounts have one."""
    if user.date_joined > now - timedelta(days=settings.CREDENCE_BILLING_NEW_ACCOUNT_DAYS):
        return settings.CREDENCE_BILLING_NEW_ACCOUNT_DAILY_LIMIT
    return None


def checkout_create(
    *, user: User, package_id: int, idempotency_key: str, success_url: str, cancel_url: str
) -> Purchase:
    """Start buying a package: the purchase row (committed first, so the Checkout Session's idempotency key
    names a row that exists), then the Checkout Session, created with that key: a retry with the same
    `idempotency_key` returns the same purchase and the same session, never a second charge. Refused without
    Stripe, for a package that is not offered, past a new account's daily limit."""
    if not gateway.configured():
        raise BillingNotConfigured()
    key = request_key(idempotency_key)
    purchase = _purchase_open(user=user, package_id=package_id, key=key)
    if purchase.status != PurchaseStatus.CREATED:
        return purchase  # a replay of a purchase whose session exists
    session = gateway.call(
        gateway.client().v1.checkout.sessions.create,
        params={
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": purchase.currency,
                        "unit_amount": purchase.amount,
                        "product_data": {"name": f"{format_credits(purchase.credits)} Credence credits"},
                    },
                }
            ],
            "client_reference_id": str(purchase.pk),
            "customer_email": user.email,
            "metadata": {"purchase": str(purchase.pk), "user": str(user.pk)},
            "payment_intent_data": {"metadata": {"purchase": str(purchase.pk)}},
            "success_url": f"{success_url}?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": cancel_url,
        },
        options={"idempotency_key": f"credence-checkout-{purchase.pk}"},
    )
    with transaction.atomic():
        purchase = Purchase.objects.select_for_update(no_key=True).get(pk=purchase.pk)
        if purchase.status == PurchaseStatus.CREATED:
            purchase.stripe_session_id = session["id"]
            purchase.checkout_url = session.get("url") or ""
            purchase.status = PurchaseStatus.OPEN
            purchase.failure = ""
            purchase.save(update_fields=["stripe_session_id", "checkout_url", "status", "failure", "updated_at"])
    return purchase


@transaction.atomic
def _purchase_open(*, user: User, package_id: int, key: str) -> Purchase:
    human = _person(user, lock=True)  # serialises one person's checkouts: the daily limit holds under races
    existing = Purchase.objects.filter(user=user, idempotency_key=key).first()
    if existing is not None:
        if existing.package_id != package_id:
            raise IdempotencyConflict(detail={"idempotency_key": key})
        return existing
    package = CreditPackage.objects.filter(pk=package_id, active=True).first()
    if package is None:
        raise NotFound("No such credit package.")
    now = timezone.now()
    limit = daily_limit_for(user, now)
    if limit is not None:
        spent = spent_today(user, now)
        if spent + package.price > limit:
            raise SpendingLimitReached(
                detail={"limit": limit, "spent_today": spent, "price": package.price, "currency": package.currency}
            )
    return Purchase.objects.create(
        user=user,
        identity=human,
        package=package,
        credits=package.credits,
        amount=package.price,
        currency=package.currency,
        idempotency_key=key,
    )


# --- Fulfilment ----------------------------------------------------------------------------------------


def _purchase_id(obj: dict) -> int | None:
    value = (obj.get("metadata") or {}).get("purchase") or obj.get("client_reference_id")
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _id_of(value) -> str | None:
    """A Stripe reference as sent: an id, or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _locked(query: Q) -> Purchase | None:
    return Purchase.objects.select_for_update(no_key=True).filter(query).select_related("identity").first()


@transaction.atomic
def purchase_fulfil(*, session: dict) -> Purchase | None:
    """Bring a purchase up to date with its Checkout Session as Stripe reports it (the webhook's copy or one
    just retrieved for the success redirect): credit it once if it is paid, note it pending, expired or failed
    otherwise. None for a session that is not one of ours."""
    purchase_id = _purchase_id(session)
    query = Q(stripe_session_id=session.get("id"))
    if purchase_id is not None:
        query |= Q(pk=purchase_id)
    purchase = _locked(query)
    if purchase is None:
        return None
    if purchase.stripe_session_id and purchase.stripe_session_id != session.get("id"):
        return None  # a session that names our purchase but is not the one we created for it
    changed = {"updated_at"}
    if not purchase.stripe_session_id:
        purchase.stripe_session_id = session["id"]
        changed.add("stripe_session_id")
    intent = _id_of(session.get("payment_intent"))
    learned_intent = intent and not purchase.payment_intent_id
    if learned_intent:
        purchase.payment_intent_id = intent
        changed.add("payment_intent_id")
    paid = session.get("payment_status") == "paid"
    if paid and purchase.credit_transfer_id is None:
        if session.get("amount_total") != purchase.amount or (session.get("currency") or "") != purchase.currency:
            purchase.status = PurchaseStatus.FAILED
            purchase.failure = (
                f"Stripe reports {session.get('amount_total')} {session.get('currency')}, "
                f"not {purchase.amount} {purchase.currency}: not credited, for staff to look at."
            )
            purchase.save(update_fields=[*changed, "status", "failure"])
            log.error("billing: purchase %s paid a different amount than it asked: %s", purchase.pk, purchase.failure)
            return purchase
        purchase.save(update_fields=list(changed))
        _credit(purchase)
    elif purchase.credit_transfer_id is None and purchase.status in (
        PurchaseStatus.CREATED,
        PurchaseStatus.OPEN,
        PurchaseStatus.PENDING,
    ):
        status = purchase.status
        if session.get("status") == "complete":
            status = PurchaseStatus.PENDING  # e.g. a bank debit: async_payment_succeeded will say when it is paid
        elif session.get("status") == "expired":
            status = PurchaseStatus.EXPIRED
        if status != purchase.status:
            purchase.status = status
            changed.add("status")
            _announce(purchase)
        purchase.save(update_fields=list(changed))
    else:
        purchase.save(update_fields=list(changed))
    if learned_intent:
        # Events that waited for this PaymentIntent (a refund that arrived first) go on once this commits,
        # each under its own lock (see stripe_events_retry).
        transaction.on_commit(lambda: stripe_events_retry(payment_intent_id=intent))
    return purchase


@transaction.atomic
def purchase_fail(*, session: dict, reason: str) -> Purchase | None:
    """The payment of a completed Checkout failed (`checkout.session.async_payment_failed`)."""
    purchase = _locked(Q(stripe_session_id=session.get("id")))
    if purchase is None or purchase.credit_transfer_id is not None:
        return purchase
    purchase.status = PurchaseStatus.FAILED
    purchase.failure = reason[:500]
    purchase.save(update_fields=["status", "failure", "updated_at"])
    _announce(purchase)
    return purchase


def _credit(purchase: Purchase) -> None:
    """The one transfer that brings a purchase's credit in (called under its lock, once), then what it implies:
    refunds already known are taken back at once, and a debt is repaid from the new credit first."""
    transfer = ledger_transfer(
        lines=[(system_account(EXTERNAL_WORLD), -purchase.credits), (wallet_for(purchase.identity), purchase.credits)],
        kind="purchase",
        idempotency_key=f"purchase:{purchase.pk}:credit",
        memo=f"Bought {format_credits(purchase.credits)} credits (purchase #{purchase.pk})",
        metadata={"purchase": purchase.pk, "amount": purchase.amount, "currency": purchase.currency},
    )
    purchase.credit_transfer_id = transfer.pk
    purchase.credited_at = timezone.now()
    purchase.status = PurchaseStatus.CREDITED
    purchase.save(update_fields=["credit_transfer", "credited_at", "status", "updated_at"])
    _notify(
        purchase,
        NotificationKind.CREDIT_PURCHASED,
        f"{format_credits(purchase.credits)} credits arrived in your wallet.",
    )
    _reversal_reconcile(purchase)
    debt_repay(
        identity=purchase.identity, idempotency_key=f"purchase:{purchase.pk}", memo="Debt repaid from a purchase"
    )


def _reversal_target(purchase: Purchase) -> int:
    """The credit Stripe's refunds and an open or lost dispute imply was taken back: in proportion to the money,
    rounded down (a full refund takes back exactly what was credited)."""
    held = purchase.dispute_amount if purchase.dispute_status in (DisputeStatus.OPEN, DisputeStatus.LOST) else 0
    taken = min(purchase.amount, purchase.refunded_amount + held)
    return purchase.credits * taken // purchase.amount


def _reversal_reconcile(purchase: Purchase) -> None:
    """Move the credit taken back to its target, in one transfer (under the purchase's lock). Nothing before
    the purchase is credited: the credit then applies the target at once."""
    if purchase.credit_transfer_id is None:
        return
    delta = _reversal_target(purchase) - purchase.reversed_credits
    if delta == 0:
        return
    external, wallet, debt = system_account(EXTERNAL_WORLD), wallet_for(purchase.identity), debt_for(purchase.identity)
    balances = accounts_lock(external, wallet, debt)  # in id order, as ledger_transfer locks them
    purchase.reversals += 1
    if delta > 0:  # take back: what the wallet holds, the rest as debt
        from_wallet = min(balances[wallet.pk], delta)
        lines = [(wallet, -from_wallet), (debt, -(delta - from_wallet)), (external, delta)]
        kind, memo = "purchase_reversal", f"Purchase #{purchase.pk} refunded or disputed: credit taken back"
        metadata = {"purchase": purchase.pk, "from_wallet": from_wallet, "as_debt": delta - from_wallet}
    else:  # give back (a dispute won): forgive the debt first
        to_debt = min(-balances[debt.pk], -delta)
        lines = [(external, delta), (debt, to_debt), (wallet, -delta - to_debt)]
        kind, memo = "purchase_restored", f"Purchase #{purchase.pk}: dispute won, credit given back"
        metadata = {"purchase": purchase.pk, "to_debt": to_debt, "to_wallet": -delta - to_debt}
    ledger_transfer(
        lines=[line for line in lines if line[1]],
        kind=kind,
        idempotency_key=f"purchase:{purchase.pk}:reversal:{purchase.reversals}",
        memo=memo,
        metadata=metadata,
    )
    purchase.reversed_credits += delta
    purchase.status = (
        PurchaseStatus.REVERSED if purchase.reversed_credits == purchase.credits else PurchaseStatus.CREDITED
    )
    purchase.save(update_fields=["reversals", "reversed_credits", "status", "updated_at"])
    if delta > 0:
        owed = metadata["as_debt"]
        text = f"Purchase #{purchase.pk} was refunded or disputed: {format_credits(delta)} credits were taken back"
        text += f", {format_credits(owed)} of them as a debt you must settle." if owed else "."
    else:
        back = format_credits(-delta)
        text = f"The dispute over purchase #{purchase.pk} was settled in your favour: {back} credits back."
    _notify(purchase, NotificationKind.CREDIT_REVERSED, text, subject=f"purchase:{purchase.pk}:{purchase.reversals}")


def _announce(purchase: Purchase) -> None:
    event_emit(
        kind=events.PURCHASE_CHANGED.name,
        subject=user_subject(purchase.user_id),
        payload={
            "purchase": purchase.pk,
            "status": purchase.status,
            "credits": purchase.credits,
            "reversed": purchase.reversed_credits,
        },
    )


def _notify(purchase: Purchase, kind: str, text: str, *, subject: str = "") -> None:
    """The event in the purchase's transaction (the outbox), and a notification for the person, which is for
    display: in a savepoint of its own, so that a failure there is logged and never fails the money."""
    _announce(purchase)
    try:
        with transaction.atomic():
            notification_send(
                user_id=purchase.user_id,
                kind=kind,
                subject=subject or f"purchase:{purchase.pk}",
                text=text,
                link="/wallet/",
            )
    except Exception:
        log.exception("billing: the notification for purchase %s failed", purchase.pk)


@transaction.atomic
def charge_update(*, charge: dict) -> str:
    """A charge's refunds as Stripe counts them (`amount_refunded` is cumulative, so the larger figure wins
    whatever order the events come in), and its receipt. WAITING when its purchase is not known yet."""
    purchase = _purchase_for_payment(charge)
    if purchase is None:
        return WAITING
    refunded = int(charge.get("amount_refunded") or 0)
    changed = {"updated_at"}
    if refunded > purchase.refunded_amount:
        purchase.refunded_amount = min(refunded, purchase.amount)
        changed.add("refunded_amount")
    receipt = charge.get("receipt_url") or ""
    if receipt.startswith("https://") and receipt != purchase.receipt_url:
        purchase.receipt_url = receipt
        changed.add("receipt_url")
    purchase.save(update_fields=list(changed))
    _reversal_reconcile(purchase)
    return f"purchase #{purchase.pk}: refunded {purchase.refunded_amount}, reversed {purchase.reversed_credits}"


_DISPUTE_STATES = {"won": DisputeStatus.WON, "warning_closed": DisputeStatus.WON, "lost": DisputeStatus.LOST}


@transaction.atomic
def dispute_update(*, dispute: dict) -> str:
    """A dispute opened, moved or closed. Its credit is held back while it is open and for good when it is lost,
    given back when it is won. A closed state is final: a late 'created' does not reopen it."""
    purchase = _purchase_for_payment(dispute)
    if purchase is None:
        return WAITING
    state = _DISPUTE_STATES.get(dispute.get("status"), DisputeStatus.OPEN)
    if purchase.dispute_status in (DisputeStatus.WON, DisputeStatus.LOST) and state == DisputeStatus.OPEN:
        return f"purchase #{purchase.pk}: dispute already {purchase.dispute_status}"
    purchase.dispute_status = state
    purchase.dispute_amount = min(int(dispute.get("amount") or 0), purchase.amount)
    purchase.save(update_fields=["dispute_status", "dispute_amount", "updated_at"])
    _reversal_reconcile(purchase)
    return f"purchase #{purchase.pk}: dispute {state}, reversed {purchase.reversed_credits}"


def _purchase_for_payment(obj: dict) -> Purchase | None:
    """The purchase a charge or dispute is about: by its PaymentIntent, which a purchase learns when its Checkout
    completes (until then the event waits); only an object without one is placed by our metadata."""
    intent = _id_of(obj.get("payment_intent"))
    if intent:
        return _locked(Q(payment_intent_id=intent))
    purchase_id = _purchase_id(obj)
    return _locked(Q(pk=purchase_id)) if purchase_id is not None else None


# --- Stripe's events -------------------------------------------------------------------------------------

# type -> handler(object, event) returning what it did (recorded as the outcome) or WAITING. verification.py
# adds Stripe Identity's.
HANDLERS: dict[str, Callable[[dict, StripeEvent], str]] = {
    "checkout.session.completed": lambda obj, _: _session_outcome(purchase_fulfil(session=obj)),
    "checkout.session.async_payment_succeeded": lambda obj, _: _session_outcome(purchase_fulfil(session=obj)),
    "checkout.session.expired": lambda obj, _: _session_outcome(purchase_fulfil(session=obj)),
    "checkout.session.async_payment_failed": lambda obj, _: _session_outcome(
        purchase_fail(session=obj, reason="The payment failed after checkout (e.g. a bank debit was refused).")
    ),
    "charge.succeeded": lambda obj, _: charge_update(charge=obj),
    "charge.refunded": lambda obj, _: charge_update(charge=obj),
    "charge.dispute.created": lambda obj, _: dispute_update(dispute=obj),
    "charge.dispute.updated": lambda obj, _: dispute_update(dispute=obj),
    "charge.dispute.closed": lambda obj, _: dispute_update(dispute=obj),
}


def _session_outcome(purchase: Purchase | None) -> str:
    return "not a Credence purchase" if purchase is None else f"purchase #{purchase.pk}: {purchase.status}"


def stripe_event_receive(*, payload: bytes, signature: str | None) -> tuple[int, str]:
    """The webhook endpoint's work: (HTTP status, what happened). Stripe retries anything but a 2xx, so:
    a forged, stale, future or malformed event is a 400 and changes nothing (a retry cannot fix it); a type we
    do not handle is a 200 and stored nowhere; an event is stored once (its id is the key) and processed under
    its row lock, so concurrent deliveries process it once; one whose processing failed is a 500 (Stripe
    delivers it again; `manage.py stripe_events_replay` too)."""
    if not gateway.configured():
        return 503, "Billing is not configured."
    try:
        event = gateway.event_verify(payload, signature)
    except gateway.BadEvent as error:
        return 400, str(error)
    if event["type"] not in HANDLERS:
        return 200, f"ignored: {event['type']} is not handled"
    obj = event["data"]["object"]
    row = StripeEvent(
        id=event["id"],
        type=event["type"],
        payload=event,
        livemode=bool(event.get("livemode")),
        created=datetime.fromtimestamp(event["created"], tz=UTC),
        payment_intent_id=(_id_of(obj.get("payment_intent")) or "")[:255],
    )
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        pass  # delivered before (or at this moment): processing below tells whether it is done
    done = stripe_event_process(event_id=event["id"])
    if done.processed_at is None and not done.outcome.startswith(WAITING):
        return 500, done.outcome
    return 200, done.outcome


@transaction.atomic
def stripe_event_process(*, event_id: str) -> StripeEvent:
    """Process a stored event once: under its row lock, skip it if done; otherwise run its handler in a savepoint
    (a failure undoes the handler's writes and is recorded, the event stays unprocessed)."""
    event = StripeEvent.objects.select_for_update(no_key=True).get(pk=event_id)
    if event.processed_at is not None:
        return event
    event.attempts += 1
    try:
        with transaction.atomic():
            outcome = HANDLERS[event.type](event.payload["data"]["object"], event)
    except Exception as error:
        log.exception("billing: processing %s (%s) failed", event.pk, event.type)
        event.outcome = f"failed: {type(error).__name__}: {error}"[:500]
        event.save(update_fields=["attempts", "outcome"])
        return event
    if outcome == WAITING:
        event.outcome = f"{WAITING}: its payment is not known yet (processed again when it is)"
    else:
        event.processed_at = timezone.now()
        event.outcome = outcome[:500]
    event.save(update_fields=["attempts", "outcome", "processed_at"])
    return event


def stripe_events_retry(*, payment_intent_id: str | None = None, event_ids: list[str] | None = None) -> int:
    """Process again the unprocessed events (those about `payment_intent_id`, or these ids, or all), oldest
    first, each in its own transaction. Returns how many are processed now."""
    pending = StripeEvent.objects.filter(processed_at__isnull=True)
    if payment_intent_id is not None:
        pending = pending.filter(payment_intent_id=payment_intent_id)
    if event_ids is not None:
        pending = pending.filter(pk__in=event_ids)
    done = 0
    for event_id in pending.order_by("created", "received_at").values_list("pk", flat=True):
        if stripe_event_process(event_id=event_id).processed_at is not None:
            done += 1
    return done


# --- The success redirect ----------------------------------------------------------------------------------


def purchase_return(*, user: User, session_id: str) -> Purchase:
    """The person is back from Checkout: their purchase, brought up to date from Stripe if the webhook has not
    done it yet (the same fulfilment, so the two racing credit once). Another person's session is NotFound.
    If Stripe cannot be asked, the purchase is shown as it stands: the webhook will credit it."""
    purchase = Purchase.objects.filter(user=user, stripe_session_id=session_id).first()
    if purchase is None:
        raise NotFound("No such purchase.")
    if purchase.credit_transfer_id is not None or not purchase.is_waiting:
        return purchase
    try:
        session = gateway.call(gateway.client().v1.checkout.sessions.retrieve, session_id)
    except (BillingNotConfigured, gateway.PaymentProviderError):
        log.warning("billing: could not retrieve %s on return; the webhook will fulfil it", session_id)
        return purchase
    return purchase_fulfil(session=session) or purchase


@transaction.atomic
def debt_settle(*, user: User, idempotency_key: str) -> int:
    """The person pays what they owe from their wallet (as much as it holds). Returns what was paid."""
    key = request_key(idempotency_key)
    human = _person(user, lock=True)
    before = owed_by(human)
    debt_repay(identity=human, idempotency_key=f"settle:{key}")
    return before - owed_by(human)
