"""Reads of the markets app: what a reader sees of claims, markets, trades and positions.

Every read reports a claim's *effective* status, as apps.markets.resolution.effective_status defines
it: an open claim whose closes_at has passed is closed, and an unchallenged proposal whose window has
passed is resolved, even before the beat tasks have written that down. Here it is one SQL expression
(so a page of claims stays one query) and one filter per status (so the status indexes still serve).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db import connection
from django.db.models import Case, CharField, F, OuterRef, Q, QuerySet, Subquery, Sum, TextField, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from apps.core.errors import NotFound
from apps.identities.models import Identity
from apps.ledger.models import Entry
from apps.markets.errors import MarketClosed
from apps.markets.models import Claim, ClaimStatus, Domain, Market, Position, PricePoint, Resolution, Side, Trade
from apps.markets.pricing import Fill, Order, market_is_open, order_price
from apps.markets.resolution import RESOLVED

PRICE_QUANTUM = Decimal("1e-20")  # as trade_place stores prices
OUTCOME_OF = {status: outcome for outcome, status in RESOLVED.items()}


def _effective_status(now: datetime, prefix: str = "") -> Case:
    """The claim's effective status as an SQL expression; `prefix` reaches the claim from another model."""
    return Case(
        When(**{f"{prefix}status": ClaimStatus.OPEN, f"{prefix}closes_at__lte": now}, then=Value(ClaimStatus.CLOSED)),
        *[
            When(
                **{
                    f"{prefix}status": ClaimStatus.PROPOSED,
                    f"{prefix}resolution__challenge_deadline__lte": now,
                    f"{prefix}resolution__proposed_outcome": outcome,
                },
                then=Value(status),
            )
            for outcome, status in RESOLVED.items()
        ],
        default=F(f"{prefix}status"),
        output_field=CharField(),
    )


def _status_is(status: str, now: datetime) -> Q:
    """Claims whose effective status is `status`, written so that (status, closes_at) stays usable."""
    proposal_final = Q(status=ClaimStatus.PROPOSED, resolution__challenge_deadline__lte=now)
    if status == ClaimStatus.OPEN:
        return Q(status=ClaimStatus.OPEN, closes_at__gt=now)
    if status == ClaimStatus.CLOSED:
        return Q(status=ClaimStatus.CLOSED) | Q(status=ClaimStatus.OPEN, closes_at__lte=now)
    if status == ClaimStatus.PROPOSED:
        return Q(status=ClaimStatus.PROPOSED, resolution__challenge_deadline__gt=now)
    if status in OUTCOME_OF:
        return Q(status=status) | (proposal_final & Q(resolution__proposed_outcome=OUTCOME_OF[status]))
    return Q(status=status)


def _with_tag(claims: QuerySet[Claim], tag: str) -> QuerySet[Claim]:
    tag = tag.strip().lower()  # claim_create stores tags lower-cased
    if connection.vendor == "postgresql":
        return claims.filter(tags__contains=[tag])  # jsonb @>
    # SQLite has no JSON containment: match the quoted element in the stored JSON text.
    return claims.annotate(tags_text=Cast("tags", TextField())).filter(tags_text__contains=f'"{tag}"')


def _visible(viewer: Identity | None) -> Q:
    """Published claims are public; a claim never published (a draft, or a draft staff voided) is its
    author's alone. Anyone else gets 404 for it, exactly as for an id that does not exist."""
    visible = Q(opens_at__isnull=False)
    if viewer is not None:
        visible |= Q(author=viewer)
    return visible


def domains() -> QuerySet[Domain]:
    return Domain.objects.order_by("slug")


def domain_by_slug(slug: str) -> Domain | None:
    return Domain.objects.filter(slug=slug).first()


def claims_listed(
    *,
    status: str | None = None,
    domain: str | None = None,
    tag: str | None = None,
    search: str = "",
    closing_within: timedelta | None = None,
    author: str | None = None,
    now: datetime | None = None,
) -> QuerySet[Claim]:
    """Published claims, newest first, each with its domain, author and market figures (one query a page).
    A claim moderators hid is unlisted: out of every list and search (this one serves the claim list, its search
    and the REST list), for everyone alike, its author and staff included, so that "unlisted" is one rule a
    person can check; its page stays reachable by its link (`claim_visible`), with the moderators' notice."""
    now = now or timezone.now()
    claims = Claim.objects.filter(_visible(None), hidden_at__isnull=True)
    if status:
        claims = claims.filter(_status_is(status, now))
    if domain:
        claims = claims.filter(domain__slug=domain)
    if tag:
        claims = _with_tag(claims, tag)
    if search.strip():
        claims = claims.filter(title__icontains=search.strip())
    if closing_within is not None:
        claims = claims.filter(_status_is(ClaimStatus.OPEN, now), closes_at__lte=now + closing_within)
    if author:
        claims = claims.filter(author__handle__iexact=author)
    return (
        claims.select_related("domain", "author")
        .annotate(
            effective_status=_effective_status(now),
            price_yes=F("market__price_yes"),
            volume=F("market__volume"),
            trade_count=F("market__trade_count"),
        )
        .order_by("-id")
    )


def _claims_visible(viewer: Identity | None, now: datetime | None) -> QuerySet[Claim]:
    return (
        Claim.objects.filter(_visible(viewer))
        .select_related("domain", "author", "market")
        .annotate(effective_status=_effective_status(now or timezone.now()))
    )


def claim_visible(claim_id: int, viewer: Identity | None, *, now: datetime | None = None) -> Claim | None:
    """One claim with its domain, author and market, if `viewer` may see it."""
    return _claims_visible(viewer, now).filter(pk=claim_id).first()


def drafts_of(author: Identity, *, limit: int) -> list[Claim]:
    """The author's unpublished drafts, newest first, with their domains."""
    drafts = Claim.objects.filter(author=author, status=ClaimStatus.DRAFT).select_related("domain").order_by("-id")
    return list(drafts[:limit])


def claim_or_404(claim_id: int, viewer: Identity | None, *, detail: bool = False) -> Claim:
    """A claim the viewer may see (drafts only to their author), or the 404 every claim operation gives."""
    claim = (claim_detail if detail else claim_visible)(claim_id, viewer)
    if claim is None:
        raise NotFound("No such claim.")
    return claim


def claim_detail(claim_id: int, viewer: Identity | None, *, now: datetime | None = None) -> Claim | None:
    """claim_visible, with the clarifications too (oldest first)."""
    return _claims_visible(viewer, now).filter(pk=claim_id).prefetch_related("clarifications").first()


def _market_of(claim: Claim) -> Market | None:
    return getattr(claim, "market", None)  # a claim never published has none


def market_trades(claim: Claim) -> QuerySet[Trade]:
    """A market's trades, newest first, with the trader (public view: the API omits private fields)."""
    market = _market_of(claim)
    if market is None:
        return Trade.objects.none()
    return Trade.objects.filter(market=market).select_related("identity").order_by("-id")


def market_prices(claim: Claim) -> QuerySet[PricePoint]:
    """A market's price history, oldest first."""
    market = _market_of(claim)
    if market is None:
        return PricePoint.objects.none()
    return PricePoint.objects.filter(market=market).order_by("id")


def trades_of(identity: Identity, *, claim_id: int | None = None) -> QuerySet[Trade]:
    trades = Trade.objects.filter(identity=identity)
    if claim_id is not None:
        trades = trades.filter(market__claim_id=claim_id)
    return trades.select_related("market__claim").order_by("-id")


def positions_of(identity: Identity, *, now: datetime | None = None) -> QuerySet[Position]:
    """The identity's positions, newest first, each with its claim and market, its claim's effective status
    (`claim_status`) and the fees its trades paid (`fees_paid`): one query a page, as position_worth needs."""
    fees = (
        Trade.objects.filter(market=OuterRef("market_id"), identity=OuterRef("identity_id"))
        .order_by()
        .values("market")
        .annotate(total=Sum("fee"))
        .values("total")
    )
    return (
        Position.objects.filter(identity=identity)
        .select_related("market__claim")
        .annotate(
            claim_status=_effective_status(now or timezone.now(), prefix="market__claim__"),
            fees_paid=Coalesce(Subquery(fees), 0),
        )
        .order_by("-id")
    )


def position_in(identity: Identity, claim: Claim) -> Position | None:
    """The identity's position on one claim, read as positions_of reads it (None if it never traded)."""
    return positions_of(identity).filter(market__claim_id=claim.pk).first()


@dataclass(frozen=True)
class Worth:
    """What a position is worth and what it has made, in micro-credits."""

    value: int  # position_value
    fees_paid: int  # every fee its trades paid, buys and sells
    pnl: int  # value - net_invested - fees_paid


def position_worth(position: Position, status: str | None = None) -> Worth:
    """A position's value and its profit or loss: the one computation the claim page, the portfolio and the
    API show. `position` comes from positions_of (it carries `fees_paid`); `status` is the claim's effective
    status, by default the one read with the position.

    Profit counts the fees: net_invested leaves them out (it is what a void refunds), but a fee left the
    wallet as surely as a cost did, so profit is what the wallet would have gained were the position
    cashed at its value: value - net_invested - fees_paid. Fees are never refunded, so a voided position
    loses exactly its fees.
    """
    value = position_value(position, position.claim_status if status is None else status)
    fees = position.fees_paid
    return Worth(value=value, fees_paid=fees, pnl=value - position.net_invested - fees)


def position_side_and_average(position: Position) -> tuple[str | None, Decimal | None]:
    """The one side a position holds and the average price it paid per share, or (None, None) when it holds
    both sides or nothing: a YES and a NO share together are worth one credit whatever happens, so a mixed
    average means nothing."""
    held = position.yes_shares + position.no_shares
    side = Side.YES if position.no_shares == 0 else Side.NO if position.yes_shares == 0 else None
    if not held or side is None:
        return None, None
    return side, Decimal(position.net_invested) / held


def position_value(position: Position, status: str) -> int:
    """What the position is worth now, in micro-credits (rounded down).

    Resolved YES / NO: what settlement pays, one micro-credit per winning micro-share. Voided: the refund
    of its net investment (never negative; settlement may scale refunds down pro rata in the rare case
    that sellers' profits exceeded the subsidy). Otherwise: the shares marked at the market's price.
    """
    if status == ClaimStatus.RESOLVED_YES:
        return position.yes_shares
    if status == ClaimStatus.RESOLVED_NO:
        return position.no_shares
    if status == ClaimStatus.VOIDED:
        return max(position.net_invested, 0)
    price_yes = position.market.price_yes
    value = position.yes_shares * price_yes + position.no_shares * (1 - price_yes)
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def trade_quote(*, identity: Identity, claim: Claim, order: Order, now: datetime | None = None) -> Fill:
    """Price an order as trade_place would fill it now, against the caller's position, writing nothing."""
    market = Market.objects.select_related("claim").filter(claim_id=claim.pk).first()
    if market is None or not market_is_open(market.claim, now):
        raise MarketClosed()
    position = Position.objects.filter(market=market, identity=identity).first()
    return order_price(market=market, order=order, position=position)


def claim_resolution(claim: Claim) -> Resolution | None:
    return Resolution.objects.select_related("proposer", "challenger", "claim").filter(claim=claim).first()


def resolution_state(resolution: Resolution, now: datetime | None = None) -> str:
    """proposed (within its window), disputed (challenged, undecided) or final."""
    if resolution_outcome(resolution, now) is not None:
        return "final"
    return "disputed" if resolution.challenger_id else "proposed"


def resolution_outcome(resolution: Resolution, now: datetime | None = None) -> str | None:
    """The final outcome, if there is one (see Resolution.outcome_at)."""
    return resolution.outcome_at(now or timezone.now())


def settlement_summary(claim: Claim, market: Market) -> dict | None:
    """What a settled claim paid out, from its settlement transfer (one query): the credits paid to
    holders, how many were paid, the author's residual, the rounding dust, and when; None before."""
    line = (
        Entry.objects.filter(transfer__idempotency_key=f"settle:{claim.pk}", account_id=market.escrow_id)
        .select_related("transfer")
        .first()
    )
    if line is None:
        return None
    meta = line.transfer.metadata or {}
    residual, dust = meta.get("residual", 0), meta.get("dust", 0)
    return {
        "paid": -line.amount - residual - dust,
        "payees": meta.get("payees", 0),
        "residual": residual,
        "dust": dust,
        "at": line.transfer.created_at,
    }
