"""Settlement under concurrency and failure, on PostgreSQL with real transactions and threads.

- Traders keep trading while the claim closes and settles: each trade either committed before the
  close (and settlement pays it) or was refused with MarketClosed; nothing deadlocks.
- Sixteen concurrent settlements of one claim write exactly one settlement transfer.
- A settlement that fails midway (after its ledger transfer was written, before commit) leaves no
  trace, and re-running it yields the same ledger as a settlement that never failed.
"""

import time
from decimal import Decimal
from unittest import mock

import pytest
from django.db.models import Sum

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.identities.models import Identity
from apps.ledger.models import Account, Entry, Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance
from apps.markets import settlement as settlement_module
from apps.markets.errors import MarketClosed
from apps.markets.models import Claim, ClaimStatus, Domain, Market, Position, Trade
from apps.markets.pricing import Order
from apps.markets.resolution import claim_void
from apps.markets.services import trade_place
from apps.markets.settlement import market_settle
from tests import factories
from tests.factories import GRANT
from tests.support import race

pytestmark = pytest.mark.django_db(transaction=True)
EVIDENCE = "The source named in the criteria says so."


# (trader, order): every order type, winners and losers on both sides, a sale at a profit.
ORDERS = [
    (0, Order(kind="buy", side="yes", amount=40 * CREDIT)),
    (1, Order(kind="buy", side="no", amount=25 * CREDIT)),
    (2, Order(kind="belief", belief=Decimal("0.7"), amount=30 * CREDIT)),
    (3, Order(kind="buy", side="no", amount=7 * CREDIT + 3)),
    (4, Order(kind="belief", belief=Decimal("0.2"), amount=60 * CREDIT)),
    (0, Order(kind="sell", side="yes", shares=5 * CREDIT)),
    (1, Order(kind="buy", side="yes", amount=12 * CREDIT)),
    (3, Order(kind="sell", side="no", shares=CREDIT)),
]


def _traded_market(domain: Domain, traders: int = 5) -> tuple[Claim, list[Identity]]:
    """A market and its traders, after the same sequence of orders every time it is built."""
    claim = factories.new_claim(factories.human(), domain)
    people = [factories.human() for _ in range(traders)]
    for n, (who, order) in enumerate(ORDERS):
        trade_place(identity=people[who], claim=claim, order=order, idempotency_key=f"o{n}")
    return claim, people


def _settlement_picture(claim: Claim, people: list[Identity]) -> dict:
    """The ledger as settlement left it, with accounts named by role (so two twins compare equal)."""
    claim.refresh_from_db()
    market = Market.objects.get(claim=claim)
    roles = {Account.objects.get(kind="wallet", identity=p).pk: f"trader{i}" for i, p in enumerate(people)}
    roles[Account.objects.get(kind="wallet", identity=claim.author).pk] = "author"
    roles[market.escrow_id] = "escrow"
    transfers = Transfer.objects.filter(idempotency_key=f"settle:{claim.pk}")
    entries = {}
    for pk, role in roles.items():
        entries[role] = list(Entry.objects.filter(account_id=pk).order_by("id").values_list("amount", "balance_after"))
    return {
        "settlement transfers": [(t.kind, t.metadata) for t in transfers],
        "settlement entries": sorted(
            (roles.get(account, f"other:{account}"), amount)
            for account, amount in Entry.objects.filter(transfer__in=transfers).values_list("account_id", "amount")
        ),
        "entries per account": entries,
        "balances": {role: Account.objects.get(pk=pk).balance for pk, role in roles.items()},
        "settled events": Event.objects.filter(kind="claim.settled", subject=f"claim:{claim.pk}").count(),
        "status": (claim.status, claim.settled_at is not None),
    }


@pytest.fixture
def domain(db):
    return factories.domain("races")


@pytest.fixture
def staff(db):
    return factories.moderator("moderator@example.com")


def test_trades_racing_the_close_are_either_paid_or_refused_as_closed(domain):
    claim = factories.new_claim(factories.human(), domain)
    traders = [factories.human() for _ in range(8)]
    proposer = factories.human()
    refused: dict[int, int] = {}
    progress = [0] * len(traders)  # trades placed so far, per trader

    def work(i: int):
        if i == len(traders):  # the clock and the beat: close, resolve YES, settle while traders trade
            deadline = time.monotonic() + 60
            while min(progress) < 3 and time.monotonic() < deadline:  # every trader is in full flow
                time.sleep(0.01)
            factories.close(claim)
            factories.propose(claim, "yes", proposer, evidence=EVIDENCE)
            factories.finalize(claim)
            return market_settle(claim=claim)
        placed = 0
        while True:  # until the market refuses: the first refusal must be MarketClosed
            order = Order(kind="buy", side="yes" if (i + placed) % 3 else "no", amount=CREDIT + i)
            try:
                trade_place(identity=traders[i], claim=claim, order=order, idempotency_key=f"{i}-{placed}")
            except MarketClosed:
                refused[i] = refused.get(i, 0) + 1
                # and it stays closed, through resolution and settlement
                for n in range(3):
                    with pytest.raises(MarketClosed):
                        trade_place(identity=traders[i], claim=claim, order=order, idempotency_key=f"late-{i}-{n}")
                return placed
            placed += 1
            progress[i] = placed

    results = race(len(traders) + 1, work)
    assert [r for r in results if isinstance(r, Exception)] == []
    settlement = results[-1]
    placed = results[:-1]
    assert all(n >= 3 for n in placed), placed  # every trader traded before the close, then was refused
    assert refused == dict.fromkeys(range(len(traders)), 1)

    market = Market.objects.get(claim=claim)
    trades = Trade.objects.filter(market=market)
    assert trades.count() == sum(placed) == market.trade_count
    # Every trade was committed before the settlement, and settlement paid each winning share once.
    assert not trades.filter(transfer_id__gt=settlement.pk).exists()
    payouts = dict(Entry.objects.filter(transfer=settlement).values_list("account__identity_id", "amount"))
    for trader in traders:
        mine = trades.filter(identity=trader).aggregate(shares=Sum("shares"), paid=Sum("cost"), fee=Sum("fee"))
        position = Position.objects.get(market=market, identity=trader)
        yes = trades.filter(identity=trader, side="yes").aggregate(s=Sum("shares"))["s"] or 0
        assert position.yes_shares == yes
        assert position.yes_shares + position.no_shares == mine["shares"]
        assert payouts.get(trader.pk, 0) == position.yes_shares
        assert wallet_balance(trader) == GRANT - mine["paid"] - mine["fee"] + position.yes_shares
    assert Account.objects.get(pk=market.escrow_id).balance == 0
    assert ledger_verify_report().ok


def test_sixteen_concurrent_settlements_write_exactly_one(domain):
    claim, people = _traded_market(domain)
    twin, twin_people = _traded_market(domain)
    factories.resolve(claim, "yes", settled=False)
    factories.resolve(twin, "yes", settled=False)
    market_settle(claim=twin)  # the reference: settled once, alone
    entries, transfers = Entry.objects.count(), Transfer.objects.count()

    results = race(16, lambda i: market_settle(claim=claim).pk)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert len(set(results)) == 1  # every caller got the one settlement transfer
    assert Transfer.objects.count() == transfers + 1
    settled = _settlement_picture(claim, people)
    assert len(settled["settlement transfers"]) == 1
    assert Entry.objects.count() - entries == len(settled["settlement entries"])
    assert settled == _settlement_picture(twin, twin_people)
    assert settled["balances"]["escrow"] == 0
    assert settled["settled events"] == 1


def _fail_after_the_transfer(*args, **kwargs):
    """The real ledger_transfer runs (entries and balances are written), then the caller crashes."""
    _fail_after_the_transfer.calls += 1
    real(*args, **kwargs)
    raise RuntimeError("worker lost midway through settlement")


real = settlement_module.ledger_transfer


@pytest.mark.parametrize("outcome", ["yes", "no", "void"])
def test_an_interrupted_settlement_rolls_back_and_its_retry_equals_a_clean_run(domain, staff, outcome):
    claim, people = _traded_market(domain)
    twin, twin_people = _traded_market(domain)
    for c in (claim, twin):
        if outcome == "void":
            claim_void(claim=c, user=staff, reason="The criteria cannot be applied.")
        else:
            factories.resolve(c, outcome, settled=False)
    market_settle(claim=twin)  # the reference: never interrupted
    before = _settlement_picture(claim, people)
    entries, transfers = Entry.objects.count(), Transfer.objects.count()

    _fail_after_the_transfer.calls = 0
    with (
        mock.patch.object(settlement_module, "ledger_transfer", _fail_after_the_transfer),
        pytest.raises(RuntimeError),
    ):
        market_settle(claim=claim)
    assert _fail_after_the_transfer.calls == 1  # it really got as far as writing the transfer
    # Nothing of the failed attempt survived: no transfer, no entry, no balance moved, not settled.
    assert (Entry.objects.count(), Transfer.objects.count()) == (entries, transfers)
    assert _settlement_picture(claim, people) == before
    assert not Event.objects.filter(kind="claim.settled", subject=f"claim:{claim.pk}").exists()

    market_settle(claim=claim)  # the retry
    market_settle(claim=claim)  # and a redundant one, as a retrying worker would
    after = _settlement_picture(claim, people)
    assert after == _settlement_picture(twin, twin_people)
    status = {"yes": ClaimStatus.RESOLVED_YES, "no": ClaimStatus.RESOLVED_NO, "void": ClaimStatus.VOIDED}[outcome]
    assert after["status"] == (status, True)
    assert after["balances"]["escrow"] == 0
    assert len(after["settlement transfers"]) == 1
