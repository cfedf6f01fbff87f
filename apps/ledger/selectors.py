from dataclasses import dataclass, field

from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from apps.identities.models import Identity
from apps.ledger.models import Account, AccountKind, Entry, Transfer


def wallet_balance(identity: Identity) -> int:
    """Balance in micro-credits; 0 for an identity whose wallet was never opened."""
    balance = (
        Account.objects.filter(kind=AccountKind.WALLET, identity=identity).values_list("balance", flat=True).first()
    )
    return balance or 0


def with_wallet_balance(identities: QuerySet[Identity]) -> QuerySet[Identity]:
    """Annotate each identity with its wallet `balance` in the same query (not a query per row)."""
    balance = Account.objects.filter(kind=AccountKind.WALLET, identity=OuterRef("pk")).values("balance")[:1]
    return identities.annotate(balance=Coalesce(Subquery(balance), Value(0)))


def owed_by(identity: Identity) -> int:
    """What the identity's party owes the platform, in micro-credits (0 when nothing): the debt is its person's
    (an agent answers for its owner's debt)."""
    person = Identity.objects.filter(user_id=identity.owner_id).values("pk")[:1] if identity.owner_id else None
    holder = person if person is not None else [identity.pk]
    debt = Account.objects.filter(kind=AccountKind.DEBT, identity__in=holder).values_list("balance", flat=True).first()
    return -(debt or 0)


def wallet_entries(identity: Identity) -> QuerySet[Entry]:
    """Entries of the identity's wallet, newest first, with their transfer (one query per page)."""
    return (
        Entry.objects.filter(account__kind=AccountKind.WALLET, account__identity=identity)
        .select_related("transfer")
        .order_by("-id")
    )


@dataclass
class LedgerReport:
    accounts: int = 0
    transfers: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def ledger_verify_report(limit: int = 50) -> LedgerReport:
    """Recompute the ledger from its entries and list every discrepancy (set-based: a handful of queries)."""
    report = LedgerReport(
        accounts=Account.objects.count(), transfers=Transfer.objects.count(), entries=Entry.objects.count()
    )
    drift = (
        Account.objects.annotate(entry_sum=Sum("entries__amount", default=0))
        .exclude(balance=F("entry_sum"))
        .values_list("pk", "code", "balance", "entry_sum")[:limit]
    )
    for pk, code, balance, entry_sum in drift:
        report.problems.append(
            f"account {pk} ({code or 'wallet'}): cached balance {balance} != sum of entries {entry_sum}"
        )
    unbalanced = (
        Transfer.objects.annotate(total=Sum("entries__amount", default=0), n=Count("entries"))
        .filter(~Q(total=0) | Q(n__lt=2))
        .values_list("pk", "idempotency_key", "total", "n")[:limit]
    )
    for pk, key, total, n in unbalanced:
        report.problems.append(f"transfer {pk} ({key}): {n} entries summing to {total}")
    negative = (
        Account.objects.filter(balance__lt=0)
        .exclude(kind__in=[AccountKind.EXTERNAL, AccountKind.DEBT])
        .values_list("pk", "balance")
    )
    for pk, balance in negative[:limit]:
        report.problems.append(f"account {pk}: negative balance {balance}")
    overpaid = Account.objects.filter(kind=AccountKind.DEBT, balance__gt=0).values_list("pk", "balance")
    for pk, balance in overpaid[:limit]:
        report.problems.append(f"account {pk}: a debt above zero ({balance})")
    world = Account.objects.aggregate(total=Sum("balance", default=0))["total"]
    if world != 0:
        report.problems.append(f"credit not conserved: balances sum to {world}, not 0")
    last_ids = Entry.objects.values("account").annotate(last=Max("id")).values("last")
    stale = (
        Entry.objects.filter(pk__in=last_ids)
        .exclude(balance_after=F("account__balance"))
        .values_list("account_id", "balance_after", "account__balance")[:limit]
    )
    for account_id, after, balance in stale:
        report.problems.append(f"account {account_id}: last entry's balance_after {after} != balance {balance}")
    return report
