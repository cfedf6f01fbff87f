"""The claim list (the home page) and the claim page: price and consensus, the order ticket, beliefs and
the resolution panel.

Each view parses a form, calls the service or selector the REST API calls, and renders. With htmx a
view answers with the partial it was asked for (`templates/markets/*.html#<partial>`), and the live
regions of both pages re-fetch themselves through `claim_row` and `claim_section` when the page's
WebSocket announces an event about their claim (`credence:claim-<id>` on <body>). Without JavaScript
every form posts the whole page and redirects with a message, or re-renders it with the errors.
"""

from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Abs
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from apps.core import charts
from apps.core.amounts import exact_credits, format_credits, format_credits_apart
from apps.core.errors import ApplicationError, PermissionDenied
from apps.identities.models import Identity
from apps.ledger.selectors import wallet_balance
from apps.ledger.services import InsufficientCredit
from apps.markets import lmsr, selectors, services
from apps.markets import resolution as resolution_services
from apps.markets.forms import BeliefForm, ChallengeForm, ClaimFilterForm, OrderForm, ProposeForm
from apps.markets.models import Claim, ClaimStatus, Position, Side
from apps.markets.templatetags.markets import percent
from apps.realtime.selectors import events_after, live_cursor
from apps.reputation import selectors as reputation_selectors
from apps.reputation import services as reputation_services
from apps.reputation.models import Belief

LIST_PAGE_SIZE = 20
TRADES_SHOWN = 20
BELIEFS_SHOWN = 20
CONTRIBUTORS_SHOWN = 10
CHART_POINTS = 500
INVALID_FORM_STATUS = 422
FINAL = {ClaimStatus.RESOLVED_YES, ClaimStatus.RESOLVED_NO, ClaimStatus.VOIDED}
NO_IDENTITY = "Verify your email address first: trading, beliefs and resolutions need a market identity."


def _viewer(request: HttpRequest) -> Identity | None:
    """Who acts in the browser: the signed-in person's human identity (None before email verification)."""
    return request.user.human_identity if request.user.is_authenticated else None


def _wants_partial(request: HttpRequest, target: str) -> bool:
    """An htmx request for one region of the page (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request and request.htmx.target == target


def _before_change(request: HttpRequest, claim: Claim) -> int | None:
    """Where the claim's events stood before a change made from its page (htmx only: see _announce)."""
    return live_cursor([f"claim:{claim.pk}"]) if request.htmx else None


def _announce(response: HttpResponse, claim: Claim, before: int | None) -> HttpResponse:
    """After a change made from this page, refresh its live regions at once, naming the events the refresh
    shows: the change's own, and any others about the claim committed by now. The page's socket tells of
    the same events a moment before or after; static/js/live.js refreshes the page once per event,
    whichever tells first (it used to refresh every region twice for each of the person's own changes)."""
    events = events_after(f"claim:{claim.pk}", before or 0)
    return trigger_client_event(response, "credence:announce", {"claim": claim.pk, "events": events})


# --- The claim list ---------------------------------------------------------------------------------


def _listed(viewer: Identity | None, filters: dict, now) -> QuerySet[Claim]:
    """The list's query: claims_listed (what the REST list serves) with the consensus beside the price, the
    "mine" filter and the sorts the REST list does not offer (volume, disagreement), in the same query."""
    closing = filters.get("closing")
    claims = selectors.claims_listed(
        status=filters.get("status") or None,
        domain=filters.get("domain") or None,
        tag=filters.get("tag") or None,
        search=filters.get("q", ""),
        closing_within=timedelta(hours=closing) if closing else None,
        now=now,
    ).annotate(consensus_probability=F("consensus__probability"))
    if filters.get("mine") and viewer is not None:
        traded = Position.objects.filter(market__claim=OuterRef("pk"), identity=viewer)
        claims = claims.filter(Q(author=viewer) | Exists(traded))
    sort = filters.get("sort", "new")
    if sort == "closing":  # open claims, soonest first; then the rest, most recently closed first
        is_open = Q(effective_status=ClaimStatus.OPEN)
        return claims.order_by(
            Case(When(is_open, then=Value(0)), default=Value(1)),
            Case(When(is_open, then=F("closes_at"))).asc(nulls_last=True),
            F("closes_at").desc(),
            "-id",
        )
    if sort == "volume":
        return claims.order_by(F("volume").desc(), "-id")
    if sort == "disagreement":  # claims without a consensus last
        claims = claims.annotate(disagreement=Abs(F("price_yes") - F("consensus_probability")))
        return claims.order_by(F("disagreement").desc(nulls_last=True), "-id")
    # The default: open claims first, newest first, then the rest, newest first. A visitor lands on what can
    # still be traded; the resolved history is a status filter away.
    is_open = Q(effective_status=ClaimStatus.OPEN)
    return claims.order_by(Case(When(is_open, then=Value(0)), default=Value(1)), "-id")


@require_GET
def claim_list(request: HttpRequest) -> HttpResponse:
    viewer = _viewer(request)
    form = ClaimFilterForm(request.GET, domains=list(selectors.domains()), signed_in=viewer is not None)
    filters = form.filters()
    paginator = Paginator(_listed(viewer, filters, timezone.now()), LIST_PAGE_SIZE)
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
    if _wants_partial(request, "claim-results"):
        template += "#results"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def claim_row(request: HttpRequest, claim_id: int) -> HttpResponse:
    """One row of the list, as it stands now (the row re-fetches itself on its claim's events)."""
    claim = _listed(None, {}, timezone.now()).filter(pk=claim_id).first()
    if claim is None:
        raise Http404("No such claim.")
    return render(request, "markets/claim_list.html#claim-row", {"claim": claim})


# --- The claim page: its regions ---------------------------------------------------------------------


def _claim_or_404(request: HttpRequest, claim_id: int, *, detail: bool = False) -> tuple[Claim, Identity | None]:
    """A claim the viewer may see (drafts only to their author), or the 404 a missing claim gives."""
    viewer = _viewer(request)
    claim = (selectors.claim_detail if detail else selectors.claim_visible)(claim_id, viewer)
    if claim is None:
        raise Http404("No such claim.")
    return claim, viewer


def _market(claim: Claim):
    return getattr(claim, "market", None)  # a draft has none


def _summary(claim: Claim) -> dict:
    """The market price beside the consensus, and who pulls the consensus how hard."""
    market = _market(claim)
    if market is None:
        return {"consensus": None}
    view = reputation_selectors.consensus_explained(claim, top=CONTRIBUTORS_SHOWN)
    top = view.contributors[:CONTRIBUTORS_SHOWN]
    owners = reputation_selectors.owner_handles(
        [c.identity for c in top], also={o for c in top for o in c.counted_with}
    )
    probability = reputation_selectors.as_decimal(view.probability)
    return {
        "consensus": view,
        "consensus_probability": probability,
        "contributors": [
            {
                "c": c,
                "owner": owners.get(c.identity.owner_id) if c.identity.is_agent else None,
                "counted_with": [owners[o] for o in c.counted_with if o in owners],
            }
            for c in top
        ],
        "more_contributors": len(view.contributors) - len(top),
        "humans_weight": sum(c.weight for c in view.humans),
        "agents_weight": sum(c.weight for c in view.agents),
        "disagreement": None if probability is None else market.price_yes - probability,
    }


def _chart(claim: Claim) -> dict:
    market = _market(claim)
    if market is None:
        return {"chart": None}
    points = list(selectors.market_prices(claim).values_list("created_at", "price_yes"))
    if len(points) > CHART_POINTS:
        # An SVG of a few hundred steps reads the same as one of thousands, at a fraction of the bytes.
        step = -(-len(points) // CHART_POINTS)
        points = points[::step] + ([points[-1]] if (len(points) - 1) % step else [])
    now = timezone.now()
    end = min(now, claim.closes_at)
    chart = charts.line_chart(
        series=[charts.Series(name="Market price of YES", css_class="series-market", points=points, step=True)],
        title=f"Price history of “{claim.title}”",
        y_label="Price of YES",
        end=end if not points or end > points[-1][0] else None,
        chart_id=f"claim-{claim.pk}-prices",
        empty_text="No price yet.",
    )
    return {"chart": chart, "price_points": len(points)}


def _position(claim: Claim, viewer: Identity | None) -> dict:
    """The viewer's holdings: shares, what they paid, what they are worth now, and the profit or loss."""
    market = _market(claim)
    if viewer is None or market is None:
        return {"position": None}
    position = selectors.position_in(viewer, claim)
    balance = wallet_balance(viewer)
    if position is None:
        return {"position": None, "balance": balance}
    worth = selectors.position_worth(position, claim.effective_status)
    held = position.yes_shares + position.no_shares
    one_side = Side.YES if position.no_shares == 0 else Side.NO if position.yes_shares == 0 else None
    return {
        "position": position,
        "balance": balance,
        "value": worth.value,
        "fees": worth.fees_paid,
        "pnl": worth.pnl,
        # The average price paid per share, when the position is on one side (a YES and a NO share
        # together are worth one credit whatever happens, so a mixed average means nothing).
        "average_price": (Decimal(position.net_invested) / held) if held and one_side else None,
        "held_side": one_side,
    }


def _trades(claim: Claim) -> dict:
    return {"trades": list(selectors.market_trades(claim)[:TRADES_SHOWN])}


def _beliefs(claim: Claim) -> dict:
    # The claim's stated beliefs, newest first, with their rationales: a belief's rationale is public
    # (docs/api.md), it is the reasoning others weigh; a trade's stays its trader's own.
    beliefs = Belief.objects.filter(claim=claim).select_related("identity").order_by("-id")[:BELIEFS_SHOWN]
    return {"beliefs": list(beliefs)}


def _resolution(claim: Claim, viewer: Identity | None, position: Position | None) -> dict:
    """The resolution panel: the proposal and its challenge, the window, the outcome and the payouts."""
    market = _market(claim)
    status = claim.effective_status
    resolution = selectors.claim_resolution(claim) if status not in (ClaimStatus.DRAFT, ClaimStatus.OPEN) else None
    context = {
        "resolution": resolution,
        "resolution_state": selectors.resolution_state(resolution) if resolution else None,
        "bond": resolution_services.bond_for(market) if market is not None else None,
        "holds_shares": bool(position and (position.yes_shares or position.no_shares)),
        "is_proposer": bool(resolution and viewer and resolution.proposer_id == viewer.pk),
        "settlement": None,
        "payout": None,
    }
    if claim.settled_at is not None and market is not None:
        context["settlement"] = selectors.settlement_summary(claim, market)
    if position is not None and status in FINAL:
        context["payout"] = selectors.position_worth(position, status).value
    return context


SECTIONS = ("summary", "chart", "position", "trades", "beliefs", "resolution")


def _section(name: str, claim: Claim, viewer: Identity | None) -> dict:
    if name == "summary":
        return _summary(claim)
    if name == "chart":
        return _chart(claim)
    if name == "position":
        return _position(claim, viewer)
    if name == "trades":
        return _trades(claim)
    if name == "beliefs":
        return _beliefs(claim)
    position = _position(claim, viewer)
    return {**position, **_resolution(claim, viewer, position["position"])}


def _forms(**bound) -> dict:
    forms = {
        "order_form": OrderForm(prefix="order"),
        "belief_form": BeliefForm(prefix="belief"),
        "propose_form": ProposeForm(prefix="propose"),
        "challenge_form": ChallengeForm(prefix="challenge"),
    }
    forms.update(bound)
    return forms


def _base(claim: Claim, viewer: Identity | None) -> dict:
    status = claim.effective_status
    return {
        "claim": claim,
        "viewer": viewer,
        "status": status,
        "status_label": ClaimStatus(status).label,
        "market": _market(claim),
        "trading": status == ClaimStatus.OPEN and _market(claim) is not None,
        # What publishing a draft will charge its author (the draft notice offers to publish it).
        "draft_subsidy": lmsr.initial_subsidy(claim.liquidity) if status == ClaimStatus.DRAFT else None,
    }


def _page(request: HttpRequest, claim: Claim, viewer: Identity | None, *, status: int = 200, **extra) -> HttpResponse:
    context = _base(claim, viewer)
    position = _position(claim, viewer)
    context.update(_summary(claim))
    context.update(_chart(claim))
    context.update(position)
    context.update(_trades(claim))
    context.update(_beliefs(claim))
    context.update(_resolution(claim, viewer, position["position"]))
    context.update(_forms(**{k: v for k, v in extra.items() if k.endswith("_form")}))
    context.update({k: v for k, v in extra.items() if not k.endswith("_form")})
    context["live_after"] = live_cursor([f"claim:{claim.pk}"])
    return render(request, "markets/claim_detail.html", context, status=status)


@require_GET
def claim_detail(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim, viewer = _claim_or_404(request, claim_id, detail=True)
    return _page(request, claim, viewer)


@require_GET
def claim_section(request: HttpRequest, claim_id: int, section: str) -> HttpResponse:
    """One live region of the claim page, as it stands now."""
    if section not in SECTIONS:
        raise Http404("No such part of the page.")
    claim, viewer = _claim_or_404(request, claim_id)
    context = {**_base(claim, viewer), **_section(section, claim, viewer), **_forms()}
    return render(request, f"markets/claim_detail.html#{section}", context)


# --- The order ticket -------------------------------------------------------------------------------


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
    claim, viewer = _claim_or_404(request, claim_id)
    form = OrderForm(request.POST, prefix="order")
    context, status = _quote_context(claim, viewer, form)
    if request.htmx:
        return render(request, "markets/claim_detail.html#quote", {"claim": claim, **context}, status=status)
    # Without JavaScript, "Preview" shows the whole page with the quote under the ticket, as typed.
    return _page(request, claim, viewer, status=status, order_form=form, **context)


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


def _refusal(form, exc: ApplicationError) -> str:
    """A refused rule: shown on the field it names (`detail={"field": ...}`); otherwise returned, to be shown
    at the top of the form's card, where it stays visible even when the form is not (trading has closed)."""
    field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    if field in form.fields:
        form.add_error(field, exc.message)
        return ""
    return exc.message


def _order_refusal(claim: Claim, viewer: Identity, form: OrderForm, exc: ApplicationError) -> str:
    """Why the ticket's order was refused. Short of credit: what the order needs and what the wallet
    holds, in the quote's figures. Both come from the ledger's refusal, which read the balance under the
    wallet's lock (a trade can overdraw only the wallet: escrow always covers the shares it owes), so
    they are what was refused even if another trade or a payout has since changed them. The split into
    cost and fee is the quote's, priced again now, and shown only when it still adds up to that need."""
    detail = exc.detail if isinstance(exc, InsufficientCredit) and isinstance(exc.detail, dict) else {}
    if "required" not in detail or "balance" not in detail:
        return _refusal(form, exc)
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
        context = {**_base(claim, viewer), "order_form": form, "notice": notice, "order_error": error}
        if viewer is not None:
            context["nav_balance_now"] = wallet_balance(viewer)
        return render(request, "markets/claim_detail.html#ticket", context, status=status)
    return _page(request, claim, viewer, status=status, order_form=form, order_error=error)


@login_required
@require_POST
def claim_trade(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim, viewer = _claim_or_404(request, claim_id)
    form = OrderForm(request.POST, prefix="order")
    if not form.is_valid():
        return _ticket_response(request, claim, viewer, form, status=INVALID_FORM_STATUS)
    if viewer is None:
        return _ticket_response(request, claim, viewer, form, status=PermissionDenied.status, error=NO_IDENTITY)
    before = _before_change(request, claim)
    try:
        trade = services.trade_place(
            identity=viewer, claim=claim, order=form.order(), idempotency_key=form.cleaned_data["idempotency_key"]
        )
    except ApplicationError as exc:
        # The bound form comes back with what was typed and its key: a corrected retry is still one trade.
        error = _order_refusal(claim, viewer, form, exc)
        return _ticket_response(request, claim, viewer, form, status=exc.status, error=error)
    notice = _trade_notice(trade)
    if request.htmx:
        fresh = OrderForm(prefix="order", initial={"kind": form.cleaned_data["kind"], "side": trade.side})
        return _announce(_ticket_response(request, claim, viewer, fresh, status=200, notice=notice), claim, before)
    messages.success(request, notice)
    return redirect("claim-detail", claim_id=claim.pk)


# --- Beliefs ----------------------------------------------------------------------------------------


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
        context = {**_base(claim, viewer), "belief_form": form, "belief_notice": notice, "belief_error": error}
        return render(request, "markets/claim_detail.html#belief-form", context, status=status)
    return _page(request, claim, viewer, status=status, belief_form=form, belief_error=error)


@login_required
@require_POST
def claim_belief(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim, viewer = _claim_or_404(request, claim_id)
    form = BeliefForm(request.POST, prefix="belief")
    if not form.is_valid():
        return _belief_response(request, claim, viewer, form, status=INVALID_FORM_STATUS)
    if viewer is None:
        return _belief_response(request, claim, viewer, form, status=PermissionDenied.status, error=NO_IDENTITY)
    before = _before_change(request, claim)
    try:
        belief = reputation_services.belief_state(
            identity=viewer,
            claim=claim,
            probability=form.cleaned_data["probability"],
            rationale=form.cleaned_data["rationale"],
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except ApplicationError as exc:
        return _belief_response(request, claim, viewer, form, status=exc.status, error=_refusal(form, exc))
    if belief.replayed:
        notice = "That belief was already recorded: it counts once."
    else:
        notice = f"Your belief of {percent(belief.probability)} is recorded; the consensus now includes it."
    if request.htmx:
        response = _belief_response(request, claim, viewer, BeliefForm(prefix="belief"), status=200, notice=notice)
        return _announce(response, claim, before)
    messages.success(request, notice)
    return redirect("claim-detail", claim_id=claim.pk)


# --- Resolution -------------------------------------------------------------------------------------


def _resolution_response(
    request: HttpRequest, claim: Claim, viewer: Identity | None, *, status: int, **extra
) -> HttpResponse:
    if request.htmx:
        context = {**_base(claim, viewer), **_section("resolution", claim, viewer), **_forms(), **extra}
        return render(request, "markets/claim_detail.html#resolution", context, status=status)
    return _page(request, claim, viewer, status=status, **extra)


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
    claim, viewer = _claim_or_404(request, claim_id)
    name = "challenge_form" if challenge else "propose_form"
    form = (ChallengeForm if challenge else ProposeForm)(request.POST, prefix="challenge" if challenge else "propose")
    if not form.is_valid():
        return _resolution_response(request, claim, viewer, status=INVALID_FORM_STATUS, **{name: form})
    if viewer is None:
        return _resolution_response(
            request, claim, viewer, status=PermissionDenied.status, resolution_error=NO_IDENTITY, **{name: form}
        )
    before = _before_change(request, claim)
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
        error = _bond_refusal(exc, challenge=challenge) or _refusal(form, exc)
        return _resolution_response(request, claim, viewer, status=exc.status, resolution_error=error, **{name: form})
    if request.htmx:
        claim, viewer = _claim_or_404(request, claim_id)  # as it stands now: proposed, or disputed
        response = _resolution_response(
            request, claim, viewer, status=200, resolution_notice=notice, nav_balance_now=wallet_balance(viewer)
        )
        return _announce(response, claim, before)
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


urlpatterns = [
    path("claims/<int:claim_id>/", claim_detail, name="claim-detail"),
    path("claims/<int:claim_id>/row/", claim_row, name="claim-row"),
    path("claims/<int:claim_id>/live/<slug:section>/", claim_section, name="claim-section"),
    path("claims/<int:claim_id>/quote/", claim_quote, name="claim-quote"),
    path("claims/<int:claim_id>/trade/", claim_trade, name="claim-trade"),
    path("claims/<int:claim_id>/belief/", claim_belief, name="claim-belief"),
    path("claims/<int:claim_id>/resolution/propose/", claim_propose, name="claim-propose"),
    path("claims/<int:claim_id>/resolution/challenge/", claim_challenge, name="claim-challenge"),
]
