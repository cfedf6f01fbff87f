"""Settlement of a market with many positions: `market_settle` against the same work done raw, in the same run.

Three twin markets resolved YES, with set-based positions (creation is not timed):
- `market_settle` on BENCH_SETTLE_POSITIONS positions (default 100,000);
- the same payout as raw SQL on as many positions: one INSERT of the transfer, one INSERT of the entries
  from a SELECT over the positions, one UPDATE of the balances from that set, one COMMIT — the floor
  for a set-based settlement (target: market_settle / raw >= 0.3);
- a per-row ORM loop (for each position: an Account UPDATE and an Entry INSERT) on
  BENCH_SETTLE_LOOP_POSITIONS positions (default 5,000), extrapolated per position (target: market_settle
  at least 10x faster per position).

Each variant leaves the ledger balanced (ledger_verify runs after the test).
"""

import time

import pytest
from django.db import connection, transaction
from django.db.models import F

from apps.identities.models import AutonomyLevel, Identity, IdentityKind
from apps.ledger.models import Account, Entry, Transfer
from apps.ledger.services import EXTERNAL_WORLD, ledger_transfer, system_account, wallet_for
from apps.markets.models import Claim, Domain, Market, Position
from apps.markets.resolution import claims_close_due, resolution_finalize, resolution_propose
from apps.markets.settlement import market_settle
from tests import factories
from tests.bench.harness import env_number, print_table
from tests.factories import new_claim

pytestmark = pytest.mark.django_db(transaction=True)

POSITIONS = env_number("BENCH_SETTLE_POSITIONS", 100_000)
LOOP_POSITIONS = env_number("BENCH_SETTLE_LOOP_POSITIONS", 5_000)


def _identities(n: int) -> list[int]:
    """n agent identities with empty wallets, inserted in bulk."""
    owner = factories.verified_user()
    stamp = time.time_ns()
    Identity.objects.bulk_create(
        [
            Identity(
                kind=IdentityKind.AGENT,
                handle=f"b{stamp % 10**9}-{i}",
                owner=owner,
                autonomy_level=AutonomyLevel.AUTONOMOUS,
            )
            for i in range(n)
        ],
        batch_size=10_000,
    )
    ids = list(Identity.objects.filter(owner=owner).order_by("pk").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_account (kind, identity_id, balance, created_at) "
            "SELECT 'wallet', id, 0, now() FROM identities_identity WHERE owner_id = %s",
            [owner.pk],
        )
    return ids


def _resolved_market(domain: Domain, identities: list[int]) -> Claim:
    """A YES-resolved market where each identity holds 1-7 YES and some NO shares; the escrow is funded
    from the external world to cover them (as trades would have), in one transfer."""
    claim = new_claim(factories.human(), domain)
    market = Market.objects.get(claim=claim)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO markets_position (market_id, identity_id, yes_shares, no_shares, net_invested, updated_at) "
            "SELECT %s, id, (1 + id %% 7) * 1000000, (id %% 3) * 500000, 1000000, now() "
            "FROM identities_identity WHERE id = ANY(%s::bigint[])",
            [market.pk, identities],
        )
        cursor.execute("SELECT sum(yes_shares), sum(no_shares) FROM markets_position WHERE market_id = %s", [market.pk])
        q_yes, q_no = (int(q) for q in cursor.fetchone())
    Market.objects.filter(pk=market.pk).update(q_yes=q_yes, q_no=q_no)
    ledger_transfer(
        lines=[(system_account(EXTERNAL_WORLD), -max(q_yes, q_no)), (market.escrow_id, max(q_yes, q_no))],
        kind="bench_funding",
        idempotency_key=f"bench-fund:{market.pk}",
    )
    factories.closing_time_passes(claim)
    claims_close_due()
    resolution_propose(claim=claim, proposer=factories.human(), outcome="yes", evidence="Bench.")
    factories.challenge_window_passes(claim)
    resolution_finalize(claim=claim)
    claim.refresh_from_db()
    return claim


RAW_TRANSFER = (
    "INSERT INTO ledger_transfer (kind, idempotency_key, body_sha256, memo, metadata, created_at) "
    "VALUES ('settlement', %s, '', '', '{}', now()) RETURNING id"
)
# Winners, then the escrow (everything out) and the author (the residual): one set, two statements.
RAW_LINES = """
WITH payees AS (
    SELECT w.id AS account_id, p.yes_shares AS amount
    FROM markets_position p JOIN ledger_account w ON w.identity_id = p.identity_id AND w.kind = 'wallet'
    WHERE p.market_id = %(market)s AND p.yes_shares > 0
), totals AS (SELECT sum(amount) AS paid FROM payees),
lines AS (
    SELECT account_id, amount FROM payees
    UNION ALL SELECT %(escrow)s, -%(escrow_balance)s
    UNION ALL SELECT %(author)s, %(escrow_balance)s - paid FROM totals WHERE %(escrow_balance)s - paid <> 0
)
INSERT INTO ledger_entry (transfer_id, account_id, amount, balance_after, created_at)
SELECT %(transfer)s, lines.account_id, lines.amount, a.balance + lines.amount, now()
FROM lines JOIN ledger_account a ON a.id = lines.account_id
"""
RAW_BALANCES = (
    "UPDATE ledger_account a SET balance = a.balance + e.amount "
    "FROM ledger_entry e WHERE e.transfer_id = %s AND e.account_id = a.id"
)


def _settle_raw(claim: Claim) -> None:
    market = Market.objects.get(claim=claim)
    with transaction.atomic(), connection.cursor() as cursor:
        escrow_balance = Account.objects.select_for_update(no_key=True).get(pk=market.escrow_id).balance
        cursor.execute(RAW_TRANSFER, [f"settle:{claim.pk}"])
        transfer_id = cursor.fetchone()[0]
        author = wallet_for(claim.author).pk
        params = {
            "market": market.pk,
            "escrow": market.escrow_id,
            "escrow_balance": escrow_balance,
            "author": author,
            "transfer": transfer_id,
        }
        cursor.execute(RAW_LINES, params)
        cursor.execute(RAW_BALANCES, [transfer_id])


def _settle_orm_loop(claim: Claim) -> None:
    market = Market.objects.get(claim=claim)
    with transaction.atomic():
        escrow = Account.objects.select_for_update().get(pk=market.escrow_id)
        transfer = Transfer.objects.create(kind="settlement", idempotency_key=f"settle:{claim.pk}")
        paid = 0
        for position in Position.objects.filter(market=market, yes_shares__gt=0).iterator():
            wallet = Account.objects.get(kind="wallet", identity_id=position.identity_id)
            Account.objects.filter(pk=wallet.pk).update(balance=F("balance") + position.yes_shares)
            Entry.objects.create(
                transfer=transfer,
                account=wallet,
                amount=position.yes_shares,
                balance_after=wallet.balance + position.yes_shares,
            )
            paid += position.yes_shares
        author = wallet_for(claim.author)
        for account, amount in [(escrow, -escrow.balance), (author, escrow.balance - paid)]:
            if amount:
                account.refresh_from_db()
                Account.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
                Entry.objects.create(
                    transfer=transfer, account=account, amount=amount, balance_after=account.balance + amount
                )


def _timed(fn, claim: Claim) -> float:
    started = time.perf_counter()
    fn(claim)
    return time.perf_counter() - started


def test_settlement_versus_raw_sql_and_a_per_row_loop():
    domain = Domain.objects.create(slug="bench", name="Bench")
    ids = _identities(POSITIONS)
    service, raw = _resolved_market(domain, ids), _resolved_market(domain, ids)
    loop = _resolved_market(domain, ids[:LOOP_POSITIONS])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE markets_position; ANALYZE ledger_account; ANALYZE ledger_entry")

    seconds = {
        "raw SQL (INSERT ... SELECT, one UPDATE)": (_timed(_settle_raw, raw), POSITIONS),
        "market_settle": (_timed(lambda c: market_settle(claim=c), service), POSITIONS),
        "per-row ORM loop": (_timed(_settle_orm_loop, loop), LOOP_POSITIONS),
    }
    per = {name: s / n for name, (s, n) in seconds.items()}
    base = per["raw SQL (INSERT ... SELECT, one UPDATE)"]
    print_table(
        f"Settlement of a YES market (positions: {POSITIONS:,}; loop: {LOOP_POSITIONS:,})",
        ["variant", "positions", "seconds", "us per position", "raw / variant"],
        [
            [name, f"{n:,}", f"{s:.2f}", f"{1e6 * per[name]:.1f}", f"{base / per[name]:.2f}"]
            for name, (s, n) in seconds.items()
        ],
    )
    print(f"  ratio market_settle / raw SQL: {base / per['market_settle']:.2f}  (target >= 0.3)")
    speedup = per["per-row ORM loop"] / per["market_settle"]
    print(f"  market_settle per position vs the per-row loop: {speedup:.1f}x faster  (target >= 10x)")

    # Correctness, not time: every variant paid every winner and emptied its escrow.
    for claim, n in [(service, POSITIONS), (raw, POSITIONS), (loop, LOOP_POSITIONS)]:
        market = Market.objects.get(claim=claim)
        assert Account.objects.get(pk=market.escrow_id).balance == 0
        transfer = Transfer.objects.get(idempotency_key=f"settle:{claim.pk}")
        assert Entry.objects.filter(transfer=transfer, amount__gt=0).count() == n + 1  # winners and the author
