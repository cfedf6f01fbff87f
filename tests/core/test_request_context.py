"""The request's id: the client's X-Request-ID when it is plain (else a new one), returned on the answer, and
written with every outbox event the request causes, on the ORM path and the raw-SQL paths (a trade, a
settlement's payouts) alike."""

import pytest
from django.test import Client

from apps.core.context import new_request_id
from apps.core.models import Event
from tests import factories
from tests.support import bearer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("offered", "kept"),
    [("req-1234abcd", True), ("a" * 64, True), ("short", False), ("has space in it", False), ("x" * 65, False)],
)
def test_a_plain_client_id_is_kept_and_anything_else_replaced(offered, kept):
    chosen = new_request_id(offered)
    assert (chosen == offered) is kept
    assert len(chosen) == (len(offered) if kept else 32)


def test_the_answer_carries_the_id_and_the_trade_events_are_written_with_it():
    claim = factories.new_claim()
    bot = factories.funded_agent()
    token = factories.api_key(bot, scopes=["read", "trade"])
    answer = Client().post(
        f"/api/v1/claims/{claim.pk}/trades",
        {"kind": "buy", "side": "yes", "amount": 2_000_000},
        content_type="application/json",
        headers={**bearer(token), "Idempotency-Key": "t-1", "X-Request-ID": "trade-req-0001"},
    )
    assert answer.status_code == 201
    assert answer["X-Request-ID"] == "trade-req-0001"
    assert sorted(Event.objects.filter(request_id="trade-req-0001").values_list("kind", flat=True)) == [
        "market.price_changed",
        "trade.placed",
    ]


def test_without_an_id_each_answer_gets_its_own():
    first, second = Client().get("/api/v1/domains"), Client().get("/api/v1/domains")
    assert len(first["X-Request-ID"]) == 32 and first["X-Request-ID"] != second["X-Request-ID"]


def test_an_event_written_outside_a_request_has_none():
    factories.new_claim()
    assert set(Event.objects.values_list("request_id", flat=True)) == {""}
