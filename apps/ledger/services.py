"""The only code that changes a balance.

`ledger_transfer` is the single writer: every credit movement in Credence (grants, purchases, agent
funding, trades, bonds, settlement) is one call to it, inside the caller's transaction when there is one.
"""

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.amounts import CREDIT, format_credits
from apps.core.audit import audit_record, audit_unchanged, audited, fields_of, staff_require
from apps.core.errors import ValidationFailed
from apps.core.services import moderation_reason
from apps.identities.errors import EmailNotVerified, IdentitySuspended
from apps.identities.models import Identity
from apps.identities.services import identity_require_verified_human, owned_agent_lock
from apps.ledger.errors import AccountInDebt, IdempotencyConflict, InsufficientCredit, WalletFrozen
from apps.ledger.models import Account, AccountKind, Transfer
from apps.ledger.selectors import owed_by

EXTERNAL_WORLD = "external:world"
PLATFORM_FEES = "platform:fees"
PLATFORM_TREASURY = "platform:treasury"
SYSTEM_ACCOUNTS = {
    EXTERNAL_WORLD: AccountKind.EXTERNAL,
    PLATFORM_FEES: AccountKind.PLATFORM_FEES,
    PLATFORM_TREASURY: AccountKind.PLATFORM_TREASURY,
}
# No single movement may exceed this (2^53: amounts stay exact in JSON clients and far from BIGINT's edge).
MAX_AMOUNT = 2**53
# What may still be taken from a frozen wallet: what its owner bought and charged back, and a debt they settle.
FROZEN_MAY_DEBIT = frozenset({"purchase_reversal", "debt_repayment"})
FROZEN_FIELDS = ("frozen_at", "frozen_reason", "frozen_by")


AccountRef = Account | int


def system_account(code: str) -> Account:
    """A platform account by code (created by migration; created here if a test database lacks it)."""
    account, _ = Account.objects.get_or_create(code=code, defaults={"kind": SYSTEM_ACCOUNTS[code]})
    return account


def _identity_account(kind: str, identity: Identity) -> Account:
    """The identity's account of `kind` (one per identity), opened on first use."""
    try:
        return Account.objects.get(kind=kind, identity=identity)
    except Account.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return Account.objects.create(kind=kind, identity=identity)
    except IntegrityError:  # opened concurrently
        return Account.objects.get(kind=kind, identity=identity)


def wallet_for(identity: Identity) -> Account:
    """The identity's wallet, opened on first use."""
    return _identity_account(AccountKind.WALLET, identity)


def debt_for(identity: Identity) -> Account:
    """The identity's debt account (what it owes the platform: zero or below), opened on first use."""
    return _identity_account(AccountKind.DEBT, identity)


def _normalise(lines: Iterable[tuple[AccountRef, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for account, amount in lines:
        if type(amount) is not int:  # bool and float are refused: amounts are integer micro-credits
            raise ValidationFailed("Amounts are integers of micro-credits.", detail={"amount": repr(amount)})
        if abs(amount) > MAX_AMOUNT:
            raise ValidationFailed("Amount out of range.", detail={"amount": amount})
        account_id = account.pk if isinstance(account, Account) else int(account)
        if not 0 < account_id < 2**63:  # no account has such an id (ids are positive BIGINTs)
            raise ValidationFailed("Unknown account.", detail={"accounts": [account_id]})
        merged[account_id] = merged.get(account_id, 0) + amount
    merged = {account_id: amount for account_id, amount in sorted(merged.items()) if amount != 0}
    if len(merged) < 2:
        raise ValidationFailed("A transfer moves credit between at least two accounts.")
    if sum(merged.values()) != 0:
        raise ValidationFailed("A transfer's lines must sum to zero.", detail={"sum": sum(merged.values())})
    return merged


def _body_hash(kind: str, lines: dict[int, int], memo: str, metadata: dict) -> str:
    body = json.dumps(
        {"kind": kind, "lines": list(lines.items()), "memo": memo, "metadata": metadata},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


# A transfer is four statements, written out in SQL because this is the hot path of every movement of
# credit: through the ORM (create inside a savepoint, a model per locked row, bulk_update's CASE,
# bulk_create) it ran at 0.3x the throughput of the bare statements (docs/performance.md).
#
# Claiming the key first: a concurrent duplicate waits on the unique index until the first transaction
# ends, then inserts (the first rolled back) or gets no row back (it committed). No savepoint needed.
# (Plain SQL that SQLite >= 3.35, the embedded mode, accepts too.)
_CLAIM_KEY = (
    "INSERT INTO ledger_transfer (kind, idempotency_key, body_sha256, memo, metadata, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
# Always in id order: two transfers touching the same accounts can then never deadlock. NO KEY UPDATE
# does not block inserts of entries referencing these accounts. SQLite has no row locks: its writers
# are serialised by the IMMEDIATE transaction mode the settings choose. Only `%s` placeholders and the
# backend's lock clause are formatted into this template, never a value.
_LOCK_ACCOUNTS = (
    "SELECT id, kind, balance, frozen_at IS NOT NULL FROM ledger_account WHERE id IN ({ids}) ORDER BY id {lock}"
)
# PostgreSQL takes the ids as one array parameter: a settlement's transfer can name 100,000 accounts,
# past the protocol's limit of 65,535 parameters in one statement.
_PG_LOCK_ACCOUNTS = (
    "SELECT id, kind, balance, frozen_at IS NOT NULL FROM ledger_account WHERE id = ANY(%s::bigint[]) "
    "ORDER BY id FOR NO KEY UPDATE"
)
# PostgreSQL takes the lines as arrays: one statement of the same text however many lines a transfer
# has (a settlement may have thousands), with no CASE branch per row.
_PG_SET_BALANCES = (
    "UPDATE ledger_account SET balance = line.balance "
    "FROM unnest(%s::bigint[], %s::bigint[]) AS line(id, balance) WHERE ledger_account.id = line.id"
)
_PG_INSERT_ENTRIES = (
    "INSERT INTO ledger_entry (transfer_id, account_id, amount, balance_after, created_at) "
    "SELECT %s, line.id, line.amount, line.balance, %s "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS line(id, amount, balance)"
)
# Elsewhere (SQLite, in-process) a statement per row costs next to nothing.
_SET_BALANCE = "UPDATE ledger_account SET balance = %s WHERE id = %s"
_INSERT_ENTRY = (
    "INSERT INTO ledger_entry (transfer_id, account_id, amount, balance_after, created_at) VALUES (%s, %s, %s, %s, %s)"
)


def ledger_transfer(
    *,
    lines: Iterable[tuple[AccountRef, int]],
    kind: str,
    idempotency_key: str,
    memo: str = "",
    metadata: dict[str, Any] | None = None,
    savepoint: bool = True,
) -> Transfer:
    """Move credit: the (account, signed amount) lines sum to zero and apply at once.

    - Same key, same body: the first transfer, with `.replayed = True`; nothing changes.
    - Same key, another body: IdempotencyConflict.
    - A non-external account would go below zero: InsufficientCredit, and nothing is written.

    A new transfer carries `.balances_after` ({account id: balance}). The savepoint lets a caller catch
    a refusal and go on; `savepoint=False` saves its two round trips for a caller that never does (a
    refusal then dooms the caller's whole transaction).
    """
    with transaction.atomic(savepoint=savepoint):
        return _transfer(lines=lines, kind=kind, idempotency_key=idempotency_key, memo=memo, metadata=metadata)


def _transfer(
    *, lines: Iterable[tuple[AccountRef, int]], kind: str, idempotency_key: str, memo: str, metadata: dict | None
) -> Transfer:
    if not idempotency_key or len(idempotency_key) > 200:
        raise ValidationFailed("An idempotency key of 1-200 characters is required.")
    metadata = metadata or {}
    normalised = _normalise(lines)
    body_sha256 = _body_hash(kind, normalised, memo, metadata)
    now = timezone.now()
    created_at = connection.ops.adapt_datetimefield_value(now)

    with connection.cursor() as cursor:
        # The transfer row goes first, so a duplicate request is answered before any account is locked.
        json_metadata = connection.ops.adapt_json_value(metadata, None)
        cursor.execute(_CLAIM_KEY, [kind, idempotency_key, body_sha256, memo, json_metadata, created_at])
        claimed = cursor.fetchone()
        if claimed is None:
            existing = Transfer.objects.get(idempotency_key=idempotency_key)
            if existing.body_sha256 != body_sha256:
                raise IdempotencyConflict(detail={"idempotency_key": idempotency_key})
            existing.replayed = True
            return existing
        transfer_id = claimed[0]

        ids = sorted(normalised)
        if connection.vendor == "postgresql":
            cursor.execute(_PG_LOCK_ACCOUNTS, [ids])
        else:
            lock = connection.ops.for_update_sql(no_key=True) if connection.features.has_select_for_update else ""
            cursor.execute(_LOCK_ACCOUNTS.format(ids=", ".join(["%s"] * len(ids)), lock=lock), ids)
        accounts = cursor.fetchall()
        if len(accounts) != len(ids):
            missing = sorted(set(ids) - {row[0] for row in accounts})
            raise ValidationFailed("Unknown account.", detail={"accounts": missing})
        after = {}
        for pk, account_kind, balance, frozen in accounts:
            amount = normalised[pk]
            if frozen and amount < 0 and kind not in FROZEN_MAY_DEBIT:
                raise WalletFrozen(detail={"account": pk})
            if balance + amount < 0 and account_kind not in (AccountKind.EXTERNAL, AccountKind.DEBT):
                raise InsufficientCredit(detail={"account": pk, "balance": balance, "required": -amount})
            if balance + amount > 0 and account_kind == AccountKind.DEBT:
                raise ValidationFailed("A debt cannot be repaid beyond what is owed.", detail={"account": pk})
            after[pk] = balance + amount

        amounts, balances = [normalised[pk] for pk in ids], [after[pk] for pk in ids]
        if connection.vendor == "postgresql":
            cursor.execute(_PG_SET_BALANCES, [ids, balances])
            cursor.execute(_PG_INSERT_ENTRIES, [transfer_id, created_at, ids, amounts, balances])
        else:
            cursor.executemany(_SET_BALANCE, list(zip(balances, ids, strict=True)))
            rows = zip([transfer_id] * len(ids), ids, amounts, balances, [created_at] * len(ids), strict=True)
            cursor.executemany(_INSERT_ENTRY, list(rows))

    # The row as the database now holds it (no query needed to load it back).
    transfer = Transfer(
        id=transfer_id,
        kind=kind,
        idempotency_key=idempotency_key,
        body_sha256=body_sha256,
        memo=memo,
        metadata=metadata,
        created_at=now,
    )
    transfer._state.adding, transfer._state.db = False, connection.alias
    transfer.replayed = False
    transfer.balances_after = after  # {account id: balance}, so callers need not read them back
    return transfer


def ledger_grant_signup(*, identity: Identity) -> Transfer | None:
    """The welcome grant from the external world to a newly verified human. Once per identity."""
    amount = settings.CREDENCE_SIGNUP_GRANT_CREDITS * CREDIT
    if amount <= 0:
        return None
    return ledger_transfer(
        lines=[(system_account(EXTERNAL_WORLD), -amount), (wallet_for(identity), amount)],
        kind="signup_grant",
        idempotency_key=f"signup-grant:{identity.pk}",
        memo="Welcome grant",
    )


def _owner_wallet(owner: User) -> Account:
    human = owner.human_identity
    if human is None:
        raise EmailNotVerified("You have no wallet yet: verify your email address first.")
    if not human.is_active:
        raise IdentitySuspended()
    return wallet_for(human)


def _client_amount(amount: int) -> int:
    if type(amount) is not int or amount <= 0 or amount > MAX_AMOUNT:
        raise ValidationFailed("amount must be a positive integer of micro-credits.", detail={"field": "amount"})
    return amount


def _require_no_debt(owner: User) -> None:
    """Refuse (AccountInDebt) while the owner owes (read in the funding's transaction, after the owner's lock: a
    debt booked after this read takes what the wallet holds then, and refuses the next funding)."""
    owed = owed_by(owner.human_identity)
    if owed:
        raise AccountInDebt(detail={"owed": owed})


def accounts_lock(*accounts: Account) -> dict[int, int]:
    """Lock the accounts in id order, as ledger_transfer does (so no deadlock with it), and read their balances."""
    rows = Account.objects.select_for_update(no_key=True).filter(pk__in=[a.pk for a in accounts]).order_by("pk")
    return dict(rows.values_list("pk", "balance"))


@transaction.atomic
def debt_repay(
    *, identity: Identity, idempotency_key: str, memo: str = "Debt repaid from the wallet"
) -> Transfer | None:
    """Pay what the person owes from their wallet, as much as it holds: one transfer from the wallet to the debt
    account, or None when nothing is owed or the wallet is empty. Idempotent by key."""
    existing = Transfer.objects.filter(idempotency_key=f"debt-repay:{identity.pk}:{idempotency_key}").first()
    if existing is not None:
        existing.replayed = True
        return existing
    wallet, debt = wallet_for(identity), debt_for(identity)
    balances = accounts_lock(wallet, debt)
    amount = min(balances[wallet.pk], -balances[debt.pk])
    if amount <= 0:
        return None
    return ledger_transfer(
        lines=[(wallet, -amount), (debt, amount)],
        kind="debt_repayment",
        idempotency_key=f"debt-repay:{identity.pk}:{idempotency_key}",
        memo=memo,
        metadata={"owed_before": -balances[debt.pk]},
    )


@transaction.atomic
def wallet_fund_agent(*, owner: User, agent: Identity, amount: int, idempotency_key: str) -> Transfer:
    """Move credit from the owner's wallet to one of their agents."""
    agent = owned_agent_lock(owner=owner, agent=agent)  # re-read under the owner's lock
    amount = _client_amount(amount)
    if not agent.is_active:
        raise IdentitySuspended("A suspended agent cannot be funded.")
    _require_no_debt(owner)
    wallet = wallet_for(agent)
    if wallet.frozen_at is not None:  # the owner's frozen wallet is refused by the ledger; the agent's, here
        raise WalletFrozen("This agent's wallet is frozen by a moderator: it cannot be funded.")
    transfer = ledger_transfer(
        lines=[(_owner_wallet(owner), -amount), (wallet, amount)],
        kind="agent_funding",
        idempotency_key=f"agent-fund:{owner.pk}:{idempotency_key}",
        memo=f"Funding @{agent.handle}",
    )
    if not transfer.replayed:
        _agent_funding_limit_check(owner, balance_after=transfer.balances_after[wallet.pk])
    return transfer


def _agent_funding_limit_check(owner: User, *, balance_after: int) -> None:
    """An owner below verified_human may not leave an agent holding more than
    CREDENCE_UNVERIFIED_AGENT_FUNDING_LIMIT_CREDITS. Checked after the transfer, on the balance it left under
    the wallet's lock (what the agent earned by trading counts, and a concurrent payout cannot slip between a
    read and the move); a refusal rolls the transfer back with the caller's transaction."""
    limit = settings.CREDENCE_UNVERIFIED_AGENT_FUNDING_LIMIT_CREDITS * CREDIT
    if balance_after > limit:
        identity_require_verified_human(
            owner,
            what=f"Funding an agent past {format_credits(limit)} credits",
            detail={"limit": limit, "balance_after": balance_after},
        )


@transaction.atomic
def wallet_withdraw_agent(*, owner: User, agent: Identity, amount: int, idempotency_key: str) -> Transfer:
    """Move credit from an agent back to its owner (allowed while the agent is suspended)."""
    agent = owned_agent_lock(owner=owner, agent=agent)
    amount = _client_amount(amount)
    return ledger_transfer(
        lines=[(wallet_for(agent), -amount), (_owner_wallet(owner), amount)],
        kind="agent_withdrawal",
        idempotency_key=f"agent-withdraw:{owner.pk}:{idempotency_key}",
        memo=f"Withdrawal from @{agent.handle}",
    )


@audited
def wallet_freeze(*, identity: Identity, moderator: User, reason: str, frozen: bool = True) -> Account:
    """A moderator freezes an identity's wallet (no trades, no funding, nothing spent from it; settlement and
    refunds still pay in), or lifts the freeze, with the reason on record. Repeating it changes nothing."""
    staff_require(moderator, what="freeze or unfreeze a wallet")
    reason = moderation_reason(reason)
    wallet = Account.objects.select_for_update(no_key=True).get(pk=wallet_for(identity).pk)
    if (wallet.frozen_at is not None) == frozen:
        audit_unchanged()
        return wallet
    before = fields_of(wallet, FROZEN_FIELDS)
    wallet.frozen_at = timezone.now() if frozen else None
    wallet.frozen_reason = reason if frozen else ""
    wallet.frozen_by = moderator if frozen else None
    wallet.save(update_fields=list(FROZEN_FIELDS))
    audit_record(
        actor=moderator,
        action="wallet.freeze" if frozen else "wallet.unfreeze",
        obj=wallet,
        before=before,
        after=fields_of(wallet, FROZEN_FIELDS),
        reason=reason,
    )
    return wallet
