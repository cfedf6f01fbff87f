"""Writes of the reputation app: stating beliefs, keeping each claim's consensus current, and scoring
resolved claims into per-domain reliability (apps/reputation/maths.py has the maths)."""

import hashlib
import json
import logging
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from apps.core import events
from apps.core.errors import NotFound, ValidationFailed
from apps.core.services import event_emit
from apps.identities.models import Identity, IdentityKind
from apps.identities.services import identity_require_active
from apps.ledger.errors import IdempotencyConflict
from apps.markets.models import Claim, ClaimStatus, Market, Outcome, Position, Trade
from apps.markets.pricing import implied_belief, market_is_open
from apps.reputation import maths, selectors
from apps.reputation.errors import ClaimNotOpen
from apps.reputation.models import (
    Agreement,
    Belief,
    Calibration,
    ClaimRecord,
    Consensus,
    ExtremizingFit,
    Reliability,
    ReliabilityPopulation,
    Score,
)

PROBABILITY_QUANTUM = Decimal("0.000001")
logger = logging.getLogger(__name__)


def _probability(value) -> Decimal:
    try:
        probability = Decimal(str(value))
    except (InvalidOperation, ValueError):
        probability = Decimal("NaN")
    if not probability.is_finite() or not (0 < probability < 1):
        raise ValidationFailed("probability must be strictly between 0 and 1.", detail={"field": "probability"})
    if probability != probability.quantize(PROBABILITY_QUANTUM):
        raise ValidationFailed("probability has at most 6 decimal places.", detail={"field": "probability"})
    return probability


@transaction.atomic
def belief_state(
    *, identity: Identity, claim: Claim | int, probability, rationale: str = "", idempotency_key: str
) -> Belief:
    """State a probability of YES on an open claim without trading. It scores like a trade's belief and
    earns no credit. A retry with the same key returns the first belief (`.replayed = True`)."""
    if not idempotency_key or len(idempotency_key) > 120:
        raise ValidationFailed("An idempotency key of 1-120 characters is required.", code="idempotency_key_required")
    probability = _probability(probability)
    rationale = (rationale or "").strip()
    if len(rationale) > 2000 or "\x00" in rationale:
        raise ValidationFailed("rationale: at most 2,000 characters.", detail={"field": "rationale"})
    claim_id = claim if isinstance(claim, int) else claim.pk
    # Decimals by value, not spelling: a retry sending 0.60 for 0.6 is the same request.
    spelled = format(probability.normalize(), "f")
    body = hashlib.sha256(json.dumps({"claim": claim_id, "probability": spelled, "rationale": rationale}).encode())
    body = body.hexdigest()
    # The market row first (the lock order of trades): the consensus refresh below reads a stable set.
    market = Market.objects.select_for_update(no_key=True).select_related("claim").filter(claim_id=claim_id).first()
    if market is None:
        if Claim.objects.filter(pk=claim_id, author=identity).exists():
            raise ClaimNotOpen()
        raise NotFound("No such claim.")  # drafts are their author's alone
    existing = Belief.objects.filter(identity=identity, idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.body_sha256 != body:
            raise IdempotencyConflict(detail={"idempotency_key": idempotency_key})
        existing.replayed = True
        return existing
    identity_require_active(identity)
    now = timezone.now()
    if not market_is_open(market.claim, now):
        raise ClaimNotOpen()
    try:
        with transaction.atomic():  # the same key on another claim, at the same moment: one wins
            belief = Belief.objects.create(
                claim_id=claim_id,
                identity=identity,
                probability=probability,
                rationale=rationale,
                market_price=market.price_yes,
                idempotency_key=idempotency_key,
                body_sha256=body,
                created_at=now,
            )
    except IntegrityError:
        raise IdempotencyConflict(detail={"idempotency_key": idempotency_key}) from None
    consensus = consensus_refresh(claim=market.claim)
    event_emit(
        kind=events.BELIEF_STATED.name,
        subject=f"claim:{claim_id}",
        actor_identity_id=identity.pk,
        payload={
            "belief": belief.pk,
            "probability": str(probability),
            "consensus": None if consensus.probability is None else str(consensus.probability),
        },
    )
    belief.replayed = False
    return belief


@transaction.atomic
def consensus_refresh(*, claim: Claim) -> Consensus:
    """Recompute and store a claim's consensus from its contributors' latest beliefs: O(contributors).
    The consensus row is locked while it is rewritten, so concurrent refreshes end with the newest."""
    now = timezone.now()
    consensus, _ = Consensus.objects.select_for_update(no_key=True).get_or_create(
        claim=claim, defaults={"updated_at": now}
    )
    before = consensus.probability
    for name, value in _stored(selectors.consensus_compute(claim), now).items():
        setattr(consensus, name, value)
    consensus.save()
    # Under the row lock, so two refreshes that race announce one change, not two; pages follow it live.
    if consensus.probability != before:
        probability = consensus.probability
        event_emit(
            kind=events.CONSENSUS_UPDATED.name,
            subject=f"claim:{claim.pk}",
            payload={"probability": None if probability is None else str(probability)},
        )
    return consensus


def _stored(view: selectors.ConsensusView, now: datetime) -> dict:
    """The Consensus row's fields for a computed consensus."""
    return {
        "probability": selectors.as_decimal(view.probability),
        "pooled_logit": view.pooled_logit,
        "alpha": view.alpha,
        "contributors": len(view.contributors),
        "owners": view.owners,
        "humans": len(view.humans),
        "agents": len(view.agents),
        "updated_at": now,
    }


def _dirty_key(claim_id: int) -> str:
    return f"reputation:consensus-dirty:{claim_id}"


def consensus_refresh_soon(claim_id: int) -> None:
    """After a trade commits: have a worker refresh the claim's consensus. A burst of trades on one claim
    queues one refresh (the flag is cleared when the refresh starts, so none is missed)."""
    from apps.reputation.tasks import consensus_refresh_task  # tasks import services

    try:
        if cache.add(_dirty_key(claim_id), 1, timeout=60):
            try:
                consensus_refresh_task.delay(claim_id)
            except Exception:
                cache.delete(_dirty_key(claim_id))  # so the next trade tries again
                raise
    except Exception:  # the trade has committed: a lost refresh must not turn it into an error
        logger.exception("Could not queue a consensus refresh for claim %s", claim_id)


def consensus_refresh_now(claim_id: int) -> Consensus | None:
    """The task's body: clear the flag, then refresh (a trade after this point queues another)."""
    cache.delete(_dirty_key(claim_id))
    claim = Claim.objects.filter(pk=claim_id).first()
    return None if claim is None else consensus_refresh(claim=claim)


# --- Scoring ------------------------------------------------------------------------------------------


def score_settled_claim(claim: Claim, outcome: str) -> ClaimRecord | None:
    """markets' settlement hook: score the claim in the settlement's own transaction."""
    if outcome == Outcome.VOID:
        return None  # VOID scores nobody
    return claim_score(claim=claim)


@transaction.atomic
def claim_score(*, claim: Claim) -> ClaimRecord | None:
    """Score each identity's latest forecast (a trade or a stated belief) before closes_at on a resolved
    claim, and fold the scores into reliability, each owner's calibration and the agreement records of its
    owners' pairs. Exactly once per claim: the claim row is locked and the record is the marker. A fixed
    number of queries; work proportional to the claim's identities, not to history."""
    claim = Claim.objects.select_for_update(no_key=True).get(pk=claim.pk)
    if claim.status not in (ClaimStatus.RESOLVED_YES, ClaimStatus.RESOLVED_NO):
        return None
    existing = ClaimRecord.objects.filter(claim=claim).first()
    if existing is not None:
        existing.created = False
        return existing
    outcome = claim.status == ClaimStatus.RESOLVED_YES
    market = Market.objects.filter(claim=claim).first()
    now = timezone.now()
    # The consensus at close, with the weights as they stood before this outcome was known.
    at_close = selectors.consensus_compute(claim, before=claim.closes_at)
    forecasts, identities = _forecasts(claim)
    profits = _profits(market, outcome) if market else {}
    scores = []
    for identity_id, (probability, reference, source, at) in forecasts.items():
        p, m = float(probability), float(reference)
        identity = identities[identity_id]
        scores.append(
            Score(
                claim=claim,
                identity_id=identity_id,
                domain_id=claim.domain_id,
                source=source,
                probability=probability,
                market_price=reference,
                outcome=outcome,
                brier=maths.brier(p, outcome),
                log_score=maths.log_score(p, outcome),
                relative_log_score=maths.relative_log_score(p, m, outcome),
                profit=profits.get(identity_id, 0),
                model_version=identity.model_version if identity.kind == IdentityKind.AGENT else "",
                forecast_at=at,
                scored_at=now,
            )
        )
    _references(scores, at_close)
    Score.objects.bulk_create(scores)
    _reliability_update(scores, domain_id=claim.domain_id, now=now)
    owner_of = {pk: identity.controller_id for pk, identity in identities.items()}
    _calibration_update(scores, owner_of, domain_id=claim.domain_id, now=now)
    _agreement_update(scores, owner_of, now=now)
    record = ClaimRecord.objects.create(
        claim=claim,
        domain_id=claim.domain_id,
        outcome=outcome,
        market_price=market.price_yes if market else Decimal("0.5"),
        consensus=selectors.as_decimal(at_close.probability),
        pooled_logit=at_close.pooled_logit,
        contributors=len(at_close.contributors),
        scored=len(scores),
        scored_at=now,
    )
    # The claim's own consensus stays as it stood at close: after this, its weights know the outcome.
    Consensus.objects.update_or_create(claim=claim, defaults=_stored(at_close, now))
    extremizing_refit(now=now)
    affected = [s.identity_id for s in scores]
    transaction.on_commit(lambda: _refresh_open_claims_of(affected))
    event_emit(kind=events.CLAIM_SCORED.name, subject=f"claim:{claim.pk}", payload={"scored": len(scores)})
    record.created = True
    return record


def _forecasts(claim: Claim) -> tuple[dict[int, tuple[Decimal, Decimal, str, datetime]], dict[int, Identity]]:
    """{identity id: (probability, the price it is scored against, source, at)} and the identities by id,
    from each identity's latest forecast before closes_at: a stated belief, or a trade (its stated belief,
    else the price it moved the market to). Three queries.

    The price is the one before its owner's first forecast on the claim (the owner: a person and their
    agents), not before its own: a source that trades in steps, or an owner whose agents trade one after
    another, is scored on the whole move, as one source making it would be, so a swarm cannot dilute its
    losses across its members."""

    found: dict[int, tuple[Decimal, Decimal, str, datetime]] = {}
    first: dict[int, tuple[datetime, Decimal]] = {}  # identity -> (its first forecast's time, the price then)
    beliefs = Belief.objects.filter(claim=claim, created_at__lt=claim.closes_at)
    trades = Trade.objects.filter(market__claim=claim, created_at__lt=claim.closes_at)
    ends = beliefs.values("identity_id").annotate(last=Max("id"), earliest=Min("id"))
    for belief in Belief.objects.filter(Q(id__in=ends.values("last")) | Q(id__in=ends.values("earliest"))):
        held = found.get(belief.identity_id)
        if held is None or belief.created_at > held[3]:
            found[belief.identity_id] = (belief.probability, belief.market_price, "belief", belief.created_at)
        if belief.identity_id not in first or belief.created_at < first[belief.identity_id][0]:
            first[belief.identity_id] = (belief.created_at, belief.market_price)
    ends = trades.values("identity_id").annotate(last=Max("id"), earliest=Min("id"))
    for trade in Trade.objects.filter(Q(id__in=ends.values("last")) | Q(id__in=ends.values("earliest"))):
        held = found.get(trade.identity_id)
        if held is None or trade.created_at > held[3]:
            probability = implied_belief(trade.belief, trade.price_after)
            found[trade.identity_id] = (probability, trade.price_before, "trade", trade.created_at)
        if trade.identity_id not in first or trade.created_at < first[trade.identity_id][0]:
            first[trade.identity_id] = (trade.created_at, trade.price_before)
    identities = Identity.objects.in_bulk(list(found))
    owner_of = {pk: identity.controller_id for pk, identity in identities.items()}
    opening: dict[int, tuple[datetime, Decimal]] = {}  # owner -> its first forecast
    for pk, (at, price) in first.items():
        held = opening.get(owner_of[pk])
        if held is None or at < held[0]:
            opening[owner_of[pk]] = (at, price)
    scored = {pk: (p, opening[owner_of[pk]][1], source, at) for pk, (p, _ref, source, at) in found.items()}
    return scored, identities


def _profits(market: Market, outcome: bool) -> dict[int, int]:
    """Payout minus net investment per trader (fees not included): one query."""
    rows = Position.objects.filter(market=market).values_list("identity_id", "yes_shares", "no_shares", "net_invested")
    return {pk: (yes if outcome else no) - invested for pk, yes, no, invested in rows}


def _references(scores: list[Score], at_close: selectors.ConsensusView) -> None:
    """Set each score's log-odds as the consensus read them at close and the pool of the other independent
    sources it is fitted against (maths.pool_references), from the weights as they stood before the
    outcome was known. A source alone on the claim (or alone with its copying group) has no pool."""
    voices = [
        maths.Voice(c.identity.pk, c.copying_group, c.raw_weight, c.probability, c.calibration)
        for c in at_close.contributors
    ]
    references = maths.pool_references(voices, {c.identity.pk: c.weight for c in at_close.contributors}, at_close.alpha)
    read = {v.identity_id: v.log_odds for v in voices}
    for score in scores:
        if score.identity_id in references:
            score.read_logit, score.pool_logit = read[score.identity_id], references[score.identity_id]


def _reliability_update(scores: list[Score], *, domain_id: int, now: datetime) -> None:
    """Fold one observation per scored identity into its statistics in the domain and overall (its
    relative log score, and its fit against the pool when it had one), move the domain's and the overall
    population by each changed record, then recompute those two rows' skill and weight: a domain's weight
    reads only that domain's record and population. A fixed number of queries, whatever the history."""
    ids = sorted(s.identity_id for s in scores)
    # The identities first, in id order: two claims scored at once that share a newcomer would otherwise
    # both create its first rows (one would fail on the unique constraint and roll its settlement back).
    list(Identity.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))
    locked = (
        Reliability.objects.select_for_update(no_key=True)
        .filter(identity_id__in=ids)
        .filter(Q(domain_id=domain_id) | Q(domain=None))
        .order_by("pk")
    )
    rows = {(r.identity_id, r.domain_id): r for r in locked}
    before = {key: maths.Population.member(row.record) for key, row in rows.items()}
    created = []
    for score in scores:
        x = score.relative_log_score
        for key in ((score.identity_id, domain_id), (score.identity_id, None)):
            row = rows.get(key)
            if row is None:
                row = rows[key] = Reliability(identity_id=key[0], domain_id=key[1], updated_at=now)
                created.append(row)
            row.n += 1
            row.total += x
            row.total_sq += x * x
            if score.pool_logit is not None:
                fit = maths.Fit.of(score.read_logit, score.pool_logit)
                row.fit_n += 1
                row.fit_zz += fit.zz
                row.fit_rz += fit.rz
                row.fit_rr += fit.rr
    held = _populations_locked(domain_id, now)
    populations = {d: row.population for d, row in held.items()}
    for key, row in rows.items():
        populations[key[1]] = (
            populations[key[1]].minus(before.get(key, maths.Population())).plus(maths.Population.member(row.record))
        )
    for (_identity_id, row_domain), row in rows.items():
        record = row.record
        posterior = maths.global_posterior(record.skill) if row_domain is None else maths.home_posterior(record.skill)
        row.skill_mean, row.skill_sd, row.updated_at = posterior.mean, posterior.sd, now
        row.weight = populations[row_domain].shrunk(record)
    new = {id(r) for r in created}
    Reliability.objects.bulk_create(created)
    Reliability.objects.bulk_update(
        [r for r in rows.values() if id(r) not in new],
        [
            "n",
            "total",
            "total_sq",
            *("fit_n", "fit_zz", "fit_rz", "fit_rr"),
            *("skill_mean", "skill_sd", "weight", "updated_at"),
        ],
    )
    for d, row in held.items():
        p = populations[d]
        row.count, row.total, row.total_sq, row.noise, row.updated_at = p.count, p.total, p.total_sq, p.noise, now
    ReliabilityPopulation.objects.bulk_update(held.values(), ["count", "total", "total_sq", "noise", "updated_at"])


def _populations_locked(domain_id: int, now: datetime) -> dict[int | None, ReliabilityPopulation]:
    """The domain's and the overall population rows, locked in id order; inserted first where missing
    (ignored where they exist, so two settlements creating one at once do not fail)."""
    pair = [ReliabilityPopulation(domain_id=d, updated_at=now) for d in (domain_id, None)]
    ReliabilityPopulation.objects.bulk_create(pair, ignore_conflicts=True)
    rows = ReliabilityPopulation.objects.select_for_update(no_key=True).filter(Q(domain_id=domain_id) | Q(domain=None))
    return {row.domain_id: row for row in rows.order_by("pk")}


def _calibration_update(scores: list[Score], owner_of: dict[int, int], *, domain_id: int, now: datetime) -> None:
    """Fold the claim once into each scored owner's calibration records, in the domain and overall (the
    mean likelihood of its forecasts on it), and recompute every row of those owners: the overall record
    is each domain's prior. Missing rows are inserted ignoring a conflict (another settlement scoring the
    same owner at the same moment), then all are locked in id order. Three queries."""
    found: dict[int, list[maths.Likelihoods]] = {}
    for score in scores:
        found.setdefault(owner_of[score.identity_id], []).append(
            maths.calibration_loglik(float(score.probability), score.outcome)
        )
    owners = sorted(found)
    Calibration.objects.bulk_create(
        [Calibration(owner_id=o, domain_id=d, updated_at=now) for o in owners for d in (domain_id, None)],
        ignore_conflicts=True,
    )
    rows = {
        (r.owner_id, r.domain_id): r
        for r in Calibration.objects.select_for_update(no_key=True).filter(owner_id__in=owners).order_by("pk")
    }
    for owner, records in found.items():
        one = maths.loglik_mean(records)
        for key in ((owner, domain_id), (owner, None)):
            row = rows[key]
            row.claims += 1
            row.loglik = list(maths.loglik_plus(tuple(row.loglik), one))
    for (owner, row_domain), row in rows.items():
        overall = tuple(rows[(owner, None)].loglik)
        row.factor = maths.calibration_factor(overall if row_domain is None else tuple(row.loglik), overall)
        row.updated_at = now
    Calibration.objects.bulk_update(list(rows.values()), ["claims", "loglik", "factor", "updated_at"])


def _agreement_update(scores: list[Score], owner_of: dict[int, int], *, now: datetime) -> None:
    """Fold the claim into the records of its owners' watched pairs and start one for each pair that
    agrees on it (maths.compare, maths.agreements_fold): a record that says copying is marked `copies`, an
    independent pair is forgotten. O(owners on the claim), not history: focal values are not compared and
    forgetting keeps the watched pairs per owner few. Two settlements sharing a pair share both owners,
    whose calibration rows (locked just before) already order them; new rows still ignore a conflict, and
    the watched pairs are locked in id order. Three queries beside the insert."""
    logits = maths.owner_logits([(owner_of[s.identity_id], float(s.probability)) for s in scores])
    if len(logits) < 2:
        return
    comparison = maths.compare(logits)
    if comparison.agreeing:
        Agreement.objects.bulk_create(
            [Agreement(owner_a_id=a, owner_b_id=b, since=now, updated_at=now) for a, b in sorted(comparison.agreeing)],
            ignore_conflicts=True,
        )
    owners = sorted(logits)
    locked = (
        Agreement.objects.select_for_update(no_key=True)
        .filter(owner_a_id__in=owners, owner_b_id__in=owners)
        .order_by("pk")
    )
    rows = {(row.owner_a_id, row.owner_b_id): row for row in locked}
    folded, forgotten = maths.agreements_fold({pair: (r.claims, r.agreed) for pair, r in rows.items()}, comparison)
    for pair, (claims, agreed) in folded.items():
        row = rows[pair]
        row.claims, row.agreed, row.copies, row.updated_at = claims, agreed, maths.copies(claims, agreed), now
    Agreement.objects.bulk_update([rows[pair] for pair in folded], ["claims", "agreed", "copies", "updated_at"])
    if forgotten:
        Agreement.objects.filter(pk__in=[rows[pair].pk for pair in forgotten]).delete()


def extremizing_refit(*, now: datetime | None = None) -> ExtremizingFit:
    """Refit the extremizing factor on every scored claim with a consensus (one query; at each scoring)."""
    # Only claims with two or more sources: pooling one voice says nothing about how to extremize a pool.
    records = ClaimRecord.objects.filter(pooled_logit__isnull=False, contributors__gte=2)
    rows = list(records.values_list("pooled_logit", "outcome"))
    alpha = maths.fit_extremizing(rows)
    fit = ExtremizingFit.objects.order_by("-id").first() or ExtremizingFit(fitted_at=now or timezone.now())
    fit.alpha, fit.claims, fit.fitted_at = alpha, len(rows), now or timezone.now()
    fit.save()
    return fit


def _refresh_open_claims_of(identity_ids: list[int]) -> None:
    """Their weights changed: queue a refresh of every open claim they contributed to."""
    claim_ids = set(
        Belief.objects.filter(identity_id__in=identity_ids, claim__status=ClaimStatus.OPEN).values_list(
            "claim_id", flat=True
        )
    ) | set(
        Position.objects.filter(identity_id__in=identity_ids, market__claim__status=ClaimStatus.OPEN).values_list(
            "market__claim_id", flat=True
        )
    )
    for claim_id in sorted(claim_ids):
        consensus_refresh_soon(claim_id)


def claims_score_due() -> int:
    """Score every resolved, settled claim not scored yet (a safety net for the settlement hook; idempotent)."""
    due = Claim.objects.filter(
        status__in=[ClaimStatus.RESOLVED_YES, ClaimStatus.RESOLVED_NO], settled_at__isnull=False, record__isnull=True
    ).only("pk")
    done = 0
    for claim in due:
        record = claim_score(claim=claim)
        if record is not None and record.created:  # one scored meanwhile by someone else is not ours
            done += 1
    return done
