"""Hosted agents over REST: the strategies on offer, an agent's hosting (strategy, configuration, schedule,
triggers, budgets, the kill switch), "run now", and the run log.

Setting an agent up, stopping it and running it are its owner's (a browser session): an agent's own key can
read its hosting and its runs, never raise its own budgets. Someone else's agent is a 404.
"""

import operator
from datetime import datetime
from functools import reduce
from typing import Annotated, Any, Literal

import jsonschema
from django.http import HttpRequest, HttpResponse
from ninja import Body, Field, Query, Schema, Status
from pydantic import ValidationInfo, create_model, field_validator

from apps.agents import selectors, services
from apps.agents.models import AgentRun, HostedAgent
from apps.agents.strategies import REGISTRY
from apps.core.api import (
    AUTH_ERRORS,
    BODY_ERRORS,
    NUL_MESSAGE,
    Page,
    errors,
    keyset_page,
    nul_path,
    require_idempotency_key,
)
from apps.core.api_types import (
    IDEMPOTENT,
    NO_NUL,
    ApiRouter,
    DomainSlug,
    IdempotencyKeyHeader,
    Input,
    PageQuery,
    ParamInt,
    body_int,
    plain_json,
)
from apps.core.errors import NotFound
from apps.identities.auth import key_or_session, session_only
from apps.identities.models import Identity, IdentityKind
from apps.identities.selectors import agent_of_owner
from apps.ledger.services import MAX_AMOUNT

router = ApiRouter(tags=["hosted agents"])

StrategyKey = Annotated[str, Field(pattern=r"^[a-z_]{1,40}$", description="A strategy's key (GET /strategies).")]
Budget = body_int(ge=0, le=MAX_AMOUNT)
Minutes = body_int(ge=1, le=7 * 24 * 60)
RunState = Literal["queued", "running", "paused", "succeeded", "failed", "stopped", "timed_out"]


class StrategyOut(Schema):
    key: str
    label: str
    description: str
    config_schema: dict[str, Any] = Field(description="JSON Schema (2020-12) of its `config`.")
    secret_fields: list[str] = Field(description="Settings taken in `secrets`: never shown again once saved.")


class HostingFields(Input):
    """What every strategy's hosting body holds; `_hosting_for` adds `strategy`, `config` and `secrets`."""

    every_minutes: Minutes | None = Field(None, description="Run every N minutes; null: only on events.")
    on_claim_opened: bool = Field(False, description="Run when a claim opens in its domains.")
    on_price_move: float | None = Field(
        None, ge=0.001, lt=1, description="Run when a price moves by more than this from the last price a run saw."
    )
    on_closing_minutes: Minutes | None = Field(None, description="Run once on each claim this close to closing.")
    domains: list[DomainSlug] = Field(default_factory=list, max_length=50, description="Domains followed; [] is all.")
    budget_per_run: Budget = Field(description="Micro-credits one run may spend, fees included.")
    budget_per_day: Budget = Field(description="Micro-credits it may spend in a UTC day, fees included.")
    budget_per_position: Budget = Field(description="Micro-credits it may have invested in one claim.")

    @field_validator("config", check_fields=False)
    @classmethod
    def _config_fits_its_strategy(cls, config: dict, info: ValidationInfo) -> dict:
        """The strategy's own schema, stated in this operation's schema too: a config it admits is accepted."""
        if "strategy" not in info.data:
            return config  # the strategy itself was refused: that is the error to report
        strategy = BUILT_IN[info.data["strategy"]]
        config = plain_json(config)
        where = nul_path(config)
        if where is not None:
            raise ValueError(f"config{''.join(f'.{key}' for key in where)}: {NUL_MESSAGE}")
        errors = sorted(jsonschema.Draft202012Validator(strategy.config_schema()).iter_errors(config), key=str)
        if errors:
            at = "".join(f".{key}" for key in errors[0].absolute_path)
            raise ValueError(f"config{at}: {errors[0].message}")
        return config

    @field_validator("secrets", check_fields=False)
    @classmethod
    def _secrets_of_its_strategy(cls, secrets: dict, info: ValidationInfo) -> dict:
        if "strategy" not in info.data:
            return secrets
        strategy = BUILT_IN[info.data["strategy"]]
        unknown = set(secrets) - set(strategy.secret_fields)
        if unknown:
            raise ValueError(f"{strategy.key} takes no secret {sorted(unknown)[0]!r}")
        return secrets


def _hosting_for(strategy) -> type[HostingFields]:
    """The hosting body of one strategy: its key, and its config as its JSON Schema states it."""
    config_schema = {k: v for k, v in strategy.config_schema().items() if k != "$schema"}
    secrets = {name: {"type": "string", "maxLength": 500} for name in strategy.secret_fields}
    name = "".join(part.capitalize() for part in strategy.key.split("_"))
    return create_model(
        f"{name}HostingIn",
        __base__=HostingFields,
        strategy=(Literal[strategy.key], Field(description=strategy.label)),
        config=(dict[str, Any], Field(default_factory=dict, json_schema_extra=config_schema)),
        secrets=(
            dict[str, Annotated[str, Field(max_length=500, pattern=NO_NUL)]],
            Field(
                default_factory=dict,
                description="Write-only settings: kept, never returned.",
                json_schema_extra={"properties": secrets, "additionalProperties": False},
            ),
        ),
    )


# Every built-in strategy, whether offered now or not (the language-model one is refused with 404 while the
# platform has it off): the schema does not change with a setting.
BUILT_IN = dict(REGISTRY)
HostingIn = Annotated[
    reduce(operator.or_, [_hosting_for(strategy) for strategy in BUILT_IN.values()]),
    Field(discriminator="strategy"),
]


class HostingPatch(Input):
    strategy: StrategyKey | None = None
    config: dict[str, Any] | None = None
    secrets: dict[str, Annotated[str, Field(max_length=500, pattern=NO_NUL)]] | None = None
    every_minutes: Minutes | None = None
    on_claim_opened: bool | None = None
    on_price_move: float | None = Field(None, ge=0.001, lt=1)
    on_closing_minutes: Minutes | None = None
    domains: list[DomainSlug] | None = Field(None, max_length=50)
    budget_per_run: Budget | None = None
    budget_per_day: Budget | None = None
    budget_per_position: Budget | None = None


class HostingOut(Schema):
    agent: int = Field(alias="identity_id")
    strategy: str
    config: dict[str, Any]
    secrets_set: list[str] = Field(description="The names of the secrets kept (never their values).")
    every_minutes: int | None
    on_claim_opened: bool
    on_price_move: float | None
    on_closing_minutes: int | None
    domains: list[str]
    budget_per_run: int
    budget_per_day: int
    budget_per_position: int
    spent_today: int = Field(description="Micro-credits spent in this UTC day.")
    next_run_at: datetime | None
    stopped_by: Literal["", "owner", "staff"] = Field(description="The kill switch: '' while it may run.")
    stopped_at: datetime | None
    stopped_reason: str
    created_at: datetime
    updated_at: datetime


class StopIn(Input):
    reason: str = Field("", max_length=300, pattern=NO_NUL)


class RunIn(Input):
    claims: list[body_int(ge=1, le=2**63 - 1)] | None = Field(
        None, max_length=200, description="Claims to look at (default: its domains' open claims)."
    )


class RunOut(Schema):
    id: int
    trigger: str = Field(description="'schedule', 'event' or 'manual'.")
    trigger_detail: dict[str, Any]
    state: RunState
    outcome: str
    spent: int = Field(description="Micro-credits its orders cost, fees included (and what paused orders hold).")
    orders_placed: int
    attempts: int = Field(description="Executions (more than one when a worker was lost or it was resumed).")
    waiting_on: int | None = Field(alias="waiting_on_id", description="The review it waits on, when paused.")
    tokens_in: int
    tokens_out: int
    model_cost: str = Field(description="What the model calls cost, in the endpoint's currency.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    replayed: bool = Field(False, description="True when this answers a retry with the same Idempotency-Key.")


class RunOrderOut(Schema):
    step: int
    claim_id: int
    trade_id: int | None
    review_id: int | None
    spent: int
    refused: str
    created_at: datetime


class RunDetailOut(RunOut):
    journal: list[dict[str, Any]] = Field(
        description="Every step in order: reads (op claims, claim, history, position with their result), "
        "decisions (op decide: claim, action, reason), orders (op order: the order and its result), questions "
        "(op ask: question, review, answer) and model calls (op model: request, reply, tokens, cost)."
    )
    orders: list[RunOrderOut]
    error: str
    traceback: str


class RunPage(Page):
    items: list[RunOut]


class RunQuery(PageQuery):
    state: RunState | None = None


def _agent(request: HttpRequest, agent_id: int) -> Identity:
    """The agent the caller may see: a key's own agent, or a signed-in owner's."""
    caller = request.auth
    if caller.api_key is not None:
        agent = caller.identity if caller.identity.pk == agent_id else None
    else:
        agent = agent_of_owner(request.user, agent_id)
    if agent is None or agent.kind != IdentityKind.AGENT:
        raise NotFound("No such agent.")
    return agent


def _hosted(request: HttpRequest, agent_id: int) -> HostedAgent:
    hosted = selectors.hosted_agent_for(agent=_agent(request, agent_id))
    if hosted is None:
        raise NotFound("This agent is not hosted.")
    return hosted


def _hosting_out(hosted: HostedAgent) -> dict:
    out = {name: getattr(hosted, name) for name in HostingOut.model_fields if hasattr(hosted, name)}
    out.update(
        identity_id=hosted.identity_id,
        secrets_set=sorted(hosted.secrets),
        on_price_move=float(hosted.on_price_move) if hosted.on_price_move is not None else None,
        spent_today=services.spent_today_of(hosted),
    )
    return out


RUN_FIELDS = (
    "id", "trigger", "trigger_detail", "state", "outcome", "spent", "orders_placed", "attempts", "waiting_on_id",
    "tokens_in", "tokens_out", "created_at", "started_at", "finished_at", "duration_ms",
)  # fmt: skip


def _run_out(run: AgentRun) -> dict:
    out = {name: getattr(run, name) for name in RUN_FIELDS}
    out.update(model_cost=format(run.model_cost, "f"), replayed=getattr(run, "replayed", False))
    return out


@router.get(
    "/strategies",
    response={200: list[StrategyOut], **errors(*AUTH_ERRORS)},
    auth=key_or_session("read"),
    summary="The strategies a hosted agent may run",
)
def strategies_list(request: HttpRequest):
    return [
        {
            "key": s.key,
            "label": s.label,
            "description": s.description,
            "config_schema": s.config_schema(),
            "secret_fields": list(s.secret_fields),
        }
        for s in REGISTRY.values()
        if s.offered()
    ]


@router.get(
    "/agents/{agent_id}/hosting",
    response={200: HostingOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=key_or_session("read"),
    summary="How an agent is hosted",
)
def hosting_get(request: HttpRequest, agent_id: ParamInt):
    return _hosting_out(_hosted(request, agent_id))


@router.put(
    "/agents/{agent_id}/hosting",
    response={201: HostingOut, 200: HostingOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=session_only,
    summary="Host one of my agents, or replace its hosting settings (201 when it starts being hosted)",
)
def hosting_put(request: HttpRequest, agent_id: ParamInt, payload: Body[HostingIn]):
    hosted, created = services.hosted_agent_set(
        owner=request.user, agent=_agent(request, agent_id), **payload.model_dump()
    )
    return Status(201 if created else 200, _hosting_out(hosted))


@router.patch(
    "/agents/{agent_id}/hosting",
    response={200: HostingOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=session_only,
    summary="Change some of a hosted agent's settings (null: leave as is)",
)
def hosting_patch(request: HttpRequest, agent_id: ParamInt, payload: HostingPatch):
    hosted = _hosted(request, agent_id)
    changes = payload.model_dump(exclude_unset=True)
    changes = {name: value for name, value in changes.items() if value is not None}
    if "config" in changes:
        changes["config"] = plain_json(changes["config"])
    return _hosting_out(services.hosted_agent_update(owner=request.user, hosted=hosted, **changes))


@router.post(
    "/agents/{agent_id}/hosting/stop",
    response={200: HostingOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404)},
    auth=session_only,
    summary="The kill switch: no run starts, a running one ends before its next order",
)
def hosting_stop(request: HttpRequest, agent_id: ParamInt, payload: StopIn):
    hosted = _hosted(request, agent_id)
    return _hosting_out(services.hosted_agent_stop(hosted=hosted, by=request.user, reason=payload.reason))


@router.post(
    "/agents/{agent_id}/hosting/start",
    response={200: HostingOut, **errors(*AUTH_ERRORS, 404, 409, 422)},
    auth=session_only,
    summary="Lift my kill switch (staff's stays until staff lift it)",
)
def hosting_start(request: HttpRequest, agent_id: ParamInt):
    return _hosting_out(services.hosted_agent_start(hosted=_hosted(request, agent_id), by=request.user))


@router.post(
    "/agents/{agent_id}/runs",
    response={202: RunOut, 200: RunOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=session_only,
    summary="Run a hosted agent now (202; a retry with the same Idempotency-Key answers 200 with the same run)",
    openapi_extra=IDEMPOTENT,
)
def runs_request(
    request: HttpRequest,
    response: HttpResponse,
    agent_id: ParamInt,
    payload: RunIn,
    idempotency_key: IdempotencyKeyHeader = None,
):
    key = require_idempotency_key(idempotency_key)
    hosted = _hosted(request, agent_id)
    run = services.agent_run_request(hosted=hosted, by=request.user, key=key, claims=payload.claims)
    response["Location"] = f"/api/v1/agents/{agent_id}/runs/{run.pk}"
    return Status(200 if run.replayed else 202, _run_out(run))


@router.get(
    "/agents/{agent_id}/runs",
    response={200: RunPage, **errors(*AUTH_ERRORS, 404, 422)},
    auth=key_or_session("read"),
    summary="A hosted agent's runs, newest first",
)
def runs_list(request: HttpRequest, agent_id: ParamInt, page: Query[RunQuery]):
    hosted = _hosted(request, agent_id)
    rows, next_cursor = keyset_page(selectors.runs_of(hosted, state=page.state), cursor=page.cursor, limit=page.limit)
    return {"items": [_run_out(run) for run in rows], "next_cursor": next_cursor}


@router.get(
    "/agents/{agent_id}/runs/{run_id}",
    response={200: RunDetailOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=key_or_session("read"),
    summary="One run: what it saw, decided, ordered and asked, and how it ended",
)
def runs_get(request: HttpRequest, agent_id: ParamInt, run_id: ParamInt):
    hosted = _hosted(request, agent_id)
    run = AgentRun.objects.filter(agent=hosted, pk=run_id).first()
    if run is None:
        raise NotFound("No such run.")
    detail = {"journal": selectors.journal_of(run), "orders": selectors.run_orders(run), "error": run.error}
    return {**_run_out(run), **detail, "traceback": run.traceback}
