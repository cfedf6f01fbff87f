"""What every page's view shares: who is acting, which partial htmx asked for, how a refused rule is shown,
and how a change made from a claim's page refreshes its live regions."""

from django.http import HttpRequest, HttpResponse
from django_htmx.http import trigger_client_event

from apps.core.errors import ApplicationError
from apps.identities.models import Identity
from apps.markets.models import Claim
from apps.realtime.selectors import events_after, live_cursor

# A form that does not validate answers 422, as the API does; htmx swaps a 4xx answer (templates/base.html's
# htmx-config), so the form comes back with its errors.
INVALID_FORM_STATUS = 422
NO_IDENTITY = "Verify your email address first: trading, beliefs and resolutions need a market identity."


def viewer_of(request: HttpRequest) -> Identity | None:
    """Who acts in the browser: the signed-in person's human identity (None before email verification)."""
    return request.user.human_identity if request.user.is_authenticated else None


def wants_partial(request: HttpRequest, target: str) -> bool:
    """An htmx request for one region of the page (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request and request.htmx.target == target


def before_change(request: HttpRequest, claim: Claim) -> int | None:
    """Where the claim's events stood before a change made from its page (htmx only: see _announce)."""
    return live_cursor([f"claim:{claim.pk}"]) if request.htmx else None


def announce(response: HttpResponse, claim: Claim, before: int | None) -> HttpResponse:
    """After a change made from this page, refresh its live regions at once, naming the events the refresh
    shows: the change's own, and any others about the claim committed by now. The page's socket tells of
    the same events a moment before or after; static/js/live.js refreshes the page once per event,
    whichever tells first (it used to refresh every region twice for each of the person's own changes)."""
    events = events_after(f"claim:{claim.pk}", before or 0)
    return trigger_client_event(response, "credence:announce", {"claim": claim.pk, "events": events})


def field_refusal(form, exc: ApplicationError) -> str:
    """A refused rule: shown on the field it names (`detail={"field": ...}`); otherwise returned, to be shown
    at the top of the form's card, where it stays visible even when the form is not (trading has closed)."""
    field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    if field in form.fields:
        form.add_error(field, exc.message)
        return ""
    return exc.message
