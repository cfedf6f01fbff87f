"""The relay's commit-order window: an event whose transaction commits after a later id was sent is still
delivered, once."""

import threading

import pytest
from asgiref.sync import async_to_sync
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
