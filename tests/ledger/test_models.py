"""The database itself refuses what the ledger's rules forbid, whoever sends the SQL."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from apps.core.amounts import CREDIT
from apps.ledger.models import Account, Entry, Transfer
from apps.ledger.services import EXTERNAL_WORLD, ledger_transfer, system_account, wallet_for
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def transfer() -> Transfer:
    payer = wallet_for(factories.human())
    return ledger_transfer(
        lines=[(payer, -7 * CREDIT), (system_account(EXTERNAL_WORLD), 7 * CREDIT)], kind="test", idempotency_key="t"
    )


def _rows(transfer: Transfer) -> tuple:
    return (
        list(
            Transfer.objects.filter(pk=transfer.pk).values_list("pk", "kind", "idempotency_key", "body_sha256", "memo")
        ),
        list(Entry.objects.filter(transfer=transfer).order_by("pk").values_list("pk", "account_id", "amount")),
    )


def _refused(sql: str, params: list) -> DatabaseError:
    # The savepoint keeps the test's transaction usable after PostgreSQL aborts the statement.
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return refused.value


@pytest.mark.parametrize(
    ("sql", "operation", "table"),
    [
        ("UPDATE ledger_entry SET amount = amount * 2 WHERE transfer_id = %s", "UPDATE", "ledger_entry"),
        ("UPDATE ledger_entry SET balance_after = 0 WHERE transfer_id = %s", "UPDATE", "ledger_entry"),
        ("DELETE FROM ledger_entry WHERE transfer_id = %s", "DELETE", "ledger_entry"),
        ("UPDATE ledger_transfer SET memo = 'rewritten' WHERE id = %s", "UPDATE", "ledger_transfer"),
        ("UPDATE ledger_transfer SET idempotency_key = 'other' WHERE id = %s", "UPDATE", "ledger_transfer"),
        ("DELETE FROM ledger_transfer WHERE id = %s", "DELETE", "ledger_transfer"),
    ],
)
def test_entries_and_transfers_cannot_be_changed_or_deleted(transfer, sql, operation, table):
    before = _rows(transfer)
    error = _refused(sql, [transfer.pk])
    assert f"ledger rows are immutable: {operation} on {table} refused" in str(error)
    assert _rows(transfer) == before
    assert len(before[1]) == 2


def test_the_orm_cannot_delete_an_entry_either(transfer):
    entry = Entry.objects.filter(transfer=transfer).first()
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        entry.delete()
    assert Entry.objects.filter(pk=entry.pk).exists()


def test_a_wallet_balance_cannot_be_set_negative_even_by_raw_sql():
    wallet = wallet_for(factories.human())
    error = _refused("UPDATE ledger_account SET balance = -1 WHERE id = %s", [wallet.pk])
    assert isinstance(error, IntegrityError)
    assert "ledger_account_balance_non_negative" in str(error)
    wallet.refresh_from_db()
    assert wallet.balance == 1000 * CREDIT


@pytest.mark.parametrize("code", ["platform:fees", "platform:treasury"])
def test_platform_accounts_cannot_go_negative_either(code):
    account = system_account(code)
    with pytest.raises(IntegrityError, match="ledger_account_balance_non_negative"), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(balance=-1)


@pytest.mark.ledger_drift
def test_only_the_external_world_may_hold_a_negative_balance():
    world = system_account(EXTERNAL_WORLD)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET balance = balance - 1 WHERE id = %s", [world.pk])
    world.refresh_from_db()
    assert world.balance < 0


def test_an_entry_of_zero_is_refused(transfer):
    wallet = Entry.objects.filter(transfer=transfer).first().account
    with pytest.raises(IntegrityError, match="ledger_entry_amount_non_zero"), transaction.atomic():
        Entry.objects.create(transfer=transfer, account=wallet, amount=0, balance_after=wallet.balance)


def test_one_wallet_per_identity():
    wallet = wallet_for(factories.human())
    with pytest.raises(IntegrityError, match="ledger_one_wallet_per_identity"), transaction.atomic():
        Account.objects.create(kind=wallet.kind, identity=wallet.identity)
    assert wallet_for(wallet.identity).pk == wallet.pk


def test_an_idempotency_key_is_unique_in_the_database(transfer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(kind="test", idempotency_key=transfer.idempotency_key, body_sha256="0" * 64)
