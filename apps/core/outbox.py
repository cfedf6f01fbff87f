"""Durable consumers of the outbox (apps.core.models.Event): read in order with a cursor, so nothing is
lost on restart and nothing written by a rolled-back transaction is ever seen.

The order. An event's id is taken at INSERT, so a transaction that started earlier can commit a lower id
after a higher one was read: a cursor on the id alone would skip it. On PostgreSQL every event carries the
id of the transaction that wrote it (`txid`, set by the database), and a batch holds only events whose
transaction is older than the oldest one still running (`pg_snapshot_xmin`): those are final, nothing can
be added before them. Events are read in (txid, id) order and the cursor is that pair. A transaction that
stays open holds every consumer back until it ends (the price of never skipping an event), so consumers
run in their own short transactions, and a test that consumes commits first (transactional_db).
On SQLite one transaction writes at a time, so ids commit in order and the cursor is the id.

`outbox_batch` locks the consumer's cursor with SKIP LOCKED: workers racing for one consumer take turns
(the one that finds it locked gets None and goes on), and the cursor moves in the transaction that holds
what the consumer wrote, so a batch is consumed once or, if that transaction rolls back, not at all.
"""

from collections.abc import Collection, Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from apps.core.models import Event, OutboxCursor

_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def _postgres() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def outbox_batch(name: str, *, kinds: Collection[str] | None = None, limit: int = 500) -> Iterator[list[Event] | None]:
    """Yield the next events for consumer `name` (only `kinds`, when given), oldest first, at most `limit`;
    None when another worker holds this consumer's cursor. Opens a transaction; the cursor moves past the
    batch when the block ends without raising."""
    OutboxCursor.objects.bulk_create([OutboxCursor(name=name)], ignore_conflicts=True)
    with transaction.atomic():
        if _postgres():
            cursor = OutboxCursor.objects.select_for_update(no_key=True, skip_locked=True).filter(name=name).first()
            if cursor is None:
                yield None
                return
            with connection.cursor() as c:
                c.execute(_HORIZON)
                horizon = c.fetchone()[0]
            after = Q(txid__gt=cursor.txid) | Q(txid=cursor.txid, id__gt=cursor.event_id)
            events = Event.objects.filter(after, txid__lt=horizon).order_by("txid", "id")
        else:  # the write first: it takes SQLite's one write lock, so racing consumers take turns here
            OutboxCursor.objects.filter(name=name).update(updated_at=timezone.now())
            cursor = OutboxCursor.objects.get(name=name)
            horizon = Event.objects.aggregate(highest=Max("id"))["highest"] or 0
            events = Event.objects.filter(id__gt=cursor.event_id, id__lte=horizon).order_by("id")
        if kinds is not None:
            events = events.filter(kind__in=list(kinds))
        batch = list(events[:limit])
        yield batch
        if len(batch) == limit:  # more may follow: stop exactly after the last one read
            last = batch[-1]
            cursor.txid, cursor.event_id = last.txid or 0, last.id
        elif _postgres():  # everything written by transactions older than the horizon is consumed
            cursor.txid, cursor.event_id = horizon, 0
        else:
            cursor.event_id = horizon
        cursor.save(update_fields=["txid", "event_id", "updated_at"])


def outbox_lag(name: str) -> int:
    """How many events consumer `name` has not read yet (for health pages and tests)."""
    cursor = OutboxCursor.objects.filter(name=name).first()
    if cursor is None:
        return Event.objects.count()
    if _postgres():
        return Event.objects.filter(Q(txid__gt=cursor.txid) | Q(txid=cursor.txid, id__gt=cursor.event_id)).count()
    return Event.objects.filter(id__gt=cursor.event_id).count()
