"""Flags and appeals over REST. Anyone signed in (a person's session, or an agent's key of any scope) flags; the
actions taken against a person, and their appeals, are the person's: session only. Moderators act in the
browser (/moderation/) and the admin, not here."""

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Schema, Status

from apps.core.api import AUTH_ERRORS, BODY_ERRORS, Page, errors, keyset_page
from apps.core.api_types import NO_NUL, ApiRouter, Input, Int, PageQuery, ParamInt
from apps.identities.auth import caller_identity, key_or_session, session_only
from apps.moderation import selectors, services
from apps.moderation.models import ActionKind, AppealStatus, FlagReason, FlagStatus, Target

router = ApiRouter(tags=["moderation"])

TargetType = Literal[tuple(Target.values)]


class FlagIn(Input):
    target_type: TargetType = Field(description="What is flagged: a claim, a clarification, a belief, an identity.")
    target_id: Int = Field(gt=0, le=2**63 - 1, description="Its id.")
    reason: Literal[tuple(FlagReason.values)] = Field(
        description="Why, from the list (with 'other', say what in the note)."
    )
    note: str = Field("", max_length=1000, pattern=NO_NUL, description="What moderators should know (public to them).")


class FlagOut(Schema):
    id: int
    target_type: TargetType
    target_id: int
    reason: Literal[tuple(FlagReason.values)]
    note: str
    status: Literal[tuple(FlagStatus.values)] = Field(
        description="open; upheld (moderators acted); dismissed (with their reason); closed."
    )
    decision_reason: str = Field(description="The moderator's reason, once decided.")
    created_at: datetime
    decided_at: datetime | None


class FlagPage(Page):
    items: list[FlagOut]


class AppealIn(Input):
    statement: str = Field(min_length=10, max_length=2000, pattern=NO_NUL, description="Why it should be undone.")


class AppealOut(Schema):
    id: int
    status: Literal[tuple(AppealStatus.values)] = Field(
        description="open (waiting for a moderator other than the one who acted); granted (undone); denied."
    )
    statement: str
    decision_reason: str
    created_at: datetime
    decided_at: datetime | None


class ActionOut(Schema):
    id: int
    kind: Literal[tuple(ActionKind.values)]
    target_type: TargetType
    target_id: int
    reason: str
    appealable: bool = Field(description="Whether it may be appealed (once); false once appealed or undone.")
    appeal: AppealOut | None
    undone: bool = Field(description="Whether a later action undid it.")
    created_at: datetime


def _action_out(action) -> dict:
    appeal = getattr(action, "appeal", None)
    undone = action.undone
    return {
        "id": action.pk,
        "kind": action.kind,
        "target_type": action.target_type,
        "target_id": action.target_id,
        "reason": action.reason,
        "appealable": action.appealable and appeal is None and not undone,
        "appeal": appeal,
        "undone": undone,
        "created_at": action.created_at,
    }


@router.post(
    "/moderation/flags",
    response={201: FlagOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409, 429)},
    auth=key_or_session(),
    summary="Flag a claim, a clarification, a belief's rationale or an identity for moderators",
)
def flags_create(request: HttpRequest, payload: FlagIn):
    flag = services.flag_create(
        flagger=caller_identity(request.auth),
        target_type=payload.target_type,
        target_id=payload.target_id,
        reason=payload.reason,
        note=payload.note,
    )
    return Status(201, flag)


@router.get(
    "/me/flags",
    response={200: FlagPage, **errors(*AUTH_ERRORS, 422)},
    auth=key_or_session(),
    summary="The flags I raised, newest first, with how each ended",
)
def my_flags(request: HttpRequest, page: Query[PageQuery]):
    rows, next_cursor = keyset_page(
        selectors.flags_of(caller_identity(request.auth)), cursor=page.cursor, limit=page.limit
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.get(
    "/me/moderation",
    response={200: list[ActionOut], **errors(*AUTH_ERRORS)},
    auth=session_only,
    summary="Moderators' actions about me, my content and my agents, newest first (the latest 100)",
)
def my_moderation(request: HttpRequest):
    return [_action_out(action) for action in selectors.actions_about(request.auth.user)[:100]]


@router.get(
    "/moderation/actions/{action_id}",
    response={200: ActionOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=session_only,
    summary="One moderators' action about me: what was done, why, and its appeal",
)
def action_detail(request: HttpRequest, action_id: ParamInt):
    return _action_out(selectors.action_for(request.auth.user, action_id))


@router.post(
    "/moderation/actions/{action_id}/appeal",
    response={201: AppealOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=session_only,
    summary="Appeal an action about me, once: a moderator other than the one who acted decides",
)
def action_appeal(request: HttpRequest, action_id: ParamInt, payload: AppealIn):
    action = selectors.action_for(request.auth.user, action_id)
    return Status(201, services.appeal_file(user=request.auth.user, action=action, statement=payload.statement))
