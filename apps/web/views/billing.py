"""Buying credit, a purchase's page (pending until Stripe's webhook credits it, then credited, live), settling a
debt, and verifying identity (Stripe Identity, or a review without it)."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.billing import selectors, services, verification
from apps.billing.models import VerificationMethod
from apps.billing.verification import FINAL as VERIFICATION_FINAL
from apps.core.amounts import format_credits
from apps.core.errors import ApplicationError, NotFound
from apps.ledger.selectors import owed_by
from apps.web.views.common import INVALID_FORM_STATUS

RECENT_PURCHASES = 10


def _buy_context(request: HttpRequest, **extra) -> dict:
    return {
        "packages": selectors.packages_offered(),
        "limits": selectors.buying_limits(request.user),
        "purchases": selectors.purchases_of(request.user, RECENT_PURCHASES),
        "key": uuid.uuid4(),
        **extra,
    }


@login_required
@require_GET
def buy(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/buy.html", _buy_context(request))


@login_required
@require_POST
def buy_start(request: HttpRequest) -> HttpResponse:
    """Create the Checkout Session and send the person to Stripe (302). A refusal is shown on the page."""
    package = request.POST.get("package", "")
    key = (request.POST.get("idempotency_key") or "").strip()
    if not package.isdigit() or not key:
        context = _buy_context(request, error="Choose a package.")
        return render(request, "billing/buy.html", context, status=INVALID_FORM_STATUS)
    try:
        purchase = services.checkout_create(
            user=request.user,
            package_id=int(package),
            idempotency_key=key,
            success_url=request.build_absolute_uri(reverse("billing-return")),
            cancel_url=request.build_absolute_uri(reverse("billing")),
        )
    except ApplicationError as exc:
        return render(request, "billing/buy.html", _buy_context(request, error=exc.message), status=exc.status)
    if purchase.checkout_url and purchase.is_waiting:
        return redirect(purchase.checkout_url, permanent=False)
    return redirect("purchase", purchase_id=purchase.pk)


@login_required
@require_GET
def buy_return(request: HttpRequest) -> HttpResponse:
    """Back from Stripe's page: fulfil now if Stripe says it is paid (racing the webhook credits once), then
    the purchase's page."""
    try:
        purchase = services.purchase_return(user=request.user, session_id=request.GET.get("session_id", ""))
    except NotFound:
        messages.error(request, "That purchase is not one of yours.")
        return redirect("billing")
    return redirect("purchase", purchase_id=purchase.pk)


@login_required
@require_GET
def purchase(request: HttpRequest, purchase_id: int) -> HttpResponse:
    try:
        item = selectors.purchase_of(request.user, purchase_id)
    except NotFound:
        return render(request, "404.html", status=404)
    template = "billing/purchase.html#status" if request.htmx else "billing/purchase.html"
    return render(request, template, {"purchase": item})


@login_required
@require_POST
def debt_settle(request: HttpRequest) -> HttpResponse:
    try:
        paid = services.debt_settle(user=request.user, idempotency_key=request.POST.get("idempotency_key") or "")
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("wallet")
    identity = request.user.human_identity
    owed = owed_by(identity) if identity else 0
    if paid:
        messages.success(
            request,
            f"Paid {format_credits(paid)} credits of your debt."
            + (f" {format_credits(owed)} still owed." if owed else " You owe nothing now."),
        )
    else:
        messages.info(request, "Nothing was paid: your wallet is empty or you owe nothing.")
    return redirect("wallet")


def _verification_context(request: HttpRequest, **extra) -> dict:
    return {
        "latest": selectors.verification_latest(request.user),
        "stripe": verification.verification_method() == VerificationMethod.STRIPE,
        "key": uuid.uuid4(),
        **extra,
    }


@login_required
@require_GET
def verification_page(request: HttpRequest) -> HttpResponse:
    template = "billing/verification.html#state" if request.htmx else "billing/verification.html"
    return render(request, template, _verification_context(request))


@login_required
@require_POST
def verification_start(request: HttpRequest) -> HttpResponse:
    """Stripe Identity: send the person to Stripe's page. Without it: the statement and links go to review."""
    try:
        item = verification.verification_begin(
            user=request.user,
            idempotency_key=request.POST.get("idempotency_key") or "",
            return_url=request.build_absolute_uri(reverse("verification")),
            statement=request.POST.get("statement") or "",
            links=(request.POST.get("links") or "").splitlines(),
        )
    except ApplicationError as exc:
        context = _verification_context(
            request,
            error=exc.message,
            statement=request.POST.get("statement") or "",
            links=request.POST.get("links") or "",
        )
        return render(request, "billing/verification.html", context, status=exc.status)
    if item.method == VerificationMethod.REVIEW:
        messages.success(request, "Your request went to a reviewer: you will be told here and by notification.")
    elif item.verification_url and item.status not in VERIFICATION_FINAL:
        return redirect(item.verification_url, permanent=False)
    return redirect("verification")
