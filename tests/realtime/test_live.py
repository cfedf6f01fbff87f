"""Live updates through a real ASGI server: a trade committed anywhere (here, the test process stands in
for another web process or a Celery worker: they share only the database) reaches a browser's WebSocket
from the outbox; a reconnect resumes after the last id seen, with nothing lost and nothing twice."""

import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from apps.core.models import Event
from apps.reputation.services import belief_state
from tests import factories
from tests.bench.harness import asgi_server
from tests.factories import buy, new_claim
from tests.realtime.servers import quiet, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def server(tmp_path):
    with asgi_server(workers=1, extra_env={"CREDENCE_REALTIME_POLL_MS": "100"}, log_dir=tmp_path) as running:
        yield running


def _socket(server, claim_id: int, after: int | None = None):
    query = f"?after={after}" if after is not None else ""
    origin = f"http://127.0.0.1:{server.port}"
    return connect(f"ws://127.0.0.1:{server.port}/ws/claims/{claim_id}/{query}", origin=origin, open_timeout=10)


@pytest.fixture
def domain(db):
    return factories.domain()


@pytest.fixture
def claim(domain):
    return new_claim(factories.human(), domain)


def test_a_trade_reaches_an_open_page_and_a_reconnect_resumes_without_loss_or_repeat(server, claim):
    trader, thinker = factories.human(), factories.human()
    with _socket(server, claim.pk) as ws:
        time.sleep(0.3)  # the relay starts with the first follower
        # when someone trades on the claim (another process, as far as the server can tell)
        trade = buy(trader, claim, "yes", credits=3, key="live-1")
        received = receive(ws, 2)
        # then the page hears of it, in outbox order, within moments
        expected = list(
            Event.objects.filter(subject=f"claim:{claim.pk}", kind__in=["trade.placed", "market.price_changed"])
            .order_by("id")
            .values_list("id", "kind")
        )
        assert [(m["id"], m["kind"]) for m in received] == expected
        assert received[0]["payload"]["trade"] == trade.pk
        last_seen = received[-1]["id"]
        assert quiet(ws)  # and nothing else, nothing twice

    # when the page is away while a belief and another trade happen, then comes back
    belief_state(identity=thinker, claim=claim, probability="0.7", idempotency_key="live-2")
    buy(trader, claim, "no", credits=1, key="live-3")
    missed = list(
        Event.objects.filter(subject=f"claim:{claim.pk}", id__gt=last_seen).order_by("id").values_list("id", flat=True)
    )
    assert len(missed) == 4  # consensus.updated, belief.stated, trade.placed, market.price_changed
    with _socket(server, claim.pk, after=last_seen) as ws:
        # then it gets exactly what it missed, in order, then live events as before
        assert [m["id"] for m in receive(ws, 4)] == missed
        assert quiet(ws)
        buy(trader, claim, "yes", credits=1, key="live-4")
        live = receive(ws, 2)
        assert [m["kind"] for m in live] == ["trade.placed", "market.price_changed"]
        assert live[0]["id"] > missed[-1]


def test_a_draft_of_someone_else_is_refused(server, domain):
    draft = new_claim(factories.human(), domain, publish=False)
    with _socket(server, draft.pk) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd.code == 4404


def test_a_socket_from_a_foreign_origin_is_refused(server, claim):
    url = f"ws://127.0.0.1:{server.port}/ws/claims/{claim.pk}/"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="http://evil.example", open_timeout=10)
    assert refused.value.response.status_code == 403
