"""Claims and trading over REST.

Probabilities (prices, beliefs, limits) travel as decimal strings, exact to the 1e-20 the market
stores ("0.52496747830188386163"); requests send them as JSON numbers or as strings matching the schema's
pattern ("0.62"; never ".62", "6.2e-1" or other digits). Amounts and shares are integers of micro-credits
and micro-shares, sent as JSON integers (apps/core/api_types.py: no coercion anywhere).
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Body, Field, Query, Schema, Status
from pydantic import AfterValidator, AwareDatetime

from apps.core.api import AUTH_ERRORS, BODY_ERRORS, Page, errors, keyset_page, require_idempotency_key
from apps.core.api_types import (
    IDEMPOTENT,
    NO_NUL,
    NOT_BLANK,
    ApiRouter,
    Belief,
    Bool,
    DecimalStr,
    DomainSlug,
    Handle,
    IdempotencyKeyHeader,
    Input,
    Int,
    PageQuery,
    ParamInt,
    Probability,
    not_blank,
    param_int,
)
from apps.core.errors import DateConflict, NotFound
from apps.identities.auth import caller_identity, key_or_session, reader
from apps.ledger.selectors import wallet_balance
from apps.ledger.services import MAX_AMOUNT
from apps.markets import resolution, selectors, services
from apps.markets.checkpoints import PublishPaused, TradePaused
from apps.markets.models import Claim, Clarification, Position
from apps.markets.pricing import Order

router = ApiRouter(tags=["claims and trading"])


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # A well-formed date-time past year 9999 in UTC: beyond any horizon, like any too distant date.
        raise DateConflict("The date is past the year 9999 in UTC.") from None


Moment = Annotated[AwareDatetime, AfterValidator(_utc)]
Tag = Annotated[str, Field(min_length=1, max_length=40, pattern=NOT_BLANK)]
ListedStatus = Literal["open", "closed", "proposed", "disputed", "resolved_yes", "resolved_no", "voided"]
STATUS_HELP = (
    "Effective status: an open claim whose closes_at has passed is 'closed', and a proposal whose "
    "challenge window has passed unchallenged is resolved, before the periodic tasks record it."
)

CONSENSUS_HELP = (
    "The reputation-weighted consensus probability of YES, beside the market price (explained at "
    "GET /claims/{id}/consensus); null while nobody has stated a belief or traded."
)


def _consensus_of(claim: Claim) -> Decimal | None:
    # The reverse one-to-one from apps.reputation (joined by the list's query; read for a single claim).
    consensus = getattr(claim, "consensus", None)
    return consensus.probability if consensus is not None else None


# --- Schemas ------------------------------------------------------------------------------------------


class DomainOut(Schema):
    slug: DomainSlug
    name: str
    description: str


class ClarificationOut(Schema):
    id: int
    text: str = Field(description="Empty while moderators hide it (hidden is true; hidden_reason says why).")
    by_moderators: bool = Field(description="Added by moderators rather than the author.")
    hidden: bool
    hidden_reason: str
    created_at: datetime

    @staticmethod
    def resolve_text(clarification: Clarification) -> str:
        return "" if clarification.is_hidden else clarification.text

    @staticmethod
    def resolve_by_moderators(clarification: Clarification) -> bool:
        return clarification.added_by_moderator_id is not None

    @staticmethod
    def resolve_hidden(clarification: Clarification) -> bool:
        return clarification.is_hidden


class MarketOut(Schema):
    price_yes: DecimalStr
    price_no: DecimalStr
    q_yes: int = Field(description="Outstanding YES micro-shares.")
    q_no: int = Field(description="Outstanding NO micro-shares.")
    liquidity: int = Field(description="LMSR b, micro-credits.")
    volume: int = Field(description="Sum of |cost| of every trade, micro-credits.")
    subsidy: int = Field(description="ceil(b ln 2) micro-credits, paid in by the author at publication.")
    trade_count: int

    @staticmethod
    def resolve_price_no(market) -> Decimal:
        return 1 - market.price_yes


class ClaimListOut(Schema):
    id: int
    title: str
    status: str = Field(alias="effective_status", description=STATUS_HELP)
    domain: DomainSlug = Field(alias="domain.slug")
    tags: list[str]
    author: Handle = Field(alias="author.handle")
    closes_at: datetime
    resolve_by: datetime
    price_yes: DecimalStr
    volume: int = Field(description="Sum of |cost| of every trade, micro-credits.")
    liquidity: int = Field(description="LMSR b, micro-credits.")
    trade_count: int
    consensus: DecimalStr | None = Field(description=CONSENSUS_HELP)

    @staticmethod
    def resolve_consensus(claim: Claim) -> Decimal | None:
        return _consensus_of(claim)


class ClaimPage(Page):
    items: list[ClaimListOut]


class ClaimOut(Schema):
    id: int
    title: str
    criteria: str = Field(description="Binding resolution criteria; never edited.")
    clarifications: list[ClarificationOut] = Field(description="The author's clarifications, oldest first.")
    status: str = Field(alias="effective_status", description=STATUS_HELP)
    domain: DomainSlug = Field(alias="domain.slug")
    tags: list[str]
    author: Handle = Field(alias="author.handle")
    created_at: datetime
    opens_at: datetime | None
    closes_at: datetime
    resolve_by: datetime
    challenge_window_hours: int
    market: MarketOut | None = Field(description="null until the claim is published.")
    consensus: DecimalStr | None = Field(description=CONSENSUS_HELP)
    unlisted: bool = Field(
        description="Moderators unlisted it (out of lists and search; its positions and market go on)."
    )
    unlisted_reason: str = Field(alias="hidden_reason")

    @staticmethod
    def resolve_unlisted(claim: Claim) -> bool:
        return claim.is_hidden

    @staticmethod
    def resolve_consensus(claim: Claim) -> Decimal | None:
        return _consensus_of(claim)

    @staticmethod
    def resolve_clarifications(claim: Claim) -> list:
        return list(claim.clarifications.all())

    @staticmethod
    def resolve_challenge_window_hours(claim: Claim) -> int:
        return int(claim.challenge_window.total_seconds() // 3600)

    @staticmethod
    def resolve_market(claim: Claim):
        return getattr(claim, "market", None)


def _bounds(low: Callable[[], int], high: Callable[[], int]) -> Callable[[dict], None]:
    """The schema's minimum and maximum of a field whose bounds are settings, read when the schema is
    written (the service checks them, naming the field)."""

    def extra(schema: dict) -> None:
        # Inside `X | None` pydantic writes a validated type's bounds as the unknown keywords ge/le.
        for keyword in ("ge", "le"):
            schema.pop(keyword, None)
        schema.update(minimum=low(), maximum=high())

    return extra


class ClaimIn(Input):
    # The patterns say what claim_problems checks on the stripped text: at least TITLE_MIN characters.
    title: str = Field(
        min_length=services.TITLE_MIN,
        max_length=services.TITLE_MAX,
        pattern=not_blank(services.TITLE_MIN),
        examples=["Will the replication succeed?"],
    )
    criteria: str = Field(
        min_length=1, max_length=10_000, pattern=NOT_BLANK, description="Binding resolution criteria."
    )
    domain: DomainSlug
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    closes_at: Moment = Field(description="Trading ends; with a time zone.")
    resolve_by: Moment = Field(description="Not before closes_at.")
    liquidity: Int = Field(
        gt=0,
        le=MAX_AMOUNT,
        description="LMSR b in micro-credits; publishing costs ceil(b ln 2). Within the settings "
        "CREDENCE_LIQUIDITY_MIN_CREDITS and _MAX_CREDITS (10-10,000 credits by default).",
        examples=[100_000_000],
        json_schema_extra=_bounds(lambda: services.liquidity_bounds()[0], lambda: services.liquidity_bounds()[1]),
    )
    # The bounds inside the Annotated: on the field, pydantic wrote them into the non-null branch as the
    # unknown keywords `ge`/`le` (see api_types.param_int).
    challenge_window_hours: (
        Annotated[
            Int,
            Field(
                ge=1,
                le=10_000,
                json_schema_extra=_bounds(
                    lambda: settings.CREDENCE_CHALLENGE_WINDOW_MIN_HOURS,
                    lambda: settings.CREDENCE_CHALLENGE_WINDOW_MAX_HOURS,
                ),
            ),
        ]
        | None
    ) = Field(
        None, description="Default 24; within CREDENCE_CHALLENGE_WINDOW_MIN_HOURS and _MAX_HOURS (1-168 by default)."
    )
    publish: Bool = Field(True, description="Publish at once (paying the subsidy); false keeps a draft.")


class ClarificationIn(Input):
    text: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


class ClaimFilter(PageQuery):
    status: ListedStatus | None = Field(None, description=STATUS_HELP)
    domain: DomainSlug | None = None
    tag: str | None = Field(None, max_length=40, pattern=NO_NUL)
    q: str = Field("", max_length=100, pattern=NO_NUL, description="Part of the title.")
    closing_soon: param_int(ge=1, le=8760) | None = Field(
        None, description="Open claims closing within this many hours."
    )
    author: Handle | None = Field(None, description="The author's handle.")


class MyTradesQuery(PageQuery):
    claim_id: ParamInt | None = Field(None, description="Only trades on this claim.")


class PricePointOut(Schema):
    id: int
    price_yes: DecimalStr
    trade_id: int | None = Field(description="The trade that set this price; null for the opening price.")
    created_at: datetime


class PricePage(Page):
    """Oldest first: `next_cursor` (or the id of the last point you hold) reads on from there."""

    items: list[PricePointOut]


class PublicTradeOut(Schema):
    id: int
    trader: Handle = Field(alias="identity.handle")
    side: str
    shares: int = Field(description="+ bought, - sold (micro-shares).")
    cost: int = Field(description="+ paid into the market, - received (micro-credits, fee excluded).")
    price_before: DecimalStr
    price_after: DecimalStr
    created_at: datetime


class PublicTradePage(Page):
    items: list[PublicTradeOut]


class MyTradeOut(Schema):
    id: int
    claim_id: int = Field(alias="market.claim_id")
    claim_title: str = Field(alias="market.claim.title")
    side: str
    shares: int = Field(description="+ bought, - sold (micro-shares).")
    cost: int = Field(description="+ paid into the market, - received (micro-credits, fee excluded).")
    fee: int = Field(description="The platform's fee, micro-credits.")
    price_before: DecimalStr
    price_after: DecimalStr
    belief: DecimalStr | None
    rationale: str
    idempotency_key: str
    transfer_id: int
    created_at: datetime


class MyTradePage(Page):
    items: list[MyTradeOut]


class TradeOut(MyTradeOut):
    replayed: bool = Field(description="True when this answers a retry with the same Idempotency-Key.")
    market: MarketOut = Field(description="The market now (after this trade, or as it stands at a replay).")
    balance: int = Field(description="Your wallet balance now, micro-credits.")


class _OrderBase(Input):
    belief: Belief | None = Field(None, description="Your probability of YES, if you want to state it.")
    rationale: str = Field("", max_length=2000, pattern=NO_NUL, description="Why; private to you.")


class _Limited(Input):
    limit_price: Probability | None = Field(
        None, description="The price of `side` not to cross: a buy stops below it, a sell above it."
    )
    allow_partial: Bool = Field(False, description="Fill up to the limit instead of refusing the whole order.")


class BuyIn(_Limited, _OrderBase):
    kind: Literal["buy"]
    side: Literal["yes", "no"]
    amount: Int = Field(gt=0, le=MAX_AMOUNT, description="Micro-credits to spend, fee included.")


class BeliefOrderIn(_OrderBase):
    """Trade toward your probability: buys the side the market underprices until its price reaches
    `belief` or `amount` is spent."""

    kind: Literal["belief"]
    belief: Belief = Field(description="Your probability of YES.")
    amount: Int = Field(gt=0, le=MAX_AMOUNT, description="The most to spend, fee included (micro-credits).")


class SellIn(_Limited, _OrderBase):
    kind: Literal["sell"]
    side: Literal["yes", "no"]
    shares: Int = Field(gt=0, le=MAX_AMOUNT, description="Micro-shares to sell back to the market.")


OrderIn = Annotated[BuyIn | BeliefOrderIn | SellIn, Field(discriminator="kind")]


class QuoteOut(Schema):
    side: str
    shares: int = Field(description="+ bought, - sold (micro-shares).")
    cost: int = Field(description="+ paid into the market, - received (micro-credits, fee excluded).")
    fee: int = Field(description="The platform's fee, micro-credits.")
    wallet_change: int = Field(description="What your wallet would change by: -(cost + fee), micro-credits.")
    price_before: DecimalStr
    price_after: DecimalStr

    @staticmethod
    def resolve_wallet_change(fill) -> int:
        return -(fill.cost + fill.fee)


class PositionOut(Schema):
    claim_id: int = Field(alias="market.claim_id")
    claim_title: str = Field(alias="market.claim.title")
    claim_status: str = Field(description=STATUS_HELP)
    yes_shares: int = Field(description="Micro-shares of YES held.")
    no_shares: int = Field(description="Micro-shares of NO held.")
    net_invested: int = Field(description="Micro-credits paid in minus micro-credits received, fees excluded.")
    price_yes: DecimalStr = Field(alias="market.price_yes")
    value: int = Field(
        description="Micro-credits: the shares at the market price; for a resolved claim what settlement "
        "pays (1 per winning share); for a voided one the refund of net_invested."
    )
    fees_paid: int = Field(description="Micro-credits: every fee this position's trades paid, buys and sells.")
    pnl: int = Field(
        description="Micro-credits: profit (+) or loss (-), fees counted: value - net_invested - fees_paid. "
        "The claim page and the portfolio show the same figure."
    )
    updated_at: datetime

    @staticmethod
    def resolve_value(position: Position) -> int:
        return selectors.position_worth(position).value

    @staticmethod
    def resolve_pnl(position: Position) -> int:
        return selectors.position_worth(position).pnl


class PositionPage(Page):
    items: list[PositionOut]


# --- Helpers ------------------------------------------------------------------------------------------


def _order(payload: BuyIn | BeliefOrderIn | SellIn) -> Order:
    return Order(**payload.model_dump())


# --- Claims -------------------------------------------------------------------------------------------


@router.get("/domains", response={200: list[DomainOut], **errors(401, 403, 429)}, auth=None, summary="Subject areas")
def domains_list(request: HttpRequest):
    reader(request)  # sent credentials are checked, as on every public read
    return list(selectors.domains())


@router.get("/claims", response={200: ClaimPage, **errors(401, 403, 422, 429)}, auth=None, summary="Published claims")
def claims_list(request: HttpRequest, filters: Query[ClaimFilter]):
    reader(request)  # nothing here depends on who asks, but sent credentials are still checked
    claims = selectors.claims_listed(
        status=filters.status,
        domain=filters.domain,
        tag=filters.tag,
        search=filters.q,
        closing_within=timedelta(hours=filters.closing_soon) if filters.closing_soon else None,
        author=filters.author,
    )
    # The consensus (apps.reputation) rides in the page's one query.
    rows, next_cursor = keyset_page(claims.select_related("consensus"), cursor=filters.cursor, limit=filters.limit)
    return {"items": rows, "next_cursor": next_cursor}


class PublicationPausedOut(Schema):
    claim_id: int = Field(description="The claim: a draft until its review approves it.")
    review_id: int = Field(description="The review its publication waits for: GET /api/v1/reviews/{review_id}.")
    state: str = Field(description="The review's state.")
    due_at: datetime = Field(description="When the review times out (the claim then stays a draft).")
    held: int = Field(description="Micro-credits (the subsidy) held from your wallet until it is decided.")
    replayed: bool = Field(description="True when the publication already waited for this review.")


def _publication_paused(response: HttpResponse, paused: PublishPaused) -> Status:
    review = paused.review
    response["Location"] = f"/api/v1/reviews/{review.pk}"
    body = {
        "claim_id": review.payload["claim"],
        "review_id": review.pk,
        "state": review.state,
        "due_at": review.due_at,
        "held": review.held,
        "replayed": paused.replayed,
    }
    return Status(202, body)


@router.post(
    "/claims",
    response={201: ClaimOut, 202: PublicationPausedOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=key_or_session("trade"),
    summary="Propose a claim (and publish it; 202 when a review policy holds its publication for a reviewer)",
)
def claims_create(request: HttpRequest, response: HttpResponse, payload: ClaimIn):
    author = caller_identity(request.auth)
    domain = selectors.domain_by_slug(payload.domain)
    if domain is None:  # domains are rows (GET /domains): a missing one is not the request's shape
        raise NotFound("No such domain.", detail={"field": "domain"})
    hours = payload.challenge_window_hours
    claim = services.claim_create(
        author=author,
        title=payload.title,
        criteria=payload.criteria,
        domain=domain,
        tags=payload.tags,
        closes_at=payload.closes_at,
        resolve_by=payload.resolve_by,
        liquidity=payload.liquidity,
        challenge_window=timedelta(hours=hours) if hours else None,
        publish=payload.publish,
    )
    if claim.paused is not None:
        return _publication_paused(response, claim.paused)
    return Status(201, selectors.claim_or_404(claim.pk, author, detail=True))


@router.get(
    "/claims/{claim_id}",
    response={200: ClaimOut, **errors(401, 403, 404, 422, 429)},
    auth=None,
    summary="A claim, its criteria and its market",
)
def claims_detail(request: HttpRequest, claim_id: ParamInt):
    return selectors.claim_or_404(claim_id, reader(request), detail=True)


@router.post(
    "/claims/{claim_id}/publish",
    response={200: ClaimOut, 202: PublicationPausedOut, **errors(*AUTH_ERRORS, 404, 409, 422)},
    auth=key_or_session("trade"),
    summary="Publish my draft (pays the subsidy; 202 when a review policy holds it for a reviewer first)",
)
def claims_publish(request: HttpRequest, response: HttpResponse, claim_id: ParamInt):
    author = caller_identity(request.auth)
    published = services.claim_publish(claim=selectors.claim_or_404(claim_id, author), actor=author)
    if isinstance(published, PublishPaused):
        return _publication_paused(response, published)
    return selectors.claim_or_404(claim_id, author, detail=True)


@router.post(
    "/claims/{claim_id}/clarifications",
    response={201: ClarificationOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=key_or_session("trade"),
    summary="Clarify my open claim (append-only)",
)
def claims_clarify(request: HttpRequest, claim_id: ParamInt, payload: ClarificationIn):
    author = caller_identity(request.auth)
    return Status(
        201, services.claim_clarify(claim=selectors.claim_or_404(claim_id, author), actor=author, text=payload.text)
    )


@router.get(
    "/claims/{claim_id}/prices",
    response={200: PricePage, **errors(401, 403, 404, 422, 429)},
    auth=None,
    summary="A market's price history, oldest first",
)
def claims_prices(request: HttpRequest, claim_id: ParamInt, page: Query[PageQuery]):
    claim = selectors.claim_or_404(claim_id, reader(request))
    rows, next_cursor = keyset_page(
        selectors.market_prices(claim), cursor=page.cursor, limit=page.limit, ascending=True
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.get(
    "/claims/{claim_id}/trades",
    response={200: PublicTradePage, **errors(401, 403, 404, 422, 429)},
    auth=None,
    summary="A market's trades, newest first",
)
def claims_trades(request: HttpRequest, claim_id: ParamInt, page: Query[PageQuery]):
    claim = selectors.claim_or_404(claim_id, reader(request))
    rows, next_cursor = keyset_page(selectors.market_trades(claim), cursor=page.cursor, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}


# --- Trading ------------------------------------------------------------------------------------------


@router.post(
    "/claims/{claim_id}/quote",
    response={200: QuoteOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=key_or_session("read"),
    summary="Price an order without placing it",
)
def trades_quote(request: HttpRequest, claim_id: ParamInt, payload: Body[OrderIn]):
    identity = caller_identity(request.auth)
    return selectors.trade_quote(
        identity=identity, claim=selectors.claim_or_404(claim_id, identity), order=_order(payload)
    )


class TradePausedOut(Schema):
    review_id: int = Field(description="The review the order waits for: GET /api/v1/reviews/{review_id}.")
    state: str = Field(description="The review's state.")
    due_at: datetime = Field(description="When the review times out (the order is then not placed).")
    held: int = Field(description="Micro-credits the order holds from your wallet until it is decided.")
    replayed: bool = Field(description="True when this answers a retry with the same Idempotency-Key.")


@router.post(
    "/claims/{claim_id}/trades",
    response={201: TradeOut, 200: TradeOut, 202: TradePausedOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=key_or_session("trade"),
    summary="Place an order (201; a retry with the same Idempotency-Key answers 200 with the first trade; 202 when "
    "the order waits for a person's review: a supervised agent's, or one a review policy catches)",
    openapi_extra=IDEMPOTENT,
)
def trades_create(
    request: HttpRequest,
    response: HttpResponse,
    claim_id: ParamInt,
    payload: Body[OrderIn],
    idempotency_key: IdempotencyKeyHeader = None,
):
    identity = caller_identity(request.auth)
    key = require_idempotency_key(idempotency_key)
    # trade_place reads and locks the claim itself (and answers 404 for one the caller may not see):
    # reading it here first would cost a fifth of the request.
    trade = services.trade_place(identity=identity, claim=claim_id, order=_order(payload), idempotency_key=key)
    if isinstance(trade, TradePaused):
        review = trade.review
        response["Location"] = f"/api/v1/reviews/{review.pk}"
        return Status(
            202,
            {
                "review_id": review.pk,
                "state": review.state,
                "due_at": review.due_at,
                "held": review.held,
                "replayed": trade.replayed,
            },
        )
    if trade.replayed:  # a new trade knows the balance it left
        trade.balance = wallet_balance(identity)
    return Status(200 if trade.replayed else 201, trade)


@router.get(
    "/me/positions",
    response={200: PositionPage, **errors(*AUTH_ERRORS, 422)},
    auth=key_or_session("read"),
    summary="My positions",
)
def my_positions(request: HttpRequest, page: Query[PageQuery]):
    positions = selectors.positions_of(caller_identity(request.auth))
    rows, next_cursor = keyset_page(positions, cursor=page.cursor, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.get(
    "/me/trades",
    response={200: MyTradePage, **errors(*AUTH_ERRORS, 422)},
    auth=key_or_session("read"),
    summary="My trades, newest first",
)
def my_trades(request: HttpRequest, page: Query[MyTradesQuery]):
    trades = selectors.trades_of(caller_identity(request.auth), claim_id=page.claim_id)
    rows, next_cursor = keyset_page(trades, cursor=page.cursor, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}


# --- Resolution ---------------------------------------------------------------------------------------


class ProposalIn(Input):
    outcome: Literal["yes", "no", "void"]
    evidence: str = Field(
        min_length=1,
        max_length=5000,
        pattern=NOT_BLANK,
        examples=["The agency's bulletin of 3 March ranks it first."],
    )


class ChallengeIn(Input):
    evidence: str = Field(min_length=1, max_length=5000, pattern=NOT_BLANK)


class ResolutionOut(Schema):
    claim_id: int
    state: Literal["proposed", "disputed", "final"]
    proposed_outcome: str
    proposer_handle: Handle = Field(alias="proposer.handle")
    evidence: str
    bond: int = Field(description="Micro-credits posted by the proposer (and, if challenged, by the challenger).")
    proposed_at: datetime
    challenge_deadline: datetime
    challenger_handle: str | None
    challenge_evidence: str
    challenged_at: datetime | None
    outcome: str | None = Field(
        description="The final outcome, once there is one (an unchallenged proposal past "
        "its window is final even before the sweep records it)."
    )
    decision_reason: str
    review_id: int | None = Field(description="The review that answered the dispute, if any.")
    review_outcome: str | None = Field(
        description="The review's answer. A panel's becomes the outcome at `stands_at` unless staff overrule it."
    )
    stands_at: datetime | None = Field(alias="overrule_deadline")

    @staticmethod
    def resolve_review_outcome(resolution) -> str | None:
        return resolution.review_outcome or None

    @staticmethod
    def resolve_challenger_handle(resolution) -> str | None:
        return resolution.challenger.handle if resolution.challenger_id else None

    @staticmethod
    def resolve_state(resolution) -> str:
        return selectors.resolution_state(resolution)

    @staticmethod
    def resolve_outcome(resolution) -> str | None:
        return selectors.resolution_outcome(resolution)


def _resolution(claim: Claim):
    resolution = selectors.claim_resolution(claim)
    if resolution is None:
        raise NotFound("No resolution has been proposed for this claim.")
    return resolution


@router.get(
    "/claims/{claim_id}/resolution",
    response={200: ResolutionOut, **errors(401, 403, 404, 422, 429)},
    auth=None,
    summary="The resolution of a claim: proposal, challenge, decision",
)
def resolution_status(request: HttpRequest, claim_id: ParamInt):
    return _resolution(selectors.claim_or_404(claim_id, reader(request)))


@router.post(
    "/claims/{claim_id}/resolution",
    response={201: ResolutionOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=key_or_session("propose"),
    summary="Propose the outcome of a closed claim, posting the bond",
)
def resolution_create(request: HttpRequest, claim_id: ParamInt, payload: ProposalIn):
    identity = caller_identity(request.auth)
    claim = selectors.claim_or_404(claim_id, identity)
    resolution.resolution_propose(claim=claim, proposer=identity, outcome=payload.outcome, evidence=payload.evidence)
    return Status(201, _resolution(claim))


@router.post(
    "/claims/{claim_id}/resolution/challenge",
    response={200: ResolutionOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=key_or_session("propose"),
    summary="Challenge a proposal within its window, posting an equal bond",
)
def resolution_challenge_create(request: HttpRequest, claim_id: ParamInt, payload: ChallengeIn):
    identity = caller_identity(request.auth)
    claim = selectors.claim_or_404(claim_id, identity)
    resolution.resolution_challenge(claim=claim, challenger=identity, evidence=payload.evidence)
    return _resolution(claim)
