from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from apps.core.models import Event


def event_emit(
    *, kind: str, subject: str, payload: dict[str, Any] | None = None, actor_identity_id: int | None = None
) -> Event:
    """Write an outbox row. Call it inside the transaction that made the change it describes."""
    return Event.objects.create(kind=kind, subject=subject, payload=payload or {}, actor_identity_id=actor_identity_id)


def events_emit(events: Sequence[tuple[str, str, int | None, dict[str, Any]]], *, at: datetime) -> None:
    """Write several outbox rows (kind, subject, actor identity id, payload) with one INSERT and no
    model instances: for hot paths (a trade writes two). Same rules as event_emit."""
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(events))  # placeholders only: values go as parameters
    created_at = connection.ops.adapt_datetimefield_value(at)
    params: list[Any] = []
    for kind, subject, actor_identity_id, payload in events:
        params += [kind, subject, actor_identity_id, connection.ops.adapt_json_value(payload, None), created_at]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO core_event (kind, subject, actor_identity_id, payload, created_at) VALUES {values}",  # noqa: S608
            params,
        )
