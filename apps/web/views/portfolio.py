"""My portfolio: open positions at their current value, resolved ones with their payouts, the wallet's
history, and totals.

Each open row and the totals refetch themselves when static/js/live.js announces an event of their
claim. Every read is a selector the API uses too, and the page's query count does not grow with its
positions.
"""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from apps.core.api import keyset_page
from apps.core.errors import ApplicationError
from apps.identities.models import Identity
from apps.ledger.selectors import wallet_balance, wallet_entries
from apps.markets.models import ClaimStatus, Position
from apps.markets.resolution import FINAL_STATUSES
from apps.markets.selectors import position_worth, positions_of
from apps.realtime.selectors import live_cursor

HISTORY_PAGE_SIZE = 25
RESOLVED_PAGE_SIZE = 25
PERCENT = Decimal("0.1")


def _described(position: Position) -> Position:
    """Attach what a row shows: value now (or the payout), profit and loss (fees counted), the price as a percentage."""
    status = position.claim_status
    worth = position_worth(position)
    position.value, position.fees_paid, position.pnl = worth.value, worth.fees_paid, worth.pnl
    position.status_label = ClaimStatus(status).label
    position.is_final = status in FINAL_STATUSES
    position.price_percent = (position.market.price_yes * 100).quantize(PERCENT)
    return position


def _unsettled(identity: Identity) -> list[Position]:
    """Positions whose worth is not cash yet: every open one, and resolved ones awaiting settlement (one query)."""
    return [_described(p) for p in positions_of(identity).filter(market__claim__settled_at__isnull=True)]


def _totals(identity: Identity, unsettled: list[Position]) -> dict:
    cash = wallet_balance(identity)
    positions = sum(p.value for p in unsettled)
    return {"cash": cash, "positions_value": positions, "total": cash + positions}


@login_required
@require_GET
def portfolio(request: HttpRequest) -> HttpResponse:
    identity = request.user.human_identity
    if identity is None:  # signed in without a verified email: no identity, no wallet yet
        return render(request, "markets/portfolio.html", {"identity": None})
    try:
        history, history_next = keyset_page(
            wallet_entries(identity), cursor=request.GET.get("history") or None, limit=HISTORY_PAGE_SIZE
        )
        resolved, resolved_next = keyset_page(
            positions_of(identity).filter(claim_status__in=FINAL_STATUSES),
            cursor=request.GET.get("resolved") or None,
            limit=RESOLVED_PAGE_SIZE,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("portfolio")
    unsettled = _unsettled(identity)
    open_positions = [p for p in unsettled if not p.is_final]
    live_ids = [p.market.claim_id for p in open_positions]
    return render(
        request,
        "markets/portfolio.html",
        {
            "identity": identity,
            "totals": _totals(identity, unsettled),
            "open_positions": open_positions,
            "live_ids": live_ids,
            "live_claims": " ".join(str(pk) for pk in live_ids),
            "live_after": live_cursor(),
            "resolved": [_described(p) for p in resolved],
            "resolved_next": resolved_next,
            "history": history,
            "history_next": history_next,
        },
    )


@login_required
@require_GET
def portfolio_position_row(request: HttpRequest, claim_id: int) -> HttpResponse:
    """One open-position row, re-read when its claim changes: empty (the row goes away) where the viewer
    holds nothing."""
    identity = request.user.human_identity
    position = None
    if identity is not None:
        position = positions_of(identity).filter(market__claim_id=claim_id).first()
    if position is None:
        return HttpResponse("")
    return render(request, "markets/portfolio_position_row.html", {"position": _described(position)})


@login_required
@require_GET
def portfolio_totals(request: HttpRequest) -> HttpResponse:
    identity = request.user.human_identity
    if identity is None:
        return HttpResponse("")
    unsettled = _unsettled(identity)
    live_ids = [p.market.claim_id for p in unsettled if not p.is_final]
    return render(
        request, "markets/portfolio_totals.html", {"totals": _totals(identity, unsettled), "live_ids": live_ids}
    )
