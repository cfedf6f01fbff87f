"""The relay's commit-order window: an event whose transaction commits after a later id was sent is still
delivered, once."""

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction

from apps.core.models import Event
from apps.core.services import event_emit
from apps.realtime.relay import Relay

pytestmark = pytest.mark.django_db(transaction=True)


class Follower:
    def __init__(self) -> None:
        self.ids: list[int] = []

    async def deliver(self, message: dict) -> None:
        self.ids.append(message["id"])


def test_an_event_committed_out_of_id_order_is_delivered_once():
    relay, page = Relay(), Follower()
    relay._followers["claim:7"].add(page)  # following without starting the polling task
    first = event_emit(kind="trade.placed", subject="claim:7")
    assert async_to_sync(relay.poll_once)() == 1

    # given a transaction that takes an id, then waits while a later id commits
    took_id, release, late = threading.Event(), threading.Event(), {}

    def slow_writer() -> None:
        with transaction.atomic():
            late["id"] = event_emit(kind="trade.placed", subject="claim:7").pk
            took_id.set()
            release.wait(10)
        connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    took_id.wait(10)
    later = event_emit(kind="market.price_changed", subject="claim:7")
    assert later.pk > late["id"]

    # when the relay polls before and after the slow transaction commits
    async_to_sync(relay.poll_once)()
    release.set()
    writer.join(10)
    async_to_sync(relay.poll_once)()
    async_to_sync(relay.poll_once)()

    # then the page got every event once: the late one after the later one, not lost
    assert page.ids == [first.pk, later.pk, late["id"]]
    assert sorted(page.ids) == list(Event.objects.filter(subject="claim:7").order_by("id").values_list("id", flat=True))


def test_only_the_followers_of_a_subject_hear_it():
    relay, seven, eight = Relay(), Follower(), Follower()
    relay._followers["claim:7"].add(seven)
    relay._followers["claim:8"].add(eight)
    event_emit(kind="trade.placed", subject="claim:8")
    async_to_sync(relay.poll_once)()
    assert (seven.ids, len(eight.ids)) == ([], 1)


def test_a_relay_starting_skips_what_is_committed_and_relays_what_commits_later(settings):
    """Starting (or restarting after a spell with no browser), the relay leaves what is already committed
    to each browser's own replay, but an event whose transaction is still open is relayed when it commits."""
    settings.CREDENCE_REALTIME_POLL_MS = 50
    before = event_emit(kind="trade.placed", subject="claim:7")
    took_id, release = threading.Event(), threading.Event()
    late: dict = {}

    def slow_writer() -> None:
        with transaction.atomic():
            late["id"] = event_emit(kind="trade.placed", subject="claim:7").pk
            took_id.set()
            release.wait(10)
        connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    took_id.wait(10)
    after = event_emit(kind="market.price_changed", subject="claim:7")  # committed, above the open one

    async def scenario(relay: Relay, page: Follower) -> None:
        await relay.follow("claim:7", page)  # returns once the relay has its starting point
        release.set()
        await sync_to_async(writer.join)(10)
        for _ in range(40):
            if page.ids:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # and nothing more comes
        relay.unfollow("claim:7", page)

    relay, page = Relay(), Follower()
    async_to_sync(scenario)(relay, page)
    assert before.pk < late["id"] < after.pk
    assert page.ids == [late["id"]]


def test_the_relay_logs_which_request_wrote_what_it_sent_to_sockets(caplog):
    """A request's trace reaches the sockets: the relay's line names the request that wrote the event."""
    from apps.core.context import RequestContext, request_context

    relay, page = Relay(), Follower()
    relay._followers["claim:7"].add(page)
    with request_context(RequestContext(request_id="trade-req-0007")):
        event_emit(kind="trade.placed", subject="claim:7")
    event_emit(kind="trade.placed", subject="claim:9")  # nobody follows it: no line
    with caplog.at_level("DEBUG", logger="apps.realtime.relay"):
        async_to_sync(relay.poll_once)()
    lines = [r.getMessage() for r in caplog.records if r.name == "apps.realtime.relay"]
    assert lines == [f"relayed event {page.ids[0]} (trade.placed) of request trade-req-0007 to 1 socket(s)"]
