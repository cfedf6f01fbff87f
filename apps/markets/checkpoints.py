"""Where markets pause for a person (apps/reviews): an order (`trade.place`), a dispute (`resolution.dispute`),
a claim's publication (`claim.publish`), and how each goes on.

An order pauses when a current `trade.place` policy fires for it, or when its trader is a supervised agent and
the order may spend more than the threshold its owner set (every order when none is set): then its owner
reviews it. The paused order holds what it may spend (its amount) in the request's escrow; the continuation
gives that back and places the order, as approved or as edited, with the trader's own idempotency key, so a
retry of the first call returns the trade. The continuation re-checks the world: a market that closed, a
price past the order's limit, or a suspended trader ends the request with the refusal recorded.
"""

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import VerificationLevel
from apps.core.errors import ApplicationError
from apps.identities.models import AutonomyLevel, Identity, IdentityKind
from apps.ledger.errors import IdempotencyConflict
from apps.markets.models import Claim, Market, Position
from apps.markets.pricing import Order, market_is_open, order_price
from apps.reviews import checkpoints
from apps.reviews import services as reviews
from apps.reviews.models import Decision, Pool, RequestState, ReviewRequest, TimeoutAction

TRADE = "trade.place"
TRADE_CONTINUATION = "markets.trade"
PROBABILITY = r"^0?\.[0-9]{1,6}$"

TRADE_VARIABLES = {
    "actor": {"kind": "string", "handle": "string", "autonomy_level": "string", "age_days": "int"},
    "order": {
        "kind": "string",
        "side": "string",
        "amount": "int",
        "shares": "int",
        "belief": "double",
        "limit_price": "double",
    },
    "claim": {"id": "int", "domain": "string", "title": "string", "tags": "list(string)"},
}


@dataclass
class TradePaused:
    """An order waiting for a person: `review` is the request (GET /api/v1/reviews/{id} follows it)."""

    review: ReviewRequest
    replayed: bool = False


def _holders(request: ReviewRequest) -> set[int]:
    """Everyone with shares in the claim, as the people answerable for them (a person stands for their agents)."""
    claim_id = request.payload.get("claim")
    rows = (
        Position.objects.filter(market__claim_id=claim_id)
        .filter(Q(yes_shares__gt=0) | Q(no_shares__gt=0))
        .values_list("identity__user_id", "identity__owner_id")
    )
    return {user or owner for user, owner in rows}


def _order_payload(order: Order) -> dict:
    return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in order.__dict__.items()}


def _order_from(payload: dict) -> Order:
    values = dict(payload)
    for name in ("belief", "limit_price"):
        if values.get(name) is not None:
            values[name] = Decimal(values[name])
    return Order(**values)


def _spend(order: Order) -> int:
    """The most an order may take from the wallet: a buy's or a belief order's amount; a sale takes nothing."""
    return order.amount or 0 if order.kind in ("buy", "belief") else 0


def _edit_schema(order: Order) -> dict:
    """What the owner may change: spend less, or set a limit (never spend more than was held)."""
    properties = {"limit_price": {"type": ["string", "null"], "pattern": PROBABILITY}}
    if _spend(order):
        properties["amount"] = {"type": "integer", "minimum": 1, "maximum": _spend(order)}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _activation(identity: Identity, claim: Claim, order: Order) -> dict:
    age = (timezone.now() - identity.created_at).days
    return {
        "actor": {
            "kind": identity.kind,
            "handle": identity.handle,
            "autonomy_level": identity.autonomy_level or "",
            "age_days": max(age, 0),
        },
        "order": {
            "kind": order.kind,
            "side": order.side or "",
            "amount": order.amount or 0,
            "shares": order.shares or 0,
            "belief": float(order.belief) if order.belief is not None else 0.0,
            "limit_price": float(order.limit_price) if order.limit_price is not None else 0.0,
        },
        "claim": {"id": claim.pk, "domain": claim.domain_slug, "title": claim.title, "tags": list(claim.tags)},
    }


def _supervised(identity: Identity, order: Order) -> bool:
    if identity.kind != IdentityKind.AGENT or identity.autonomy_level != AutonomyLevel.SUPERVISED:
        return False
    return identity.review_orders_above is None or _spend(order) > identity.review_orders_above


# The checkpoint's one read, in SQL: the ORM took longer to build this query (select_related, two
# subqueries) than PostgreSQL took to answer it, and it runs before every order while a policy is current.
_CHECKPOINT_READ = (
    "SELECT c.id, c.title, c.tags, c.status, c.closes_at, d.slug, m.id, m.q_yes, m.q_no, m.liquidity, m.price_yes, "
    "EXISTS (SELECT 1 FROM markets_trade t WHERE t.identity_id = %s AND t.idempotency_key = %s), "
    "(SELECT r.id FROM reviews_reviewrequest r WHERE r.requester_id = %s AND r.idempotency_key = %s) "
    "FROM markets_claim c JOIN markets_domain d ON d.id = c.domain_id "
    "LEFT JOIN markets_market m ON m.claim_id = c.id WHERE c.id = %s"
)


def as_datetime(value) -> datetime:
    """A timestamp as a raw cursor returns it: aware (PostgreSQL), or naive UTC (SQLite)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if settings.USE_TZ and value.tzinfo is None else value


# What a policy's condition reads of a claim (title, tags, domain), kept per process as long as the policies
# themselves (CREDENCE_REVIEW_POLICY_CACHE_SECONDS), so screening an order costs no query.
_facts_cache: dict[int, tuple[float, tuple | None]] = {}
FACTS_KEPT = 10_000


def _claim_facts(claim_id: int) -> tuple | None:
    now = time.monotonic()
    cached = _facts_cache.get(claim_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    row = Claim.objects.filter(pk=claim_id).values_list("title", "tags", "domain__slug").first()
    if len(_facts_cache) >= FACTS_KEPT:
        _facts_cache.clear()
    _facts_cache[claim_id] = (now + settings.CREDENCE_REVIEW_POLICY_CACHE_SECONDS, row)
    return row


def facts_forget() -> None:
    _facts_cache.clear()


def trade_checkpoint(*, identity: Identity, claim_id: int, order: Order, idempotency_key: str) -> TradePaused | None:
    """Pause the order for review when a policy or its trader's supervision says so; None to trade now.
    With no current policy and a trader who is not supervised this reads nothing."""
    policies = reviews.current_policies(TRADE)
    supervised = _supervised(identity, order)
    if not policies and not supervised:
        return None
    if not supervised:
        # Screen first with the claim's facts, kept for a few seconds: an order no policy catches then reads
        # nothing. (A retry of an order paused under a policy retired since is then placed: retiring a policy
        # stops reviewing what it caught.)
        facts = _claim_facts(claim_id)
        if facts is None:
            return None  # no such claim: the order's own path answers 404
        probe = Claim(id=claim_id, title=facts[0], tags=facts[1])
        probe.domain_slug = facts[2]
        activation = _activation(identity, probe, order)
        if reviews.checkpoint_check(checkpoint=TRADE, activation=activation, subject=f"claim:{claim_id}") is None:
            return None
    key = f"trade:{idempotency_key}"
    with connection.cursor() as cursor:
        cursor.execute(_CHECKPOINT_READ, [identity.pk, idempotency_key, identity.pk, key, claim_id])
        row = cursor.fetchone()
    if row is None:
        return None  # no such claim: the order's own path answers 404
    claim_pk, title, tags, status, closes_at, domain, market_id, q_yes, q_no, liquidity, price, traded, paused_on = row
    if traded:
        return None  # a retry of a placed order: the trade's own path answers it (and checks the body)
    if paused_on is not None:  # a retry of a paused order: its review answers, however it ended
        existing = ReviewRequest.objects.get(pk=paused_on)
        if existing.payload["claim"] != claim_id or existing.payload["order"] != _order_payload(order):
            raise IdempotencyConflict(detail={"idempotency_key": idempotency_key})
        return TradePaused(review=existing, replayed=True)
    claim = Claim(
        id=claim_pk,
        title=title,
        tags=json.loads(tags) if isinstance(tags, str) else tags,
        status=status,
        closes_at=as_datetime(closes_at),
    )
    claim.domain_slug = domain
    if market_id is None or not market_is_open(claim):
        return None  # the order's own path refuses it (a draft, closed) exactly as without a review
    market = Market(id=market_id, claim=claim, q_yes=q_yes, q_no=q_no, liquidity=liquidity, price_yes=Decimal(price))
    fired = reviews.checkpoint_check(
        checkpoint=TRADE, activation=_activation(identity, claim, order), subject=f"claim:{claim.pk}"
    )
    if fired is None and not _supervised(identity, order):
        return None
    if order.kind != "sell":
        order_price(market=market, order=order)  # an order that could never trade is refused now, not paused
    payload = {
        "claim": claim.pk,
        "claim_title": claim.title,
        "order": _order_payload(order),
        "idempotency_key": idempotency_key,
        "price_yes": format(market.price_yes, "f"),
    }
    values = _request(identity, payload, key)
    if fired is not None:
        values.update(policy=fired.policy, why=fired.why)
        values.pop("pool"), values.pop("reviewers_required"), values.pop("agreement"), values.pop("timeout_seconds")
        values.pop("on_timeout"), values.pop("price")
    return TradePaused(review=reviews.review_request_open(**values))


def _request(identity: Identity, payload: dict, key: str) -> dict:
    """The request an order pauses on when its trader's owner supervises it (a policy overrides who and how)."""
    order = _order_from(payload["order"])
    return {
        "checkpoint": TRADE,
        "requester": identity,
        "subject": f"claim:{payload['claim']}",
        "payload": payload,
        "idempotency_key": key,
        "continuation": TRADE_CONTINUATION,
        "why": {"supervised": True, "review_orders_above": identity.review_orders_above},
        "decisions": [Decision.APPROVE, Decision.EDIT, Decision.REJECT],
        "edit_schema": _edit_schema(order),
        "pool": Pool.OWNER,
        "reviewers_required": 1,
        "agreement": "first",
        "timeout_seconds": settings.CREDENCE_REVIEW_TRADE_TIMEOUT_SECONDS,
        "on_timeout": TimeoutAction.REJECT,
        "price": 0,
        "held": _spend(order),
    }


@checkpoints.continuation(TRADE_CONTINUATION)
def trade_resume(request: ReviewRequest) -> dict:
    """Place the order as approved or edited; anything else places nothing (what it held is already back)."""
    from apps.markets.services import trade_place  # services import this module's checkpoint

    if request.state not in (RequestState.APPROVED, RequestState.EDITED):
        return {"traded": False, "state": request.state}
    values = dict(request.payload["order"])
    if request.state == RequestState.EDITED:
        values.update(request.outcome.get("value") or {})
    order = _order_from(values)
    try:
        trade = trade_place(
            identity=request.requester,
            claim=request.payload["claim"],
            order=order,
            idempotency_key=request.payload["idempotency_key"],
            reviewed=request,
        )
    except ApplicationError as exc:
        return {"traded": False, "refused": exc.code, "message": exc.message}
    return {"traded": True, "trade": trade.pk, "shares": trade.shares, "cost": trade.cost, "fee": trade.fee}


checkpoints.register(
    checkpoints.Checkpoint(name=TRADE, label="An order", variables=TRADE_VARIABLES, conflicted_users=_holders)
)


# --- Disputes --------------------------------------------------------------------------------------------------

DISPUTE = "resolution.dispute"
DISPUTE_CONTINUATION = "markets.dispute"
OUTCOMES = {
    "type": "string",
    "enum": ["yes", "no", "void"],
    "title": "The outcome the criteria and the evidence support",
}

DISPUTE_VARIABLES = {
    "claim": {"id": "int", "domain": "string", "title": "string", "tags": "list(string)", "volume": "int"},
    "bond": "int",
}


def _dispute_parties(request: ReviewRequest) -> set[int]:
    """Who may not sit on a dispute's panel: the author's, the proposer's and the challenger's people, and
    everyone holding shares in the claim."""
    from apps.markets.models import Resolution

    claim_id = request.payload.get("claim")
    people = set(_holders(request))
    rows = Resolution.objects.filter(claim_id=claim_id).values_list(
        "claim__author__user_id",
        "claim__author__owner_id",
        "proposer__user_id",
        "proposer__owner_id",
        "challenger__user_id",
        "challenger__owner_id",
    )
    for row in rows:
        people |= set(row)
    return people - {None}


def dispute_checkpoint(*, claim: Claim, resolution, challenger: Identity) -> ReviewRequest | None:
    """Open the dispute's review when a current `resolution.dispute` policy fires (the default sends every dispute
    to a panel); None leaves it to staff in the admin, as before reviews existed."""
    activation = {
        "claim": {
            "id": claim.pk,
            "domain": claim.domain.slug,
            "title": claim.title,
            "tags": list(claim.tags),
            "volume": claim.market.volume,
        },
        "bond": resolution.bond,
    }
    fired = reviews.checkpoint_check(checkpoint=DISPUTE, activation=activation, subject=f"claim:{claim.pk}")
    if fired is None:
        return None
    return reviews.review_request_open(
        checkpoint=DISPUTE,
        requester=challenger,
        subject=f"claim:{claim.pk}",
        payload={
            "claim": claim.pk,
            "claim_title": claim.title,
            "criteria": claim.criteria,
            "proposed_outcome": resolution.proposed_outcome,
            "proposal_evidence": resolution.evidence,
            "challenge_evidence": resolution.challenge_evidence,
            "bond": resolution.bond,
        },
        idempotency_key=f"dispute:{claim.pk}",
        continuation=DISPUTE_CONTINUATION,
        policy=fired.policy,
        why=fired.why,
        question="Which outcome do the claim's criteria and the evidence support?",
        decisions=[Decision.ANSWER],
        answer_schema=OUTCOMES,
        pool_scope=f"domain:{claim.domain.slug}",
        price=0,  # the panel is paid from the loser's bond, not by the challenger
    )


@checkpoints.continuation(DISPUTE_CONTINUATION)
def dispute_resume(request: ReviewRequest) -> dict:
    """Record the panel's answer (it stands after the overrule window: `dispute_review_finalize`), or resolve
    the claim at once as staff answered after an escalation, paying the deciders from the loser's bond.
    Anything else (withdrawn because staff decided in the admin, a timeout) resolves nothing."""
    from apps.markets.resolution import dispute_decide_by_review

    if request.state != RequestState.ANSWERED:
        return {"resolved": False, "state": request.state}
    outcome = request.outcome["value"]
    resolution = dispute_decide_by_review(claim_id=request.payload["claim"], outcome=outcome, review=request)
    if resolution.finalized_at is not None:
        return {"resolved": True, "outcome": outcome}
    return {"resolved": False, "outcome": outcome, "stands_at": resolution.overrule_deadline.isoformat()}


def _domain_exists(scope: str) -> bool:
    from apps.markets.models import Domain

    return scope.startswith("domain:") and Domain.objects.filter(slug=scope.removeprefix("domain:")).exists()


checkpoints.register(
    checkpoints.Checkpoint(
        name=DISPUTE,
        label="A disputed resolution",
        variables=DISPUTE_VARIABLES,
        conflicted_users=_dispute_parties,
        # Whoever sits on a dispute's panel decides who keeps a bond: only verified people, whatever a policy
        # says, so a swarm of cheap accounts cannot fill the panel (proposing and challenging need it too).
        min_reviewer_level=VerificationLevel.VERIFIED_HUMAN,
    )
)
checkpoints.SCOPES.append(_domain_exists)


# --- Publishing a claim --------------------------------------------------------------------------------------

PUBLISH = "claim.publish"
PUBLISH_CONTINUATION = "markets.publish"
PUBLISH_VARIABLES = {
    "actor": {
        "kind": "string",
        "handle": "string",
        "age_days": "int",
        "claims_opened": "int",  # claims of theirs that opened before
        "settled_claims": "int",  # settled claims they held a position in: a track record to judge them by
    },
    "claim": {"id": "int", "domain": "string", "title": "string", "tags": "list(string)", "liquidity": "int"},
}


@dataclass
class PublishPaused:
    """A claim whose publication waits for a reviewer: it stays a draft, its subsidy held, until then."""

    review: ReviewRequest
    replayed: bool = False


def publish_checkpoint(*, claim: Claim, author: Identity, subsidy: int) -> PublishPaused | None:
    """Hold the claim's publication for review when a current `claim.publish` policy fires (e.g. a new author's
    claims, or one without a track record); None to publish now. With no current policy this reads nothing."""
    if not reviews.current_policies(PUBLISH):
        return None
    earlier = ReviewRequest.objects.filter(checkpoint=PUBLISH, requester=author, subject=f"claim:{claim.pk}")
    waiting = earlier.filter(resumed_at__isnull=True).first()
    if waiting is not None:
        return PublishPaused(review=waiting, replayed=True)
    activation = {
        "actor": {
            "kind": author.kind,
            "handle": author.handle,
            "age_days": max((timezone.now() - author.created_at).days, 0),
            "claims_opened": Claim.objects.filter(author=author, opens_at__isnull=False).count(),
            "settled_claims": Position.objects.filter(identity=author, market__claim__settled_at__isnull=False).count(),
        },
        "claim": {
            "id": claim.pk,
            "domain": claim.domain.slug,
            "title": claim.title,
            "tags": list(claim.tags),
            "liquidity": claim.liquidity,
        },
    }
    fired = reviews.checkpoint_check(checkpoint=PUBLISH, activation=activation, subject=f"claim:{claim.pk}")
    if fired is None:
        return None
    review = reviews.review_request_open(
        checkpoint=PUBLISH,
        requester=author,
        subject=f"claim:{claim.pk}",
        payload={
            "claim": claim.pk,
            "claim_title": claim.title,
            "criteria": claim.criteria,
            "domain": claim.domain.slug,
            "tags": list(claim.tags),
            "closes_at": claim.closes_at.isoformat(),
            "liquidity": claim.liquidity,
            "subsidy": subsidy,
        },
        idempotency_key=f"publish:{claim.pk}:{earlier.count() + 1}",
        continuation=PUBLISH_CONTINUATION,
        policy=fired.policy,
        why=fired.why,
        pool_scope=f"domain:{claim.domain.slug}",
        held=subsidy,
    )
    return PublishPaused(review=review)


@checkpoints.continuation(PUBLISH_CONTINUATION)
def publish_resume(request: ReviewRequest) -> dict:
    """Publish the claim as approved (its subsidy, held until now, pays for the market); anything else leaves it a
    draft, the subsidy back with its author, who may edit it and publish again."""
    from apps.markets.services import claim_publish

    if request.state not in (RequestState.APPROVED, RequestState.EDITED):
        return {"published": False, "state": request.state}
    claim = Claim.objects.get(pk=request.payload["claim"])
    try:
        market = claim_publish(claim=claim, actor=request.requester, reviewed=request)
    except ApplicationError as exc:
        return {"published": False, "refused": exc.code, "message": exc.message}
    return {"published": True, "market": market.pk}


checkpoints.register(checkpoints.Checkpoint(name=PUBLISH, label="A claim to publish", variables=PUBLISH_VARIABLES))
