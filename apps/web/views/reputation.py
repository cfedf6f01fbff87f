"""The reputation pages: an identity's public page, the leaderboards and the platform's track record.

Each view parses its input, calls the selectors the REST API calls (apps/reputation/api.py) and renders.
The leaderboards and the track record are GET forms that work without JavaScript; with htmx only the
results region is swapped (the form stays, so a choice made while the last is in flight queues behind
it; a refused filter is listed in that region) and the URL is pushed, so the filtered view can be
bookmarked and the back button works.
"""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from apps.core.api import keyset_page
from apps.core.errors import ApplicationError
from apps.identities import selectors as identity_selectors
from apps.identities.models import Identity, IdentityKind
from apps.markets import selectors as market_selectors
from apps.reputation import selectors
from apps.web.charts import CalibrationSeries, calibration_chart
from apps.web.views.common import INVALID_FORM_STATUS
from apps.web.views.reviews import reviewer_record_context

SCORES_PAGE_SIZE = 20
BELIEFS_SHOWN = 10
LEADERBOARD_PAGE_SIZE = 50
MAX_RANK = 2**31 - 1  # beyond it PostgreSQL's OFFSET overflows
BEST_SOURCE_MIN_FORECASTS = 5  # selectors.platform_record's default: said on the page


def _render(request: HttpRequest, template: str, partial: str, context: dict, *, status: int = 200) -> HttpResponse:
    """The whole page, or only its `partial` for an htmx request (but the whole page when htmx restores
    history it has no snapshot of). The answer varies on HX-Request, so no cache mixes the two."""
    if request.htmx and not request.htmx.history_restore_request:
        template = f"{template}#{partial}"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _domain_choices(domains: list) -> list[tuple[str, str]]:
    return [("", "All domains"), *((d.slug, d.name) for d in domains)]


# --- Identity page ---------------------------------------------------------------------------------------


def _public_or_404(handle: str) -> Identity:
    """Only an active identity has a public page: a suspended one is indistinguishable from none."""
    identity = identity_selectors.public_identity(handle)
    if identity is None or not identity.is_active:
        raise Http404("No such identity.")
    return identity


@require_GET
def identity_detail(request: HttpRequest, handle: str) -> HttpResponse:
    identity = _public_or_404(handle)
    try:
        scores, next_cursor = keyset_page(
            selectors.scores_listed(identity), cursor=request.GET.get("cursor") or None, limit=SCORES_PAGE_SIZE
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("identity-detail", handle=identity.handle)
    record = selectors.track_record(identity)
    scores_by_domain = {row["slug"]: row for row in record["domains"]}
    domains = [
        {"reliability": reliability, "scores": scores_by_domain.get(reliability.domain.slug)}
        for reliability in record["reliability"]
    ]
    owner = agents = reviewing = None
    if identity.kind == IdentityKind.AGENT:
        owner = identity_selectors.public_identity(identity.owner_handle) if identity.owner_handle else None
        if owner is not None and not owner.is_active:
            owner = None
    else:
        agents = list(identity_selectors.public_identities(IdentityKind.AGENT).filter(owner_id=identity.user_id))
        reviewing = reviewer_record_context(identity)
    chart = calibration_chart(
        series=[CalibrationSeries(name=f"@{identity.handle}", css_class="series-1", buckets=record["calibration"])],
        title=f"Calibration of @{identity.handle}",
        chart_id="identity-calibration",
    )
    return render(
        request,
        "reputation/identity.html",
        {
            "identity": identity,
            "record": record,
            "domains": domains,
            "owner": owner,
            "owner_handle": identity.owner_handle,
            "agents": agents,
            "calibration_chart": chart,
            "scores": scores,
            "next_cursor": next_cursor,
            "paged": bool(request.GET.get("cursor")),
            "beliefs": list(selectors.beliefs_of(identity)[:BELIEFS_SHOWN]),
            "beliefs_shown": BELIEFS_SHOWN,
            "reviewing": reviewing,
        },
    )


# --- Leaderboards ----------------------------------------------------------------------------------------


class DomainForm(forms.Form):
    """A domain filter: "" (every domain) or a domain's slug, chosen from the list the page already read."""

    domain = forms.ChoiceField(label="Domain", required=False)

    def __init__(self, *args, domains: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["domain"].choices = _domain_choices(domains)
        self.domains = {d.slug: d for d in domains}

    def selected_domain(self):
        return self.domains.get(self.cleaned_data.get("domain") or "") if self.is_bound else None


class LeaderboardForm(DomainForm):
    kind = forms.ChoiceField(
        label="Who",
        required=False,
        choices=[("", "Humans and agents"), (IdentityKind.HUMAN, "Humans"), (IdentityKind.AGENT, "Agents")],
    )
    min_forecasts = forms.IntegerField(
        label="At least this many resolved forecasts",
        required=False,
        min_value=1,
        max_value=1_000_000,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": "1"}),
    )


def _rank_offset(value: str | None) -> int | None:
    """The rank a page starts after (`after=50`: ranks 51 on), or None when the value is not one."""
    if not value:
        return 0
    try:
        offset = int(value)
    except ValueError:
        return None
    return offset if 0 <= offset <= MAX_RANK else None


@require_GET
def leaderboards(request: HttpRequest) -> HttpResponse:
    domains = list(market_selectors.domains())
    form = LeaderboardForm(request.GET or None, domains=domains)
    context = {"form": form, "rows": None, "domain": None}
    if request.GET and not form.is_valid():
        return _render(request, "reputation/leaderboards.html", "board", context, status=INVALID_FORM_STATUS)
    offset = _rank_offset(request.GET.get("after"))
    if offset is None:  # a hand-edited page link: back to the first page of the same filters
        messages.error(request, "That page link is not valid: here is the first page.")
        query = request.GET.copy()
        query.pop("after")
        return redirect(f"{reverse('leaderboards')}?{query.urlencode()}")
    data = form.cleaned_data if request.GET else {}
    domain = form.selected_domain()
    kind = data.get("kind") or None
    min_forecasts = data.get("min_forecasts") or 1
    page = list(
        selectors.leaderboard_page_rows(domain.pk if domain else None, kind, min_forecasts)[
            offset : offset + LEADERBOARD_PAGE_SIZE + 1
        ]
    )
    more = len(page) > LEADERBOARD_PAGE_SIZE
    page = page[:LEADERBOARD_PAGE_SIZE]
    for rank, row in enumerate(page, start=offset + 1):
        row.rank = rank
    context.update(
        {
            "rows": page,
            "domain": domain,
            "kind": kind,
            "min_forecasts": min_forecasts,
            "next_after": offset + LEADERBOARD_PAGE_SIZE if more else None,
            "previous_after": max(offset - LEADERBOARD_PAGE_SIZE, 0) if offset else None,
        }
    )
    return _render(request, "reputation/leaderboards.html", "board", context)


# --- The platform's track record -------------------------------------------------------------------------


@require_GET
def platform_record(request: HttpRequest) -> HttpResponse:
    domains = list(market_selectors.domains())
    form = DomainForm(request.GET or None, domains=domains)
    context = {"form": form, "record": None, "domain": None, "domains": domains}
    if request.GET and not form.is_valid():
        return _render(request, "reputation/platform_record.html", "record", context, status=INVALID_FORM_STATUS)
    domain = form.selected_domain()
    record = selectors.platform_record(
        domain_id=domain.pk if domain else None, min_source_forecasts=BEST_SOURCE_MIN_FORECASTS
    )
    best = record["best_source"]["identity"]
    best_name = f"Best single source (@{best.handle})" if best else "Best single source"
    chart = calibration_chart(
        series=[
            CalibrationSeries(
                name="Market price at close", css_class="series-market", buckets=record["market"]["calibration"]
            ),
            CalibrationSeries(
                name="Consensus at close", css_class="series-consensus", buckets=record["consensus"]["calibration"]
            ),
            CalibrationSeries(name=best_name, css_class="series-source", buckets=record["best_source"]["calibration"]),
        ],
        title=f"Calibration on resolved claims{f' in {domain.name}' if domain else ''}",
        chart_id="platform-calibration",
    )
    context.update(
        {
            "record": record,
            "domain": domain,
            "best": best,
            "calibration_chart": chart,
            "min_source_forecasts": BEST_SOURCE_MIN_FORECASTS,
        }
    )
    return _render(request, "reputation/platform_record.html", "record", context)
