"""The order ticket on the claim page: the live quote as the person types, and the order."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.amounts import exact_credits, format_credits, format_credits_apart
from apps.core.errors import ApplicationError, PermissionDenied
from apps.identities.models import Identity
from apps.ledger.errors import InsufficientCredit
from apps.ledger.selectors import wallet_balance
from apps.markets import selectors, services
from apps.markets.checkpoints import TradePaused
from apps.markets.models import Claim
from apps.web.forms.trading import OrderForm
from apps.web.templatetags.markets import percent
from apps.web.views.claim_page import claim_or_404, claim_page_response, page_base
from apps.web.views.common import INVALID_FORM_STATUS, NO_IDENTITY, announce, before_change, field_refusal


def _typed_errors(form: OrderForm) -> dict:
    """The ticket's errors about what was typed. A field still empty is unfinished, not wrong: a quote
    asks for it without calling it an error (placing the order still refuses it)."""
    return {
        name: errors
        for name, errors in form.errors.items()
        if name == "__all__" or form[name].value() not in (None, "")
    }


def _quote_context(claim: Claim, viewer: Identity | None, form: OrderForm) -> tuple[dict, int]:
    """Price the ticket's order without placing it: the numbers trade_place would charge now."""
    if viewer is None:
        return {"quote_error": NO_IDENTITY}, 403
    if not form.is_valid():
        errors = _typed_errors(form)
        return {"quote_form": form, "quote_errors": errors}, INVALID_FORM_STATUS if errors else 200
    try:
        fill = selectors.trade_quote(identity=viewer, claim=claim, order=form.order())
    except ApplicationError as exc:
        return {"quote_error": exc.message}, exc.status
    balance = wallet_balance(viewer)
    spend = fill.cost + fill.fee
    return {
        "quote": fill,
        "quote_spend": spend,
        "quote_receive": -fill.cost - fill.fee,
        "quote_short": spend > balance,
        "balance": balance,
    }, 200


@login_required
@require_POST
def claim_quote(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim, viewer = claim_or_404(request, claim_id)
    form = OrderForm(request.POST, prefix="order")
    context, status = _quote_context(claim, viewer, form)
    if request.htmx:
        return render(request, "markets/claim_detail.html#quote", {"claim": claim, **context}, status=status)
    # Without JavaScript, "Preview" shows the whole page with the quote under the ticket, as typed.
    return claim_page_response(request, claim, viewer, status=status, order_form=form, **context)


def _trade_notice(trade) -> str:
    if trade.replayed:
        return "That order was already placed: it traded once, and nothing was charged twice."
    side = trade.side.upper()
    now = percent(trade.price_after)
    if trade.shares > 0:
        paid = format_credits(trade.cost + trade.fee)
        return (
            f"Bought {exact_credits(trade.shares)} {side} shares for {paid} credits "
            f"(fee {format_credits(trade.fee)}). YES is now at {now}."
        )
    received = format_credits(-trade.cost - trade.fee)
    return (
        f"Sold {exact_credits(-trade.shares)} {side} shares for {received} credits "
        f"(after a fee of {format_credits(trade.fee)}). YES is now at {now}."
    )


def _order_refusal(claim: Claim, viewer: Identity, form: OrderForm, exc: ApplicationError) -> str:
    """Why the ticket's order was refused. Short of credit: what the order needs and what the wallet
    holds, in the quote's figures. Both come from the ledger's refusal, which read the balance under the
    wallet's lock (a trade can overdraw only the wallet: escrow always covers the shares it owes), so
    they are what was refused even if another trade or a payout has since changed them. The split into
    cost and fee is the quote's, priced again now, and shown only when it still adds up to that need."""
    detail = exc.detail if isinstance(exc, InsufficientCredit) and isinstance(exc.detail, dict) else {}
    if "required" not in detail or "balance" not in detail:
        return field_refusal(form, exc)
    needed, held = detail["required"], detail["balance"]
    needs, holds = format_credits_apart(needed, held)
    message = f"This order needs {needs} credits"
    try:
        fill = selectors.trade_quote(identity=viewer, claim=claim, order=form.order())
    except ApplicationError:  # closed meanwhile: the need alone
        fill = None
    if fill is not None and fill.cost > 0 and fill.cost + fill.fee == needed:
        message += f" (cost {format_credits(fill.cost)} + fee {format_credits(fill.fee)})"
    return f"{message}; your wallet holds {holds}."


def _ticket_response(
    request: HttpRequest,
    claim: Claim,
    viewer: Identity | None,
    form: OrderForm,
    *,
    status: int,
    notice: str = "",
    error: str = "",
) -> HttpResponse:
    if request.htmx:
        context = {**page_base(claim, viewer), "order_form": form, "notice": notice, "order_error": error}
        if viewer is not None:
            context["nav_balance_now"] = wallet_balance(viewer)
        return render(request, "markets/claim_detail.html#ticket", context, status=status)
    return claim_page_response(request, claim, viewer, status=status, order_form=form, order_error=error)


@login_required
@require_POST
def claim_trade(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim, viewer = claim_or_404(request, claim_id)
    form = OrderForm(request.POST, prefix="order")
    if not form.is_valid():
        return _ticket_response(request, claim, viewer, form, status=INVALID_FORM_STATUS)
    if viewer is None:
        return _ticket_response(request, claim, viewer, form, status=PermissionDenied.status, error=NO_IDENTITY)
    before = before_change(request, claim)
    try:
        trade = services.trade_place(
            identity=viewer, claim=claim, order=form.order(), idempotency_key=form.cleaned_data["idempotency_key"]
        )
    except ApplicationError as exc:
        # The bound form comes back with what was typed and its key: a corrected retry is still one trade.
        error = _order_refusal(claim, viewer, form, exc)
        return _ticket_response(request, claim, viewer, form, status=exc.status, error=error)
    if isinstance(trade, TradePaused):
        notice = (
            f"Your order waits for a person's review (review #{trade.review.pk}); "
            f"{format_credits(trade.review.held)} credits are held for it until it is decided."
        )
        side = form.cleaned_data.get("side") or ""
    else:
        notice, side = _trade_notice(trade), trade.side
    if request.htmx:
        fresh = OrderForm(prefix="order", initial={"kind": form.cleaned_data["kind"], "side": side})
        return announce(_ticket_response(request, claim, viewer, fresh, status=200, notice=notice), claim, before)
    messages.success(request, notice)
    return redirect("claim-detail", claim_id=claim.pk)
