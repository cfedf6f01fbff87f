"""What a hosted agent's strategy may read, as plain JSON-able dicts (a run's journal keeps them), and the
owner's views of agents and runs."""

from datetime import datetime

from django.db.models import Q, QuerySet

from apps.agents.models import AgentOrder, AgentRun, HostedAgent
from apps.identities.models import Identity
from apps.markets.models import Claim, ClaimStatus, Position
from apps.reputation.models import ClaimRecord


def _decimal(value) -> str | None:
    return None if value is None else format(value, "f")


def _claim_view(claim: Claim) -> dict:
    consensus = getattr(claim, "consensus", None)
    return {
        "id": claim.pk,
        "title": claim.title,
        "domain": claim.domain.slug,
        "price_yes": _decimal(claim.market.price_yes),
        "liquidity": claim.market.liquidity,
        "closes_at": claim.closes_at.isoformat(),
        "consensus": _decimal(consensus.probability) if consensus else None,
        "consensus_owners": consensus.owners if consensus else 0,
        "consensus_contributors": consensus.contributors if consensus else 0,
    }


def _open(now: datetime) -> QuerySet[Claim]:
    return Claim.objects.filter(status=ClaimStatus.OPEN, closes_at__gt=now, market__isnull=False).select_related(
        "domain", "market", "consensus"
    )


def open_claims(*, domains: list[str], claim_ids: list[int] | None, limit: int, now: datetime) -> list[dict]:
    """The open claims a run looks at: those its trigger names, else the ones in its domains closing first."""
    claims = _open(now)
    if claim_ids is not None:
        claims = claims.filter(pk__in=claim_ids)
    if domains:
        claims = claims.filter(domain__slug__in=domains)
    return [_claim_view(claim) for claim in claims.order_by("closes_at", "pk")[:limit]]


def claim_detail(*, claim_id: int, now: datetime) -> dict | None:
    """One open claim with what a reader needs to forecast it: its criteria and clarifications."""
    claim = _open(now).filter(pk=claim_id).first()
    if claim is None:
        return None
    view = _claim_view(claim)
    view["criteria"] = claim.criteria
    view["clarifications"] = list(claim.clarifications.order_by("id").values_list("text", flat=True))
    return view


def resolved_history(*, domains: list[str] | None, limit: int) -> list[dict]:
    """Scored claims, newest first: their domain, outcome, the market's last price before close and the
    consensus then (the platform's track record, apps.reputation.models.ClaimRecord)."""
    records = ClaimRecord.objects.select_related("domain").order_by("-scored_at", "-pk")
    if domains:
        records = records.filter(domain__slug__in=domains)
    return [
        {
            "claim": r.claim_id,
            "domain": r.domain.slug,
            "outcome": r.outcome,
            "market_price": _decimal(r.market_price),
            "consensus": _decimal(r.consensus),
        }
        for r in records[:limit]
    ]


def position_of(*, identity_id: int, claim_id: int) -> dict:
    row = (
        Position.objects.filter(identity_id=identity_id, market__claim_id=claim_id)
        .values("yes_shares", "no_shares", "net_invested")
        .first()
    )
    return row or {"yes_shares": 0, "no_shares": 0, "net_invested": 0}


def agents_of(owner_id: int) -> QuerySet[HostedAgent]:
    return HostedAgent.objects.filter(identity__owner_id=owner_id).select_related("identity").order_by("pk")


def hosted_agent_for(*, agent: Identity) -> HostedAgent | None:
    return HostedAgent.objects.filter(identity=agent).select_related("identity").first()


def runs_of(agent: HostedAgent, *, state: str | None = None) -> QuerySet[AgentRun]:
    runs = AgentRun.objects.filter(agent=agent).defer("traceback").order_by("-pk")
    return runs.filter(state=state) if state else runs


def run_orders(run: AgentRun) -> list[dict]:
    return list(
        AgentOrder.objects.filter(run=run)
        .order_by("step")
        .values("step", "claim_id", "trade_id", "review_id", "spent", "refused", "created_at")
    )


def due_agents(*, now: datetime) -> QuerySet[HostedAgent]:
    return HostedAgent.objects.filter(Q(stopped_by=""), next_run_at__lte=now)


def run_of(agent: HostedAgent, run_id: int) -> AgentRun | None:
    """One run of the agent, its journal and traceback with it (the owner's run page)."""
    return AgentRun.objects.filter(agent=agent, pk=run_id).first()


def journal_of(run: AgentRun) -> list[dict]:
    """Everything a run saw and did so far, in order (its steps)."""
    return run.journal
