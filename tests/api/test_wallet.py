import pytest
from django.test import Client

from apps.core.amounts import CREDIT
from apps.ledger.models import Entry, Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance
from tests import factories
from tests.factories import GRANT
from tests.support import bearer

pytestmark = pytest.mark.django_db


def _move(client, agent, action, amount, key="k-1"):
    return client.post(
        f"/api/v1/agents/{agent.pk}/{action}",
        {"amount": amount},
        content_type="application/json",
        headers={"Idempotency-Key": key} if key else {},
    )


def test_my_wallet_by_session_and_by_key(owner, owner_client, bot):
    body = owner_client.get("/api/v1/wallet").json()
    assert body == {"identity_id": factories.human(owner).pk, "handle": factories.human(owner).handle, "balance": GRANT}
    token = factories.api_key(bot, scopes=["read"])
    assert Client().get("/api/v1/wallet", headers=bearer(token)).json()["balance"] == 0


def test_fund_and_withdraw_move_exact_amounts(owner, owner_client, bot):
    funded = _move(owner_client, bot, "fund", 25 * CREDIT, key="fund-1")
    assert funded.status_code == 200
    assert funded.json() | {"transfer_id": 0} == {
        "transfer_id": 0,
        "kind": "agent_funding",
        "amount": 25 * CREDIT,
        "replayed": False,
        "owner_balance": GRANT - 25 * CREDIT,
        "agent_balance": 25 * CREDIT,
    }
    withdrawn = _move(owner_client, bot, "withdraw", 10 * CREDIT + 1, key="withdraw-1")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["owner_balance"] == GRANT - 15 * CREDIT + 1
    assert withdrawn.json()["agent_balance"] == 15 * CREDIT - 1
    assert ledger_verify_report().ok


def test_retry_with_the_same_key_moves_credit_once(owner, owner_client, bot):
    first = _move(owner_client, bot, "fund", 5 * CREDIT, key="same")
    again = _move(owner_client, bot, "fund", 5 * CREDIT, key="same")
    assert again.status_code == 200
    assert again.json()["transfer_id"] == first.json()["transfer_id"]
    assert again.json()["replayed"] is True
    assert wallet_balance(bot) == 5 * CREDIT
    conflict = _move(owner_client, bot, "fund", 6 * CREDIT, key="same")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert wallet_balance(bot) == 5 * CREDIT


def test_missing_idempotency_key_is_refused(owner_client, bot):
    response = _move(owner_client, bot, "fund", CREDIT, key=None)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert wallet_balance(bot) == 0


@pytest.mark.parametrize("amount", [0, -5, 1.5, "ten"])
def test_bad_amounts_are_422_and_write_nothing(owner_client, bot, amount):
    transfers = Transfer.objects.count()
    response = _move(owner_client, bot, "fund", amount)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"
    assert Transfer.objects.count() == transfers


def test_overdraft_is_409_and_writes_nothing(owner, owner_client, bot):
    entries = Entry.objects.count()
    response = _move(owner_client, bot, "fund", GRANT + 1)
    assert response.status_code == 409
    body = response.json()["error"]
    assert body["code"] == "insufficient_credit"
    assert body["detail"]["balance"] == GRANT
    assert body["detail"]["required"] == GRANT + 1
    assert Entry.objects.count() == entries
    assert _move(owner_client, bot, "withdraw", 1).status_code == 409


def test_history_is_paginated_newest_first(owner, owner_client, bot, django_assert_num_queries):
    for n in range(5):
        _move(owner_client, bot, "fund", (n + 1) * CREDIT, key=f"f{n}")
    with django_assert_num_queries(4):  # session, user, caller identity, one page of entries with transfers
        page = owner_client.get("/api/v1/wallet/entries", {"limit": 4}).json()
    assert [e["amount"] for e in page["items"]] == [-5 * CREDIT, -4 * CREDIT, -3 * CREDIT, -2 * CREDIT]
    assert page["items"][0]["balance_after"] == GRANT - 15 * CREDIT
    assert page["items"][0]["kind"] == "agent_funding"
    assert page["items"][0]["memo"] == "Funding @bot-one"
    rest = owner_client.get("/api/v1/wallet/entries", {"limit": 4, "cursor": page["next_cursor"]}).json()
    assert [e["amount"] for e in rest["items"]] == [-CREDIT, GRANT]
    assert rest["next_cursor"] is None
    for n in range(5, 25):
        _move(owner_client, bot, "fund", CREDIT, key=f"f{n}")
    with django_assert_num_queries(4):
        assert len(owner_client.get("/api/v1/wallet/entries", {"limit": 20}).json()["items"]) == 20


def test_agent_wallet_seen_by_its_owner(owner_client, bot, django_assert_num_queries):
    _move(owner_client, bot, "fund", 3 * CREDIT)
    assert owner_client.get(f"/api/v1/agents/{bot.pk}/wallet").json()["balance"] == 3 * CREDIT
    with django_assert_num_queries(5):
        entries = owner_client.get(f"/api/v1/agents/{bot.pk}/wallet/entries").json()["items"]
    assert [(e["amount"], e["balance_after"]) for e in entries] == [(3 * CREDIT, 3 * CREDIT)]


def test_agent_reads_its_own_history_with_a_read_key(owner_client, bot):
    _move(owner_client, bot, "fund", 2 * CREDIT)
    token = factories.api_key(bot, scopes=["read"])
    items = Client().get("/api/v1/wallet/entries", headers=bearer(token)).json()["items"]
    assert [e["amount"] for e in items] == [2 * CREDIT]
