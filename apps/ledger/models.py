"""Double-entry credit ledger. Integers of micro-credits only; see apps.core.amounts.

Only `apps.ledger.services.ledger_transfer` writes here. The database backs it up: balances may not go
negative (CHECK), entries and transfers may not be changed or deleted (a trigger), and a transfer's
idempotency key is unique.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.identities.models import Identity


class AccountKind(models.TextChoices):
    WALLET = "wallet", "Identity wallet"
    MARKET_ESCROW = "market_escrow", "Market escrow"
    BOND_ESCROW = "bond_escrow", "Bond escrow"
    REVIEW_ESCROW = "review_escrow", "Review escrow"
    PLATFORM_FEES = "platform_fees", "Platform fees"
    PLATFORM_TREASURY = "platform_treasury", "Platform treasury"
    EXTERNAL = "external", "External world"
    # What a person owes the platform (credit clawed back after a refund or a dispute that their wallet could
    # no longer cover): zero or negative, never positive. An identity with a debt below zero may not spend.
    DEBT = "debt", "Debt owed"


# Accounts that belong to an identity (one of each kind per identity) rather than carrying a code.
IDENTITY_KINDS = (AccountKind.WALLET, AccountKind.DEBT)


class Account(models.Model):
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    # Wallets belong to an identity; system accounts have a unique code (e.g. "external:world").
    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    code = models.CharField(max_length=80, null=True, blank=True, unique=True)
    # Cache of the sum of this account's entries, updated in the same transaction as the entries.
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # A moderator froze this wallet (apps.ledger.services.wallet_freeze): nothing may be spent from it (no
    # trade, no funding, no bond, no review price); credit still comes in (settlement, refunds, rewards), and
    # a chargeback may still take back what was bought (FROZEN_MAY_DEBIT).
    frozen_at = models.DateTimeField(null=True, blank=True)
    frozen_reason = models.CharField(max_length=500, blank=True, default="", db_default="")
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            # Only the external world (where purchased and granted credit comes from) and a debt (what a person
            # owes it) may go below zero; a debt may never go above.
            models.CheckConstraint(
                condition=Q(balance__gte=0) | Q(kind__in=[AccountKind.EXTERNAL, AccountKind.DEBT]),
                name="ledger_account_balance_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(balance__lte=0) | ~Q(kind=AccountKind.DEBT), name="ledger_debt_never_positive"
            ),
            models.UniqueConstraint(
                fields=["identity"], condition=Q(kind=AccountKind.WALLET), name="ledger_one_wallet_per_identity"
            ),
            models.UniqueConstraint(
                fields=["identity"], condition=Q(kind=AccountKind.DEBT), name="ledger_one_debt_per_identity"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=IDENTITY_KINDS, identity__isnull=False)
                | Q(~Q(kind__in=IDENTITY_KINDS), code__isnull=False),
                name="ledger_account_has_owner_or_code",
            ),
        ]

    def __str__(self) -> str:
        return self.code or f"{self.kind}:{self.identity_id}"


class Transfer(models.Model):
    """One balanced movement of credit: its entries sum to zero."""

    kind = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=200, unique=True)
    # SHA-256 of the normalised request (kind, lines, memo): a replay must carry the same body.
    body_sha256 = models.CharField(max_length=64)
    memo = models.CharField(max_length=300, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class Entry(models.Model):
    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount = models.BigIntegerField()
    # The account's balance right after this entry: wallet history reads it instead of summing.
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "entries"
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_amount_non_zero")]
        indexes = [models.Index(fields=["account", "-id"])]

    def __str__(self) -> str:
        return f"{self.amount:+d} on {self.account_id}"
