"""Proposing an outcome and challenging a proposal from the claim page's resolution panel."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.amounts import format_credits, format_credits_apart
from apps.core.errors import ApplicationError, PermissionDenied
from apps.identities.models import Identity
from apps.ledger.errors import InsufficientCredit
from apps.ledger.selectors import wallet_balance
from apps.markets import resolution as resolution_services
from apps.markets.models import Claim
from apps.web.forms.trading import ChallengeForm, ProposeForm
from apps.web.views.claim_page import claim_or_404, claim_page_response, page_base, page_forms, section_context
from apps.web.views.common import INVALID_FORM_STATUS, NO_IDENTITY, announce, before_change, field_refusal


def _resolution_response(
    request: HttpRequest, claim: Claim, viewer: Identity | None, *, status: int, **extra
) -> HttpResponse:
    if request.htmx:
        context = {**page_base(claim, viewer), **section_context("resolution", claim, viewer), **page_forms(), **extra}
        return render(request, "markets/claim_detail.html#resolution", context, status=status)
    return claim_page_response(request, claim, viewer, status=status, **extra)


def _bond_refusal(exc: ApplicationError, *, challenge: bool) -> str | None:
    """Short of credit for the bond: what the bond is and what the wallet holds, as the ledger's refusal
    read them under the wallet's lock. None for any other refusal."""
    detail = exc.detail if isinstance(exc, InsufficientCredit) and isinstance(exc.detail, dict) else {}
    if "required" not in detail or "balance" not in detail:
        return None
    what = "A challenge" if challenge else "A proposal"
    needs, holds = format_credits_apart(detail["required"], detail["balance"])
    return f"{what} needs a bond of {needs} credits; your wallet holds {holds}."


def _resolve(request: HttpRequest, claim_id: int, *, challenge: bool) -> HttpResponse:
    """Propose an outcome, or challenge the proposal: the two forms differ only in the service they call."""
    claim, viewer = claim_or_404(request, claim_id)
    name = "challenge_form" if challenge else "propose_form"
    form = (ChallengeForm if challenge else ProposeForm)(request.POST, prefix="challenge" if challenge else "propose")
    if not form.is_valid():
        return _resolution_response(request, claim, viewer, status=INVALID_FORM_STATUS, **{name: form})
    if viewer is None:
        return _resolution_response(
            request, claim, viewer, status=PermissionDenied.status, resolution_error=NO_IDENTITY, **{name: form}
        )
    before = before_change(request, claim)
    try:
        if challenge:
            done = resolution_services.resolution_challenge(
                claim=claim, challenger=viewer, evidence=form.cleaned_data["evidence"]
            )
            notice = (
                f"You challenged the proposal and posted a bond of {format_credits(done.bond)} credits. "
                "The claim is disputed until moderators decide it."
            )
        else:
            done = resolution_services.resolution_propose(
                claim=claim,
                proposer=viewer,
                outcome=form.cleaned_data["outcome"],
                evidence=form.cleaned_data["evidence"],
            )
            notice = (
                f"You proposed {done.proposed_outcome.upper()} and posted a bond of {format_credits(done.bond)} "
                "credits. It comes back if nobody challenges the proposal before the window closes."
            )
    except ApplicationError as exc:
        error = _bond_refusal(exc, challenge=challenge) or field_refusal(form, exc)
        return _resolution_response(request, claim, viewer, status=exc.status, resolution_error=error, **{name: form})
    if request.htmx:
        claim, viewer = claim_or_404(request, claim_id)  # as it stands now: proposed, or disputed
        response = _resolution_response(
            request, claim, viewer, status=200, resolution_notice=notice, nav_balance_now=wallet_balance(viewer)
        )
        return announce(response, claim, before)
    messages.success(request, notice)
    return redirect("claim-detail", claim_id=claim.pk)


@login_required
@require_POST
def claim_propose(request: HttpRequest, claim_id: int) -> HttpResponse:
    return _resolve(request, claim_id, challenge=False)


@login_required
@require_POST
def claim_challenge(request: HttpRequest, claim_id: int) -> HttpResponse:
    return _resolve(request, claim_id, challenge=True)
