from typing import Any

from apps.core.models import Event


def event_emit(
    *, kind: str, subject: str, payload: dict[str, Any] | None = None, actor_identity_id: int | None = None
) -> Event:
    """Write an outbox row. Call it inside the transaction that made the change it describes."""
    return Event.objects.create(kind=kind, subject=subject, payload=payload or {}, actor_identity_id=actor_identity_id)
