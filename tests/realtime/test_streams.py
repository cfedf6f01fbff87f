"""The multi-claim socket and the per-person socket, through a real ASGI server: events committed by
another process (this test process, as far as the server can tell) reach the right sockets, a reconnect
resumes with exactly what was missed, and nothing reaches a socket it is not for."""

import time

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.core.models import Event
from apps.core.services import event_emit
from apps.realtime.consumers import MAX_CLAIMS
from apps.realtime.models import Notification
from apps.realtime.services import notification_mark_read
from tests import factories
from tests.factories import buy, new_claim, resolve
from tests.realtime.servers import page_server, quiet, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(tmp_path_factory, django_db_setup, django_db_blocker):
    with page_server(log_dir=tmp_path_factory.mktemp("asgi")) as running:
        yield running


def _socket(server, path: str, *, cookie: str | None = None):
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else None
    origin = f"http://127.0.0.1:{server.port}"
    return connect(f"ws://127.0.0.1:{server.port}{path}", origin=origin, open_timeout=10, additional_headers=headers)


def _session(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _closed_with(ws) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    return closed.value.rcvd.code


def _ids(claim, after: int, kinds=None) -> list[int]:
    events = Event.objects.filter(subject=f"claim:{claim.pk}", id__gt=after)
    if kinds:
        events = events.filter(kind__in=kinds)
    return list(events.order_by("id").values_list("id", flat=True))


def test_one_socket_follows_two_claims_and_resumes_with_exactly_what_it_missed(server, domain, author):
    first, second, other = new_claim(author, domain), new_claim(author, domain), new_claim(author, domain)
    trader = factories.human()
    with _socket(server, f"/ws/claims/?ids={first.pk},{second.pk}") as ws:
        time.sleep(0.3)  # the relay starts with the first follower
        # when trades happen on both followed claims and on a third one
        start = Event.objects.order_by("-id").values_list("id", flat=True).first()
        buy(trader, first, "yes", credits=2, key="s-1")
        buy(trader, other, "yes", credits=2, key="s-2")
        buy(trader, second, "no", credits=1, key="s-3")
        received = receive(ws, 4)
        # then the socket hears the two followed claims' events, in outbox order, and not the third's
        expected = sorted(_ids(first, start) + _ids(second, start))
        assert len(expected) == 4
        assert [m["id"] for m in received] == expected
        assert [(m["subject"], m["kind"]) for m in received] == [
            (f"claim:{first.pk}", "trade.placed"),
            (f"claim:{first.pk}", "market.price_changed"),
            (f"claim:{second.pk}", "trade.placed"),
            (f"claim:{second.pk}", "market.price_changed"),
        ]
        assert quiet(ws)
        last_seen = received[-1]["id"]

    # when the page is away while both claims and the third move, then reconnects after the last id it saw
    buy(trader, second, "yes", credits=1, key="s-4")
    buy(trader, other, "no", credits=1, key="s-5")
    buy(trader, first, "no", credits=1, key="s-6")
    missed = sorted(_ids(first, last_seen) + _ids(second, last_seen))
    assert len(missed) == 4
    with _socket(server, f"/ws/claims/?ids={second.pk},{first.pk}&after={last_seen}") as ws:
        # then it gets exactly the missed events of its claims, once each, in order; then live ones
        assert [m["id"] for m in receive(ws, 4)] == missed
        assert quiet(ws)
        buy(trader, first, "yes", credits=1, key="s-7")
        live = receive(ws, 2)
        assert [m["id"] for m in live] == _ids(first, missed[-1])
        assert quiet(ws)


def test_a_replay_longer_than_one_batch_is_sent_whole(server, domain, author):
    claim = new_claim(author, domain)
    start = Event.objects.order_by("-id").values_list("id", flat=True).first()
    for n in range(620):  # more than one replay batch (500)
        event_emit(kind="test.tick", subject=f"claim:{claim.pk}", payload={"n": n})
    with _socket(server, f"/ws/claims/?ids={claim.pk}&after={start}") as ws:
        received = receive(ws, 620, timeout=20)
        assert [m["payload"]["n"] for m in received] == list(range(620))
        extra = receive(ws, 5, timeout=1)
        assert extra == []


def test_a_claim_the_visitor_may_not_see_refuses_the_whole_socket(server, domain, author):
    public = new_claim(author, domain)
    draft = new_claim(author, domain, publish=False)
    # a stranger asking for a published claim and someone else's draft: refused, 4404
    with _socket(server, f"/ws/claims/?ids={public.pk},{draft.pk}") as ws:
        assert _closed_with(ws) == 4404
    # an id that does not exist: the same answer
    with _socket(server, f"/ws/claims/?ids={public.pk},999999") as ws:
        assert _closed_with(ws) == 4404
    # the draft's author may follow it
    with _socket(server, f"/ws/claims/?ids={public.pk},{draft.pk}", cookie=_session(author.user)) as ws:
        assert quiet(ws)


@pytest.mark.parametrize(
    "query",
    ["", "?ids=", "?ids=1,x", "?ids=-3", "?ids=0", f"?ids={','.join(str(i) for i in range(1, MAX_CLAIMS + 2))}"],
)
def test_a_malformed_claim_list_is_refused(server, query):
    with _socket(server, f"/ws/claims/{query}") as ws:
        assert _closed_with(ws) == 4400


def test_the_person_socket_needs_a_session(server):
    with _socket(server, "/ws/me/") as ws:
        assert _closed_with(ws) == 4401


def test_each_person_hears_only_their_own_notifications(server, domain):
    # given two people with open pages
    alice, bob, resolver = factories.human(), factories.human(), factories.human()
    claim = new_claim(alice, domain)
    buy(bob, claim, "yes", credits=5, key="me-1")
    with (
        _socket(server, "/ws/me/", cookie=_session(alice.user)) as alice_ws,
        _socket(server, "/ws/me/", cookie=_session(bob.user)) as bob_ws,
    ):
        # then each first hears the unread count and where their stream stands
        assert receive(alice_ws, 1) == [{"kind": "hello", "unread": 0, "cursor": 0}]
        assert receive(bob_ws, 1) == [{"kind": "hello", "unread": 0, "cursor": 0}]

        # when the claim resolves YES and settles: alice (the author) gets her residual, bob his winnings
        resolve(claim, "yes", resolver)
        alice_got, bob_got = receive(alice_ws, 2), receive(bob_ws, 1)

        # then each socket carries that person's notifications, and nobody else's
        mine = {n.pk: n.user_id for n in Notification.objects.filter(user__in=[alice.user, bob.user]).order_by("id")}
        assert sorted(mine.values()) == sorted([alice.user.pk, alice.user.pk, bob.user.pk])
        assert {m["payload"]["notification"]["id"] for m in alice_got} == {
            pk for pk, user_id in mine.items() if user_id == alice.user.pk
        }
        assert [m["payload"]["notification"]["id"] for m in bob_got] == [
            pk for pk, user_id in mine.items() if user_id == bob.user.pk
        ]
        assert {m["subject"] for m in alice_got} == {f"user:{alice.user.pk}"}
        assert [m["payload"]["unread"] for m in alice_got] == [2, 2]
        assert [(m["kind"], m["payload"]["unread"]) for m in bob_got] == [("notification.created", 1)]
        assert quiet(alice_ws) and quiet(bob_ws)

        # when bob reads his, then his socket hears the new count, and alice's hears nothing
        bob_notification = Notification.objects.get(user=bob.user)
        notification_mark_read(user=bob.user, notification_id=bob_notification.pk)
        assert [(m["kind"], m["payload"]) for m in receive(bob_ws, 1)] == [("notifications.read", {"unread": 0})]
        assert quiet(alice_ws)
        last_seen = alice_got[-1]["id"]

    # and a page that reconnects is told the count, the cursor, and nothing it already saw
    with _socket(server, f"/ws/me/?after={last_seen}", cookie=_session(alice.user)) as ws:
        assert receive(ws, 1) == [{"kind": "hello", "unread": 2, "cursor": last_seen}]
        assert quiet(ws)
