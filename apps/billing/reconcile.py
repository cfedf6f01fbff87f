"""The ledger against Stripe: for every purchase Stripe's balance transactions touch (and every purchase the
ledger credited in the period), the money Stripe kept (charges less refunds and lost or open disputes) implies a
credit (`credits * kept / amount`, rounded down, as the services reverse it); the ledger's credit is what the
purchase's transfers brought in and took back. A difference is listed."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, Sum

from apps.billing import gateway
from apps.billing.models import Purchase
from apps.ledger.models import AccountKind, Entry

# Balance transaction types by what they do to the money a payment kept.
CHARGES = {"charge", "payment"}
REFUNDS = {"refund", "payment_refund", "payment_failure_refund"}
DISPUTES = {"adjustment", "dispute", "dispute_reversal"}


@dataclass
class Report:
    transactions: int = 0
    purchases: int = 0
    problems: list[str] = field(default_factory=list)


def _intent(source) -> str | None:
    if not isinstance(source, dict):
        return None
    intent = source.get("payment_intent")
    if isinstance(intent, dict):
        return intent.get("id")
    if intent:
        return intent
    charge = source.get("charge")  # a dispute names its charge, which names the payment
    return charge.get("payment_intent") if isinstance(charge, dict) else None


def reconcile(*, since: datetime) -> Report:
    report = Report()
    kept: dict[str, int] = defaultdict(int)
    listing = gateway.client().v1.balance_transactions.list(
        params={"created": {"gte": int(since.timestamp())}, "limit": 100, "expand": ["data.source"]}
    )
    for item in listing.auto_paging_iter():
        item = gateway.as_dict(item)
        intent = _intent(item.get("source"))
        if intent is None or item.get("type") not in CHARGES | REFUNDS | DISPUTES:
            continue
        report.transactions += 1
        kept[intent] += int(item["amount"])  # refunds and disputes are negative amounts
    purchases = Purchase.objects.filter(Q(payment_intent_id__in=list(kept)) | Q(credited_at__gte=since))
    for purchase in purchases:
        report.purchases += 1
        money = min(max(kept.get(purchase.payment_intent_id, 0), 0), purchase.amount)
        expected = purchase.credits * money // purchase.amount
        held = _credit_held(purchase)
        if held != expected:
            report.problems.append(
                f"purchase #{purchase.pk} ({purchase.payment_intent_id}): Stripe kept {money} of {purchase.amount} "
                f"{purchase.currency}, implying {expected} micro-credits; the ledger holds {held}"
            )
    return report


def _credit_held(purchase: Purchase) -> int:
    """What the purchase's transfers brought into the person's accounts (wallet and debt), net."""
    keys = Q(transfer__idempotency_key=f"purchase:{purchase.pk}:credit") | Q(
        transfer__idempotency_key__startswith=f"purchase:{purchase.pk}:reversal:"
    )
    return Entry.objects.filter(keys, account__kind__in=[AccountKind.WALLET, AccountKind.DEBT]).aggregate(
        total=Sum("amount", default=0)
    )["total"]
