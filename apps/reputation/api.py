"""Beliefs, consensus and track records over REST.

Probabilities (beliefs, the consensus, prices) travel as decimal strings, as in apps/markets/api.py:
beliefs and the consensus to the 1e-6 they are stored at. Scores, weights, log-odds and pulls are JSON
numbers: they are measurements, never compared with a limit or summed into money.
"""

from datetime import datetime
from typing import Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Path, Query, Schema, Status

from apps.core.api import AUTH_ERRORS, BODY_ERRORS, Page, errors, keyset_page, require_idempotency_key
from apps.core.api_types import (
    HANDLE,
    IDEMPOTENT,
    NO_NUL,
    ApiRouter,
    Belief,
    DecimalStr,
    DomainSlug,
    Handle,
    IdempotencyKeyHeader,
    Input,
    Limit,
    PageQuery,
    ParamInt,
    cursor_position,
    cursor_type,
    param_int,
)
from apps.core.errors import NotFound
from apps.identities import selectors as identity_selectors
from apps.identities.auth import caller_identity, key_or_session, reader
from apps.identities.models import IdentityKind
from apps.markets import selectors as market_selectors
from apps.markets.models import Claim, Domain
from apps.markets.selectors import claim_or_404
from apps.reputation import selectors, services

router = ApiRouter(tags=["reputation"])

# --- Schemas ------------------------------------------------------------------------------------------


class BeliefIn(Input):
    probability: Belief = Field(description="Your probability of YES: strictly between 0 and 1, at most 6 decimals.")
    rationale: str = Field(
        "", max_length=2000, pattern=NO_NUL, description="Why; public, shown with your belief on the claim page."
    )


class BeliefOut(Schema):
    id: int
    claim_id: int
    claim_title: str = Field(alias="claim.title")
    probability: DecimalStr
    rationale: str
    rationale_hidden: bool = Field(
        alias="is_hidden", description="Moderators hid the rationale from others (rationale_hidden_reason says why)."
    )
    rationale_hidden_reason: str = Field(alias="hidden_reason")
    market_price: DecimalStr = Field(description="The market price when you stated it: what a score measures against.")
    idempotency_key: str
    created_at: datetime


class BeliefPage(Page):
    items: list[BeliefOut]


class ConsensusNowOut(Schema):
    """The claim's stored consensus: recomputed with every belief, and shortly after every trade."""

    probability: DecimalStr | None = Field(description="null while no contributor carries weight.")
    contributors: int
    owners: int = Field(description="Owners behind the contributors (a person and their agents: one).")
    humans: int
    agents: int
    updated_at: datetime


class BeliefStatedOut(BeliefOut):
    replayed: bool = Field(description="True when this answers a retry with the same Idempotency-Key.")
    consensus: ConsensusNowOut | None = Field(description="The claim's consensus now.")


class MyBeliefsQuery(PageQuery):
    claim_id: ParamInt | None = Field(None, description="Only beliefs on this claim.")


class ConsensusQuery(Schema):
    top: param_int(ge=1, le=100) = Field(10, description="How many contributors to explain, heaviest first.")


class GroupOut(Schema):
    count: int
    weight: float = Field(description="Their share of the consensus's total weight (0-1).")


class ContributorOut(Schema):
    handle: Handle
    kind: str
    owner: Handle | None = Field(description="For an agent: its owner's handle.")
    belief: DecimalStr = Field(description="Their latest probability of YES.")
    source: Literal["belief", "trade"] = Field(description="A stated belief, or the belief of their latest trade.")
    at: datetime
    weight: float = Field(description="Share of the consensus's weight, after the independence cap (all sum to 1).")
    raw_weight: float = Field(description="Weight from their reliability in the claim's domain alone.")
    calibration: float = Field(
        description="Their owner's calibration factor in the claim's domain: the consensus reads their belief as "
        "sigmoid(calibration * logit(belief)); below 1 for a record that was surer than it was right."
    )
    read_as: DecimalStr = Field(description="Their belief as the consensus reads it, through the calibration factor.")
    counted_with: list[Handle] = Field(
        description="Handles of the other owners on this claim whose forecasts keep coinciding with this "
        "contributor's owner's (docs/reputation.md, 'Copies across owners'): they are capped together as one "
        "source. Usually empty."
    )
    pull: float = Field(description="The consensus minus the consensus without them.")
    capped_unverified: bool = Field(
        description="True when their weight was cut because their owner (the person, or an agent's owner) is not a "
        "verified human: such a voice counts at CREDENCE_UNVERIFIED_WEIGHT_FACTOR (0.25 by default) of what its "
        "record earns, since unverified accounts are cheap to make many of (docs/architecture.md, 'What "
        "verification unlocks')."
    )
    forecasts_in_domain: int = Field(
        description="Their resolved forecasts in the claim's domain: the record their weight was earned by "
        "(docs/reputation.md: how closely their forecasts tracked the other independent sources, faded if "
        "they kept losing to the market). 0 for a newcomer, who weighs a newcomer's weight."
    )
    beat_market_in_domain: int = Field(
        description="Of those, the forecasts that added information over the market price they stood against."
    )


class ConsensusOut(Schema):
    claim_id: int
    probability: DecimalStr | None = Field(description="null without contributors.")
    pooled_logit: float | None = Field(description="Weighted mean of recalibrated log-odds, before extremizing.")
    alpha: float = Field(description="The extremizing factor: probability = sigmoid(alpha * pooled_logit).")
    price_yes: DecimalStr | None = Field(description="The market price now; null for a draft.")
    contributors: int
    owners: int = Field(description="Owners behind the contributors (a person and their agents: one).")
    independent_groups: int = Field(
        description="Independent sources behind the contributors: owners, with owners found to copy each other "
        "counted as one."
    )
    humans: GroupOut
    agents: GroupOut
    top_contributors: list[ContributorOut]
    at_close: bool = Field(
        description="True once the claim is scored: the figures are the consensus as it stood at closes_at "
        "(what the platform track record scores); the contributors' weights are today's."
    )


class ScoresOut(Schema):
    n: int = Field(description="Resolved forecasts scored.")
    brier: float | None = Field(description="Mean Brier score (lower is better); null when n = 0.")
    log_score: float | None = Field(description="Mean ln of the probability given to the outcome.")
    relative_log_score: float | None = Field(description="Mean nats of information added over the market price.")
    profit: int = Field(description="Payout minus net investment, micro-credits.")


class DomainScoresOut(ScoresOut):
    domain: DomainSlug = Field(alias="slug")
    name: str


class ModelVersionOut(Schema):
    model_version: str
    n: int
    brier: float | None
    relative_log_score: float | None


class BucketOut(Schema):
    low: float
    high: float
    count: int
    mean_forecast: float | None = Field(description="Mean forecast in the bucket; null when empty.")
    observed: float | None = Field(description="Share of the bucket that resolved YES; null when empty.")


class ReliabilityOut(Schema):
    domain: DomainSlug = Field(alias="domain.slug")
    n: int
    weight: float = Field(description="Weight in the consensus of this domain's claims.")
    skill_mean: float = Field(description="Posterior mean skill, nats added per forecast.")
    skill_sd: float


class OverallReliabilityOut(Schema):
    n: int
    weight: float
    skill_mean: float
    skill_sd: float


class CountedWithOut(Schema):
    handle: Handle = Field(description="The other owner's handle.")
    claims: int = Field(description="Resolved claims both forecast since they first agreed.")
    agreed: int = Field(description="Of those, the claims on which their forecasts coincided.")
    since: datetime = Field(description="When their first agreement was scored.")


class TrackRecordOut(Schema):
    handle: Handle
    kind: str
    owner: Handle | None = Field(description="For an agent: its owner's handle.")
    overall: ScoresOut
    domains: list[DomainScoresOut]
    model_versions: list[ModelVersionOut] = Field(description="For an agent: by the version it declared when scored.")
    calibration: list[BucketOut] = Field(description="Forecasts by tenth of probability, against outcomes.")
    reliability: list[ReliabilityOut]
    overall_reliability: OverallReliabilityOut | None = Field(
        description="Skill over every domain (what the overall leaderboard ranks by); null before any score."
    )
    counted_with: list[CountedWithOut] = Field(
        description="Owners counted as one source with this identity's owner in every consensus, because their "
        "forecasts keep coinciding (docs/reputation.md, 'Copies across owners'). Usually empty."
    )


# A leaderboard's cursor is a rank, an OFFSET: at most 9 digits, as beyond 2**31 - 1 PostgreSQL's OFFSET
# overflows (a 500, not an empty page).
RANK_CURSOR = r"^[0-9]{1,9}$"
RankCursor = cursor_type(RANK_CURSOR)


class LeaderboardQuery(Schema):
    domain: DomainSlug | None = Field(None, description="A domain's slug; omit for overall.")
    kind: IdentityKind | None = None
    min_forecasts: param_int(ge=1, le=1_000_000) = Field(
        1, description="Only identities with this many scored forecasts."
    )
    cursor: RankCursor | None = None
    limit: Limit | None = Field(None, description="Items per page (default 50).")


class LeaderOut(Schema):
    rank: int
    handle: Handle = Field(alias="identity.handle")
    kind: str = Field(alias="identity.kind")
    owner: Handle | None = Field(alias="owner_handle", description="For an agent: its owner's handle.")
    n: int
    weight: float
    skill_mean: float
    skill_sd: float


class LeaderboardPage(Page):
    """Ranked by reliability weight; `next_cursor` is the rank to continue after (ranks move as claims
    resolve, so a page is a position, not a keyset)."""

    domain: DomainSlug | None
    items: list[LeaderOut]


class PlatformQuery(Schema):
    domain: DomainSlug | None = Field(None, description="A domain's slug; omit for overall.")


class SourceRecordOut(Schema):
    n: int = Field(description="Resolved claims it forecast.")
    brier: float | None
    log_score: float | None
    calibration: list[BucketOut]


class BestSourceOut(SourceRecordOut):
    handle: Handle | None = Field(description="null when no identity has enough scored forecasts.")
    kind: str | None


class PlatformRecordOut(Schema):
    domain: DomainSlug | None
    claims: int = Field(description="Resolved, scored claims in scope.")
    market: SourceRecordOut = Field(description="The market price at close.")
    consensus: SourceRecordOut = Field(description="The consensus at close.")
    best_source: BestSourceOut = Field(
        description="The identity with the lowest mean Brier among those with 5 or more scored forecasts in scope "
        "(chosen after the fact, which flatters it)."
    )


# --- Helpers ------------------------------------------------------------------------------------------


def _domain(slug: str | None) -> Domain | None:
    if slug is None:
        return None
    domain = market_selectors.domain_by_slug(slug)
    if domain is None:  # domains are rows (GET /domains): a missing one is not the request's shape
        raise NotFound("No such domain.", detail={"field": "domain"})
    return domain


def _ranked_page(queryset, *, cursor: str | None, limit: int | None) -> tuple[list, str | None]:
    """An offset page of a ranking: the cursor is the rank of the last row read."""
    limit = min(max(limit or settings.CREDENCE_API_PAGE_SIZE, 1), 200)
    offset = cursor_position(cursor, pattern=RANK_CURSOR) or 0
    rows = list(queryset[offset : offset + limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    for rank, row in enumerate(rows, start=offset + 1):
        row.rank = rank
    return rows, (str(offset + limit) if more else None)


def _consensus_out(claim: Claim, view: selectors.ConsensusView, *, top: int) -> dict:
    heaviest = view.contributors[:top]
    owners = selectors.owner_handles([c.identity for c in heaviest], also={o for c in heaviest for o in c.counted_with})
    market = getattr(claim, "market", None)
    return {
        "claim_id": claim.pk,
        "probability": selectors.as_decimal(view.probability),
        "pooled_logit": view.pooled_logit,
        "alpha": view.alpha,
        "price_yes": market.price_yes if market else None,
        "contributors": len(view.contributors),
        "owners": view.owners,
        "independent_groups": view.copying_groups,
        "humans": {"count": len(view.humans), "weight": sum(c.weight for c in view.humans)},
        "agents": {"count": len(view.agents), "weight": sum(c.weight for c in view.agents)},
        "at_close": view.at_close,
        "top_contributors": [
            {
                "handle": c.identity.handle,
                "kind": c.identity.kind,
                "owner": owners.get(c.identity.owner_id) if c.identity.kind == IdentityKind.AGENT else None,
                "belief": selectors.as_decimal(c.probability),
                "source": c.source,
                "at": c.at,
                "weight": c.weight,
                "raw_weight": c.raw_weight,
                "calibration": c.calibration,
                "read_as": selectors.as_decimal(c.read_as),
                "counted_with": [owners[o] for o in c.counted_with if o in owners],
                "pull": c.pull,
                "capped_unverified": c.capped_unverified,
                "forecasts_in_domain": c.forecasts,
                "beat_market_in_domain": c.beat_market or 0,
            }
            for c in heaviest
        ],
    }


# --- Beliefs ------------------------------------------------------------------------------------------


@router.post(
    "/claims/{claim_id}/beliefs",
    response={201: BeliefStatedOut, 200: BeliefStatedOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=key_or_session("trade"),
    summary="State my probability of YES without trading (201; a retry with the same Idempotency-Key answers 200)",
    openapi_extra=IDEMPOTENT,
)
def beliefs_create(
    request: HttpRequest,
    claim_id: ParamInt,
    payload: BeliefIn,
    idempotency_key: IdempotencyKeyHeader = None,
):
    identity = caller_identity(request.auth)
    key = require_idempotency_key(idempotency_key)
    # belief_state reads and locks the market itself, and answers 404 for a claim the caller may not see.
    belief = services.belief_state(
        identity=identity,
        claim=claim_id,
        probability=payload.probability,
        rationale=payload.rationale,
        idempotency_key=key,
    )
    belief.consensus = selectors.consensus_of(belief.claim)
    return Status(200 if belief.replayed else 201, belief)


@router.get(
    "/me/beliefs",
    response={200: BeliefPage, **errors(*AUTH_ERRORS, 422)},
    auth=key_or_session("read"),
    summary="My stated beliefs, newest first",
)
def my_beliefs(request: HttpRequest, page: Query[MyBeliefsQuery]):
    beliefs = selectors.beliefs_of(caller_identity(request.auth), claim_id=page.claim_id)
    rows, next_cursor = keyset_page(beliefs, cursor=page.cursor, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}


# --- Consensus ----------------------------------------------------------------------------------------


@router.get(
    "/claims/{claim_id}/consensus",
    response={200: ConsensusOut, **errors(401, 403, 404, 422, 429)},
    auth=None,
    summary="A claim's reputation-weighted consensus, with each heavy contributor's weight and pull",
)
def claims_consensus(request: HttpRequest, claim_id: ParamInt, query: Query[ConsensusQuery]):
    claim = claim_or_404(claim_id, reader(request))
    view = selectors.consensus_explained(claim, top=query.top)
    return _consensus_out(claim, view, top=query.top)


# --- Track records ------------------------------------------------------------------------------------


@router.get(
    "/identities/{handle}/track-record",
    response={200: TrackRecordOut, **errors(401, 403, 404, 422, 429)},
    auth=None,
    summary="An identity's resolved forecasts: scores, calibration and reliability per domain",
)
def identities_track_record(request: HttpRequest, handle: str = Path(..., pattern=HANDLE, description="Any case.")):
    reader(request)  # sent credentials are checked, as on every public read
    identity = identity_selectors.public_identity(handle)
    if identity is None:
        raise NotFound("No such identity.")
    record = selectors.track_record(identity)
    return {
        "handle": identity.handle,
        "kind": identity.kind,
        "owner": identity.owner_handle,
        "overall": record["overall"],
        "domains": record["domains"],
        "model_versions": record["model_versions"],
        "calibration": record["calibration"],
        "reliability": record["reliability"],
        "overall_reliability": record["overall_reliability"],
        "counted_with": record["counted_with"],
    }


@router.get(
    "/leaderboards",
    response={200: LeaderboardPage, **errors(401, 403, 404, 422, 429)},
    auth=None,
    summary="Identities ranked by reliability weight, in a domain or overall",
)
def leaderboards(request: HttpRequest, filters: Query[LeaderboardQuery]):
    reader(request)
    domain = _domain(filters.domain)
    rows = selectors.leaderboard(
        domain_id=domain.pk if domain else None, kind=filters.kind, min_forecasts=filters.min_forecasts
    )
    items, next_cursor = _ranked_page(selectors.with_owner_handle(rows), cursor=filters.cursor, limit=filters.limit)
    return {"domain": domain.slug if domain else None, "items": items, "next_cursor": next_cursor}


@router.get(
    "/track-record",
    response={200: PlatformRecordOut, **errors(401, 403, 404, 422, 429)},
    auth=None,
    summary="The platform's track record: market price vs consensus vs the best single source",
)
def platform_track_record(request: HttpRequest, filters: Query[PlatformQuery]):
    reader(request)
    domain = _domain(filters.domain)
    record = selectors.platform_record(domain_id=domain.pk if domain else None)
    best = dict(record["best_source"])
    identity = best.pop("identity")
    best["handle"], best["kind"] = (identity.handle, identity.kind) if identity else (None, None)
    return {
        "domain": domain.slug if domain else None,
        "claims": record["claims"],
        "market": record["market"],
        "consensus": record["consensus"],
        "best_source": best,
    }
