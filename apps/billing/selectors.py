"""Reads of purchases, packages and verifications (each list is one query)."""

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.billing import gateway
from apps.billing.models import CreditPackage, Purchase, Verification
from apps.billing.services import daily_limit_for, spent_today
from apps.core.errors import NotFound

HISTORY = 50


def packages_offered() -> list[CreditPackage]:
    return list(CreditPackage.objects.filter(active=True))


def purchases_of(user: User, limit: int = HISTORY) -> list[Purchase]:
    """The person's latest purchases, newest first, with their packages (one query)."""
    return list(Purchase.objects.filter(user=user).select_related("package")[:limit])


def purchase_of(user: User, purchase_id: int) -> Purchase:
    """One of the person's purchases; anyone else's is NotFound (never a 403: ids are not to be probed)."""
    purchase = Purchase.objects.filter(user=user, pk=purchase_id).select_related("package").first()
    if purchase is None:
        raise NotFound("No such purchase.")
    return purchase


def buying_limits(user: User) -> dict:
    """What the purchase page tells a person before they choose: whether buying is on, and a new account's
    daily limit with what is left of it today (minor units)."""
    now = timezone.now()
    limit = daily_limit_for(user, now)
    spent = spent_today(user, now) if limit is not None else 0
    return {
        "configured": gateway.configured(),
        "daily_limit": limit,
        "spent_today": spent,
        "left_today": None if limit is None else max(limit - spent, 0),
    }


def verification_latest(user: User) -> Verification | None:
    return Verification.objects.filter(user=user).first()


def verifications_flagged() -> QuerySet[Verification]:
    return Verification.objects.filter(flagged=True).select_related("user")
