"""Random sequences of transfers against a model of the ledger, with every invariant checked after every step.

Each example runs inside a savepoint that is rolled back at teardown, so examples start from the same
database and cannot see each other's rows.
"""

import pytest
from django.db import transaction
from django.db.models import F, Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from apps.core.amounts import CREDIT
from apps.core.errors import ValidationFailed
from apps.ledger.errors import IdempotencyConflict, InsufficientCredit
from apps.ledger.models import Account, AccountKind, Entry, Transfer
from apps.ledger.services import EXTERNAL_WORLD, PLATFORM_FEES, ledger_transfer, system_account, wallet_for
from tests import factories

pytestmark = pytest.mark.django_db

WALLETS = 3
# Index 0 is the external world, 1 the platform fees account (never negative), then the wallets.
ACCOUNT = st.integers(0, WALLETS + 1)
OTHER = st.integers(1, WALLETS + 1)  # an offset to another account
# Mostly affordable amounts, sometimes far beyond a wallet's 1,000-credit grant (overdraft attempts).
AMOUNT = st.one_of(st.integers(1, 400 * CREDIT), st.integers(900 * CREDIT, 3000 * CREDIT), st.sampled_from([1, CREDIT]))
# None (most often): a fresh key. An integer: reuse the n-th key submitted so far, whatever became of it
# (applied, refused, replayed), so replays, conflicts and keys left free by a refusal all come up.
KEY = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 30))


class LedgerMachine(RuleBasedStateMachine):
    wallet_pks: list[int]  # opened once by the test, before any example

    def __init__(self) -> None:
        super().__init__()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        self.accounts = [system_account(EXTERNAL_WORLD), system_account(PLATFORM_FEES)]
        self.accounts += list(Account.objects.filter(pk__in=self.wallet_pks).order_by("pk"))
        self.external = {a.pk for a in self.accounts if a.kind == AccountKind.EXTERNAL}
        self.balances = {a.pk: Account.objects.get(pk=a.pk).balance for a in self.accounts}
        self.transfers = Transfer.objects.count()
        self.entries = Entry.objects.count()
        self.keys: list[str] = []  # every key submitted, in order
        self.done: dict[str, tuple[dict[int, int], int]] = {}  # key -> (normalised lines, transfer id)

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    # --- the model -------------------------------------------------------------------------------

    def _key(self, choice: int | None) -> str:
        fresh = choice is None or not self.keys
        key = f"k{len(self.keys)}" if fresh else self.keys[choice % len(self.keys)]
        self.keys.append(key)
        return key

    @staticmethod
    def _merged(lines: list[tuple[int, int]]) -> dict[int, int]:
        merged: dict[int, int] = {}
        for pk, amount in lines:
            merged[pk] = merged.get(pk, 0) + amount
        return {pk: amount for pk, amount in sorted(merged.items()) if amount}

    def _submit(self, lines: list[tuple[int, int]], key: str) -> None:
        """Submit to the ledger and check the outcome against the model's prediction."""
        body = self._merged(lines)
        before = (self.transfers, self.entries, dict(self.balances))
        if len(body) < 2 or sum(body.values()) != 0:
            expected = ValidationFailed
        elif key in self.done:
            expected = "replay" if self.done[key][0] == body else IdempotencyConflict
        elif any(self.balances[pk] + amount < 0 for pk, amount in body.items() if pk not in self.external):
            expected = InsufficientCredit
        else:
            expected = "applied"

        if isinstance(expected, type):
            with pytest.raises(expected):
                ledger_transfer(lines=lines, kind="test", idempotency_key=key)
            self._assert_wrote_nothing(before)
            return
        transfer = ledger_transfer(lines=lines, kind="test", idempotency_key=key)
        if expected == "replay":
            assert (transfer.pk, transfer.replayed) == (self.done[key][1], True)
            self._assert_wrote_nothing(before)
            return
        assert transfer.replayed is False
        for pk, amount in body.items():
            self.balances[pk] += amount
        self.transfers += 1
        self.entries += len(body)
        self.done[key] = (body, transfer.pk)
        assert dict(transfer.entries.values_list("account_id", "amount")) == body

    def _assert_wrote_nothing(self, before) -> None:
        assert (Transfer.objects.count(), Entry.objects.count()) == before[:2]
        assert self._db_balances() == before[2]

    def _db_balances(self) -> dict[int, int]:
        return dict(Account.objects.filter(pk__in=self.balances).values_list("pk", "balance"))

    # --- operations ------------------------------------------------------------------------------

    def _pk(self, index: int, offset: int = 0) -> int:
        return self.accounts[(index + offset) % len(self.accounts)].pk

    @rule(src=ACCOUNT, dst=OTHER, amount=AMOUNT, key=KEY)
    def move(self, src, dst, amount, key):
        self._submit([(self._pk(src), -amount), (self._pk(src, dst), amount)], self._key(key))

    @rule(src=ACCOUNT, dst=OTHER, key=KEY)
    def move_everything(self, src, dst, key):
        """Spend an account's exact balance (the boundary of the overdraft rule)."""
        amount = abs(self.balances[self._pk(src)]) or 1
        self._submit([(self._pk(src), -amount), (self._pk(src, dst), amount)], self._key(key))

    @rule(src=ACCOUNT, dsts=st.lists(st.tuples(ACCOUNT, AMOUNT), min_size=2, max_size=3), key=KEY)
    def split(self, src, dsts, key):
        """One payer, several payees (a fee, a payout): a multi-line transfer."""
        lines = [(self._pk(dst), amount) for dst, amount in dsts]
        self._submit([(self._pk(src), -sum(amount for _, amount in dsts)), *lines], self._key(key))

    @rule(src=ACCOUNT, dst=ACCOUNT, amount=AMOUNT, off_by=st.sampled_from([0, -1, 1, CREDIT]), key=KEY)
    def invalid(self, src, dst, amount, off_by, key):
        """Lines that do not balance, or a transfer from an account to itself."""
        self._submit([(self._pk(src), -amount), (self._pk(dst), amount + off_by)], self._key(key))

    @precondition(lambda self: self.done)
    @rule(data=st.data(), reverse=st.booleans())
    def replay(self, data, reverse):
        """A client retry: the same key and the same movement (its lines possibly in another order)."""
        key = data.draw(st.sampled_from(sorted(self.done)))
        lines = list(self.done[key][0].items())
        self._submit(lines[::-1] if reverse else lines, key)

    @precondition(lambda self: self.done)
    @rule(data=st.data(), extra=st.integers(1, CREDIT))
    def reuse_key_for_another_body(self, data, extra):
        """The same key sent with a larger amount: a conflict, never a second movement."""
        key = data.draw(st.sampled_from(sorted(self.done)))
        body = dict(self.done[key][0])
        payer, payee = min(body, key=body.__getitem__), max(body, key=body.__getitem__)
        body[payer] -= extra
        body[payee] += extra
        self._submit(list(body.items()), key)

    # --- invariants, after every step ------------------------------------------------------------

    @invariant()
    def credit_is_conserved(self):
        assert Account.objects.aggregate(total=Sum("balance", default=0))["total"] == 0

    @invariant()
    def every_cached_balance_is_the_sum_of_its_entries(self):
        drift = Account.objects.annotate(total=Sum("entries__amount", default=0)).exclude(balance=F("total"))
        assert list(drift.values_list("pk", "balance", "total")) == []

    @invariant()
    def no_internal_account_is_negative(self):
        assert not Account.objects.filter(balance__lt=0).exclude(kind=AccountKind.EXTERNAL).exists()

    @invariant()
    def the_database_agrees_with_the_model(self):
        assert self._db_balances() == self.balances
        assert (Transfer.objects.count(), Entry.objects.count()) == (self.transfers, self.entries)


def test_random_transfer_sequences_keep_every_invariant():
    wallets = [wallet_for(factories.human()).pk for _ in range(WALLETS)]  # 1,000 credits each
    run_state_machine_as_test(
        type("Machine", (LedgerMachine,), {"wallet_pks": wallets}),
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            derandomize=True,  # the same sequences on every run and every machine
            database=None,
            deadline=None,  # database round trips vary; correctness is what is checked here
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
