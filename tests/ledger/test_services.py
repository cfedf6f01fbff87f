import pytest

from apps.core.amounts import CREDIT
from apps.ledger.models import Entry, Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance
from apps.ledger.services import (
    EXTERNAL_WORLD,
    IdempotencyConflict,
    InsufficientCredit,
    ledger_transfer,
    system_account,
    wallet_for,
)
from tests import factories

pytestmark = pytest.mark.django_db


def test_signup_grant_credits_a_verified_human_once():
    user = factories.verified_user()
    identity = factories.human(user)
    assert wallet_balance(identity) == 1000 * CREDIT
    assert system_account(EXTERNAL_WORLD).balance == -1000 * CREDIT
    assert ledger_verify_report().ok


def test_overdraft_is_refused_and_writes_nothing():
    identity = factories.human()
    world = system_account(EXTERNAL_WORLD)
    transfers, entries = Transfer.objects.count(), Entry.objects.count()
    with pytest.raises(InsufficientCredit):
        ledger_transfer(
            lines=[(wallet_for(identity), -1001 * CREDIT), (world, 1001 * CREDIT)], kind="test", idempotency_key="k1"
        )
    assert (Transfer.objects.count(), Entry.objects.count()) == (transfers, entries)
    assert wallet_balance(identity) == 1000 * CREDIT


def test_same_key_same_body_replays_and_different_body_conflicts():
    identity = factories.human()
    world = system_account(EXTERNAL_WORLD)
    lines = [(wallet_for(identity), -5), (world, 5)]
    first = ledger_transfer(lines=lines, kind="test", idempotency_key="k2")
    again = ledger_transfer(lines=lines, kind="test", idempotency_key="k2")
    assert again.pk == first.pk and again.replayed and not first.replayed
    with pytest.raises(IdempotencyConflict):
        ledger_transfer(lines=[(wallet_for(identity), -6), (world, 6)], kind="test", idempotency_key="k2")
    assert wallet_balance(identity) == 1000 * CREDIT - 5
