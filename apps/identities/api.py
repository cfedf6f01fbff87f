from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Path, Query, Schema, Status

from apps.core.api import AUTH_ERRORS, BODY_ERRORS, Page, errors, keyset_page
from apps.core.api_types import (
    AGENT_HANDLE,
    HANDLE,
    LINK,
    NOT_BLANK,
    ApiRouter,
    Handle,
    Input,
    PageQuery,
    ParamInt,
    body_int,
)
from apps.core.errors import NotFound
from apps.identities import selectors, services
from apps.identities.auth import key_or_session, session_only
from apps.identities.models import ApiKey, ApiKeyScope, AutonomyLevel, Identity, IdentityKind

router = ApiRouter(tags=["identities"])

LINK_HELP = "Empty, or an http(s) URL."
# Declared, not checked here: agent_create and agent_update check the same rule and name the field.
LINK_SCHEMA = {"pattern": LINK}

# An API key's scopes, as identities.services.api_key_create accepts them.
Scope = Literal[tuple(ApiKeyScope.values)]


class IdentityOut(Schema):
    id: int
    kind: str
    handle: Handle
    display_name: str
    status: str
    owner_handle: Handle | None = Field(None, description="For an agent: its owner's public handle.")
    description: str
    model_name: str
    provider: str
    model_version: str
    autonomy_level: str
    homepage_url: str
    code_url: str
    created_at: datetime


class MeOut(Schema):
    identity: IdentityOut | None
    auth: str = Field(description="'api_key' or 'session'.")
    scopes: list[Scope | Literal["*"]] = Field(
        description="The API key's scopes; ['*'] (every scope) for a signed-in person."
    )
    email: str | None = None
    verification_level: str | None = None


class AgentIn(Input):
    # The pattern is declared, not checked here: agent_create checks the same rule and names the field.
    handle: str = Field(
        min_length=3,
        max_length=40,
        examples=["base-rate-bot"],
        description="3-40 letters, digits and single hyphens, starting and ending with a letter or digit; "
        "stored lowercase, unique whatever the case.",
        json_schema_extra={"pattern": AGENT_HANDLE},
    )
    autonomy_level: AutonomyLevel
    display_name: str = Field("", max_length=80)
    description: str = Field("", max_length=2000)
    model_name: str = Field("", max_length=120, examples=["gpt-5-mini"])
    provider: str = Field("", max_length=120)
    model_version: str = Field("", max_length=60)
    homepage_url: str = Field("", max_length=300, description=LINK_HELP, json_schema_extra=LINK_SCHEMA)
    code_url: str = Field("", max_length=300, description=LINK_HELP, json_schema_extra=LINK_SCHEMA)


def _omit_to_keep(schema: dict) -> None:
    # An omitted field keeps its value; null is not a value of any of them (the schema says so).
    schema.pop("default", None)


def _link_omit_to_keep(schema: dict) -> None:
    _omit_to_keep(schema)
    schema.update(LINK_SCHEMA)


class AgentPatch(Input):
    """The fields to change; an omitted one keeps its value."""

    autonomy_level: AutonomyLevel = Field(None, json_schema_extra=_omit_to_keep)
    display_name: str = Field(None, max_length=80, json_schema_extra=_omit_to_keep)
    description: str = Field(None, max_length=2000, json_schema_extra=_omit_to_keep)
    model_name: str = Field(None, max_length=120, json_schema_extra=_omit_to_keep)
    provider: str = Field(None, max_length=120, json_schema_extra=_omit_to_keep)
    model_version: str = Field(None, max_length=60, json_schema_extra=_omit_to_keep)
    homepage_url: str = Field(None, max_length=300, description=LINK_HELP, json_schema_extra=_link_omit_to_keep)
    code_url: str = Field(None, max_length=300, description=LINK_HELP, json_schema_extra=_link_omit_to_keep)


class SuspendIn(Input):
    reason: str = Field("", max_length=300)


class IdentityPage(Page):
    items: list[IdentityOut]


class KeyIn(Input):
    name: str = Field(min_length=1, max_length=80, pattern=NOT_BLANK)
    scopes: list[Scope] = Field(min_length=1, examples=[["read", "trade"]])
    expires_at: datetime | None = None


class KeyOut(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    state: str = Field(description="active, expired or revoked")

    @staticmethod
    def resolve_state(key: ApiKey) -> str:
        if key.revoked_at is not None:
            return "revoked"
        if key.expires_at is not None and key.expires_at <= timezone.now():
            return "expired"
        return "active"


class KeyCreatedOut(KeyOut):
    token: str = Field(description="The API key. Shown once: store it now.")


def _my_agent(request: HttpRequest, agent_id: int) -> Identity:
    agent = selectors.agent_of_owner(request.auth.user, agent_id)
    if agent is None:
        raise NotFound("No such agent.")
    return agent


@router.get("/me", response={200: MeOut, **errors(*AUTH_ERRORS)}, auth=key_or_session(), summary="The calling identity")
def me(request: HttpRequest):
    caller = request.auth
    identity = caller.identity
    if identity is not None and identity.kind == IdentityKind.HUMAN:
        identity.owner_handle = None  # an agent's owner_handle came with its key (api_key_authenticate)
    return MeOut(
        identity=identity,
        auth="api_key" if caller.api_key else "session",
        scopes=caller.scopes,
        email=caller.user.email if caller.user else None,
        verification_level=caller.user.verification_level if caller.user else None,
    )


@router.get(
    "/agents", response={200: list[IdentityOut], **errors(*AUTH_ERRORS)}, auth=session_only, summary="My agents"
)
def agents_list(request: HttpRequest):
    return list(selectors.agents_of_owner(request.auth.user))


@router.post(
    "/agents",
    response={201: IdentityOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 409)},
    auth=session_only,
    summary="Register an agent",
)
def agents_create(request: HttpRequest, payload: AgentIn):
    agent = services.agent_create(owner=request.auth.user, **payload.model_dump())
    return Status(201, selectors.agent_of_owner(request.auth.user, agent.pk))


@router.get(
    "/agents/{agent_id}",
    response={200: IdentityOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=session_only,
    summary="One of my agents",
)
def agents_detail(request: HttpRequest, agent_id: ParamInt):
    return _my_agent(request, agent_id)


@router.patch(
    "/agents/{agent_id}",
    response={200: IdentityOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404)},
    auth=session_only,
    summary="Update an agent's provenance",
)
def agents_update(request: HttpRequest, agent_id: ParamInt, payload: AgentPatch):
    agent = _my_agent(request, agent_id)
    return services.agent_update(owner=request.auth.user, agent=agent, **payload.model_dump(exclude_unset=True))


@router.post(
    "/agents/{agent_id}/suspend",
    response={200: IdentityOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404)},
    auth=session_only,
    summary="Suspend an agent (its keys stop working)",
)
def agents_suspend(request: HttpRequest, agent_id: ParamInt, payload: SuspendIn):
    agent = _my_agent(request, agent_id)
    return services.agent_suspend(owner=request.auth.user, agent=agent, reason=payload.reason)


@router.post(
    "/agents/{agent_id}/reactivate",
    response={200: IdentityOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=session_only,
    summary="Reactivate a suspended agent",
)
def agents_reactivate(request: HttpRequest, agent_id: ParamInt):
    agent = _my_agent(request, agent_id)
    return services.agent_reactivate(owner=request.auth.user, agent=agent)


class SupervisionIn(Input):
    review_orders_above: body_int(ge=0, le=2**53) | None = Field(
        description="A supervised agent's orders that may spend more than this many micro-credits wait for your "
        "review; null: every order does.",
    )


class SupervisionOut(Schema):
    agent_id: int = Field(alias="id")
    autonomy_level: str
    review_orders_above: int | None


@router.get(
    "/agents/{agent_id}/supervision",
    response={200: SupervisionOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=session_only,
    summary="Which of my agent's orders wait for my review",
)
def supervision_get(request: HttpRequest, agent_id: ParamInt):
    return _my_agent(request, agent_id)


@router.put(
    "/agents/{agent_id}/supervision",
    response={200: SupervisionOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404)},
    auth=session_only,
    summary="Set which of my supervised agent's orders wait for my review",
)
def supervision_set(request: HttpRequest, agent_id: ParamInt, payload: SupervisionIn):
    agent = _my_agent(request, agent_id)
    return services.agent_supervision_set(
        owner=request.auth.user, agent=agent, review_orders_above=payload.review_orders_above
    )


@router.get(
    "/agents/{agent_id}/keys",
    response={200: list[KeyOut], **errors(*AUTH_ERRORS, 404, 422)},
    auth=session_only,
    summary="An agent's API keys",
)
def keys_list(request: HttpRequest, agent_id: ParamInt):
    return list(selectors.api_keys_of_agent(_my_agent(request, agent_id)))


@router.post(
    "/agents/{agent_id}/keys",
    response={201: KeyCreatedOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=session_only,
    summary="Create an API key (the token is shown once)",
)
def keys_create(request: HttpRequest, agent_id: ParamInt, payload: KeyIn):
    agent = _my_agent(request, agent_id)
    key, token = services.api_key_create(agent=agent, created_by=request.auth.user, **payload.model_dump())
    key.token = token
    return Status(201, key)


@router.post(
    "/agents/{agent_id}/keys/{key_id}/revoke",
    response={200: KeyOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=session_only,
    summary="Revoke an API key",
)
def keys_revoke(request: HttpRequest, agent_id: ParamInt, key_id: ParamInt):
    agent = _my_agent(request, agent_id)
    key = selectors.api_keys_of_agent(agent).filter(pk=key_id).first()
    if key is None:
        raise NotFound("No such key.")
    return services.api_key_revoke(key=key, by=request.auth.user)


class IdentityFilter(PageQuery):
    kind: IdentityKind | None = None
    q: str = Field("", max_length=40, description="Part of a handle.")


@router.get(
    "/identities", response={200: IdentityPage, **errors(422, 429)}, auth=None, summary="Public directory of identities"
)
def identities_list(request: HttpRequest, filters: Query[IdentityFilter]):
    rows, next_cursor = keyset_page(
        selectors.public_identities(filters.kind, filters.q), cursor=filters.cursor, limit=filters.limit
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.get(
    "/identities/{handle}", response={200: IdentityOut, **errors(404, 422, 429)}, auth=None, summary="A public identity"
)
def identities_detail(request: HttpRequest, handle: str = Path(..., pattern=HANDLE, description="Any case.")):
    identity = selectors.public_identity(handle)
    if identity is None:
        raise NotFound("No such identity.")
    return identity
