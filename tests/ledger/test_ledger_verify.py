"""`manage.py ledger_verify`: clean output on a sound ledger, non-zero exit naming what drifted."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.core.amounts import CREDIT
from apps.ledger.models import Account
from apps.ledger.services import EXTERNAL_WORLD, ledger_transfer, system_account, wallet_for
from tests import factories

pytestmark = pytest.mark.django_db


def _verify() -> tuple[str, str, CommandError | None]:
    out, err = StringIO(), StringIO()
    try:
        call_command("ledger_verify", stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def wallet():
    account = wallet_for(factories.human())
    ledger_transfer(
        lines=[(account, -3 * CREDIT), (system_account(EXTERNAL_WORLD), 3 * CREDIT)], kind="test", idempotency_key="t"
    )
    return account


def test_a_clean_ledger_passes(wallet):
    out, err, error = _verify()
    assert error is None
    assert err == ""
    # System accounts from the migration, the wallet; the grant and the test transfer.
    assert out.startswith("ledger_verify: clean (")
    assert "2 transfers, 4 entries" in out


def test_an_empty_ledger_passes():
    out, _, error = _verify()
    assert error is None and out.startswith("ledger_verify: clean")


@pytest.mark.ledger_drift
def test_a_drifted_balance_fails_and_names_the_account(wallet):
    # Balances are a cache, so the database allows this; ledger_verify is what notices.
    _raw("UPDATE ledger_account SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    _, err, error = _verify()
    assert str(error) == f"ledger_verify: 3 problem(s) in {Account.objects.count()} accounts, 2 transfers, 4 entries"
    assert f"account {wallet.pk} (wallet): cached balance {997 * CREDIT + 1} != sum of entries {997 * CREDIT}" in err
    assert f"account {wallet.pk}: last entry's balance_after {997 * CREDIT} != balance {997 * CREDIT + 1}" in err
    assert "credit not conserved: balances sum to 1, not 0" in err


@pytest.mark.ledger_drift
def test_a_compensated_drift_still_fails_on_both_accounts(wallet):
    # Moving credit behind the ledger's back conserves the total but not the entries.
    world = system_account(EXTERNAL_WORLD)
    _raw("UPDATE ledger_account SET balance = balance - 5 WHERE id = %s", [wallet.pk])
    _raw("UPDATE ledger_account SET balance = balance + 5 WHERE id = %s", [world.pk])
    _, err, error = _verify()
    assert str(error) == f"ledger_verify: 4 problem(s) in {Account.objects.count()} accounts, 2 transfers, 4 entries"
    assert f"account {wallet.pk} (wallet): cached balance" in err
    assert f"account {world.pk} ({EXTERNAL_WORLD}): cached balance" in err
    assert "not conserved" not in err


@pytest.mark.ledger_drift
def test_an_unbalanced_transfer_fails(wallet):
    # Entries cannot be changed, but an INSERT bypassing ledger_transfer can unbalance a transfer.
    transfer = wallet.entries.get(transfer__idempotency_key="t").transfer
    _raw(
        "INSERT INTO ledger_entry (transfer_id, account_id, amount, balance_after, created_at) "
        "VALUES (%s, %s, 1, %s, now())",
        [transfer.pk, wallet.pk, 997 * CREDIT + 1],
    )
    _raw("UPDATE ledger_account SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    _, err, error = _verify()
    assert str(error) == f"ledger_verify: 2 problem(s) in {Account.objects.count()} accounts, 2 transfers, 5 entries"
    assert f"transfer {transfer.pk} (t): 3 entries summing to 1" in err
    assert "credit not conserved: balances sum to 1, not 0" in err
    assert "cached balance" not in err
