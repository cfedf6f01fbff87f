"""Durable consumers of the outbox (apps.core.models.Event): read in order with a cursor, so nothing is
lost on restart and nothing written by a rolled-back transaction is ever seen.

The order. An event's id is taken at INSERT, so a transaction that started earlier can commit a lower id
after a higher one was read: a cursor on the id alone would skip it. On PostgreSQL every event carries the
id of the transaction that wrote it (`txid`, set by the database), and a batch holds only events whose
transaction is below the horizon: the oldest transaction id still in progress in this database (or, when
none is, the next id to be given). Below it every transaction has ended, so those events are final and
nothing can be added among them. Events are read in (txid, id) order and the cursor is that pair.

The horizon is read from this database's backends (pg_stat_activity.backend_xid), not from the cluster's
snapshot (pg_snapshot_xmin), so a long transaction in another database (another test suite, a report) holds
nothing back; one in this database does, until it ends: the price of never skipping an event. Consumers run
in their own short transactions, and a test that consumes commits first (transactional_db). The next id is
read before the backends, so a transaction given its id in between is above the horizon either way.
On SQLite one transaction writes at a time, so ids commit in order and the cursor is the id.

`outbox_batch` locks the consumer's cursor with SKIP LOCKED: workers racing for one consumer take turns
(the one that finds it locked gets None and goes on), and the cursor moves in the transaction that holds
what the consumer wrote, so a batch is consumed once or, if that transaction rolls back, not at all.
"""

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, DurationField, ExpressionWrapper, Max, Min, Q
from django.utils import timezone

from apps.core.metrics import TransactionStart
from apps.core.models import Event, OutboxCursor

_NEXT_ID = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
_OLDEST_RUNNING = (
    "SELECT min(backend_xid::text::bigint) FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL"
)


def _horizon() -> int:
    """The transaction id below which every transaction writing to this database has ended."""
    with connection.cursor() as c:
        c.execute(_NEXT_ID)  # first: an id given after this is >= it
        next_id = c.fetchone()[0]
        c.execute(_OLDEST_RUNNING)
        oldest = c.fetchone()[0]
    return next_id if oldest is None else min(next_id, oldest)


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
            horizon = _horizon()  # before the lock below gives this transaction an id of its own
            cursor = OutboxCursor.objects.select_for_update(skip_locked=True, no_key=True).filter(name=name).first()
            if cursor is None:
                yield None
                return
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
    return Event.objects.filter(_unread(cursor)).count()


def _unread(cursor: OutboxCursor) -> Q:
    if _postgres():
        return Q(txid__gt=cursor.txid) | Q(txid=cursor.txid, id__gt=cursor.event_id)
    return Q(id__gt=cursor.event_id)


@dataclass(frozen=True)
class OutboxLag:
    consumer: str
    events: int
    oldest_age: timedelta | None  # None when it has read everything


def outbox_lags() -> list[OutboxLag]:
    """Every durable consumer's lag (for /metrics): one query per cursor, over the range of the (txid, id)
    index it has not read. Ages are taken on the database's clock, the one every scraping process shares."""
    lags = []
    for cursor in OutboxCursor.objects.order_by("name"):
        unread = Event.objects.filter(_unread(cursor)).aggregate(
            events=Count("id"),
            oldest_age=ExpressionWrapper(TransactionStart() - Min("created_at"), output_field=DurationField()),
        )
        age = unread["oldest_age"]
        lags.append(OutboxLag(cursor.name, unread["events"], max(age, timedelta(0)) if age is not None else None))
    return lags
