"""Writes of the markets app: claims and trades. Locks are taken in one order everywhere: the market
row first, then (inside ledger_transfer) the ledger accounts by id."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core import events, metrics
from apps.core.amounts import CREDIT
from apps.core.audit import audit_record, audit_unchanged, audited, staff_require
from apps.core.context import request_id
from apps.core.errors import DateConflict, NotFound, PermissionDenied, ValidationFailed
from apps.core.services import event_emit, events_emit, moderation_reason
from apps.identities.errors import IdentitySuspended
from apps.identities.models import Identity, IdentityStatus
from apps.identities.services import identity_require_active
from apps.ledger.errors import AccountInDebt, IdempotencyConflict, WalletFrozen
from apps.ledger.models import Account, AccountKind
from apps.ledger.services import PLATFORM_FEES, ledger_transfer, system_account, wallet_for
from apps.markets import hooks, lmsr
from apps.markets.checkpoints import PublishPaused, TradePaused, as_datetime, publish_checkpoint, trade_checkpoint
from apps.markets.errors import IllegalTransition, MarketClosed, TooManyOpenClaims
from apps.markets.models import Claim, ClaimStatus, Clarification, Domain, Market, Position, PricePoint, Side, Trade
from apps.markets.pricing import Order, implied_belief, market_is_open, order_price
from apps.reviews.models import ReviewRequest

TITLE_MAX, CRITERIA_MAX, TAG_MAX, TAGS_MAX = 200, 10_000, 40, 10
# The fields of claim_problems whose rules depend on the clock or on each other (DateConflict).
DATE_FIELDS = ("closes_at", "resolve_by")
# A title is the question traders answer YES or NO: "AI?" or "Rain" names none (a two-character title was
# accepted). Ten characters is the shortest real question ("Rain by 5?"); the criteria say the rest.
TITLE_MIN = 10


def _clean_text(value: str, field: str, max_length: int, required: bool = True) -> str:
    value = (value or "").strip()
    if (required and not value) or len(value) > max_length:
        raise ValidationFailed(f"{field} must be 1-{max_length} characters.", detail={"field": field})
    return value


@dataclass(frozen=True)
class ClaimProblem:
    """One rule a claim being posted breaks: the field it is about, a stable code, the API's message."""

    field: str
    code: str
    message: str


def claim_problems(
    *,
    title: str | None = None,
    criteria: str | None = None,
    closes_at: datetime | None = None,
    resolve_by: datetime | None = None,
    liquidity: int | None = None,
    tags: list[str] | None = None,
    challenge_window: timedelta | None = None,
    now: datetime | None = None,
) -> list[ClaimProblem]:
    """Every rule of a new claim, checked without writing anything: claim_create refuses the first problem
    and the post-a-claim form shows them all as the person types. A value not given (None) is not checked,
    so a half-filled form can be checked field by field."""
    now = now or timezone.now()
    problems: list[ClaimProblem] = []

    def text(value: str | None, field: str, max_length: int, min_length: int = 1) -> None:
        if value is not None and not min_length <= len(value.strip()) <= max_length:
            message = f"{field} must be {min_length}-{max_length} characters."
            problems.append(ClaimProblem(field, f"{field}_length", message))

    text(title, "title", TITLE_MAX, TITLE_MIN)
    text(criteria, "criteria", CRITERIA_MAX)
    if closes_at is not None:
        horizon = timedelta(days=settings.CREDENCE_MAX_CLAIM_HORIZON_DAYS)
        if closes_at <= now:
            problems.append(ClaimProblem("closes_at", "closes_at_past", "closes_at must be in the future."))
        elif closes_at > now + horizon:
            problems.append(
                ClaimProblem("closes_at", "closes_at_horizon", f"closes_at may be at most {horizon.days} days ahead.")
            )
    if closes_at is not None and resolve_by is not None and resolve_by < closes_at:
        problems.append(ClaimProblem("resolve_by", "resolve_before_close", "resolve_by must not be before closes_at."))
    if liquidity is not None:
        low, high = liquidity_bounds()
        if type(liquidity) is not int or not low <= liquidity <= high:
            problems.append(
                ClaimProblem(
                    "liquidity", "liquidity_bounds", f"liquidity must be between {low} and {high} micro-credits."
                )
            )
    if challenge_window is not None:
        low_w = timedelta(hours=settings.CREDENCE_CHALLENGE_WINDOW_MIN_HOURS)
        high_w = timedelta(hours=settings.CREDENCE_CHALLENGE_WINDOW_MAX_HOURS)
        if not low_w <= challenge_window <= high_w:
            problems.append(
                ClaimProblem("challenge_window", "challenge_window_bounds", "challenge_window is out of bounds.")
            )
    if tags is not None:
        cleaned = claim_tags(tags)
        if any(not 1 <= len(tag) <= TAG_MAX for tag in cleaned):
            problems.append(ClaimProblem("tags", "tag_length", f"tags must be 1-{TAG_MAX} characters."))
        elif len(cleaned) > TAGS_MAX:
            problems.append(ClaimProblem("tags", "tags_count", f"At most {TAGS_MAX} tags."))
    return problems


def claim_tags(tags: list[str]) -> list[str]:
    """Tags as a claim stores them: stripped, lower-cased, distinct, sorted."""
    return sorted({tag.strip().lower() for tag in tags})


def liquidity_bounds() -> tuple[int, int]:
    """The liquidity b a new market may have, micro-credits (settings CREDENCE_LIQUIDITY_MIN/MAX_CREDITS)."""
    return settings.CREDENCE_LIQUIDITY_MIN_CREDITS * CREDIT, settings.CREDENCE_LIQUIDITY_MAX_CREDITS * CREDIT


@transaction.atomic
def claim_create(
    *,
    author: Identity,
    title: str,
    criteria: str,
    domain: Domain,
    closes_at: datetime,
    resolve_by: datetime,
    liquidity: int,
    tags: list[str] | None = None,
    challenge_window: timedelta | None = None,
    publish: bool = False,
) -> Claim:
    """A draft claim; nothing is charged until it is published. With publish=True it is published in
    the same transaction, so a refused publication (too little credit) leaves no draft behind."""
    identity_require_active(author)
    window = challenge_window or timedelta(hours=settings.CREDENCE_CHALLENGE_WINDOW_HOURS)
    problems = claim_problems(
        title=title or "",
        criteria=criteria or "",
        closes_at=closes_at,
        resolve_by=resolve_by,
        liquidity=liquidity,
        tags=tags or [],
        challenge_window=window,
    )
    if problems:
        first = next((problem for problem in problems if problem.field not in DATE_FIELDS), problems[0])
        # The schema states every rule but the dates (JSON Schema cannot compare with the clock or with
        # another field): those are a conflict with the present, the others a request it refuses.
        refusal = DateConflict if first.field in DATE_FIELDS else ValidationFailed
        raise refusal(first.message, detail={"field": first.field})
    tags = claim_tags(tags or [])
    claim = Claim.objects.create(
        author=author,
        title=title.strip(),
        criteria=criteria.strip(),
        domain=domain,
        tags=tags,
        closes_at=closes_at,
        resolve_by=resolve_by,
        liquidity=liquidity,
        challenge_window=window,
    )
    claim.paused = None  # a publication a review holds (below)
    if publish:
        published = claim_publish(claim=claim, actor=author)
        claim.refresh_from_db()
        claim.paused = published if isinstance(published, PublishPaused) else None
    return claim


@transaction.atomic
def claim_publish(*, claim: Claim, actor: Identity, reviewed: ReviewRequest | None = None) -> Market | PublishPaused:
    """Open a draft for trading. The author pays the LMSR subsidy ceil(b ln 2) into the market's
    escrow (posting costs credit: spam has a price); with too little credit nothing is created."""
    # Lock the author's identity row: concurrent publications cannot both pass the open-claims limit.
    # FOR NO KEY UPDATE, as every lock here (no key changes): a trade by the author holds their wallet and
    # its inserts take KEY SHARE on this row, which FOR UPDATE would wait for while the trade waits for the
    # wallet this publication locks next: a deadlock.
    author = Identity.objects.select_for_update(no_key=True).get(pk=claim.author_id)
    claim = Claim.objects.select_for_update(no_key=True).get(pk=claim.pk)
    if actor.pk != author.pk:
        raise PermissionDenied("Only the author may publish a claim.")
    identity_require_active(author)  # and the author's owner, for an agent
    if claim.status != ClaimStatus.DRAFT:
        raise IllegalTransition(f"A {claim.get_status_display().lower()} claim cannot be published.")
    now = timezone.now()
    if claim.closes_at <= now:
        raise MarketClosed("The claim's closing time has passed.", detail={"field": "closes_at"})
    limit = settings.CREDENCE_MAX_OPEN_CLAIMS
    if Claim.objects.filter(author=author, status=ClaimStatus.OPEN, closes_at__gt=now).count() >= limit:
        raise TooManyOpenClaims(detail={"limit": limit})
    subsidy = lmsr.initial_subsidy(claim.liquidity)
    if reviewed is None:  # a policy may hold a publication for review (markets/checkpoints.py)
        paused = publish_checkpoint(claim=claim, author=author, subsidy=subsidy)
        if paused is not None:
            return paused
    escrow = Account.objects.create(kind=AccountKind.MARKET_ESCROW, code=f"market:{claim.pk}:escrow")
    ledger_transfer(
        lines=[(wallet_for(author), -subsidy), (escrow, subsidy)],
        kind="market_subsidy",
        idempotency_key=f"market-subsidy:{claim.pk}",
        memo=f"Subsidy for claim #{claim.pk}",
    )
    market = Market.objects.create(claim=claim, escrow=escrow, liquidity=claim.liquidity, subsidy=subsidy)
    claim.status = ClaimStatus.OPEN
    claim.opens_at = now
    claim.save(update_fields=["status", "opens_at", "updated_at"])
    PricePoint.objects.create(market=market, price_yes=Decimal("0.5"))
    event_emit(
        kind=events.CLAIM_OPENED.name,
        subject=f"claim:{claim.pk}",
        actor_identity_id=author.pk,
        payload={"subsidy": subsidy},
    )
    return market


@transaction.atomic
def claim_clarify(*, claim: Claim, actor: Identity, text: str) -> Clarification:
    """Append a clarification to an open claim's criteria (the author only; the criteria never change)."""
    claim = Claim.objects.select_for_update(no_key=True).get(pk=claim.pk)
    if actor.pk != claim.author_id:
        raise PermissionDenied("Only the author may clarify a claim.")
    if not market_is_open(claim):
        raise IllegalTransition("Only an open claim can be clarified.")
    clarification = Clarification.objects.create(claim=claim, text=_clean_text(text, "text", 2000))
    event_emit(
        kind=events.CLAIM_CLARIFIED.name,
        subject=f"claim:{claim.pk}",
        actor_identity_id=actor.pk,
        payload={"clarification": clarification.pk},
    )
    return clarification


@audited
def claim_moderate_edit(*, claim: Claim, moderator: User, title: str, criteria: str, reason: str) -> Claim:
    """A moderator rewrites a claim's title or criteria (a misleading title, a criterion nobody can check), only
    while nobody has traded on it: after a trade the words people staked on are fixed, and a moderator adds a
    clarification instead (claim_clarify_as_moderator). The old words are on the audit trail."""
    staff_require(moderator, what="edit a claim")
    reason = moderation_reason(reason)
    claim = Claim.objects.select_for_update(no_key=True).get(pk=claim.pk)
    traded = Market.objects.filter(claim=claim, trade_count__gt=0).exists()
    if traded:
        raise IllegalTransition(
            "This claim has trades: its words are fixed. Add a clarification instead.", code="claim_has_trades"
        )
    if claim.status in (ClaimStatus.RESOLVED_YES, ClaimStatus.RESOLVED_NO, ClaimStatus.VOIDED):
        raise IllegalTransition("A resolved or voided claim cannot be edited.")
    problems = claim_problems(title=title, criteria=criteria)
    if problems:
        raise ValidationFailed(problems[0].message, detail={"field": problems[0].field}, code=problems[0].code)
    title, criteria = title.strip(), criteria.strip()
    before = {"title": claim.title, "criteria": claim.criteria}
    if before == {"title": title, "criteria": criteria}:
        audit_unchanged()
        return claim
    claim.title, claim.criteria = title, criteria
    claim.save(update_fields=["title", "criteria", "updated_at"])
    audit_record(
        actor=moderator, action="claim.edit", obj=claim, before=before, after={"title": title, "criteria": criteria},
        reason=reason,
    )  # fmt: skip
    event_emit(kind=events.CLAIM_EDITED.name, subject=f"claim:{claim.pk}", payload={"fields": ["criteria", "title"]})
    return claim


@audited
def claim_clarify_as_moderator(*, claim: Claim, moderator: User, text: str, reason: str) -> Clarification:
    """A moderator appends a clarification to an open claim (after trades, the only way its words change),
    marked as the moderators' on the page."""
    staff_require(moderator, what="clarify a claim")
    reason = moderation_reason(reason)
    claim = Claim.objects.select_for_update(no_key=True).get(pk=claim.pk)
    if not market_is_open(claim):
        raise IllegalTransition("Only an open claim can be clarified.")
    clarification = Clarification.objects.create(
        claim=claim, text=_clean_text(text, "text", 2000), added_by_moderator=moderator
    )
    event_emit(
        kind=events.CLAIM_CLARIFIED.name, subject=f"claim:{claim.pk}", payload={"clarification": clarification.pk}
    )
    audit_record(
        actor=moderator, action="claim.clarify", obj=claim, before={}, after={"clarification": clarification.pk,
        "text": clarification.text}, reason=reason,
    )  # fmt: skip
    return clarification


# A trade is eleven statements, written out in SQL for the same reason as ledger_transfer's: this is the
# stake API's hot path, and through the ORM (a model per row read, create() and save() per write, one
# INSERT per event) the Python around the statements cost twice the statements themselves
# (docs/performance.md, "Staking"). Plain SQL that SQLite >= 3.35 accepts too; only the backend's lock
# clause is formatted in, never a value.
#
# The market row and its claim first, locked: under that lock trades on this market are serial, so the
# position and LMSR state read next cannot change before this transaction ends. (The position is read
# by its own statement after the lock: joined here, Read Committed would hand back the version from
# before the wait.)
_LOCK_MARKET = (
    "SELECT m.id, m.q_yes, m.q_no, m.liquidity, m.escrow_id, m.volume, m.trade_count, c.status, c.closes_at, "
    "m.subsidy, c.title "
    "FROM markets_market m JOIN markets_claim c ON c.id = m.claim_id WHERE m.claim_id = %s {lock}"
)
# Everything else the order needs, in one round trip: a trade already placed with this key, the trader's
# position, wallet and the fees account (None where a row does not exist yet), what its party owes (the debt
# of the person: the trader's own, or its owner's for an agent), and whether the trader and, for an agent, its
# owner are active now (not as the caller's copy of the identity says: a suspension made since it was read
# stops the order).
_TRADE_CONTEXT = (
    "SELECT t.id, t.body_sha256, t.market_id, p.yes_shares, p.no_shares, p.net_invested, w.id, f.id, "
    "d.balance, w.frozen_at IS NOT NULL, i.status, h.status "
    "FROM (SELECT 1 AS one) AS o "
    "JOIN identities_identity i ON i.id = %s "
    "LEFT JOIN identities_identity h ON h.user_id = i.owner_id "
    "LEFT JOIN ledger_account d ON d.kind = 'debt' AND d.identity_id = COALESCE(h.id, i.id) "
    "LEFT JOIN markets_trade t ON t.identity_id = %s AND t.idempotency_key = %s "
    "LEFT JOIN markets_position p ON p.market_id = %s AND p.identity_id = %s "
    "LEFT JOIN ledger_account w ON w.kind = 'wallet' AND w.identity_id = %s "
    "LEFT JOIN ledger_account f ON f.code = %s"
)
_UPDATE_MARKET = (
    "UPDATE markets_market SET q_yes = %s, q_no = %s, volume = %s, trade_count = %s, price_yes = %s, "
    "updated_at = %s WHERE id = %s"
)
_UPSERT_POSITION = (
    "INSERT INTO markets_position (market_id, identity_id, yes_shares, no_shares, net_invested, last_belief, "
    "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (market_id, identity_id) DO UPDATE SET "
    "yes_shares = excluded.yes_shares, no_shares = excluded.no_shares, net_invested = excluded.net_invested, "
    "last_belief = excluded.last_belief, updated_at = excluded.updated_at"
)
_INSERT_TRADE = (
    "INSERT INTO markets_trade (market_id, identity_id, side, shares, cost, fee, price_before, price_after, "
    "belief, rationale, idempotency_key, body_sha256, transfer_id, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
_INSERT_PRICE_POINT = (
    "INSERT INTO markets_pricepoint (market_id, price_yes, trade_id, created_at) VALUES (%s, %s, %s, %s)"
)
# PostgreSQL takes the five writes as one statement (the trade's id flows to the price point and the
# event through the CTE); the event's payload gets the id set in SQL.
_PG_WRITE_TRADE = (
    f"WITH market AS ({_UPDATE_MARKET}), "  # noqa: S608 (the constant statements above, no value)
    f"position AS ({_UPSERT_POSITION}), "
    f"trade AS ({_INSERT_TRADE}), "
    "point AS (INSERT INTO markets_pricepoint (market_id, price_yes, trade_id, created_at) "
    "SELECT %s, %s, trade.id, %s FROM trade), "
    "events AS (INSERT INTO core_event (kind, subject, actor_identity_id, payload, created_at, request_id) "
    "SELECT %s, %s, %s, jsonb_set(%s::jsonb, '{trade}', to_jsonb(trade.id)), %s, %s FROM trade "
    "UNION ALL SELECT %s, %s, NULL, %s::jsonb, %s, %s) "
    "SELECT id FROM trade"
)


@transaction.atomic
def trade_place(
    *, identity: Identity, claim: Claim | int, order: Order, idempotency_key: str, reviewed: ReviewRequest | None = None
) -> Trade | TradePaused:
    """Place an order on a claim (or a claim id: the API passes the id and lets this read it once).
    A retry with the same key returns the first trade (`.replayed = True`); the same key with a
    different order is IdempotencyConflict. Refused orders write nothing. A claim that does not exist,
    or is someone else's unpublished draft, is NotFound. A new trade carries `.balance`, the trader's
    wallet balance after it. An order a review checkpoint catches is not placed: it pauses
    (TradePaused, apps/markets/checkpoints.py) and its review's continuation places it (`reviewed`)."""
    if not idempotency_key or len(idempotency_key) > 120:
        raise ValidationFailed("An idempotency key of 1-120 characters is required.", code="idempotency_key_required")
    claim_id = claim if isinstance(claim, int) else claim.pk
    if reviewed is None:
        paused = trade_checkpoint(identity=identity, claim_id=claim_id, order=order, idempotency_key=idempotency_key)
        if paused is not None:
            return paused
    body = order.body_sha256(claim_id)
    now = timezone.now()
    lock = connection.ops.for_update_sql(no_key=True) if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_MARKET.format(lock=lock), [claim_id])
        row = cursor.fetchone()
        if row is None and not Claim.objects.filter(pk=claim_id, author=identity).exists():
            raise NotFound("No such claim.")  # only published claims have a market; drafts are the author's
        market_id = row[0] if row else None
        me = identity.pk
        cursor.execute(_TRADE_CONTEXT, [me, me, idempotency_key, market_id, me, me, PLATFORM_FEES])
        (
            existing_id,
            existing_body,
            existing_market,
            yes_held,
            no_held,
            invested,
            wallet_id,
            fees_id,
            debt,
            frozen,
            *statuses,
        ) = cursor.fetchone()
    if existing_id is not None:  # read under the market lock, so a concurrent duplicate sees the first commit
        if existing_body != body or existing_market != market_id:
            raise IdempotencyConflict(detail={"idempotency_key": idempotency_key})
        existing = Trade.objects.select_related("market__claim").get(pk=existing_id)
        existing.replayed = True
        return existing
    if any(status not in (None, IdentityStatus.ACTIVE) for status in statuses):  # the trader's, its owner's
        raise IdentitySuspended()
    if frozen:  # a frozen wallet neither buys nor sells (the ledger refuses its debits; a sale is refused here)
        raise WalletFrozen()
    if row is None:
        raise MarketClosed()
    _, q_yes, q_no, liquidity, escrow_id, volume, trade_count, status, closes_at, subsidy, title = row
    market = Market(id=market_id, claim_id=claim_id, q_yes=q_yes, q_no=q_no, liquidity=liquidity, escrow_id=escrow_id)
    market.claim = Claim(id=claim_id, title=title, status=status, closes_at=as_datetime(closes_at))
    if not market_is_open(market.claim, now):
        raise MarketClosed()
    held = yes_held is not None
    position = Position(market=market, identity=identity, yes_shares=yes_held or 0, no_shares=no_held or 0)
    fill = order_price(market=market, order=order, position=position if held else None)

    if debt and fill.cost > 0:  # in debt: selling (which raises credit to settle it) is all that is allowed
        raise AccountInDebt(detail={"owed": -debt})
    wallet = wallet_id or wallet_for(identity).pk
    fees = fees_id or system_account(PLATFORM_FEES).pk
    if fill.cost > 0:
        lines = [(wallet, -(fill.cost + fill.fee)), (escrow_id, fill.cost), (fees, fill.fee)]
    else:
        lines = [(escrow_id, fill.cost), (wallet, -fill.cost - fill.fee), (fees, fill.fee)]
    transfer = ledger_transfer(
        lines=[line for line in lines if line[1]],
        kind="trade",
        idempotency_key=f"trade:{identity.pk}:{idempotency_key}",
        memo=f"{'Buy' if fill.shares > 0 else 'Sell'} {fill.side.upper()} on claim #{claim_id}",
        savepoint=False,  # a refusal ends this whole trade: this function's own atomic rolls it back
    )

    delta = fill.shares
    if fill.side == Side.YES:
        market.q_yes, position.yes_shares = q_yes + delta, position.yes_shares + delta
    else:
        market.q_no, position.no_shares = q_no + delta, position.no_shares + delta
    market.volume, market.trade_count = volume + abs(fill.cost), trade_count + 1
    market.subsidy, market.price_yes, market.updated_at = subsidy, fill.price_after, now
    position.net_invested = (invested or 0) + fill.cost
    trade = Trade(
        market=market,
        identity=identity,
        side=fill.side,
        shares=fill.shares,
        cost=fill.cost,
        fee=fill.fee,
        price_before=fill.price_before,
        price_after=fill.price_after,
        belief=order.belief,
        rationale=order.rationale[:2000],
        idempotency_key=idempotency_key,
        body_sha256=body,
        transfer=transfer,
        created_at=now,
    )
    trade._state.adding, trade._state.db = False, connection.alias
    subject, price = f"claim:{claim_id}", str(market.price_yes)
    placed = {"trade": None, "side": fill.side, "shares": fill.shares, "price_yes": price}
    at = connection.ops.adapt_datetimefield_value(now)
    market_values = [market.q_yes, market.q_no, market.volume, market.trade_count, market.price_yes, at, market_id]
    position.last_belief = implied_belief(order.belief, fill.price_after)
    position_values = [market_id, identity.pk, position.yes_shares, position.no_shares, position.net_invested]
    position_values += [position.last_belief, at]
    trade_values = [
        market_id, identity.pk, trade.side, trade.shares, trade.cost, trade.fee, trade.price_before,
        trade.price_after, trade.belief, trade.rationale, idempotency_key, body, transfer.pk, at,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: every write of the trade in one round trip, inside the locks.
            request = request_id() or ""
            event_values = [events.TRADE_PLACED.name, subject, identity.pk, json.dumps(placed), at, request]
            event_values += [events.MARKET_PRICE_CHANGED.name, subject, json.dumps({"price_yes": price}), at, request]
            cursor.execute(
                _PG_WRITE_TRADE,
                [*market_values, *position_values, *trade_values, market_id, market.price_yes, at, *event_values],
            )
            trade.id = cursor.fetchone()[0]
            return _placed(trade, transfer.balances_after[wallet])
        cursor.execute(_UPDATE_MARKET, market_values)
        cursor.execute(_UPSERT_POSITION, position_values)
        cursor.execute(_INSERT_TRADE, trade_values)
        trade.id = cursor.fetchone()[0]
        cursor.execute(_INSERT_PRICE_POINT, [market_id, market.price_yes, trade.id, at])
    placed["trade"] = trade.id
    events_emit(
        [
            (events.TRADE_PLACED.name, subject, identity.pk, placed),
            (events.MARKET_PRICE_CHANGED.name, subject, None, {"price_yes": price}),
        ],
        at=now,
    )
    return _placed(trade, transfer.balances_after[wallet])


def trade_place_joined(**order) -> Trade | TradePaused:
    """trade_place inside the caller's transaction, without a savepoint of its own (two round trips fewer): for
    a caller that lets any refusal roll its whole transaction back, as a hosted agent's order does
    (apps/agents/services.py run_order). Outside a transaction it is trade_place."""
    if not transaction.get_connection().in_atomic_block:
        return trade_place(**order)
    return trade_place.__wrapped__(**order)


def _placed(trade: Trade, balance: int) -> Trade:
    trade.replayed, trade.balance = False, balance
    transaction.on_commit(partial(hooks.notify_trade_committed, trade.market.claim_id))
    metrics.count_on_commit(metrics.TRADES, side=trade.side)
    return trade
