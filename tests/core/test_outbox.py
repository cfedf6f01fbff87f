"""The outbox cursor (apps/core/outbox.py) on PostgreSQL with real transactions on several connections: a
lower id committed after a higher one is still delivered, once; a rolled-back event is never seen; two
consumers racing take turns; the cursor survives a restart and does not move when the consumer fails."""

import threading

import pytest
from django.db import connection, transaction

from apps.core.models import Event, OutboxCursor
from apps.core.outbox import outbox_batch, outbox_lag
from apps.core.services import event_emit

pytestmark = pytest.mark.django_db(transaction=True)
NAME = "test-consumer"


def _emit(n: int = 1, kind: str = "claim.closed") -> list[Event]:
    return [event_emit(kind=kind, subject=f"claim:{i}") for i in range(n)]


def _consume(name: str = NAME, **options) -> list[int] | None:
    with outbox_batch(name, **options) as batch:
        return None if batch is None else [event.pk for event in batch]


def _in_thread(work):
    """Run work() on its own connection in a thread; returns (thread, result holder)."""
    result: dict = {}

    def run():
        try:
            result["value"] = work()
        except Exception as exc:  # reported by the caller's assertions
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_lower_id_committed_after_a_higher_one_is_still_delivered_once():
    opened, release = threading.Event(), threading.Event()

    def slow_writer():
        with transaction.atomic():
            [event] = _emit()  # takes the lower id, and the older transaction id
            opened.set()
            release.wait(timeout=30)
        return event.pk

    thread, result = _in_thread(slow_writer)
    assert opened.wait(timeout=30)
    [later] = _emit()  # a higher id, committed first
    try:
        assert _consume() == []  # the open transaction holds the horizon: nothing after it is final yet
    finally:
        release.set()
        thread.join(timeout=30)
    earlier = result["value"]
    assert earlier < later.pk
    assert _consume() == [earlier, later.pk]
    assert _consume() == []
    assert outbox_lag(NAME) == 0


def test_an_event_of_a_rolled_back_transaction_is_never_seen():
    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        _emit(3)
        raise Undo
    [kept] = _emit()
    assert _consume() == [kept.pk]
    assert _consume() == []


def test_two_consumers_racing_take_turns():
    inside, release = threading.Event(), threading.Event()
    _emit(2)

    def holder():
        with outbox_batch(NAME) as batch:
            inside.set()
            release.wait(timeout=30)
            return [event.pk for event in batch]

    thread, result = _in_thread(holder)
    assert inside.wait(timeout=30)
    try:
        assert _consume() is None  # the cursor is taken: this worker goes on
    finally:
        release.set()
        thread.join(timeout=30)
    assert len(result["value"]) == 2
    assert _consume() == []  # the first consumer's batch is consumed, once


def test_the_cursor_survives_a_restart_and_stays_put_when_the_consumer_fails():
    first = _emit(2)
    assert _consume() == [e.pk for e in first]
    connection.close()  # a new process: only the database remembers
    second = _emit(2)
    with pytest.raises(RuntimeError), outbox_batch(NAME) as batch:
        assert [e.pk for e in batch] == [e.pk for e in second]
        raise RuntimeError("the consumer died mid-batch")
    assert _consume() == [e.pk for e in second]  # the failed batch comes again, whole
    assert OutboxCursor.objects.get(name=NAME).txid > 0


def test_kinds_and_limit_read_exactly_what_was_asked():
    wanted = _emit(3, kind="claim.opened")
    _emit(2, kind="claim.closed")
    assert _consume(kinds=["claim.opened"], limit=2) == [e.pk for e in wanted[:2]]
    assert _consume(kinds=["claim.opened"], limit=2) == [wanted[2].pk]
    assert _consume(kinds=["claim.opened"], limit=2) == []
    assert _consume("another-consumer") == [e.pk for e in Event.objects.order_by("id")]  # cursors are per name
