"""Buying credit and verifying identity over REST: for a signed-in person (their browser session), never an
agent's key. Stripe's own webhook is not here (apps/billing/views.py)."""

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Schema, Status

from apps.billing import selectors, services, verification
from apps.billing.models import Purchase, Verification
from apps.core.api import AUTH_ERRORS, BODY_ERRORS, errors, require_idempotency_key
from apps.core.api_types import IDEMPOTENT, NO_NUL, ApiRouter, IdempotencyKeyHeader, Input, Int, ParamInt
from apps.identities.auth import caller_identity, session_only
from apps.ledger.selectors import owed_by

router = ApiRouter(tags=["billing"])


class PackageOut(Schema):
    id: int
    name: str
    credits: int = Field(description="Micro-credits bought (1 credit = 1,000,000).")
    price: int = Field(description="In the currency's smallest unit (cents).")
    currency: str


class PackagesOut(Schema):
    configured: bool = Field(description="Whether buying is on here (false without Stripe keys).")
    daily_limit: int | None = Field(description="A new account's limit per 24 hours (minor units); null: none.")
    spent_today: int
    left_today: int | None
    packages: list[PackageOut]


PurchaseStatusOut = Literal["created", "open", "pending", "credited", "reversed", "failed", "expired"]


class PurchaseOut(Schema):
    id: int
    package_id: int
    credits: int = Field(description="Micro-credits bought.")
    paid: int = Field(description="What it cost, in the currency's smallest unit (cents), not credits.")
    currency: str
    status: PurchaseStatusOut = Field(
        description="'credited' once the credit is in the wallet; 'open' and 'pending' wait for Stripe."
    )
    checkout_url: str = Field(description="Stripe's payment page, while the purchase is open.")
    receipt_url: str = Field(description="Stripe's receipt, once known.")
    reversed_credits: int = Field(description="Micro-credits taken back by refunds and disputes.")
    refunded_amount: int
    dispute_status: Literal["", "open", "won", "lost"]
    failure: str
    created_at: datetime
    credited_at: datetime | None


class CheckoutIn(Input):
    package: Int = Field(gt=0, le=2**63 - 1, description="The package's id (GET /billing/packages).")


class CheckoutOut(Schema):
    purchase: PurchaseOut
    checkout_url: str = Field(description="Send the person here; they come back to the purchase's page.")


class DebtOut(Schema):
    paid: int = Field(description="Micro-credits paid from the wallet now.")
    owed: int = Field(description="Micro-credits still owed.")


Link = Annotated[str, Field(max_length=500, pattern=NO_NUL)]


class VerificationIn(Input):
    statement: str = Field(
        "",
        max_length=2000,
        pattern=NO_NUL,
        description="Without Stripe Identity: who you are, 20-2000 characters, for the reviewer.",
    )
    links: list[Link] = Field(
        default_factory=list, max_length=5, description="Without Stripe Identity: up to 5 http(s) links."
    )


class VerificationOut(Schema):
    id: int
    method: Literal["stripe", "review"]
    status: Literal[
        "created", "processing", "requires_input", "in_review", "verified", "refused", "rejected", "canceled"
    ]
    verification_url: str = Field(description="Stripe Identity's page for the person, when the method is stripe.")
    error_code: str
    error_reason: str = Field(description="What to do next (requires_input), or the reviewer's reason (rejected).")
    review_id: int | None
    created_at: datetime


class VerificationStateOut(Schema):
    level: Literal["unverified", "email_verified", "verified_human"]
    method: Literal["stripe", "review"] = Field(description="How a verification started now would go.")
    latest: VerificationOut | None


def _purchase_out(purchase: Purchase) -> dict:
    fields = {f: getattr(purchase, f) for f in PurchaseOut.model_fields if f != "paid"}
    return {**fields, "paid": purchase.amount}


def _verification_out(item: Verification | None) -> dict | None:
    if item is None:
        return None
    fields = {f: getattr(item, f) for f in VerificationOut.model_fields if f != "review_id"}
    return {**fields, "review_id": item.review_id}


@router.get(
    "/billing/packages",
    response={200: PackagesOut, **errors(*AUTH_ERRORS)},
    auth=session_only,
    summary="Credit packages, and what I may buy today",
)
def packages(request: HttpRequest):
    return {**selectors.buying_limits(request.auth.user), "packages": selectors.packages_offered()}


@router.post(
    "/billing/checkout",
    response={201: CheckoutOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409, 502)},
    auth=session_only,
    summary="Start buying a package (a Stripe Checkout Session)",
    description=(
        "Creates the purchase and its Checkout Session (idempotent by the Idempotency-Key header: a retry returns "
        "the same session). The credit arrives when Stripe says the payment succeeded (its webhook), never before. "
        "409 billing_not_configured without Stripe keys; 409 spending_limit_reached past a new account's daily "
        "limit; 502 payment_provider_error when Stripe could not be reached (nothing was charged)."
    ),
    openapi_extra=IDEMPOTENT,
)
def checkout(request: HttpRequest, payload: CheckoutIn, idempotency_key: IdempotencyKeyHeader = None):
    purchase = services.checkout_create(
        user=request.auth.user,
        package_id=payload.package,
        idempotency_key=require_idempotency_key(idempotency_key),
        success_url=request.build_absolute_uri(reverse("billing-return")),
        cancel_url=request.build_absolute_uri(reverse("billing")),
    )
    return Status(201, {"purchase": _purchase_out(purchase), "checkout_url": purchase.checkout_url})


@router.get(
    "/billing/purchases",
    response={200: list[PurchaseOut], **errors(*AUTH_ERRORS)},
    auth=session_only,
    summary=f"My latest purchases (at most {selectors.HISTORY}), newest first",
)
def purchases(request: HttpRequest):
    return [_purchase_out(p) for p in selectors.purchases_of(request.auth.user)]


@router.get(
    "/billing/purchases/{purchase_id}",
    response={200: PurchaseOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=session_only,
    summary="One of my purchases",
)
def purchase(request: HttpRequest, purchase_id: ParamInt):
    return _purchase_out(selectors.purchase_of(request.auth.user, purchase_id))


@router.post(
    "/billing/debt/settle",
    response={200: DebtOut, **errors(*AUTH_ERRORS, 409, 422)},
    auth=session_only,
    summary="Pay what I owe from my wallet (as much as it holds)",
    openapi_extra=IDEMPOTENT,
)
def debt_settle(request: HttpRequest, idempotency_key: IdempotencyKeyHeader = None):
    paid = services.debt_settle(user=request.auth.user, idempotency_key=require_idempotency_key(idempotency_key))
    return {"paid": paid, "owed": owed_by(caller_identity(request.auth))}


@router.get(
    "/billing/verification",
    response={200: VerificationStateOut, **errors(*AUTH_ERRORS)},
    auth=session_only,
    summary="My verification level and latest attempt",
)
def verification_state(request: HttpRequest):
    user = request.auth.user
    return {
        "level": user.verification_level,
        "method": verification.verification_method(),
        "latest": _verification_out(selectors.verification_latest(user)),
    }


@router.post(
    "/billing/verification",
    response={201: VerificationOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 409, 502)},
    auth=session_only,
    summary="Start verifying that I am a person",
    description=(
        "With Stripe Identity configured: a VerificationSession; send the person to `verification_url`. Without it: "
        "a review by staff of `statement` and `links`. 409 already_verified; 409 verification_in_progress while a "
        "review waits."
    ),
    openapi_extra=IDEMPOTENT,
)
def verification_start(request: HttpRequest, payload: VerificationIn, idempotency_key: IdempotencyKeyHeader = None):
    item = verification.verification_begin(
        user=request.auth.user,
        idempotency_key=require_idempotency_key(idempotency_key),
        return_url=request.build_absolute_uri(reverse("verification")),
        statement=payload.statement,
        links=payload.links,
    )
    return Status(201, _verification_out(item))
