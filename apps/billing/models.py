"""Buying credit with Stripe Checkout, the Stripe events that pay it (and take it back), and verifying that a
person is a person (Stripe Identity, or a staff review where Stripe is not configured).

Credit enters through exactly one ledger transfer per paid purchase (`purchase:<id>:credit`); refunds and
disputes take it back through further transfers, as far as the wallet allows, and record the rest as the
person's debt (apps.ledger's debt account), never a negative wallet. See services.py and docs/architecture.md
("Billing").
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.identities.models import Identity
from apps.ledger.models import Account, Transfer


class CreditPackage(models.Model):
    """What a person may buy: `credits` (micro-credits) for `price` (the currency's minor unit, e.g. cents)."""

    name = models.CharField(max_length=80)
    credits = models.BigIntegerField()
    price = models.PositiveIntegerField(help_text="In the currency's smallest unit (cents).")
    currency = models.CharField(max_length=3, default="usd")
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on the purchase page.")

    class Meta:
        ordering = ["position", "price", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="billing_package_credits_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="billing_package_price_positive"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[a-z]{3}$"), name="billing_package_currency_iso"),
        ]

    def __str__(self) -> str:
        return self.name


class PurchaseStatus(models.TextChoices):
    CREATED = "created", "Created"  # the row exists; the Checkout Session is being created
    OPEN = "open", "Waiting for payment"  # the person is on Stripe's page
    PENDING = "pending", "Payment processing"  # Checkout completed, the payment (e.g. a bank debit) is not in yet
    CREDITED = "credited", "Credited"
    REVERSED = "reversed", "Refunded or disputed"  # everything credited was taken back
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class DisputeStatus(models.TextChoices):
    NONE = "", "None"
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Purchase(models.Model):
    """One Checkout Session for one package, and what came of it. The money fields are Stripe's (minor units);
    the credit fields are the ledger's (micro-credits)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchases")
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="purchases")
    package = models.ForeignKey(CreditPackage, on_delete=models.PROTECT, related_name="purchases")
    credits = models.BigIntegerField()
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=PurchaseStatus.choices, default=PurchaseStatus.CREATED)
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    receipt_url = models.URLField(max_length=2000, blank=True)
    failure = models.CharField(max_length=500, blank=True)
    credit_transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="purchase"
    )
    credited_at = models.DateTimeField(null=True, blank=True)
    # What the refunds (cumulative, as Stripe reports them) and the dispute took back, and the credit reversed
    # so far: the services move `reversed_credits` to what these imply, in either direction, whatever order
    # the events arrive in.
    refunded_amount = models.PositiveIntegerField(default=0)
    dispute_status = models.CharField(
        max_length=4, choices=DisputeStatus.choices, default=DisputeStatus.NONE, blank=True
    )
    dispute_amount = models.PositiveIntegerField(default=0)
    reversed_credits = models.BigIntegerField(default=0)
    reversals = models.PositiveIntegerField(default=0)  # how many reversal transfers (each has its own key)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="billing_purchase_key_per_user"),
            models.CheckConstraint(condition=Q(credits__gt=0) & Q(amount__gt=0), name="billing_purchase_positive"),
            models.CheckConstraint(
                condition=Q(reversed_credits__gte=0) & Q(reversed_credits__lte=F("credits")),
                name="billing_purchase_reversal_within_credit",
            ),
            models.CheckConstraint(
                condition=Q(credit_transfer__isnull=True) | Q(credited_at__isnull=False),
                name="billing_purchase_credited_when",
            ),
        ]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"purchase #{self.pk}"

    @property
    def is_waiting(self) -> bool:
        return self.status in (PurchaseStatus.CREATED, PurchaseStatus.OPEN, PurchaseStatus.PENDING)


class StripeEvent(models.Model):
    """Every Stripe event received, once (Stripe's id is the key): what it said and what we did with it.
    `processed_at` is set when it has done all it will do; an event waiting for something (a refund whose
    purchase has not completed yet) stays unprocessed and is processed again when that arrives, or by
    `manage.py stripe_events_replay`."""

    id = models.CharField(max_length=255, primary_key=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=500, blank=True)
    # The PaymentIntent it is about (charges, refunds, disputes): how a waiting event finds its purchase.
    payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(
                fields=["received_at"], condition=Q(processed_at__isnull=True), name="billing_event_unprocessed"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class VerificationMethod(models.TextChoices):
    STRIPE = "stripe", "Stripe Identity"
    REVIEW = "review", "Reviewed by staff"


class VerificationStatus(models.TextChoices):
    CREATED = "created", "Started"
    PROCESSING = "processing", "Being checked"
    REQUIRES_INPUT = "requires_input", "Needs another attempt"
    IN_REVIEW = "in_review", "Waiting for a reviewer"
    VERIFIED = "verified", "Verified"
    REFUSED = "refused", "Refused"  # the document verified another account: flagged for staff
    REJECTED = "rejected", "Rejected by a reviewer"
    CANCELED = "canceled", "Canceled"


class Verification(models.Model):
    """One attempt to become a verified human. Of a verified document only a keyed fingerprint is kept (an HMAC
    of its issuing country, type and number): enough to see the same document again, nothing to read back."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="verifications")
    method = models.CharField(max_length=10, choices=VerificationMethod.choices)
    status = models.CharField(max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.CREATED)
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    verification_url = models.URLField(max_length=2000, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    # Stripe's last_error (requires_input), or a reviewer's reason: what the person is told to do next.
    error_code = models.CharField(max_length=100, blank=True)
    error_reason = models.CharField(max_length=1000, blank=True)
    # The review path: what the person said and linked, and the review that decides it.
    statement = models.TextField(blank=True)
    links = models.JSONField(default=list, blank=True)
    review = models.OneToOneField(
        "reviews.ReviewRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="verification"
    )
    flagged = models.BooleanField(default=False, help_text="Staff should look at it (a reused document).")
    flag_reason = models.CharField(max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="billing_verification_key_per_user"),
            # One verified account per document, whatever the races: the database refuses the second.
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=Q(status="verified") & ~Q(fingerprint=""),
                name="billing_one_account_per_document",
            ),
        ]
        indexes = [models.Index(fields=["flagged"], condition=Q(flagged=True), name="billing_verification_flagged")]

    def __str__(self) -> str:
        return f"verification #{self.pk}"


class Debt(Account):
    """The ledger's debt accounts, for staff to see who owes the platform (the admin lists those below zero)."""

    class Meta:
        proxy = True
        verbose_name = "debt"
