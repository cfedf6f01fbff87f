"""Reads of the reputation app: a claim's consensus and its explanation, track records, leaderboards,
and the platform's own track record. Each is a fixed number of queries, whatever the number of rows."""

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Avg, Case, Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Abs, Coalesce

from apps.accounts.models import VerificationLevel
from apps.identities.models import Identity, IdentityKind
from apps.markets import selectors as market_selectors
from apps.markets.models import Claim, ClaimStatus, Position
from apps.reputation import maths
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


@dataclass(frozen=True)
class Contributor:
    identity: Identity
    probability: float
    source: str  # "belief" or "trade"
    at: datetime
    weight: float  # after the independence cap, normalised: the contributors' weights sum to 1
    raw_weight: float  # from reliability alone
    pull: float = 0.0  # consensus minus the consensus without this contributor
    calibration: float = 1.0  # its owner's factor: the consensus reads it as sigmoid(calibration * logit(p))
    copying_group: int = 0  # the smallest owner id among its owner and those found to copy it: one cap
    counted_with: tuple[int, ...] = ()  # the other owners of its copying group on this claim
    forecasts: int = 0  # its resolved forecasts in the claim's domain: what its weight was earned by
    fitted: int = 0  # of those, the ones that had other sources' pool to be fitted against
    beat_market: int | None = None  # of those, the ones that added information over the market (explained only)
    verification: float = 1.0  # what its owner's verification multiplies its weight by (maths.Voice)

    @property
    def read_as(self) -> float:
        return maths.recalibrated(self.probability, self.calibration)

    @property
    def capped_unverified(self) -> bool:
        """Its weight was cut because its owner is not a verified human (CREDENCE_UNVERIFIED_WEIGHT_FACTOR)."""
        return self.verification < 1.0


@dataclass
class ConsensusView:
    claim_id: int
    probability: float | None
    pooled_logit: float | None
    alpha: float
    contributors: list[Contributor] = field(default_factory=list)
    owners: int = 0  # distinct owners behind the contributors
    copying_groups: int = 0  # owners found to copy each other count as one
    at_close: bool = False
    records: dict[int, maths.Record] = field(default_factory=dict)  # each contributor's record in the domain
    population: maths.Population = field(default_factory=maths.Population)  # the domain's: it shrinks each weight

    @property
    def humans(self) -> list[Contributor]:
        return [c for c in self.contributors if c.identity.kind == IdentityKind.HUMAN]

    @property
    def agents(self) -> list[Contributor]:
        return [c for c in self.contributors if c.identity.kind == IdentityKind.AGENT]


def extremizing_alpha() -> float:
    fit = ExtremizingFit.objects.order_by("-id").values_list("alpha", flat=True).first()
    return fit if fit is not None else 1.0


# The verification level of the person answerable for a forecast's identity (the person, or an agent's owner),
# joined into the query that reads the forecast: the consensus reads every contributor's level with no query more.
_PARTY_LEVEL = Coalesce("identity__user__verification_level", "identity__owner__verification_level")


def latest_beliefs(claim: Claim, *, before: datetime | None = None) -> dict[int, tuple[float, str, datetime, Identity]]:
    """Each identity's latest forecast on the claim (a stated belief, or its latest trade's belief, whichever
    is later), {identity id: (probability, source, at, identity)}, each identity with its party's verification
    level as `party_level`. Two queries; suspended identities left out."""
    latest: dict[int, tuple[float, str, datetime, Identity]] = {}
    stated = Belief.objects.filter(claim=claim)
    if before is not None:
        stated = stated.filter(created_at__lt=before)
    newest = stated.values("identity_id").annotate(last=Max("id")).values("last")
    for belief in Belief.objects.filter(id__in=newest).select_related("identity").annotate(party_level=_PARTY_LEVEL):
        belief.identity.party_level = belief.party_level
        latest[belief.identity_id] = (float(belief.probability), "belief", belief.created_at, belief.identity)
    positions = (
        Position.objects.filter(market__claim=claim, last_belief__isnull=False)
        .select_related("identity")
        .annotate(party_level=_PARTY_LEVEL)
    )
    for position in positions:
        position.identity.party_level = position.party_level
        if before is not None and position.updated_at >= before:
            continue  # a trade cannot come after close; kept for symmetry with beliefs
        held = latest.get(position.identity_id)
        if held is None or position.updated_at > held[2]:
            latest[position.identity_id] = (
                float(position.last_belief),
                "trade",
                position.updated_at,
                position.identity,
            )
    return {pk: row for pk, row in latest.items() if row[3].is_active}


def reliability_records(identity_ids: list[int], domain_id: int) -> dict[int, maths.Record]:
    """Each identity's stored record in the domain (one query); an empty one where it has none."""
    rows = Reliability.objects.filter(identity_id__in=identity_ids, domain_id=domain_id)
    found = {row.identity_id: row.record for row in rows.only(*RECORD_FIELDS)}
    return {pk: found.get(pk, maths.Record()) for pk in identity_ids}


RECORD_FIELDS = ("identity_id", "n", "total", "total_sq", "fit_n", "fit_zz", "fit_rz", "fit_rr")


def population_of(domain_id: int | None) -> maths.Population:
    """The domain's population of established records (one query): what shrinks each weight there."""
    row = ReliabilityPopulation.objects.filter(domain_id=domain_id).first()
    return row.population if row is not None else maths.Population()


def reliability_weights(identity_ids: list[int], domain_id: int) -> dict[int, float]:
    """Each identity's weight in the domain as the consensus reads it (before the independence cap): its
    record's own weight, shrunk by the domain's population. Two queries."""
    population = population_of(domain_id)
    return {pk: population.shrunk(r) for pk, r in reliability_records(identity_ids, domain_id).items()}


def calibration_factors(owner_ids: list[int], domain_id: int) -> dict[int, float]:
    """Each owner's calibration factor in the domain, from its stored records (one query); 1.0 without one."""
    records: dict[tuple[int, int | None], maths.Likelihoods] = {}
    rows = Calibration.objects.filter(owner_id__in=owner_ids).filter(Q(domain_id=domain_id) | Q(domain=None))
    for owner, domain, loglik in rows.values_list("owner_id", "domain_id", "loglik"):
        records[(owner, domain)] = tuple(loglik)
    return {o: maths.calibration_factor(records.get((o, domain_id), ()), records.get((o, None), ())) for o in owner_ids}


def copying_groups(owner_ids: list[int]) -> dict[int, int]:
    """{owner: its copying group} among these owners: joined where their agreement record says one
    source said twice (one query on the few pairs that do)."""
    pairs = Agreement.objects.filter(copies=True, owner_a_id__in=owner_ids, owner_b_id__in=owner_ids)
    return maths.copying_groups(owner_ids, list(pairs.values_list("owner_a_id", "owner_b_id")))


def combined_weights(
    voices: list[maths.Voice], records: dict[int, maths.Record], population: maths.Population
) -> dict[int, float]:
    """Each copying group's weight as one source holding all its members' records at once."""
    pooled: dict[int, maths.Record] = {}
    for voice in voices:
        pooled[voice.copying_group] = pooled.get(voice.copying_group, maths.Record()).plus(records[voice.identity_id])
    return {group: population.shrunk(record) for group, record in pooled.items()}


def verification_factor(identity: Identity) -> float:
    """What the consensus multiplies the weight of `identity` by (read from `latest_beliefs`' `party_level`):
    1 for a verified human's identities, CREDENCE_UNVERIFIED_WEIGHT_FACTOR for anyone else's."""
    if identity.party_level == VerificationLevel.VERIFIED_HUMAN:
        return 1.0
    return min(settings.CREDENCE_UNVERIFIED_WEIGHT_FACTOR, 1.0)


def consensus_compute(
    claim: Claim, *, before: datetime | None = None, explain: bool = False, explain_top: int = 10
) -> ConsensusView:
    """The consensus from scratch, capped by copying group, an unverified owner's voices cut by the factor
    (`verification_factor`): O(contributors of this claim), seven queries. `explain` adds the pull of the
    `explain_top` heaviest contributors (the consensus recomputed without each: O(top x contributors)
    arithmetic, cheap however many voices the claim has) and how many of their forecasts in the domain beat
    the market (one query more)."""
    beliefs = latest_beliefs(claim, before=before)
    alpha = extremizing_alpha()
    records = reliability_records(list(beliefs), claim.domain_id) if beliefs else {}
    population = population_of(claim.domain_id) if beliefs else maths.Population()
    owners = {pk: identity.controller_id for pk, (_p, _source, _at, identity) in beliefs.items()}
    owner_ids = sorted(set(owners.values()))
    factors = calibration_factors(owner_ids, claim.domain_id) if beliefs else {}
    group_of = copying_groups(owner_ids) if beliefs else {}
    voices = [
        maths.Voice(
            pk,
            group_of[owners[pk]],
            population.shrunk(records[pk]),
            probability,
            factors[owners[pk]],
            verification_factor(identity),
        )
        for pk, (probability, _source, _at, identity) in beliefs.items()
    ]
    members: dict[int, set[int]] = {}  # copying group -> its owners
    for owner, group in group_of.items():
        members.setdefault(group, set()).add(owner)
    weights = maths.effective_weights(voices, combined_weights(voices, records, population))
    pooled = maths.pooled_logit(voices, weights)
    probability = None if pooled is None else maths.sigmoid(alpha * pooled)
    total = sum(weights.values()) or 1.0
    contributors = []
    for voice in voices:
        _, source, at, identity = beliefs[voice.identity_id]
        share = weights[voice.identity_id] / total
        owner = owners[voice.identity_id]
        contributors.append(
            Contributor(
                identity,
                voice.probability,
                source,
                at,
                share,
                voice.weight,
                calibration=voice.calibration,
                copying_group=voice.copying_group,
                counted_with=tuple(sorted(members[voice.copying_group] - {owner})),
                forecasts=records[voice.identity_id].skill.n,
                fitted=records[voice.identity_id].fit.n,
                verification=voice.verification,
            )
        )
    contributors.sort(key=lambda c: (-c.weight, c.identity.pk))
    if explain and probability is not None:
        explained = [c.identity.pk for c in contributors[:explain_top]]
        ahead = dict(
            Score.objects.filter(identity_id__in=explained, domain_id=claim.domain_id, relative_log_score__gt=0)
            .values("identity_id")
            .annotate(n=Count("id"))
            .values_list("identity_id", "n")
        )
        for i, contributor in enumerate(contributors[:explain_top]):
            others = [v for v in voices if v.identity_id != contributor.identity.pk]
            without = maths.pooled_logit(others, combined=combined_weights(others, records, population))
            pull = probability - (0.5 if without is None else maths.sigmoid(alpha * without))
            contributors[i] = replace(contributor, pull=pull, beat_market=ahead.get(contributor.identity.pk, 0))
    return ConsensusView(
        claim_id=claim.pk,
        probability=probability,
        pooled_logit=pooled,
        alpha=alpha,
        contributors=contributors,
        owners=len(owner_ids),
        copying_groups=len(members),
        records=records,
        population=population,
    )


def consensus_explained(claim: Claim, *, top: int = 10) -> ConsensusView:
    """What a claim page and the API show: the live consensus with its heaviest contributors' pulls. Once
    the claim is scored, the consensus at close from its record (today's weights know the outcome), with
    the contributors' forecasts from before close."""
    record = ClaimRecord.objects.filter(claim=claim).first()
    if record is None:
        return consensus_compute(claim, explain=True, explain_top=top)
    view = consensus_compute(claim, before=claim.closes_at, explain=True, explain_top=top)
    view.probability = None if record.consensus is None else float(record.consensus)
    view.pooled_logit = record.pooled_logit
    view.at_close = True
    return view


def consensus_of(claim: Claim) -> Consensus | None:
    return Consensus.objects.filter(claim=claim).first()


def beliefs_of(identity: Identity, *, claim_id: int | None = None) -> QuerySet[Belief]:
    beliefs = Belief.objects.filter(identity=identity)
    if claim_id is not None:
        beliefs = beliefs.filter(claim_id=claim_id)
    return beliefs.select_related("claim").order_by("-id")


def beliefs_recent(claim: Claim, *, limit: int) -> list[Belief]:
    """The claim's latest stated beliefs, newest first, with who stated them. A belief's rationale is public
    (docs/api.md): it is the reasoning others weigh; a trade's stays its trader's own."""
    return list(Belief.objects.filter(claim=claim).select_related("identity").order_by("-id")[:limit])


def claims_browsed(*, viewer: Identity | None, filters: dict, now: datetime) -> QuerySet[Claim]:
    """The claim list page's query: `claims_listed` (what the REST list serves) with the consensus beside the
    price, the "mine" filter and the sorts the REST list does not offer (volume, disagreement), in one query.
    `filters` are the list form's cleaned values (q, domain, tag, status, closing in hours, mine, sort)."""
    closing = filters.get("closing")
    claims = market_selectors.claims_listed(
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


def owner_handles(identities: list[Identity], *, also: set[int] = frozenset()) -> dict[int, str]:
    """{owner user id: the owner's handle} for the agents among `identities` and the users in `also`
    (one query, or none)."""
    owners = {i.owner_id for i in identities if i.kind == IdentityKind.AGENT} | set(also)
    if not owners:
        return {}
    return dict(Identity.objects.filter(user_id__in=owners).values_list("user_id", "handle"))


def with_owner_handle(rows: QuerySet[Reliability]) -> QuerySet[Reliability]:
    owner = Identity.objects.filter(user_id=OuterRef("identity__owner_id")).values("handle")[:1]
    return rows.annotate(owner_handle=Subquery(owner))


# --- Track records -----------------------------------------------------------------------------------

CALIBRATION_BUCKETS = 10


def calibration(rows: list[tuple[float, bool]]) -> list[dict]:
    """Predicted vs observed by bucket of predicted probability (tenths): count, mean forecast, frequency."""
    buckets: list[list[tuple[float, bool]]] = [[] for _ in range(CALIBRATION_BUCKETS)]
    for p, outcome in rows:
        buckets[min(int(p * CALIBRATION_BUCKETS), CALIBRATION_BUCKETS - 1)].append((p, outcome))
    table = []
    for i, bucket in enumerate(buckets):
        table.append(
            {
                "low": i / CALIBRATION_BUCKETS,
                "high": (i + 1) / CALIBRATION_BUCKETS,
                "count": len(bucket),
                "mean_forecast": sum(p for p, _ in bucket) / len(bucket) if bucket else None,
                "observed": sum(1 for _, o in bucket if o) / len(bucket) if bucket else None,
            }
        )
    return table


def _summary(scores: QuerySet[Score]) -> dict:
    agg = scores.aggregate(
        n=Count("id"),
        brier=Avg("brier"),
        log_score=Avg("log_score"),
        relative_log_score=Avg("relative_log_score"),
        profit=Sum("profit"),
    )
    agg["profit"] = agg["profit"] or 0
    return agg


def counted_with(owner_id: int) -> list[dict]:
    """The owners counted as one source with this owner (their agreement record says copying): each
    one's handle and the record, most agreements first. One query."""
    partner = Case(When(owner_a_id=owner_id, then=F("owner_b_id")), default=F("owner_a_id"))
    rows = (
        Agreement.objects.filter(Q(owner_a_id=owner_id) | Q(owner_b_id=owner_id), copies=True)
        .annotate(partner=partner)
        .annotate(handle=Subquery(Identity.objects.filter(user_id=OuterRef("partner")).values("handle")[:1]))
        .order_by("-agreed", "partner")
    )
    return [{"handle": r.handle, "claims": r.claims, "agreed": r.agreed, "since": r.since} for r in rows]


def track_record(identity: Identity) -> dict:
    """An identity's resolved forecasts: overall, per domain, per declared model version (agents), the
    calibration table, reliability overall and per domain, and the owners counted as one source with its
    owner. Seven queries."""
    scores = Score.objects.filter(identity=identity)
    overall = _summary(scores)
    per_domain = list(
        scores.values(slug=F("domain__slug"), name=F("domain__name"))
        .annotate(
            n=Count("id"),
            brier=Avg("brier"),
            log_score=Avg("log_score"),
            relative_log_score=Avg("relative_log_score"),
            profit=Sum("profit"),
        )
        .order_by("slug")
    )
    per_version = list(
        scores.values("model_version")
        .annotate(n=Count("id"), brier=Avg("brier"), relative_log_score=Avg("relative_log_score"))
        .order_by("model_version")
    )
    rows = [(float(p), o) for p, o in scores.values_list("probability", "outcome")]
    reliabilities = list(
        Reliability.objects.filter(identity=identity, domain__isnull=False)
        .select_related("domain")
        .order_by("domain__slug")
    )
    return {
        "identity": identity,
        "overall": overall,
        "overall_reliability": Reliability.objects.filter(identity=identity, domain=None).first(),
        "domains": per_domain,
        "model_versions": per_version if identity.kind == IdentityKind.AGENT else [],
        "calibration": calibration(rows),
        "reliability": reliabilities,
        "counted_with": counted_with(identity.controller_id),
    }


def leaderboard(*, domain_id: int | None, kind: str | None = None, min_forecasts: int = 1) -> QuerySet[Reliability]:
    """Identities ranked by reliability weight in a domain (or overall): not by volume or profit."""
    rows = Reliability.objects.filter(domain_id=domain_id, n__gte=min_forecasts, identity__status="active")
    if kind:
        rows = rows.filter(identity__kind=kind)
    return rows.select_related("identity").order_by("-weight", "identity_id")


def scores_listed(identity: Identity) -> QuerySet[Score]:
    """An identity's scored forecasts, newest first, with their claims and domains."""
    return Score.objects.filter(identity=identity).select_related("claim", "domain").order_by("-id")


def leaderboard_page_rows(domain_id: int | None, kind: str | None, min_forecasts: int) -> QuerySet[Reliability]:
    """`leaderboard` with what the leaderboards page shows beside each row, in the same query: the owner's
    handle and status, and the mean Brier of the row's scored forecasts (in its domain, or overall)."""
    rows = with_owner_handle(leaderboard(domain_id=domain_id, kind=kind, min_forecasts=min_forecasts))
    scores = Score.objects.filter(identity_id=OuterRef("identity_id"))
    if domain_id is not None:
        scores = scores.filter(domain_id=domain_id)
    owner_status = Identity.objects.filter(user_id=OuterRef("identity__owner_id")).values("status")[:1]
    brier = scores.values("identity_id").annotate(mean=Avg("brier")).values("mean")
    return rows.annotate(brier=Subquery(brier), owner_status=Subquery(owner_status))


def platform_record(*, domain_id: int | None = None, min_source_forecasts: int = 5) -> dict:
    """Brier, log score and calibration on resolved claims of the market price at close, the consensus at
    close, and the best single source: the lowest mean Brier among identities with `min_source_forecasts`
    or more in scope (chosen after the fact, which flatters it)."""
    records = ClaimRecord.objects.all()
    scores = Score.objects.all()
    if domain_id is not None:
        records = records.filter(domain_id=domain_id)
        scores = scores.filter(domain_id=domain_id)
    rows = list(records.values_list("market_price", "consensus", "outcome"))
    market = [(float(m), o) for m, _c, o in rows]
    consensus = [(float(c), o) for _m, c, o in rows if c is not None]
    best = (
        scores.values("identity_id")
        .annotate(n=Count("id"), brier=Avg("brier"))
        .filter(n__gte=min_source_forecasts)
        .order_by("brier", "identity_id")
        .first()
    )
    best_rows: list[tuple[float, bool]] = []
    best_identity = None
    if best:
        best_identity = Identity.objects.get(pk=best["identity_id"])
        best_rows = [
            (float(p), o)
            for p, o in scores.filter(identity_id=best["identity_id"]).values_list("probability", "outcome")
        ]
    return {
        "claims": len(rows),
        "market": _scored(market),
        "consensus": _scored(consensus),
        "best_source": {**_scored(best_rows), "identity": best_identity},
    }


def _scored(rows: list[tuple[float, bool]]) -> dict:
    if not rows:
        return {"n": 0, "brier": None, "log_score": None, "calibration": calibration([])}
    return {
        "n": len(rows),
        "brier": sum(maths.brier(p, o) for p, o in rows) / len(rows),
        "log_score": sum(maths.log_score(p, o) for p, o in rows) / len(rows),
        "calibration": calibration(rows),
    }


def as_decimal(probability: float | None) -> Decimal | None:
    if probability is None or math.isnan(probability):
        return None
    return min(max(Decimal(str(round(probability, 6))), Decimal("0.000001")), Decimal("0.999999"))


def reviewer_ranks(scope: str, user_ids: list[int]) -> dict[int, float]:
    """A panel's candidates ranked by the skill their own forecasts earned in the scope's domain
    ("domain:<slug>"): their person's posterior mean skill there (apps/reviews asks; unranked if none)."""
    if not scope.startswith("domain:"):
        return {}
    rows = Reliability.objects.filter(
        domain__slug=scope.removeprefix("domain:"), identity__user_id__in=user_ids
    ).values_list("identity__user_id", "skill_mean")
    return dict(rows)
