"""What `manage.py audit_verify` checks (apps.core.audit.AUDIT_CHECKS): that the state only a staff action can
leave behind has that action's audit entry. Each check is one anti-join: a row in the state without an entry
of the action on the same object, written at or after the change (in the same transaction, after it)."""

from collections.abc import Iterator

from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast

from apps.core.audit import AUDIT_CHECKS
from apps.core.models import AuditEntry
from apps.identities.models import Identity, SuspendedAs
from apps.ledger.models import Account, AccountKind
from apps.markets.models import Claim, Clarification
from apps.moderation.models import ActionKind, ModerationAction
from apps.reputation.models import Belief
from apps.reviews.models import ReviewRequest


def _entry(object_type: str, action: str | tuple[str, ...], since: str | None) -> Exists:
    actions = (action,) if isinstance(action, str) else action
    entries = AuditEntry.objects.filter(
        object_type=object_type, object_id=Cast(OuterRef("pk"), CharField()), action__in=actions
    )
    if since is not None:
        entries = entries.filter(created_at__gte=OuterRef(since))
    return Exists(entries)


def _missing(queryset, object_type: str, action, since: str | None, what: str) -> Iterator[str]:
    for pk in queryset.filter(~Q(_entry(object_type, action, since))).values_list("pk", flat=True).order_by("pk"):
        yield f"{object_type} {pk}: {what}, with no {action!r} audit entry"


def staff_state_without_entries() -> Iterator[str]:
    yield from _missing(
        Identity.objects.filter(suspended_as=SuspendedAs.MODERATOR),
        "identities.identity",
        "identity.suspend",
        "suspended_at",
        "suspended by a moderator",
    )
    yield from _missing(
        Account.objects.filter(kind=AccountKind.WALLET, frozen_at__isnull=False),
        "ledger.account",
        "wallet.freeze",
        "frozen_at",
        "a frozen wallet",
    )
    for model, name in ((Claim, "claim"), (Clarification, "clarification"), (Belief, "belief")):
        yield from _missing(
            model.objects.filter(hidden_at__isnull=False),
            model._meta.label_lower,
            f"{name}.hide",
            "hidden_at",
            "hidden by a moderator",
        )
    yield from _missing(
        ReviewRequest.objects.filter(overruled_at__isnull=False),
        "reviews.reviewrequest",
        "review.overrule",
        "overruled_at",
        "overruled by staff",
    )
    yield from _missing(
        ModerationAction.objects.all(),
        "moderation.moderationaction",
        tuple(f"moderation.{kind}" for kind in ActionKind.values),
        None,
        "a moderation action",
    )


AUDIT_CHECKS.append(staff_state_without_entries)
