"""Hosted agents: set up, stop, dispatch, run, order within budgets, ask a person, finish.

Locks: a hosted agent's row is the lock of everything it spends. Each order takes it (FOR NO KEY UPDATE) in the
order's transaction, reads the kill switch and what the day and the run have spent under it, cuts the order
to the room the budgets leave, places it with `trade_place` and counts what it cost: two runs of one agent
at once are serial at their orders, so together they never spend past a budget. The dispatcher takes due
agents with SKIP LOCKED: two beats racing never dispatch one twice.
"""

import dataclasses
import json
import logging
import traceback
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial

import jsonschema
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Func, JSONField, Q, Value
from django.utils import timezone

from apps.accounts.models import User
from apps.agents import runtime
from apps.agents.errors import (
    AgentStopped,
    AlreadyHosted,
    BudgetExceeded,
    ConfigInvalid,
    StoppedByStaff,
    StrategyUnknown,
)
from apps.agents.models import (
    FINISHED_STATES,
    AgentRun,
    AgentStep,
    AgentTrigger,
    HostedAgent,
    RunState,
    StoppedBy,
)
from apps.agents.strategies.base import REGISTRY, Strategy
from apps.core import events, metrics
from apps.core.errors import ApplicationError, NotFound, ValidationFailed
from apps.core.outbox import outbox_batch
from apps.core.services import event_emit
from apps.identities.models import Identity, IdentityStatus
from apps.identities.services import owned_agent_lock
from apps.markets.checkpoints import TradePaused
from apps.markets.models import Claim, ClaimStatus, Domain
from apps.markets.pricing import Order
from apps.markets.services import trade_place_joined
from apps.reviews.models import Agreement, Pool, RequestState, ReviewRequest
from apps.reviews.services import review_ask

logger = logging.getLogger(__name__)

SETTINGS = (
    "strategy", "config", "secrets", "every_minutes", "on_claim_opened", "on_price_move", "on_closing_minutes",
    "domains", "budget_per_run", "budget_per_day", "budget_per_position",
)  # fmt: skip
DEFAULTS = {
    "config": {}, "secrets": {}, "every_minutes": None, "on_claim_opened": False, "on_price_move": None,
    "on_closing_minutes": None, "domains": [],
}  # fmt: skip
CONTINUATION = "agents.run"
ASK_TIMEOUT_RANGE = (60, 30 * 24 * 3600)
_LOCK_CLASS = 0x4147  # pg advisory locks of runs: (this, run id)


# --- Setting up ---------------------------------------------------------------------------------------------


def strategy_get(key: str) -> type[Strategy]:
    strategy = REGISTRY.get(key)
    if strategy is None or not strategy.offered():
        raise StrategyUnknown(detail={"field": "strategy", "strategy": key})
    return strategy


def _check(values: dict) -> dict:
    """The settings as they will be stored, or the first thing wrong with them (nothing is written)."""
    strategy = strategy_get(values["strategy"])
    config = {**strategy.defaults(), **(values.get("config") or {})}
    secrets = dict(values.get("secrets") or {})
    unknown_secrets = set(secrets) - set(strategy.secret_fields)
    if unknown_secrets:
        raise ConfigInvalid(
            f"{strategy.key} takes no secret {sorted(unknown_secrets)[0]!r}.", detail={"field": "secrets"}
        )
    try:
        jsonschema.Draft202012Validator(strategy.config_schema()).validate(config)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or None
        raise ConfigInvalid(f"config: {exc.message}", detail={"field": "config", "at": where}) from None
    for name in ("budget_per_run", "budget_per_day", "budget_per_position"):
        amount = values.get(name)
        if type(amount) is not int or amount < 0:
            raise ValidationFailed(
                f"{name} must be a whole number of micro-credits, 0 or more.", detail={"field": name}
            )
    every = values.get("every_minutes")
    if every is not None and (type(every) is not int or not 1 <= every <= 7 * 24 * 60):
        raise ValidationFailed(
            "every_minutes must be 1 to 10080, or empty (only on events).", detail={"field": "every_minutes"}
        )
    move = values.get("on_price_move")
    if move is not None and not Decimal("0.001") <= Decimal(str(move)) < 1:
        raise ValidationFailed("on_price_move must be above 0 and below 1.", detail={"field": "on_price_move"})
    closing = values.get("on_closing_minutes")
    if closing is not None and (type(closing) is not int or not 1 <= closing <= 7 * 24 * 60):
        raise ValidationFailed("on_closing_minutes must be 1 to 10080.", detail={"field": "on_closing_minutes"})
    domains = sorted(set(values.get("domains") or []))
    known = set(Domain.objects.filter(slug__in=domains).values_list("slug", flat=True))
    if set(domains) - known:
        raise NotFound(f"No such domain {sorted(set(domains) - known)[0]!r}.", detail={"field": "domains"})
    return {**values, "config": config, "secrets": secrets, "domains": domains}


def _next_due(hosted: HostedAgent, now: datetime) -> datetime | None:
    return now if hosted.every_minutes and not hosted.is_stopped else None


@transaction.atomic
def hosted_agent_create(*, owner: User, agent: Identity, **values) -> HostedAgent:
    """Host one of the owner's agents: Credence runs it with the strategy, schedule and budgets given."""
    owned_agent_lock(owner=owner, agent=agent)  # someone else's agent: NotFound; a suspended owner: refused
    unknown = set(values) - set(SETTINGS)
    if unknown:
        raise ValidationFailed(f"Unknown setting {sorted(unknown)[0]!r}.")
    values = _check({**DEFAULTS, **values})
    hosted = HostedAgent(identity=agent, **values)
    hosted.next_run_at = _next_due(hosted, timezone.now())
    if HostedAgent.objects.filter(identity=agent).exists():
        raise AlreadyHosted()
    try:
        with transaction.atomic():
            hosted.save()
    except IntegrityError:  # hosted concurrently
        raise AlreadyHosted() from None
    return hosted


@transaction.atomic
def hosted_agent_update(*, owner: User, hosted: HostedAgent, **changes) -> HostedAgent:
    """Change a hosted agent's settings (the secrets given replace those kept; the others stay)."""
    owned_agent_lock(owner=owner, agent=hosted.identity)
    hosted = _lock(hosted.pk)
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise ValidationFailed(f"Unknown setting {sorted(unknown)[0]!r}.")
    values = {name: getattr(hosted, name) for name in SETTINGS}
    if "strategy" in changes and changes["strategy"] != hosted.strategy:
        values["config"], values["secrets"] = {}, {}  # another strategy's settings mean nothing to this one
    values.update(changes)
    if "secrets" in changes:
        values["secrets"] = {
            **(hosted.secrets if changes.get("strategy", hosted.strategy) == hosted.strategy else {}),
            **(changes["secrets"] or {}),
        }
    values = _check(values)
    was_every = hosted.every_minutes
    for name, value in values.items():
        setattr(hosted, name, value)
    if hosted.every_minutes != was_every:
        hosted.next_run_at = _next_due(hosted, timezone.now())
    hosted.save()
    return hosted


@transaction.atomic
def hosted_agent_set(*, owner: User, agent: Identity, **values) -> tuple[HostedAgent, bool]:
    """Host the agent, or replace how it is hosted (True when it starts being hosted). Secrets given replace
    the ones kept; none given keep them (a form or a PUT never shows them back)."""
    hosted = HostedAgent.objects.filter(identity=agent).first()
    if hosted is None:
        return hosted_agent_create(owner=owner, agent=agent, **values), True
    if not values.get("secrets"):
        values.pop("secrets", None)
    return hosted_agent_update(owner=owner, hosted=hosted, **values), False


def _lock(pk: int) -> HostedAgent:
    return HostedAgent.objects.select_for_update(of=("self",), no_key=True).select_related("identity").get(pk=pk)


@transaction.atomic
def hosted_agent_stop(*, hosted: HostedAgent, by: User, reason: str = "") -> HostedAgent:
    """The kill switch: no run starts, and a running one ends before its next order. The owner's or staff's;
    staff's stays until staff start it again."""
    hosted = _lock(hosted.pk)
    if not by.is_staff and hosted.identity.owner_id != by.pk:  # a suspended owner may still stop their agent
        raise NotFound("No such agent.")
    if hosted.stopped_by == StoppedBy.STAFF or (hosted.stopped_by and not by.is_staff):
        return hosted  # already stopped (an owner's stop never replaces staff's)
    hosted.stopped_by = StoppedBy.STAFF if by.is_staff and hosted.identity.owner_id != by.pk else StoppedBy.OWNER
    hosted.stopped_at, hosted.stopped_reason = timezone.now(), reason.strip()[:300]
    hosted.next_run_at = None
    hosted.save(update_fields=["stopped_by", "stopped_at", "stopped_reason", "next_run_at", "updated_at"])
    return hosted


@transaction.atomic
def hosted_agent_start(*, hosted: HostedAgent, by: User) -> HostedAgent:
    """Lift the kill switch; its schedule starts again now."""
    if not by.is_staff:
        owned_agent_lock(owner=by, agent=hosted.identity)
    hosted = _lock(hosted.pk)
    if not by.is_staff and hosted.stopped_by == StoppedBy.STAFF:
        raise StoppedByStaff()
    if hosted.stopped_by:
        hosted.stopped_by, hosted.stopped_at, hosted.stopped_reason = "", None, ""
        hosted.next_run_at = _next_due(hosted, timezone.now())
        hosted.save(update_fields=["stopped_by", "stopped_at", "stopped_reason", "next_run_at", "updated_at"])
    return hosted


# --- Runs: created, dispatched --------------------------------------------------------------------------------


def _queue(run_ids: list[int]) -> None:
    """Queue runs (after commit), through one producer: a tick of a thousand is one connection, not a thousand.
    A run the broker did not take stays queued in the database; `agents_requeue` finds it."""
    from apps.agents import tasks  # tasks import this module

    if not run_ids:
        return
    try:
        with tasks.run.app.producer_or_acquire() as producer:
            for run_id in run_ids:
                tasks.run.apply_async((run_id,), producer=producer)
    except Exception:
        logger.exception("Could not queue %d hosted-agent run(s); the dispatcher queues them again", len(run_ids))


@transaction.atomic
def agent_run_request(*, hosted: HostedAgent, by: User, key: str, claims: list[int] | None = None) -> AgentRun:
    """Run now (the owner's "run now"), once per key: a retry with the same key answers the same run."""
    owned_agent_lock(owner=by, agent=hosted.identity)
    hosted = _lock(hosted.pk)
    if hosted.is_stopped:
        raise AgentStopped()
    if hosted.identity.status != IdentityStatus.ACTIVE:
        raise AgentStopped("This agent is suspended: reactivate it first.")
    detail = {"by": by.pk, **({"claims": sorted(set(claims))} if claims else {})}
    run, created = AgentRun.objects.get_or_create(
        agent=hosted, key=f"manual:{key}", defaults={"trigger": "manual", "trigger_detail": detail}
    )
    if created:
        transaction.on_commit(partial(_queue, [run.pk]))
    run.replayed = not created
    return run


# One tick on PostgreSQL, as one statement: the due agents locked (SKIP LOCKED: a racing tick takes others), their
# schedules moved on, and a run inserted for each that has none queued or running, without a row through Python.
_PG_DISPATCH = """
WITH due AS (
    SELECT h.id, h.next_run_at, h.due_reason, h.every_minutes
    FROM agents_hostedagent h JOIN identities_identity i ON i.id = h.identity_id
        JOIN identities_identity o ON o.user_id = i.owner_id
    WHERE h.stopped_by = '' AND h.next_run_at <= %(now)s AND i.status = 'active' AND o.status = 'active'
    ORDER BY h.next_run_at LIMIT %(limit)s
    FOR NO KEY UPDATE OF h SKIP LOCKED
), moved AS (
    UPDATE agents_hostedagent h SET due_reason = '{}'::jsonb, next_run_at = CASE WHEN due.every_minutes IS NULL
        THEN NULL ELSE %(now)s + due.every_minutes * interval '1 minute' END
    FROM due WHERE h.id = due.id
)
INSERT INTO agents_agentrun (agent_id, trigger, trigger_detail, key, state, spent, orders_placed, attempts,
    outcome, error, traceback, tokens_in, tokens_out, model_cost, created_at, queued_at)
SELECT due.id, CASE WHEN due.due_reason ? 'claims' THEN 'event' ELSE 'schedule' END,
    due.due_reason || jsonb_build_object('due_at', to_char(due.next_run_at AT TIME ZONE 'UTC', %(format)s)),
    'due:' || (extract(epoch FROM due.next_run_at) * 1000000)::bigint, 'queued', 0, 0, 0,
    '', '', '', 0, 0, 0, %(now)s, %(now)s
FROM due
WHERE NOT EXISTS (SELECT 1 FROM agents_agentrun r WHERE r.agent_id = due.id AND r.state IN ('queued', 'running'))
RETURNING id
"""
PG_ISO = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def due_key(due_at: datetime) -> str:
    """A scheduled run's key: its due time in microseconds since the epoch (one run per agent per due time)."""
    return f"due:{(due_at - EPOCH) // timedelta(microseconds=1)}"


def due_iso(due_at: datetime) -> str:
    return due_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def agents_dispatch(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """One beat tick: every due agent gets one run (its due reasons: the schedule, events), queued after
    commit; its next due time moves on. Due agents are taken with SKIP LOCKED, so two ticks racing split
    them. An agent whose last run is still queued or running is not given another: its slot is skipped."""
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_PG_DISPATCH, {"now": now, "limit": limit, "format": PG_ISO})
                run_ids = [row[0] for row in cursor.fetchall()]
        else:
            run_ids = _dispatch_portably(now, limit)
        transaction.on_commit(partial(_queue, run_ids))
    return run_ids


def _dispatch_portably(now: datetime, limit: int) -> list[int]:
    """What _PG_DISPATCH does, for SQLite (embedded mode: one writer at a time, no row locks to skip)."""
    due = list(
        HostedAgent.objects.filter(stopped_by="", next_run_at__lte=now, identity__status=IdentityStatus.ACTIVE)
        .filter(identity__owner__identity__status=IdentityStatus.ACTIVE)
        .order_by("next_run_at")
        .values_list("pk", "next_run_at", "due_reason", "every_minutes")[:limit]
    )
    busy = set(
        AgentRun.objects.filter(
            agent_id__in=[pk for pk, *_ in due], state__in=(RunState.QUEUED, RunState.RUNNING)
        ).values_list("agent_id", flat=True)
    )
    runs = [
        AgentRun(
            agent_id=pk,
            trigger="event" if "claims" in reason else "schedule",
            trigger_detail={**reason, "due_at": due_iso(due_at)},
            key=due_key(due_at),
            queued_at=now,
        )
        for pk, due_at, reason, _ in due
        if pk not in busy
    ]
    AgentRun.objects.bulk_create(runs)
    by_interval: dict[int | None, list[int]] = {}
    for pk, _, _, every in due:
        by_interval.setdefault(every, []).append(pk)
    for every, pks in by_interval.items():  # one UPDATE per schedule length (SQLite has no interval arithmetic)
        next_run_at = now + timedelta(minutes=every) if every else None
        HostedAgent.objects.filter(pk__in=pks).update(next_run_at=next_run_at, due_reason={})
    return [run.pk for run in runs]


def agents_due_on(*, agent_ids: list[int], claims: list[int], events_seen: list[int], now: datetime) -> int:
    """Make agents due now for these claims (an event trigger fired): their next dispatch runs them with the
    claims in their due reason, merged with any already there."""
    if not agent_ids:
        return 0
    with transaction.atomic():
        agents = list(
            HostedAgent.objects.select_for_update(no_key=True).filter(pk__in=agent_ids, stopped_by="").order_by("pk")
        )
        for hosted in agents:
            reason = dict(hosted.due_reason or {})
            reason["claims"] = sorted(set(reason.get("claims", [])) | set(claims))[:200]
            reason["events"] = sorted(set(reason.get("events", [])) | set(events_seen))[-50:]
            hosted.due_reason = reason
            hosted.next_run_at = min(hosted.next_run_at, now) if hosted.next_run_at else now
        HostedAgent.objects.bulk_update(agents, ["due_reason", "next_run_at"])
    return len(agents)


def agents_requeue(*, now: datetime | None = None) -> list[int]:
    """Queue again the runs still queued in the database long after their task was sent (the broker was down,
    or lost it): a run executed twice is harmless (run_execute), one never executed would be lost."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CREDENCE_AGENT_RUN_REQUEUE_SECONDS)
    with transaction.atomic():
        lost = list(
            AgentRun.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(state=RunState.QUEUED, queued_at__lt=cutoff)
            .values_list("pk", flat=True)[:1000]
        )
        AgentRun.objects.filter(pk__in=lost).update(queued_at=now)
        transaction.on_commit(partial(_queue, lost))
    return lost


# --- Running ------------------------------------------------------------------------------------------------


@contextmanager
def _run_lock(run_id: int):
    """One executor per run at a time, across workers: a session advisory lock, which PostgreSQL releases
    itself if the process holding it dies (a killed worker's run can be taken at once by its redelivery).
    SQLite (embedded mode, one worker) needs none."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, run_id])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, run_id])


def run_execute(*, run_id: int) -> str:
    """Run (or go on with) one run, to its end or to its next pause. Safe to call twice: a finished run is left
    alone, one another worker is executing is skipped, a paused one waits for its answer."""
    with _run_lock(run_id) as held:
        if not held:
            return "busy"
        run = AgentRun.objects.select_related("agent__identity", "waiting_on").get(pk=run_id)
        if run.state in FINISHED_STATES:
            return run.state
        if run.state == RunState.PAUSED and run.waiting_on is not None and run.waiting_on.is_open:
            return run.state
        hosted = run.agent
        now = timezone.now()
        attempts = run.attempts + 1
        started = run.started_at or now
        AgentRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, attempts=attempts, started_at=started)
        run.state, run.attempts, run.started_at = RunState.RUNNING, attempts, started
        if attempts > settings.CREDENCE_AGENT_RUN_MAX_ATTEMPTS:
            return _finish(
                run, RunState.FAILED, f"Gave up after {attempts - 1} attempts: its worker was lost each time."
            )
        if hosted.is_stopped:
            return _finish(
                run, RunState.STOPPED, f"Stopped by {hosted.get_stopped_by_display().lower()} before it ran."
            )
        if hosted.identity.status != IdentityStatus.ACTIVE:
            return _finish(run, RunState.STOPPED, "The agent is suspended.")
        if not Identity.objects.filter(user_id=hosted.identity.owner_id, status=IdentityStatus.ACTIVE).exists():
            return _finish(run, RunState.STOPPED, "The agent's owner is suspended.")
        strategy = REGISTRY.get(hosted.strategy)
        if strategy is None:
            return _finish(run, RunState.FAILED, f"Its strategy {hosted.strategy!r} is no longer offered.")
        ctx = runtime.RunContext(run, hosted, now=started)
        config = {**strategy.defaults(), **hosted.config, **hosted.secrets}
        try:
            strategy().run(ctx, config)
        except runtime.Paused:
            return RunState.PAUSED
        except runtime.Stopped as exc:
            return _finish(run, RunState.STOPPED, str(exc), ctx)
        except SoftTimeLimitExceeded as exc:
            return _finish(run, RunState.TIMED_OUT, f"Ran past its time limit ({type(exc).__name__}).", ctx)
        except Exception as exc:
            logger.info("Run %s of hosted agent %s failed", run.pk, hosted.pk, exc_info=True)
            return _finish(
                run, RunState.FAILED, f"{type(exc).__name__}: {exc}"[:300], ctx, error=exc, tb=traceback.format_exc()
            )
        return _finish(run, RunState.SUCCEEDED, _summary(ctx.journal), ctx)


def _summary(journal: list[dict]) -> str:
    orders = [e for e in journal if e["op"] == "order"]
    placed = sum(1 for e in orders if e["result"].get("placed"))
    decided = sum(1 for e in journal if e["op"] == "decide")
    return f"{decided} decision{'s' * (decided != 1)}, {placed} order{'s' * (placed != 1)} placed"


def _seen_prices(journal: list[dict]) -> dict[str, str]:
    """The last price the run knew of each claim: what it read, then what its own orders moved it to (so its
    own trades never set off its price-move trigger)."""
    seen: dict[str, str] = {}
    for entry in journal:
        if entry["op"] == "claims":
            seen.update({str(c["id"]): c["price_yes"] for c in entry["result"]})
        elif entry["op"] == "claim" and entry["result"]:
            seen[str(entry["result"]["id"])] = entry["result"]["price_yes"]
        elif entry["op"] == "order" and entry["result"].get("placed"):
            seen[str(entry["claim"])] = entry["result"]["price_after"]
    return seen


@transaction.atomic
def _finish(
    run: AgentRun, state: str, outcome: str, ctx: runtime.RunContext | None = None, *, error=None, tb=""
) -> str:
    """End a run: its state and outcome, the journal entries not saved yet, the prices it knew merged into the
    agent's, and `agent.run.finished` (what it spent is the sum of its orders in the journal)."""
    now = timezone.now()
    if ctx is not None:
        _save_steps(run, ctx.journal[ctx.saved :])
    journal = ctx.journal if ctx is not None else run.journal
    orders = [entry["result"] for entry in journal if entry["op"] == "order"]
    fields = {
        "state": state,
        "outcome": outcome[:300],
        "finished_at": now,
        "duration_ms": int((now - run.started_at).total_seconds() * 1000),
        "waiting_on": None,
    }
    if error is not None:
        fields.update(error=f"{type(error).__name__}: {error}"[:5000], traceback=tb[-20000:])
    AgentRun.objects.filter(pk=run.pk).update(**fields)
    seen = _seen_prices(journal)
    if seen:  # merged in the database: two runs finishing at once both keep theirs
        HostedAgent.objects.filter(pk=run.agent_id).update(seen_prices=JsonMerged("seen_prices", seen))
    event_emit(
        kind=events.AGENT_RUN_FINISHED.name,
        subject=f"identity:{run.agent.identity_id}",
        actor_identity_id=run.agent.identity_id,
        payload={
            "run": run.pk,
            "outcome": state,
            "orders": sum(1 for result in orders if result["placed"]),
            "spent": sum(result["spent"] for result in orders),
        },
    )
    metrics.count_on_commit(metrics.AGENT_RUNS, outcome=state)
    return state


class JsonMerged(Func):
    """A JSON object column with another object's keys set in it (PostgreSQL's ||, SQLite's json_patch)."""

    function = "json_patch"
    output_field = JSONField()

    def __init__(self, column: str, patch: dict) -> None:
        super().__init__(F(column), Value(patch, output_field=JSONField()))

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" || ", **extra_context)


def _save_steps(run: AgentRun, entries: list[dict]) -> None:
    """Append journal entries to a live run's steps."""
    AgentStep.objects.bulk_create(AgentStep(run_id=run.pk, step=entry["step"], entry=entry) for entry in entries)


def run_step_record(*, run: AgentRun, entry: dict) -> None:
    """Keep what a saved step learnt since (the answer to a question, read when the run goes on)."""
    AgentStep.objects.filter(run_id=run.pk, step=entry["step"]).update(entry=entry)


def run_journal_save(
    *, run: AgentRun, journal: list[dict], saved: int, tokens_in: int = 0, tokens_out: int = 0, cost=0
) -> None:
    """Keep the journal's unsaved entries (a model call's, at once: a replay must not pay for it again)."""
    with transaction.atomic():
        _save_steps(run, journal[saved:])
        AgentRun.objects.filter(pk=run.pk).update(
            tokens_in=F("tokens_in") + tokens_in,
            tokens_out=F("tokens_out") + tokens_out,
            model_cost=F("model_cost") + Decimal(str(cost)),
        )


# --- An order, within the budgets ------------------------------------------------------------------------------


def as_date(value) -> date | None:
    """A DATE column as the backend hands it back (SQLite: a string)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def spent_today_of(hosted: HostedAgent) -> int:
    """What it spent in this UTC day (the counter restarts on the first order of a day)."""
    return hosted.spent_today if hosted.spent_day == timezone.now().date() else 0


def _order_json(order: Order) -> dict:
    return {
        "kind": order.kind,
        "side": order.side,
        "amount": order.amount,
        "belief": None if order.belief is None else format(order.belief, "f"),
    }


# An order's reads, in one round trip under the agent's row lock: the kill switch, the budgets and what the day
# has spent, what the run has spent, whether this step ordered already, and what the agent has invested in the
# claim. Only the lock clause is formatted in (PostgreSQL's; SQLite has one writer at a time).
_ORDER_CONTEXT = (
    "SELECT h.stopped_by, h.spent_day, h.spent_today, h.budget_per_run, h.budget_per_day, h.budget_per_position, "
    "r.spent, (SELECT count(*) FROM agents_agentorder o WHERE o.run_id = r.id AND o.step = %s), "
    "(SELECT p.net_invested FROM markets_position p JOIN markets_market m ON m.id = p.market_id "
    "WHERE m.claim_id = %s AND p.identity_id = h.identity_id) "
    "FROM agents_hostedagent h JOIN agents_agentrun r ON r.id = %s WHERE h.id = %s {lock}"
)
_INSERT_ORDER = (
    "INSERT INTO agents_agentorder (run_id, step, claim_id, trade_id, review_id, spent, refused, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
_UPDATE_AGENT = "UPDATE agents_hostedagent SET spent_day = %s, spent_today = %s WHERE id = %s"
_UPDATE_RUN = "UPDATE agents_agentrun SET spent = spent + %s, orders_placed = orders_placed + %s WHERE id = %s"
_INSERT_STEPS = (
    "s AS (INSERT INTO agents_agentstep (run_id, step, entry) "
    "SELECT %s, (e ->> 'step')::integer, e FROM jsonb_array_elements(%s::jsonb) AS e) "
)
# PostgreSQL: the writes in one statement, the journal's new entries appended as step rows.
_PG_WRITE_ORDER = f"WITH o AS ({_INSERT_ORDER}), h AS ({_UPDATE_AGENT}), {_INSERT_STEPS}{_UPDATE_RUN}"
_PG_WRITE_REFUSAL = f"WITH o AS ({_INSERT_ORDER}), {_INSERT_STEPS}{_UPDATE_RUN}"


def _record_order(run: AgentRun, entry: dict, journal: list[dict], saved: int, *, agent: tuple | None) -> None:
    """Write the order's row, the agent's day spend (`agent`: (day, spent today, id); None when nothing was
    spent), the journal entries not saved yet (`journal[saved:]` and this order's) as steps, and the run's
    totals. On PostgreSQL one statement."""
    result = entry["result"]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    order_row = [run.pk, entry["step"], entry["claim"], result["trade"], result["review"], result["spent"]]
    order_row += [result["refused"] or "", now]
    totals = [result["spent"], int(result["placed"]), run.pk]
    steps = [*journal[saved:], entry]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            appended = [run.pk, json.dumps(steps)]
            if agent is None:
                cursor.execute(_PG_WRITE_REFUSAL, [*order_row, *appended, *totals])
            else:
                cursor.execute(_PG_WRITE_ORDER, [*order_row, *agent, *appended, *totals])
            return
        cursor.execute(_INSERT_ORDER, order_row)
        if agent is not None:
            cursor.execute(_UPDATE_AGENT, [connection.ops.adapt_datefield_value(agent[0]), *agent[1:]])
        cursor.execute(_UPDATE_RUN, totals)
    _save_steps(run, steps)


def run_order(*, run: AgentRun, step: int, claim_id: int, order: Order, journal: list[dict], saved: int) -> dict:
    """Place a run's order at `step`, cut to what the budgets leave, and record it with the run's journal (of
    which the first `saved` entries are saved already), in one transaction under the agent's lock. Returns the
    journal entry. A refusal (the budgets leave nothing, the market closed, too little credit) is recorded as
    the step's result; the kill switch raises runtime.Stopped.

    The trade is placed inside this transaction without a savepoint of its own (`trade_place_joined`): a
    refusal rolls the whole transaction back, and the refusal is recorded after, in its own."""
    entry = {"step": step, "op": "order", "claim": claim_id, "order": _order_json(order)}
    result = {"placed": False, "trade": None, "review": None, "refused": None, "spent": 0}
    entry["result"] = result
    hosted = run.agent
    lock = "FOR NO KEY UPDATE OF h" if connection.vendor == "postgresql" else ""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_ORDER_CONTEXT.format(lock=lock), [step, claim_id, run.pk, hosted.pk])
                stopped_by, day, today_spent, per_run, per_day, per_position, run_spent, done, invested = (
                    cursor.fetchone()
                )
            if stopped_by:
                raise runtime.Stopped(f"Stopped by {StoppedBy(stopped_by).label.lower()} during the run.")
            if done:  # placed by an execution whose journal this one did not load (never expected)
                raise runtime.JournalMismatch(f"Step {step} placed an order already; its journal was not loaded.")
            today = timezone.now().date()
            spent_today = today_spent if as_date(day) == today else 0
            room = min(per_run - run_spent, per_day - spent_today, per_position - max(invested or 0, 0))
            if room <= 0:
                result.update(refused="budget", message="Its budgets leave nothing to spend.", room=max(room, 0))
                _record_order(run, entry, journal, saved, agent=None)
                return entry
            order = dataclasses.replace(order, amount=min(order.amount, room))
            entry["order"]["amount"] = order.amount
            placed = trade_place_joined(
                identity=hosted.identity, claim=claim_id, order=order, idempotency_key=f"agent-run:{run.pk}:{step}"
            )
            if isinstance(placed, TradePaused):
                spent = placed.review.held  # held from the wallet while its owner reviews it: counted now
                result.update(review=placed.review.pk, paused=True)
            else:
                spent = max(placed.cost, 0) + placed.fee
                result.update(
                    placed=True, trade=placed.pk, side=placed.side, shares=placed.shares, cost=placed.cost,
                    fee=placed.fee, price_after=format(placed.price_after, "f"),
                )  # fmt: skip
            if spent > room:  # never expected: a fill is priced within its amount; this rolls the trade back
                raise BudgetExceeded(detail={"spent": spent, "room": room})
            result["spent"] = spent
            _record_order(run, entry, journal, saved, agent=(today, spent_today + spent, hosted.pk))
            return entry
    except ApplicationError as exc:
        if isinstance(exc, BudgetExceeded):
            raise
        result.update(placed=False, trade=None, review=None, spent=0, refused=exc.code, message=exc.message)
        result.pop("paused", None)
        with transaction.atomic():
            _record_order(run, entry, journal, saved, agent=None)
        return entry


# --- Asking a person ---------------------------------------------------------------------------------------------


@transaction.atomic
def run_ask(
    *, run: AgentRun, step: int, question: str, schema: dict, timeout: int, default, journal: list[dict], saved: int
) -> ReviewRequest:
    """The run asks its owner (a review request whose continuation resumes it) and pauses, its journal saved."""
    low, high = ASK_TIMEOUT_RANGE
    if type(timeout) is not int or not low <= timeout <= high:
        raise ValidationFailed(f"ask_human's timeout must be {low} to {high} seconds.")
    hosted = run.agent
    request = review_ask(
        requester=hosted.identity,
        question=question,
        context={"run": run.pk, "step": step, "agent": hosted.identity.handle},
        answer_schema=schema,
        pool=Pool.OWNER,
        pool_scope="",
        reviewers_required=1,
        agreement=Agreement.FIRST,
        timeout_seconds=timeout,
        timeout_answer=default,
        price=0,
        idempotency_key=f"agent-run:{run.pk}:ask:{step}",
        continuation=CONTINUATION,
    )
    journal.append({"step": step, "op": "ask", "question": question, "review": request.pk})
    _save_steps(run, journal[saved:])
    AgentRun.objects.filter(pk=run.pk).update(state=RunState.PAUSED, waiting_on=request)
    return request


def run_asked(*, review_id: int) -> dict | None:
    """The answer to a run's question once its request is finished: the decision, or the default on timeout."""
    request = ReviewRequest.objects.get(pk=review_id)
    if request.is_open:
        return None
    outcome = request.outcome or {}
    if request.state == RequestState.ANSWERED:
        return {"answer": outcome.get("value"), "how": "answered"}
    if request.state == RequestState.TIMED_OUT:
        return {"answer": request.timeout_answer, "how": "timed_out"}
    return {"answer": request.timeout_answer, "how": request.state}  # cancelled: the default, as on timeout


def run_resume_after(request: ReviewRequest) -> dict:
    """The `agents.run` continuation: the run that asked is queued again (after commit), to go on at its step."""
    run = AgentRun.objects.select_for_update(no_key=True).filter(waiting_on=request).first()
    if run is None or run.state in FINISHED_STATES:
        return {"run": run.pk if run else None, "queued": False}
    AgentRun.objects.filter(pk=run.pk).update(state=RunState.QUEUED, queued_at=timezone.now())
    transaction.on_commit(partial(_queue, [run.pk]))
    return {"run": run.pk, "queued": True}


# --- Event triggers ----------------------------------------------------------------------------------------------

TRIGGER_KINDS = (events.CLAIM_OPENED.name, events.MARKET_PRICE_CHANGED.name)


def _follows(hosted: dict, domain: str | None) -> bool:
    return domain is not None and (not hosted["domains"] or domain in hosted["domains"])


def agents_triggers(*, now: datetime | None = None) -> int:
    """Read what happened since the last pass (the outbox, with a cursor: nothing missed or seen twice) and
    make due the agents it concerns: a claim opened in their domains, a price that moved by more than their
    threshold from the last price their runs knew; and, once per claim, a claim about to close."""
    now = now or timezone.now()
    due: dict[int, tuple[set[int], set[int]]] = {}

    def fire(agent_id: int, claim_id: int, event_id: int | None) -> None:
        claims, seen = due.setdefault(agent_id, (set(), set()))
        claims.add(claim_id)
        if event_id is not None:
            seen.add(event_id)

    with outbox_batch("agents.triggers", kinds=TRIGGER_KINDS, limit=2000) as batch:
        if batch:
            claim_of = {event.id: int(event.subject.split(":", 1)[1]) for event in batch}
            domain_of = dict(Claim.objects.filter(pk__in=set(claim_of.values())).values_list("pk", "domain__slug"))
            watchers = list(
                HostedAgent.objects.filter(stopped_by="")
                .filter(Q(on_claim_opened=True) | Q(on_price_move__isnull=False))
                .values("pk", "domains", "on_claim_opened", "on_price_move", "seen_prices")
            )
            opened = [(e.id, claim_of[e.id]) for e in batch if e.kind == events.CLAIM_OPENED.name]
            latest: dict[int, tuple[int, Decimal]] = {}
            for e in batch:
                if e.kind == events.MARKET_PRICE_CHANGED.name:
                    latest[claim_of[e.id]] = (e.id, Decimal(e.payload["price_yes"]))
            for hosted in watchers:
                if hosted["on_claim_opened"]:
                    for event_id, claim_id in opened:
                        if _follows(hosted, domain_of.get(claim_id)):
                            fire(hosted["pk"], claim_id, event_id)
                if hosted["on_price_move"] is not None:
                    for claim_id, (event_id, price) in latest.items():
                        seen = Decimal(hosted["seen_prices"].get(str(claim_id), "0.5"))
                        if _follows(hosted, domain_of.get(claim_id)) and abs(price - seen) > hosted["on_price_move"]:
                            fire(hosted["pk"], claim_id, event_id)
            for agent_id, (claims, seen) in due.items():
                agents_due_on(agent_ids=[agent_id], claims=sorted(claims), events_seen=sorted(seen), now=now)
    return len(due) + _closing_soon(now)


def _closing_soon(now: datetime) -> int:
    """Agents that run once on each claim in their domains as it nears its close."""
    fired = 0
    for hosted in HostedAgent.objects.filter(stopped_by="", on_closing_minutes__isnull=False).values(
        "pk", "domains", "on_closing_minutes"
    ):
        claims = Claim.objects.filter(
            status=ClaimStatus.OPEN,
            closes_at__gt=now,
            closes_at__lte=now + timedelta(minutes=hosted["on_closing_minutes"]),
        )
        if hosted["domains"]:
            claims = claims.filter(domain__slug__in=hosted["domains"])
        claim_ids = list(claims.values_list("pk", flat=True)[:200])
        if not claim_ids:
            continue
        with transaction.atomic():
            HostedAgent.objects.select_for_update(no_key=True).filter(
                pk=hosted["pk"]
            ).first()  # two passes: one at a time
            keys = {f"closing:{pk}": pk for pk in claim_ids}
            done = set(AgentTrigger.objects.filter(agent_id=hosted["pk"], key__in=keys).values_list("key", flat=True))
            new = [pk for key, pk in keys.items() if key not in done]
            if new:
                AgentTrigger.objects.bulk_create(
                    [AgentTrigger(agent_id=hosted["pk"], key=f"closing:{pk}") for pk in new]
                )
                agents_due_on(agent_ids=[hosted["pk"]], claims=new, events_seen=[], now=now)
                fired += 1
    return fired
