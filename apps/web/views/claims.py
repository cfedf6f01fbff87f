"""The claim list (the home page) and its rows, which re-fetch themselves on their claim's events."""

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from apps.markets import selectors
from apps.realtime.selectors import live_cursor
from apps.reputation.selectors import claims_browsed
from apps.web.forms.trading import ClaimFilterForm
from apps.web.views.common import viewer_of, wants_partial

LIST_PAGE_SIZE = 20


@require_GET
def claim_list(request: HttpRequest) -> HttpResponse:
    viewer = viewer_of(request)
    form = ClaimFilterForm(request.GET, domains=list(selectors.domains()), signed_in=viewer is not None)
    filters = form.filters()
    paginator = Paginator(claims_browsed(viewer=viewer, filters=filters, now=timezone.now()), LIST_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    claims = list(page.object_list)
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "claims": claims,
        "filtered": any(filters[name] for name in ("q", "domain", "tag", "status", "closing", "mine")),
        "live_ids": " ".join(str(claim.pk) for claim in claims),
        "live_after": live_cursor(),
    }
    template = "markets/claim_list.html"
    if wants_partial(request, "claim-results"):
        template += "#results"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def claim_row(request: HttpRequest, claim_id: int) -> HttpResponse:
    """One row of the list, as it stands now (the row re-fetches itself on its claim's events)."""
    claim = claims_browsed(viewer=None, filters={}, now=timezone.now()).filter(pk=claim_id).first()
    if claim is None:
        raise Http404("No such claim.")
    return render(request, "markets/claim_list.html#claim-row", {"claim": claim})
