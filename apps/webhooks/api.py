"""An agent's webhooks over REST, under its id: `/agents/{agent_id}/webhooks/...`. The agent calls with its
API key (scope `webhooks`, and only under its own id); its owner with their browser session. Anyone
else's agent, subscription or delivery is a 404, never a 403."""

from datetime import datetime
from typing import Annotated, Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Query, Schema, Status

from apps.core.api import AUTH_ERRORS, BODY_ERRORS, Page, errors, keyset_page
from apps.core.api_types import NO_NUL, ApiRouter, Bool, Input, PageQuery, ParamInt
from apps.core.errors import NotFound
from apps.identities import selectors as identity_selectors
from apps.identities.auth import key_or_session
from apps.identities.models import ApiKeyScope, Identity
from apps.webhooks import selectors, services
from apps.webhooks.models import WebhookDelivery, WebhookSubscription

router = ApiRouter(tags=["webhooks"])
AUTH = key_or_session(ApiKeyScope.WEBHOOKS.value)

Kind = Literal[services.OFFERED_KINDS]


def _url_schema(schema: dict) -> None:
    # What the schema can say of a URL: the scheme, no user information, no NUL. Where the host resolves
    # is decided when it is saved (409 webhook_url_refused), as a date the clock rules out is.
    schemes = "https?" if settings.CREDENCE_HTTP_ALLOW_LOOPBACK else "https"
    schema["pattern"] = rf"^[ \t]*{schemes}://[^/?#@\s\x00]+([/?#][^\s\x00]*)?[ \t]*$"
    schema.pop("default", None)


URL_HELP = (
    "Where deliveries are POSTed: https, a public host (one resolving to a loopback, private, link-local or "
    "metadata address is refused when saved and again at each delivery), no user:password@."
)
KINDS_HELP = (
    "The event kinds to deliver (docs/architecture.md, the event catalogue), at least one; kinds private to a "
    "person are not offered."
)
OWN_TRADES_HELP = (
    "When true, trade.placed is delivered only for this agent's own trades (the issue's 'trade.filled'); "
    "other kinds are unaffected."
)


class WebhookIn(Input):
    url: str = Field(max_length=services.URL_MAX, description=URL_HELP, json_schema_extra=_url_schema)
    kinds: list[Kind] = Field(min_length=1, max_length=len(services.OFFERED_KINDS) * 2, description=KINDS_HELP)
    description: str = Field("", max_length=services.DESCRIPTION_MAX, pattern=NO_NUL)
    own_trades_only: Bool = Field(False, description=OWN_TRADES_HELP)


def _omit_to_keep(schema: dict) -> None:
    schema.pop("default", None)


class WebhookPatch(Input):
    """The fields to change; an omitted one keeps its value."""

    url: str = Field(None, max_length=services.URL_MAX, description=URL_HELP, json_schema_extra=_url_schema)
    kinds: list[Kind] = Field(
        None,
        min_length=1,
        max_length=len(services.OFFERED_KINDS) * 2,
        description=KINDS_HELP,
        json_schema_extra=_omit_to_keep,
    )
    description: str = Field(None, max_length=services.DESCRIPTION_MAX, pattern=NO_NUL, json_schema_extra=_omit_to_keep)
    own_trades_only: Bool = Field(None, description=OWN_TRADES_HELP, json_schema_extra=_omit_to_keep)
    enabled: Bool = Field(
        None,
        description="false disables it (nothing is created or sent for it); true makes a disabled or failing "
        "one active.",
        json_schema_extra=_omit_to_keep,
    )


class WebhookOut(Schema):
    id: int
    agent_id: int
    url: str
    kinds: list[str]
    own_trades_only: bool
    description: str
    state: Literal["active", "disabled", "failing"] = Field(
        description="failing: a delivery was given up after a day of retries; deliveries go on, and the first "
        "that succeeds makes it active again."
    )
    failing_since: datetime | None
    consecutive_failures: int = Field(description="Failed attempts since the last delivery that succeeded.")
    created_at: datetime
    updated_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_...). Shown once: store it now.")


class SecretOut(Schema):
    secret: str = Field(description="The new signing secret. Shown once: store it now.")
    previous_valid_until: datetime = Field(
        description="Until then deliveries carry two signatures, one by the new secret and one by the previous one."
    )


class AttemptOut(Schema):
    id: int
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's status; null: no answer (refused, timed out, failed).")
    duration_ms: int
    response_excerpt: str = Field(description="The start of the receiver's answer (at most 1,000 characters).")
    error: str


class DeliveryOut(Schema):
    id: int
    webhook_id: str = Field(alias="message_id", description="The webhook-id header: the same on every attempt.")
    event_id: int | None = Field(description="The outbox event delivered; null for a test ping.")
    kind: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When it is tried next, while pending.")
    first_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str
    last_duration_ms: int | None
    attempt_log: list[AttemptOut] = Field(description="Its attempts, newest first (the last 20).")

    @staticmethod
    def resolve_next_attempt_at(delivery: WebhookDelivery) -> datetime | None:
        return delivery.next_attempt_at if delivery.state == "pending" else None

    @staticmethod
    def resolve_attempt_log(delivery: WebhookDelivery) -> list:
        return list(delivery.attempt_log.all())[: selectors.ATTEMPTS_SHOWN]


class DeliveryPage(Page):
    items: list[DeliveryOut]


DeliveryState = Annotated[
    Literal["pending", "delivered", "failed"] | None, Field(None, description="Only deliveries in this state.")
]


class DeliveryQuery(PageQuery):
    state: DeliveryState = None


def _agent(request: HttpRequest, agent_id: int) -> Identity:
    """The agent the caller acts for: its own key's agent, or the signed-in owner's agent."""
    caller = request.auth
    if caller.api_key is not None:
        agent = caller.identity if caller.identity.pk == agent_id else None
    else:
        agent = identity_selectors.agent_of_owner(caller.user, agent_id)
    if agent is None:
        raise NotFound("No such agent.")
    return agent


def _subscription(request: HttpRequest, agent_id: int, webhook_id: int) -> WebhookSubscription:
    subscription = selectors.subscription_of(_agent(request, agent_id), webhook_id)
    if subscription is None:
        raise NotFound("No such webhook.")
    return subscription


def _delivery(subscription: WebhookSubscription, delivery_id: int) -> WebhookDelivery:
    delivery = selectors.deliveries_of(subscription).filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound("No such delivery.")
    return delivery


@router.get(
    "/agents/{agent_id}/webhooks",
    response={200: list[WebhookOut], **errors(*AUTH_ERRORS, 404, 422)},
    auth=AUTH,
    summary="An agent's webhook subscriptions",
)
def webhooks_list(request: HttpRequest, agent_id: ParamInt):
    return list(selectors.subscriptions_of(_agent(request, agent_id)))


@router.post(
    "/agents/{agent_id}/webhooks",
    response={201: WebhookCreatedOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=AUTH,
    summary="Subscribe a URL to event kinds (the signing secret is shown once)",
)
def webhooks_create(request: HttpRequest, agent_id: ParamInt, payload: WebhookIn):
    agent = _agent(request, agent_id)
    subscription, secret = services.subscription_create(agent=agent, **payload.model_dump())
    subscription.secret = secret
    return Status(201, subscription)


@router.get(
    "/agents/{agent_id}/webhooks/{webhook_id}",
    response={200: WebhookOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=AUTH,
    summary="A webhook subscription",
)
def webhooks_get(request: HttpRequest, agent_id: ParamInt, webhook_id: ParamInt):
    return _subscription(request, agent_id, webhook_id)


@router.patch(
    "/agents/{agent_id}/webhooks/{webhook_id}",
    response={200: WebhookOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=AUTH,
    summary="Change a subscription's URL, kinds, description or filter; disable or enable it",
)
def webhooks_update(request: HttpRequest, agent_id: ParamInt, webhook_id: ParamInt, payload: WebhookPatch):
    subscription = _subscription(request, agent_id, webhook_id)
    return services.subscription_update(subscription=subscription, **payload.model_dump(exclude_unset=True))


@router.delete(
    "/agents/{agent_id}/webhooks/{webhook_id}",
    response={204: None, **errors(*AUTH_ERRORS, 404, 422)},
    auth=AUTH,
    summary="Delete a subscription with its delivery log",
)
def webhooks_delete(request: HttpRequest, agent_id: ParamInt, webhook_id: ParamInt):
    services.subscription_delete(subscription=_subscription(request, agent_id, webhook_id))
    return Status(204, None)


@router.post(
    "/agents/{agent_id}/webhooks/{webhook_id}/rotate-secret",
    response={200: SecretOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=AUTH,
    summary="A new signing secret (shown once); the previous one keeps signing through the overlap",
)
def webhooks_rotate_secret(request: HttpRequest, agent_id: ParamInt, webhook_id: ParamInt):
    secret, until = services.subscription_rotate_secret(subscription=_subscription(request, agent_id, webhook_id))
    return {"secret": secret, "previous_valid_until": until}


@router.post(
    "/agents/{agent_id}/webhooks/{webhook_id}/ping",
    response={202: DeliveryOut, **errors(*AUTH_ERRORS, 404, 409, 422)},
    auth=AUTH,
    summary="Send a test delivery (type webhook.ping) now",
)
def webhooks_ping(request: HttpRequest, agent_id: ParamInt, webhook_id: ParamInt):
    subscription = _subscription(request, agent_id, webhook_id)
    delivery = services.ping_send(subscription=subscription)
    return Status(202, _delivery(subscription, delivery.pk))


@router.get(
    "/agents/{agent_id}/webhooks/{webhook_id}/deliveries",
    response={200: DeliveryPage, **errors(*AUTH_ERRORS, 404, 422)},
    auth=AUTH,
    summary="A subscription's delivery log, newest first, with each delivery's attempts",
)
def webhooks_deliveries(request: HttpRequest, agent_id: ParamInt, webhook_id: ParamInt, filters: Query[DeliveryQuery]):
    deliveries = selectors.deliveries_of(_subscription(request, agent_id, webhook_id))
    if filters.state:
        deliveries = deliveries.filter(state=filters.state)
    rows, next_cursor = keyset_page(deliveries, cursor=filters.cursor, limit=filters.limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.post(
    "/agents/{agent_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response={202: DeliveryOut, **errors(*AUTH_ERRORS, 404, 409, 422)},
    auth=AUTH,
    summary="Send one delivery again now (same webhook-id), with another day of retries",
)
def webhooks_redeliver(request: HttpRequest, agent_id: ParamInt, webhook_id: ParamInt, delivery_id: ParamInt):
    subscription = _subscription(request, agent_id, webhook_id)
    delivery = services.delivery_redeliver(delivery=_delivery(subscription, delivery_id))
    return Status(202, _delivery(subscription, delivery.pk))
