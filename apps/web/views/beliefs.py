"""Stating a belief from the claim page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.errors import ApplicationError, PermissionDenied
from apps.identities.models import Identity
from apps.markets.models import Claim
from apps.reputation import services as reputation_services
from apps.web.forms.trading import BeliefForm
from apps.web.templatetags.markets import percent
from apps.web.views.claim_page import claim_or_404, claim_page_response, page_base
from apps.web.views.common import INVALID_FORM_STATUS, NO_IDENTITY, announce, before_change, field_refusal


def _belief_response(
    request: HttpRequest,
    claim: Claim,
    viewer: Identity | None,
    form: BeliefForm,
    *,
    status: int,
    notice: str = "",
    error: str = "",
) -> HttpResponse:
    if request.htmx:
        context = {**page_base(claim, viewer), "belief_form": form, "belief_notice": notice, "belief_error": error}
        return render(request, "markets/claim_detail.html#belief-form", context, status=status)
    return claim_page_response(request, claim, viewer, status=status, belief_form=form, belief_error=error)


@login_required
@require_POST
def claim_belief(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim, viewer = claim_or_404(request, claim_id)
    form = BeliefForm(request.POST, prefix="belief")
    if not form.is_valid():
        return _belief_response(request, claim, viewer, form, status=INVALID_FORM_STATUS)
    if viewer is None:
        return _belief_response(request, claim, viewer, form, status=PermissionDenied.status, error=NO_IDENTITY)
    before = before_change(request, claim)
    try:
        belief = reputation_services.belief_state(
            identity=viewer,
            claim=claim,
            probability=form.cleaned_data["probability"],
            rationale=form.cleaned_data["rationale"],
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except ApplicationError as exc:
        return _belief_response(request, claim, viewer, form, status=exc.status, error=field_refusal(form, exc))
    if belief.replayed:
        notice = "That belief was already recorded: it counts once."
    else:
        notice = f"Your belief of {percent(belief.probability)} is recorded; the consensus now includes it."
    if request.htmx:
        response = _belief_response(request, claim, viewer, BeliefForm(prefix="belief"), status=200, notice=notice)
        return announce(response, claim, before)
    messages.success(request, notice)
    return redirect("claim-detail", claim_id=claim.pk)
