"""The claim page: price and consensus, the chart, the viewer's position, trades, beliefs and the resolution
panel. Each region is a named partial of `templates/markets/claim_detail.html` that re-fetches itself through
`claim_section` when the page's WebSocket announces an event about the claim (`credence:claim-<id>` on <body>).
The forms on the page post to `ticket`, `beliefs` and `resolution`, which answer with their region or, without
JavaScript, the whole page from `claim_page_response`."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts.models import VerificationLevel
from apps.identities.errors import VERIFICATION_PAGE
from apps.identities.models import Identity
from apps.ledger.selectors import wallet_balance
from apps.markets import lmsr, selectors
from apps.markets import resolution as resolution_services
from apps.markets.models import Claim, ClaimStatus, Position
from apps.realtime.selectors import live_cursor
from apps.reputation import selectors as reputation_selectors
from apps.web import charts
from apps.web.forms.trading import BeliefForm, ChallengeForm, OrderForm, ProposeForm
from apps.web.views.common import viewer_of

TRADES_SHOWN = 20
BELIEFS_SHOWN = 20
CONTRIBUTORS_SHOWN = 10
CHART_POINTS = 500
FINAL = {ClaimStatus.RESOLVED_YES, ClaimStatus.RESOLVED_NO, ClaimStatus.VOIDED}


def claim_or_404(request: HttpRequest, claim_id: int, *, detail: bool = False) -> tuple[Claim, Identity | None]:
    """A claim the viewer may see (drafts only to their author), or the 404 a missing claim gives."""
    viewer = viewer_of(request)
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
        "any_capped_unverified": any(c.capped_unverified for c in top),
        "unverified_factor": settings.CREDENCE_UNVERIFIED_WEIGHT_FACTOR,
        "humans_weight": sum(c.weight for c in view.humans),
        "agents_weight": sum(c.weight for c in view.agents),
        "disagreement": None if probability is None else market.price_yes - probability,
    }


def price_chart(claim: Claim) -> dict:
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
    side, average_price = selectors.position_side_and_average(position)
    return {
        "position": position,
        "balance": balance,
        "value": worth.value,
        "fees": worth.fees_paid,
        "pnl": worth.pnl,
        "average_price": average_price,
        "held_side": side,
    }


def _trades(claim: Claim) -> dict:
    return {"trades": list(selectors.market_trades(claim)[:TRADES_SHOWN])}


def _beliefs(claim: Claim) -> dict:
    return {"beliefs": reputation_selectors.beliefs_recent(claim, limit=BELIEFS_SHOWN)}


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
        # Proposing and challenging need a verified identity: a person below it is told so, not given a form. The
        # viewer's user is the request's (read for this request; the services read the level again).
        "viewer_verified": bool(viewer and viewer.user.has_level(VerificationLevel.VERIFIED_HUMAN)),
        "verification_page": VERIFICATION_PAGE,
    }
    if claim.settled_at is not None and market is not None:
        context["settlement"] = selectors.settlement_summary(claim, market)
    if position is not None and status in FINAL:
        context["payout"] = selectors.position_worth(position, status).value
    return context


SECTIONS = ("summary", "chart", "position", "trades", "beliefs", "resolution")


def section_context(name: str, claim: Claim, viewer: Identity | None) -> dict:
    if name == "summary":
        return _summary(claim)
    if name == "chart":
        return price_chart(claim)
    if name == "position":
        return _position(claim, viewer)
    if name == "trades":
        return _trades(claim)
    if name == "beliefs":
        return _beliefs(claim)
    position = _position(claim, viewer)
    return {**position, **_resolution(claim, viewer, position["position"])}


def page_forms(**bound) -> dict:
    forms = {
        "order_form": OrderForm(prefix="order"),
        "belief_form": BeliefForm(prefix="belief"),
        "propose_form": ProposeForm(prefix="propose"),
        "challenge_form": ChallengeForm(prefix="challenge"),
    }
    forms.update(bound)
    return forms


def page_base(claim: Claim, viewer: Identity | None) -> dict:
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


def claim_page_response(
    request: HttpRequest, claim: Claim, viewer: Identity | None, *, status: int = 200, **extra
) -> HttpResponse:
    context = page_base(claim, viewer)
    position = _position(claim, viewer)
    context.update(_summary(claim))
    context.update(price_chart(claim))
    context.update(position)
    context.update(_trades(claim))
    context.update(_beliefs(claim))
    context.update(_resolution(claim, viewer, position["position"]))
    context.update(page_forms(**{k: v for k, v in extra.items() if k.endswith("_form")}))
    context.update({k: v for k, v in extra.items() if not k.endswith("_form")})
    context["live_after"] = live_cursor([f"claim:{claim.pk}"])
    return render(request, "markets/claim_detail.html", context, status=status)


@require_GET
def claim_detail(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim, viewer = claim_or_404(request, claim_id, detail=True)
    return claim_page_response(request, claim, viewer)


@require_GET
def claim_section(request: HttpRequest, claim_id: int, section: str) -> HttpResponse:
    """One live region of the claim page, as it stands now."""
    if section not in SECTIONS:
        raise Http404("No such part of the page.")
    claim, viewer = claim_or_404(request, claim_id)
    context = {**page_base(claim, viewer), **section_context(section, claim, viewer), **page_forms()}
    return render(request, f"markets/claim_detail.html#{section}", context)
