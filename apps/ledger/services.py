"""The only code that changes a balance.

`ledger_transfer` is the single writer: every credit movement in Credence (grants, purchases, agent
funding, trades, bonds, settlement) is one call to it, inside the caller's transaction when there is one.
"""

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.accounts.models import User
from apps.core.amounts import CREDIT
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.identities.models import Identity, IdentityKind
from apps.identities.services import EmailNotVerified, IdentitySuspended
from apps.ledger.models import Account, AccountKind, Entry, Transfer

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


class InsufficientCredit(Conflict):
    code = "insufficient_credit"
    default_message = "Not enough credit in the account."


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = "This Idempotency-Key was already used with a different request."


AccountRef = Account | int


def system_account(code: str) -> Account:
    """A platform account by code (created by migration; created here if a test database lacks it)."""
    account, _ = Account.objects.get_or_create(code=code, defaults={"kind": SYSTEM_ACCOUNTS[code]})
    return account


def wallet_for(identity: Identity) -> Account:
    """The identity's wallet, opened on first use."""
    try:
        return Account.objects.get(kind=AccountKind.WALLET, identity=identity)
    except Account.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return Account.objects.create(kind=AccountKind.WALLET, identity=identity)
    except IntegrityError:  # opened concurrently
        return Account.objects.get(kind=AccountKind.WALLET, identity=identity)


def _normalise(lines: Iterable[tuple[AccountRef, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for account, amount in lines:
        if type(amount) is not int:  # bool and float are refused: amounts are integer micro-credits
            raise ValidationFailed("Amounts are integers of micro-credits.", detail={"amount": repr(amount)})
        if abs(amount) > MAX_AMOUNT:
            raise ValidationFailed("Amount out of range.", detail={"amount": amount})
        account_id = account.pk if isinstance(account, Account) else int(account)
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


@transaction.atomic
def ledger_transfer(
    *,
    lines: Iterable[tuple[AccountRef, int]],
    kind: str,
    idempotency_key: str,
    memo: str = "",
    metadata: dict[str, Any] | None = None,
) -> Transfer:
    """Move credit: each (account, signed amount) line applied at once; the lines must sum to zero.

    Same idempotency key and same body: returns the first transfer (with `.replayed = True`) and
    changes nothing. Same key, different body: IdempotencyConflict. Would any non-external account go
    below zero: InsufficientCredit, and nothing is written.
    """
    if not idempotency_key or len(idempotency_key) > 200:
        raise ValidationFailed("An idempotency key of 1-200 characters is required.")
    metadata = metadata or {}
    normalised = _normalise(lines)
    body_sha256 = _body_hash(kind, normalised, memo, metadata)

    # The transfer row goes first: a concurrent duplicate blocks on the unique key until this
    # transaction ends, then finds the committed row (or inserts, if this one rolled back).
    try:
        with transaction.atomic():
            transfer = Transfer.objects.create(
                kind=kind, idempotency_key=idempotency_key, body_sha256=body_sha256, memo=memo, metadata=metadata
            )
    except IntegrityError:
        existing = Transfer.objects.get(idempotency_key=idempotency_key)
        if existing.body_sha256 != body_sha256:
            raise IdempotencyConflict(detail={"idempotency_key": idempotency_key}) from None
        existing.replayed = True
        return existing

    # Lock in id order, always: two transfers touching the same accounts can then never deadlock.
    # NO KEY UPDATE does not block inserts of entries referencing these accounts.
    accounts = list(Account.objects.select_for_update(no_key=True).filter(pk__in=normalised).order_by("pk"))
    if len(accounts) != len(normalised):
        missing = sorted(set(normalised) - {a.pk for a in accounts})
        raise ValidationFailed("Unknown account.", detail={"accounts": missing})
    entries = []
    for account in accounts:
        amount = normalised[account.pk]
        if account.balance + amount < 0 and account.kind != AccountKind.EXTERNAL:
            raise InsufficientCredit(detail={"account": account.pk, "balance": account.balance, "required": -amount})
        account.balance += amount
        entries.append(Entry(transfer=transfer, account=account, amount=amount, balance_after=account.balance))
    Account.objects.bulk_update(accounts, ["balance"])
    Entry.objects.bulk_create(entries)
    transfer.replayed = False
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


def _owned_agent(owner: User, agent: Identity) -> Identity:
    if agent.kind != IdentityKind.AGENT or agent.owner_id != owner.pk:
        raise NotFound("No such agent.")
    return agent


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


def wallet_fund_agent(*, owner: User, agent: Identity, amount: int, idempotency_key: str) -> Transfer:
    """Move credit from the owner's wallet to one of their agents."""
    agent = _owned_agent(owner, agent)
    amount = _client_amount(amount)
    if not agent.is_active:
        raise IdentitySuspended("A suspended agent cannot be funded.")
    return ledger_transfer(
        lines=[(_owner_wallet(owner), -amount), (wallet_for(agent), amount)],
        kind="agent_funding",
        idempotency_key=f"agent-fund:{owner.pk}:{idempotency_key}",
        memo=f"Funding @{agent.handle}",
    )


def wallet_withdraw_agent(*, owner: User, agent: Identity, amount: int, idempotency_key: str) -> Transfer:
    """Move credit from an agent back to its owner (allowed while the agent is suspended)."""
    agent = _owned_agent(owner, agent)
    amount = _client_amount(amount)
    return ledger_transfer(
        lines=[(wallet_for(agent), -amount), (_owner_wallet(owner), amount)],
        kind="agent_withdrawal",
        idempotency_key=f"agent-withdraw:{owner.pk}:{idempotency_key}",
        memo=f"Withdrawal from @{agent.handle}",
    )
