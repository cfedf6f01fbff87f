"""Many connections at once, on PostgreSQL, with real transactions: what row locks must guarantee.

Each worker thread gets its own database connection (Django connections are per thread) and closes it
when done; a Barrier releases them together so their transactions really overlap.
"""

from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum

from apps.core.amounts import CREDIT
from apps.ledger.errors import InsufficientCredit
from apps.ledger.models import Account, Entry, Transfer
from apps.ledger.services import EXTERNAL_WORLD, ledger_transfer, system_account, wallet_for, wallet_fund_agent
from tests import factories
from tests.factories import GRANT
from tests.support import race

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16


def _assert_ledger_clean() -> None:
    out = StringIO()
    call_command("ledger_verify", stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("ledger_verify: clean")


def test_racing_spenders_never_overdraw_a_wallet():
    # B = 1000 credits, A = 71.000001 credits: exactly floor(B / A) = 14 of the 16 spends fit.
    amount = 71 * CREDIT + 1
    fits = GRANT // amount
    assert 0 < fits < THREADS
    payer, payee = wallet_for(factories.human()), wallet_for(factories.human())

    def spend(i: int):
        return ledger_transfer(lines=[(payer, -amount), (payee, amount)], kind="test", idempotency_key=f"spend-{i}")

    results = race(THREADS, spend)

    assert Counter(type(r) for r in results) == {Transfer: fits, InsufficientCredit: THREADS - fits}, results
    payer.refresh_from_db()
    payee.refresh_from_db()
    assert payer.balance == GRANT - fits * amount == 6 * CREDIT - 14
    assert payee.balance == GRANT + fits * amount
    assert Entry.objects.filter(account=payer, amount__lt=0).count() == fits
    # Each entry saw the balance the previous spend left: the running balances are a strict chain.
    afters = sorted(Entry.objects.filter(account=payer, amount=-amount).values_list("balance_after", flat=True))
    assert afters == [GRANT - k * amount for k in range(fits, 0, -1)]
    _assert_ledger_clean()


def test_concurrent_duplicates_of_one_request_move_credit_once():
    payer, payee = wallet_for(factories.human()), wallet_for(factories.human())
    lines = [(payer, -25 * CREDIT), (payee, 25 * CREDIT)]

    results = race(THREADS, lambda i: ledger_transfer(lines=lines, kind="test", idempotency_key="one-request"))

    assert all(isinstance(r, Transfer) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Counter(r.replayed for r in results) == {True: THREADS - 1, False: 1}
    assert Transfer.objects.filter(idempotency_key="one-request").count() == 1
    assert Entry.objects.filter(transfer=results[0]).count() == 2
    payer.refresh_from_db()
    payee.refresh_from_db()
    assert (payer.balance, payee.balance) == (GRANT - 25 * CREDIT, GRANT + 25 * CREDIT)
    _assert_ledger_clean()


def test_concurrent_duplicate_agent_fundings_move_credit_once():
    owner = factories.verified_user()
    bot = factories.agent(owner, handle="racing-bot")
    results = race(
        THREADS, lambda i: wallet_fund_agent(owner=owner, agent=bot, amount=7 * CREDIT, idempotency_key="click")
    )
    assert all(isinstance(r, Transfer) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert wallet_for(bot).balance == 7 * CREDIT
    assert wallet_for(factories.human(owner)).balance == GRANT - 7 * CREDIT
    _assert_ledger_clean()


def test_transfers_in_opposite_directions_do_not_deadlock():
    # Each thread names its lines in its own direction's order; only locking by account id keeps
    # A->B and B->A from waiting on each other (PostgreSQL would abort one with a deadlock error).
    a, b = wallet_for(factories.human()), wallet_for(factories.human())
    fees = system_account("platform:fees")
    rounds = 15

    def shuttle(i: int) -> int:
        src, dst = (a, b) if i % 2 == 0 else (b, a)
        for n in range(rounds):
            # A third account in every transfer widens the window in which two lock sets overlap.
            ledger_transfer(
                lines=[(src, -(CREDIT + 1)), (dst, CREDIT), (fees, 1)], kind="test", idempotency_key=f"shuttle-{i}-{n}"
            )
        return rounds

    results = race(THREADS, shuttle)

    assert results == [rounds] * THREADS, [r for r in results if not isinstance(r, int)]
    a.refresh_from_db()
    b.refresh_from_db()
    fees.refresh_from_db()
    moved = THREADS // 2 * rounds
    assert (a.balance, b.balance) == (GRANT - moved, GRANT - moved)
    assert fees.balance == 2 * moved
    assert a.balance + b.balance + fees.balance == 2 * GRANT
    assert Account.objects.aggregate(total=Sum("balance"))["total"] == 0
    _assert_ledger_clean()


def test_concurrent_openings_of_one_wallet_yield_one_account():
    identity = factories.agent()  # an agent's wallet opens on first use
    assert not Account.objects.filter(identity=identity).exists()

    results = race(THREADS, lambda i: wallet_for(identity).pk)

    assert len(set(results)) == 1 and all(isinstance(r, int) for r in results), results
    assert Account.objects.filter(identity=identity).count() == 1


def test_races_on_the_external_world_do_not_lose_updates():
    world = system_account(EXTERNAL_WORLD)
    wallets = [wallet_for(factories.human()) for _ in range(4)]
    start = Account.objects.get(pk=world.pk).balance

    def grant(i: int):
        return ledger_transfer(
            lines=[(world, -(i + 1)), (wallets[i % 4], i + 1)], kind="test", idempotency_key=f"grant-{i}"
        )

    results = race(THREADS, grant)

    assert all(isinstance(r, Transfer) for r in results), results
    world.refresh_from_db()
    assert world.balance == start - sum(range(1, THREADS + 1))
    _assert_ledger_clean()
