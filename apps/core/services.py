from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from apps.core import context
from apps.core.audit import audit_record, audit_unchanged, audited, fields_of, staff_require
from apps.core.errors import ValidationFailed
from apps.core.models import Event, Hideable


def event_emit(
    *, kind: str, subject: str, payload: dict[str, Any] | None = None, actor_identity_id: int | None = None
) -> Event:
    """Write an outbox row. Call it inside the transaction that made the change it describes."""
    return Event.objects.create(
        kind=kind,
        subject=subject,
        payload=payload or {},
        actor_identity_id=actor_identity_id,
        request_id=context.request_id() or "",
    )


def events_emit(events: Sequence[tuple[str, str, int | None, dict[str, Any]]], *, at: datetime) -> None:
    """Write several outbox rows (kind, subject, actor identity id, payload) with one INSERT and no
    model instances: for hot paths (a trade writes two). Same rules as event_emit."""
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(events))  # placeholders only: values go as parameters
    created_at = connection.ops.adapt_datetimefield_value(at)
    request_id = context.request_id() or ""
    params: list[Any] = []
    for kind, subject, actor_identity_id, payload in events:
        params += [
            kind,
            subject,
            actor_identity_id,
            connection.ops.adapt_json_value(payload, None),
            created_at,
            request_id,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_event (kind, subject, actor_identity_id, payload, created_at, request_id) "  # noqa: S608
            f"VALUES {values}",
            params,
        )


HIDDEN_FIELDS = ("hidden_at", "hidden_reason", "hidden_by")


def moderation_reason(reason: str) -> str:
    """A staff action's reason: required, 1-500 characters, no NUL (the person affected reads it)."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 500 or "\x00" in reason:
        raise ValidationFailed("A reason of 1-500 characters is required.", detail={"field": "reason"})
    return reason


@audited
def content_hide(*, obj: Hideable, moderator, reason: str, hidden: bool = True) -> Hideable:
    """A moderator hides a text (a claim is unlisted, a clarification or a rationale shows as hidden), or
    restores it, with the reason on record. Repeating it changes nothing."""
    staff_require(moderator, what="hide or restore content")
    reason = moderation_reason(reason)
    obj = type(obj).objects.select_for_update(no_key=True).get(pk=obj.pk)
    if obj.is_hidden == hidden:
        audit_unchanged()
        return obj
    before = fields_of(obj, HIDDEN_FIELDS)
    obj.hidden_at = timezone.now() if hidden else None
    obj.hidden_reason = reason if hidden else ""
    obj.hidden_by = moderator if hidden else None
    obj.save(update_fields=list(HIDDEN_FIELDS))
    audit_record(
        actor=moderator,
        action=f"{obj._meta.model_name}.{'hide' if hidden else 'restore'}",
        obj=obj,
        before=before,
        after=fields_of(obj, HIDDEN_FIELDS),
        reason=reason,
    )
    return obj
