import pytest
from django.db import connection, transaction

from apps.core.amounts import CREDIT
from apps.core.errors import NotFound, ValidationFailed
from apps.identities.errors import IdentitySuspended
from apps.identities.services import identity_suspend
from apps.ledger.errors import IdempotencyConflict, InsufficientCredit
from apps.ledger.models import Account, AccountKind, Entry, Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance
from apps.ledger.services import (
    EXTERNAL_WORLD,
    PLATFORM_FEES,
    ledger_transfer,
    system_account,
    wallet_for,
    wallet_fund_agent,
    wallet_withdraw_agent,
)
from tests import factories
from tests.factories import GRANT

pytestmark = pytest.mark.django_db


def _snapshot() -> tuple:
    """Everything a refused operation must leave untouched: row counts and every balance."""
    return (
        Transfer.objects.count(),
        Entry.objects.count(),
        dict(Account.objects.values_list("pk", "balance")),
    )


def test_signup_grant_credits_a_verified_human_once():
    user = factories.verified_user()
    identity = factories.human(user)
    assert wallet_balance(identity) == GRANT
    assert system_account(EXTERNAL_WORLD).balance == -GRANT
    assert ledger_verify_report().ok


def test_overdraft_is_refused_and_writes_nothing():
    # given a wallet holding the 1,000-credit grant
    identity = factories.human()
    world = system_account(EXTERNAL_WORLD)
    transfers, entries = Transfer.objects.count(), Entry.objects.count()

    # when it is asked to pay 1,001 credits, then that is refused
    with pytest.raises(InsufficientCredit):
        ledger_transfer(
            lines=[(wallet_for(identity), -1001 * CREDIT), (world, 1001 * CREDIT)], kind="test", idempotency_key="k1"
        )

    # and nothing was written
    assert (Transfer.objects.count(), Entry.objects.count()) == (transfers, entries)
    assert wallet_balance(identity) == GRANT


def test_same_key_same_body_replays_and_different_body_conflicts():
    identity = factories.human()
    world = system_account(EXTERNAL_WORLD)
    lines = [(wallet_for(identity), -5), (world, 5)]
    first = ledger_transfer(lines=lines, kind="test", idempotency_key="k2")
    again = ledger_transfer(lines=lines, kind="test", idempotency_key="k2")
    assert again.pk == first.pk and again.replayed and not first.replayed
    with pytest.raises(IdempotencyConflict):
        ledger_transfer(lines=[(wallet_for(identity), -6), (world, 6)], kind="test", idempotency_key="k2")
    assert wallet_balance(identity) == GRANT - 5


def test_a_transfer_writes_one_entry_per_account_with_its_running_balance():
    payer, payee = factories.human(), factories.human()
    fees = system_account(PLATFORM_FEES)
    transfer = ledger_transfer(
        lines=[(wallet_for(payer), -10 * CREDIT), (wallet_for(payee), 9 * CREDIT + 900_000), (fees, 100_000)],
        kind="test",
        idempotency_key="three-way",
        memo="with a fee",
    )
    rows = set(transfer.entries.values_list("account_id", "amount", "balance_after"))
    assert rows == {
        (wallet_for(payer).pk, -10 * CREDIT, GRANT - 10 * CREDIT),
        (wallet_for(payee).pk, 9_900_000, GRANT + 9_900_000),
        (fees.pk, 100_000, 100_000),
    }
    assert (transfer.kind, transfer.memo, len(transfer.body_sha256)) == ("test", "with a fee", 64)
    assert ledger_verify_report().ok


def test_lines_on_the_same_account_are_merged_and_the_body_compares_merged():
    payer, payee = factories.human(), factories.human()
    src, dst = wallet_for(payer), wallet_for(payee)
    first = ledger_transfer(lines=[(src, -3), (src, -4), (dst.pk, 7)], kind="test", idempotency_key="merged")
    assert list(first.entries.order_by("account_id").values_list("account_id", "amount")) == [(src.pk, -7), (dst.pk, 7)]
    # The same movement written differently is the same body: a replay, not a conflict.
    again = ledger_transfer(lines=[(dst, 7), (src, -7)], kind="test", idempotency_key="merged")
    assert again.pk == first.pk and again.replayed
    assert (wallet_balance(payer), wallet_balance(payee)) == (GRANT - 7, GRANT + 7)


def test_the_external_world_may_go_negative_without_limit():
    identity = factories.human()
    world = system_account(EXTERNAL_WORLD)
    ledger_transfer(lines=[(world, -(2**40)), (wallet_for(identity), 2**40)], kind="test", idempotency_key="mint")
    world.refresh_from_db()
    assert world.balance == -GRANT - 2**40
    assert wallet_balance(identity) == GRANT + 2**40
    assert ledger_verify_report().ok


def test_spending_exactly_the_balance_leaves_zero():
    identity = factories.human()
    ledger_transfer(
        lines=[(wallet_for(identity), -GRANT), (system_account(EXTERNAL_WORLD), GRANT)],
        kind="test",
        idempotency_key="all-of-it",
    )
    assert wallet_balance(identity) == 0
    with pytest.raises(InsufficientCredit) as refused:
        ledger_transfer(
            lines=[(wallet_for(identity), -1), (system_account(EXTERNAL_WORLD), 1)],
            kind="test",
            idempotency_key="one-more",
        )
    assert refused.value.detail == {"account": wallet_for(identity).pk, "balance": 0, "required": 1}


def test_a_refused_transfer_does_not_consume_its_key():
    # given a transfer refused for want of credit
    identity = factories.human()
    world = system_account(EXTERNAL_WORLD)
    with pytest.raises(InsufficientCredit):
        ledger_transfer(
            lines=[(wallet_for(identity), -2 * GRANT), (world, 2 * GRANT)], kind="test", idempotency_key="k"
        )

    # when another transfer uses its key
    transfer = ledger_transfer(lines=[(wallet_for(identity), -GRANT), (world, GRANT)], kind="test", idempotency_key="k")

    # then it is a new transfer, not a replay of the refused one
    assert transfer.replayed is False
    assert wallet_balance(identity) == 0


def test_the_returned_transfer_is_the_stored_row():
    payer = wallet_for(factories.human())
    transfer = ledger_transfer(
        lines=[(payer, -5), (system_account(EXTERNAL_WORLD), 5)],
        kind="test",
        idempotency_key="stored",
        memo="a memo",
        metadata={"claim": 7, "note": "café"},
    )
    stored = Transfer.objects.get(pk=transfer.pk)
    fields = ("pk", "kind", "idempotency_key", "body_sha256", "memo", "metadata", "created_at")
    assert [getattr(transfer, f) for f in fields] == [getattr(stored, f) for f in fields]
    assert set(transfer.entries.values_list("created_at", flat=True)) == {stored.created_at}
    again = ledger_transfer(
        lines=[(payer, -5), (system_account(EXTERNAL_WORLD), 5)],
        kind="test",
        idempotency_key="stored",
        memo="a memo",
        metadata={"note": "café", "claim": 7},
    )
    assert (again.pk, again.replayed) == (transfer.pk, True)


def test_a_transfer_with_hundreds_of_lines_writes_them_all():
    world = system_account(EXTERNAL_WORLD)
    # Escrow accounts stand in for 300 payees (a settlement's winners): opening them is all a test needs.
    wallets = Account.objects.bulk_create(
        [Account(kind=AccountKind.MARKET_ESCROW, code=f"escrow:many-{i}") for i in range(300)]
    )
    transfer = ledger_transfer(
        lines=[(world, -sum(range(1, 301)))] + [(w, i) for i, w in enumerate(wallets, start=1)],
        kind="settlement",
        idempotency_key="many",
    )
    assert transfer.entries.count() == 301
    assert [w.balance for w in Account.objects.filter(pk__in=[w.pk for w in wallets]).order_by("pk")] == list(
        range(1, 301)
    )
    assert ledger_verify_report().ok


def test_a_replay_inside_the_same_outer_transaction_is_answered():
    payer = wallet_for(factories.human())
    lines = [(payer, -5), (system_account(EXTERNAL_WORLD), 5)]
    with transaction.atomic():
        first = ledger_transfer(lines=lines, kind="test", idempotency_key="twice")
        again = ledger_transfer(lines=lines, kind="test", idempotency_key="twice")
    assert (again.pk, again.replayed) == (first.pk, True)
    assert wallet_balance(payer.identity) == GRANT - 5


def test_a_refusal_inside_an_outer_transaction_leaves_it_usable():
    payer = wallet_for(factories.human())
    world = system_account(EXTERNAL_WORLD)
    with transaction.atomic():
        with pytest.raises(InsufficientCredit):
            ledger_transfer(lines=[(payer, -2 * GRANT), (world, 2 * GRANT)], kind="test", idempotency_key="no")
        ledger_transfer(lines=[(payer, -GRANT), (world, GRANT)], kind="test", idempotency_key="yes")
    assert wallet_balance(payer.identity) == 0
    assert list(
        Transfer.objects.filter(idempotency_key__in=["no", "yes"]).values_list("idempotency_key", flat=True)
    ) == ["yes"]


@pytest.mark.parametrize(
    ("label", "make_lines"),
    [
        ("not summing to zero", lambda a, b: [(a, -5), (b, 4)]),
        ("a single line", lambda a, b: [(a, 0)]),
        ("one account twice, netting to nothing", lambda a, b: [(a, -5), (a, 5)]),
        ("no lines", lambda a, b: []),
        ("a float amount", lambda a, b: [(a, -5.0), (b, 5.0)]),
        ("a bool amount", lambda a, b: [(a, True), (b, -1)]),
        ("a string amount", lambda a, b: [(a, "-5"), (b, "5")]),
        ("an amount beyond 2**53", lambda a, b: [(a, -(2**53) - 1), (b, 2**53 + 1)]),
        ("an unknown account id", lambda a, b: [(a, -5), (10**12, 5)]),
        ("an account id beyond bigint", lambda a, b: [(a, -5), (2**70, 5)]),
    ],
)
def test_invalid_lines_are_refused_and_write_nothing(label, make_lines):
    payer, payee = wallet_for(factories.human()), wallet_for(factories.human())
    before = _snapshot()
    with pytest.raises(ValidationFailed):
        ledger_transfer(lines=make_lines(payer, payee), kind="test", idempotency_key=f"bad:{label}")
    assert _snapshot() == before
    assert not Transfer.objects.filter(idempotency_key=f"bad:{label}").exists()


def test_an_unknown_account_is_named_and_its_key_stays_free():
    payer = wallet_for(factories.human())
    with pytest.raises(ValidationFailed) as refused:
        ledger_transfer(lines=[(payer, -5), (10**12, 5)], kind="test", idempotency_key="unknown")
    assert refused.value.detail == {"accounts": [10**12]}
    transfer = ledger_transfer(
        lines=[(payer, -5), (system_account(EXTERNAL_WORLD), 5)], kind="test", idempotency_key="unknown"
    )
    assert transfer.replayed is False


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_an_idempotency_key_of_1_to_200_characters_is_required(key):
    payer = wallet_for(factories.human())
    before = _snapshot()
    with pytest.raises(ValidationFailed):
        ledger_transfer(lines=[(payer, -5), (system_account(EXTERNAL_WORLD), 5)], kind="test", idempotency_key=key)
    assert _snapshot() == before


def test_same_key_with_another_kind_or_memo_conflicts():
    payer = wallet_for(factories.human())
    world = system_account(EXTERNAL_WORLD)
    ledger_transfer(lines=[(payer, -5), (world, 5)], kind="test", idempotency_key="k", memo="one")
    before = _snapshot()
    with pytest.raises(IdempotencyConflict):
        ledger_transfer(lines=[(payer, -5), (world, 5)], kind="other", idempotency_key="k", memo="one")
    with pytest.raises(IdempotencyConflict):
        ledger_transfer(lines=[(payer, -5), (world, 5)], kind="test", idempotency_key="k", memo="two")
    assert _snapshot() == before


def test_a_replay_answers_even_when_the_balance_no_longer_covers_it():
    payer = wallet_for(factories.human())
    world = system_account(EXTERNAL_WORLD)
    first = ledger_transfer(lines=[(payer, -GRANT), (world, GRANT)], kind="test", idempotency_key="all")
    again = ledger_transfer(lines=[(payer, -GRANT), (world, GRANT)], kind="test", idempotency_key="all")
    assert (again.pk, again.replayed) == (first.pk, True)
    assert Transfer.objects.filter(idempotency_key="all").count() == 1
    assert wallet_balance(payer.identity) == 0


# --- Agent funding and withdrawal -------------------------------------------------------------------


@pytest.fixture
def owner():
    return factories.verified_user()


@pytest.fixture
def bot(owner):
    return factories.agent(owner, handle="bot-one")


def test_funding_and_withdrawing_move_exact_amounts(owner, bot):
    me = factories.human(owner)

    # when the owner funds the agent, then exactly that amount moves from their wallet to the agent's
    funded = wallet_fund_agent(owner=owner, agent=bot, amount=250 * CREDIT + 500_001, idempotency_key="f1")
    assert (funded.kind, funded.replayed) == ("agent_funding", False)
    assert (wallet_balance(me), wallet_balance(bot)) == (749 * CREDIT + 499_999, 250 * CREDIT + 500_001)

    # when they withdraw part of it, then exactly that amount moves back
    withdrawn = wallet_withdraw_agent(owner=owner, agent=bot, amount=100 * CREDIT + 1, idempotency_key="w1")
    assert (withdrawn.kind, withdrawn.replayed) == ("agent_withdrawal", False)
    assert (wallet_balance(me), wallet_balance(bot)) == (849 * CREDIT + 500_000, 150 * CREDIT + 500_000)
    assert list(Entry.objects.filter(transfer=withdrawn).order_by("amount").values_list("account_id", "amount")) == [
        (wallet_for(bot).pk, -(100 * CREDIT + 1)),
        (wallet_for(me).pk, 100 * CREDIT + 1),
    ]
    assert ledger_verify_report().ok


def test_funding_beyond_the_owners_balance_is_refused(owner, bot):
    before = _snapshot()
    with pytest.raises(InsufficientCredit):
        wallet_fund_agent(owner=owner, agent=bot, amount=GRANT + 1, idempotency_key="too-much")
    assert (Transfer.objects.count(), Entry.objects.count()) == before[:2]
    assert (wallet_balance(factories.human(owner)), wallet_balance(bot)) == (GRANT, 0)


def test_withdrawing_beyond_the_agents_balance_is_refused(owner, bot):
    wallet_fund_agent(owner=owner, agent=bot, amount=10, idempotency_key="f")
    before = _snapshot()
    with pytest.raises(InsufficientCredit):
        wallet_withdraw_agent(owner=owner, agent=bot, amount=11, idempotency_key="w")
    assert _snapshot() == before


def test_another_owners_agent_is_not_found(owner, bot):
    stranger = factories.verified_user()
    before = _snapshot()
    with pytest.raises(NotFound):
        wallet_fund_agent(owner=stranger, agent=bot, amount=CREDIT, idempotency_key="steal-in")
    with pytest.raises(NotFound):
        wallet_withdraw_agent(owner=stranger, agent=bot, amount=CREDIT, idempotency_key="steal-out")
    assert _snapshot() == before


def test_a_human_identity_is_not_an_agent(owner):
    other = factories.human()
    with pytest.raises(NotFound):
        wallet_fund_agent(owner=owner, agent=factories.human(owner), amount=CREDIT, idempotency_key="self")
    with pytest.raises(NotFound):
        wallet_fund_agent(owner=owner, agent=other, amount=CREDIT, idempotency_key="other")


def test_a_suspended_agent_cannot_be_funded_but_can_be_withdrawn_from(owner, bot):
    # given a funded agent, then suspended
    me = factories.human(owner)
    wallet_fund_agent(owner=owner, agent=bot, amount=40 * CREDIT, idempotency_key="before")
    identity_suspend(identity=bot, reason="misbehaving", moderator=factories.moderator())
    before = _snapshot()

    # when its owner funds it, then that is refused and writes nothing
    with pytest.raises(IdentitySuspended):
        wallet_fund_agent(owner=owner, agent=bot, amount=CREDIT, idempotency_key="after")
    assert _snapshot() == before

    # when they withdraw what it holds, then it all comes back
    wallet_withdraw_agent(owner=owner, agent=bot, amount=40 * CREDIT, idempotency_key="rescue")
    assert (wallet_balance(me), wallet_balance(bot)) == (GRANT, 0)


def test_the_same_key_replays_and_a_different_amount_conflicts(owner, bot):
    first = wallet_fund_agent(owner=owner, agent=bot, amount=5 * CREDIT, idempotency_key="same")
    again = wallet_fund_agent(owner=owner, agent=bot, amount=5 * CREDIT, idempotency_key="same")
    assert (again.pk, again.replayed) == (first.pk, True)
    before = _snapshot()
    with pytest.raises(IdempotencyConflict):
        wallet_fund_agent(owner=owner, agent=bot, amount=6 * CREDIT, idempotency_key="same")
    assert _snapshot() == before
    assert wallet_balance(bot) == 5 * CREDIT

    out = wallet_withdraw_agent(owner=owner, agent=bot, amount=2 * CREDIT, idempotency_key="out")
    assert wallet_withdraw_agent(owner=owner, agent=bot, amount=2 * CREDIT, idempotency_key="out").pk == out.pk
    with pytest.raises(IdempotencyConflict):
        wallet_withdraw_agent(owner=owner, agent=bot, amount=3 * CREDIT, idempotency_key="out")
    assert wallet_balance(bot) == 3 * CREDIT


def test_funding_and_withdrawal_keys_do_not_collide(owner, bot):
    fund = wallet_fund_agent(owner=owner, agent=bot, amount=5, idempotency_key="k")
    withdraw = wallet_withdraw_agent(owner=owner, agent=bot, amount=5, idempotency_key="k")
    assert fund.pk != withdraw.pk and not withdraw.replayed
    assert wallet_balance(bot) == 0


def test_the_same_key_to_fund_another_agent_conflicts(owner, bot):
    other_bot = factories.agent(owner, handle="bot-two")
    wallet_fund_agent(owner=owner, agent=bot, amount=5, idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        wallet_fund_agent(owner=owner, agent=other_bot, amount=5, idempotency_key="k")
    assert (wallet_balance(bot), wallet_balance(other_bot)) == (5, 0)


def test_two_owners_may_use_the_same_client_key(owner, bot):
    other_owner = factories.verified_user()
    other_bot = factories.agent(other_owner, handle="bot-two")
    a = wallet_fund_agent(owner=owner, agent=bot, amount=5, idempotency_key="k")
    b = wallet_fund_agent(owner=other_owner, agent=other_bot, amount=5, idempotency_key="k")
    assert a.pk != b.pk and not b.replayed
    assert (wallet_balance(bot), wallet_balance(other_bot)) == (5, 5)


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, "5", 2**53 + 1])
def test_funding_amounts_must_be_positive_integers(owner, bot, amount):
    before = _snapshot()
    with pytest.raises(ValidationFailed):
        wallet_fund_agent(owner=owner, agent=bot, amount=amount, idempotency_key="bad")
    with pytest.raises(ValidationFailed):
        wallet_withdraw_agent(owner=owner, agent=bot, amount=amount, idempotency_key="bad")
    assert _snapshot() == before


def test_refused_funding_leaves_no_half_written_wallet_behind():
    owner = factories.verified_user()
    bot = factories.agent(owner, handle="never-funded")
    accounts = Account.objects.count()
    with pytest.raises(InsufficientCredit):
        wallet_fund_agent(owner=owner, agent=bot, amount=GRANT + 1, idempotency_key="too-much")
    assert Account.objects.count() == accounts
    assert not Account.objects.filter(identity=bot).exists()


def test_one_transfer_can_name_more_accounts_than_a_statement_has_parameters():
    """A settlement pays every winner in one transfer: 70,000 lines, past PostgreSQL's 65,535 parameters."""
    world = system_account(EXTERNAL_WORLD)
    n = 70_000
    accounts = Account.objects.bulk_create(
        [Account(kind=AccountKind.MARKET_ESCROW, code=f"escrow:wide-{i}") for i in range(n)]
    )
    # The entries' foreign keys are checked at the end of the test's transaction, 70,001 lookups by a plan this
    # connection cached when the table held a handful of rows (a sequential scan): minutes, not milliseconds.
    # Fresh statistics make PostgreSQL plan them again, as a production table's would be.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_account")
    transfer = ledger_transfer(
        lines=[(world, -n), *[(account, 1) for account in accounts]], kind="test", idempotency_key="wide"
    )
    assert Entry.objects.filter(transfer_id=transfer.pk).count() == n + 1
    assert Account.objects.filter(code__startswith="escrow:wide-", balance=1).count() == n
