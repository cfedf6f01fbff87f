"""Settlement: paying out a resolved or voided claim, exactly once.

The transfer's key is derived from the claim, and `settled_at` is checked under the market lock (taken as
every trade takes it: market row, claim, then the accounts inside ledger_transfer), so a retried or
concurrent settlement returns the first transfer. The settlement hooks (scoring, then notifications) run in
the same transaction. The beat sweep (`claims_settle_due`) settles every final claim not settled yet.
"""

from django.db import connection, transaction
from django.utils import timezone

from apps.core import events, metrics
from apps.core.context import request_id
from apps.core.services import events_emit
from apps.ledger.models import Account, AccountKind, Transfer
from apps.ledger.services import PLATFORM_FEES, ledger_transfer, system_account, wallet_for
from apps.markets import hooks
from apps.markets.errors import IllegalTransition
from apps.markets.models import Claim, Market, Outcome, Position
from apps.markets.resolution import FINAL_STATUSES, OUTCOME_OF_STATUS, market_and_claim_lock


def _payout_lines(market: Market, outcome: str, escrow_balance: int) -> tuple[list[tuple[int, int]], int]:
    """(wallet account id, amount) for everyone owed, and the dust.

    VOID refunds each identity's net investment, never a negative one (profits taken by selling are kept).
    Refunds can exceed the escrow only when sellers took profits larger than the subsidy: then they are
    scaled down pro rata, rounded down, and the dust goes to fees.
    """
    positions = Position.objects.filter(market=market)
    if outcome == Outcome.VOID:
        owed = positions.filter(net_invested__gt=0).values_list("identity_id", "net_invested")
    else:
        field = "yes_shares" if outcome == Outcome.YES else "no_shares"
        owed = positions.filter(**{f"{field}__gt": 0}).values_list("identity_id", field)
    wallets = dict(
        Account.objects.filter(kind=AccountKind.WALLET, identity__positions__market=market).values_list(
            "identity_id", "pk"
        )
    )
    lines = [(wallets[identity_id], amount) for identity_id, amount in owed]
    total = sum(amount for _, amount in lines)
    if total <= escrow_balance:
        return lines, 0
    # Only VOID can get here: winning shares are always covered (escrow >= max(q), tested).
    scaled = [(account, amount * escrow_balance // total) for account, amount in lines]
    return scaled, escrow_balance - sum(amount for _, amount in scaled)


# One `position.paid` per identity paid, to its own subject (for its webhooks), written by one statement on
# PostgreSQL from the payout lines passed as two arrays: a settlement of 100,000 positions builds no row in
# Python (docs/performance.md, "Settlement").
_PG_PAID_EVENTS = (
    "INSERT INTO core_event (kind, subject, actor_identity_id, payload, created_at, request_id) "
    "SELECT %s, 'identity:' || a.identity_id, NULL, "
    "jsonb_build_object('claim', %s::bigint, 'outcome', %s::text, 'amount', p.amount), %s, %s "
    "FROM unnest(%s::bigint[], %s::bigint[]) AS p(account, amount) JOIN ledger_account a ON a.id = p.account "
    "WHERE p.amount > 0"
)


def _paid_events(claim: Claim, outcome: str, lines: list[tuple[int, int]], at) -> None:
    if connection.vendor == "postgresql":
        accounts, amounts = [account for account, _ in lines], [amount for _, amount in lines]
        with connection.cursor() as cursor:
            cursor.execute(
                _PG_PAID_EVENTS,
                [events.POSITION_PAID.name, claim.pk, outcome, at, request_id() or "", accounts, amounts],
            )
        return
    owners = dict(Account.objects.filter(pk__in=[account for account, _ in lines]).values_list("pk", "identity_id"))
    paid = [
        (
            events.POSITION_PAID.name,
            f"identity:{owners[account]}",
            None,
            {"claim": claim.pk, "outcome": outcome, "amount": amount},
        )
        for account, amount in lines
        if amount > 0
    ]
    if paid:
        events_emit(paid, at=at)


@transaction.atomic
def market_settle(*, claim: Claim) -> Transfer | None:
    """Pay out a resolved or voided claim in one set-based, idempotent transfer that empties the escrow:
    the winners (or, for VOID, the refunds), the residual to the author, rounding dust to fees.
    Running it again returns the same transfer and changes nothing."""
    market, claim = market_and_claim_lock(claim)
    key = f"settle:{claim.pk}"
    if claim.settled_at is not None:
        return Transfer.objects.get(idempotency_key=key)
    if claim.status not in FINAL_STATUSES:
        raise IllegalTransition("Only a resolved or voided claim can be settled.")
    now = timezone.now()
    if market is None:  # a draft that was voided: nothing was ever paid in
        claim.settled_at = now
        claim.save(update_fields=["settled_at", "updated_at"])
        return None
    outcome = OUTCOME_OF_STATUS[claim.status]
    escrow_balance = Account.objects.get(pk=market.escrow_id).balance
    lines, dust = _payout_lines(market, outcome, escrow_balance)
    paid = sum(amount for _, amount in lines) + dust
    residual = escrow_balance - paid
    author_wallet = wallet_for(claim.author)
    transfer = ledger_transfer(
        lines=[
            (market.escrow_id, -escrow_balance),
            *lines,
            (author_wallet, residual),
            (system_account(PLATFORM_FEES).pk, dust),
        ],
        kind="settlement",
        idempotency_key=key,
        memo=f"Settlement of claim #{claim.pk}: {outcome.upper()}",
        metadata={"outcome": outcome, "payees": len(lines), "residual": residual, "dust": dust},
    )
    claim.settled_at = now
    claim.save(update_fields=["settled_at", "updated_at"])
    hooks.notify_claim_settled(claim, outcome)  # scoring, then notifications, in this transaction
    settled = (
        events.CLAIM_SETTLED.name,
        f"claim:{claim.pk}",
        None,
        {"outcome": outcome, "payees": len(lines), "dust": dust},
    )
    events_emit([settled], at=now)
    _paid_events(claim, outcome, lines, now)
    metrics.count_on_commit(metrics.SETTLEMENTS, outcome=outcome)
    return transfer


def claims_settle_due() -> int:
    """Settle every resolved or voided claim not settled yet (idempotent: safe to run any time)."""
    due = Claim.objects.filter(status__in=FINAL_STATUSES, settled_at__isnull=True).only("pk")
    done = 0
    for claim in due:
        market_settle(claim=claim)
        done += 1
    return done
