"""Notifications: written when a claim settles, read and marked read by their person.

Exactly once: `notifications_on_settlement` listens on markets.claim_settled_announce, which
market_settle sends inside its transaction after its lock and `settled_at` check, so a retried or
concurrent settlement never reaches it, and one that rolls back takes its notifications with it. The point
is isolated: a notification that fails is undone and logged, and the settlement still commits. Besides,
the listener skips what exists and the unique (user, kind, subject) constraint refuses a repeat.

A resolution is announced at settlement, at most one beat sweep after it: only then is the outcome final
and the credit moved, so a person's two notifications agree with their wallet.

Each notification also emits `notification.created` on `user:<id>`, which the relay delivers to that
person's open pages.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.core import events
from apps.core.amounts import format_credits
from apps.core.errors import NotFound
from apps.core.services import event_emit, events_emit
from apps.identities.models import Identity, IdentityKind
from apps.ledger.models import AccountKind, Entry
from apps.markets.models import Claim, Outcome
from apps.realtime.models import Notification, NotificationKind
from apps.reviews import checkpoints as review_checkpoints
from apps.reviews.models import ReviewRequest

TITLE_LENGTH = 120
TEXT_LENGTH = Notification._meta.get_field("text").max_length
OUTCOME_PHRASE = {Outcome.YES: "resolved YES", Outcome.NO: "resolved NO", Outcome.VOID: "was voided"}


def user_subject(user_id: int) -> str:
    """The outbox subject of a person's private stream (only their own socket follows it)."""
    return f"user:{user_id}"


def claim_link(claim_id: int) -> str:
    """The claim page's path; empty while no claim page is installed (the notification then has no link)."""
    try:
        return reverse("claim-detail", kwargs={"claim_id": claim_id})
    except NoReverseMatch:
        return ""


def _title(claim: Claim) -> str:
    title = claim.title.strip()
    return title if len(title) <= TITLE_LENGTH else title[: TITLE_LENGTH - 1].rstrip() + "…"


@dataclass
class _Paid:
    handle: str
    is_agent: bool
    amount: int


def _resolved_text(claim: Claim, author: Identity, outcome: str) -> str:
    phrase = OUTCOME_PHRASE[outcome]
    if author.kind == IdentityKind.AGENT:
        return f"The claim “{_title(claim)}” by your agent @{author.handle} {phrase}."
    return f"Your claim “{_title(claim)}” {phrase}."


def _fit(text: str) -> str:
    """Cut with an ellipsis to fit the column: a longer text would fail the insert and lose the claim's
    notifications."""
    return text if len(text) <= TEXT_LENGTH else text[: TEXT_LENGTH - 1].rstrip() + "…"


def _payout_text(claim: Claim, outcome: str, paid: list[_Paid]) -> str:
    total = format_credits(sum(p.amount for p in paid))
    result = "voided: stakes refunded" if outcome == Outcome.VOID else OUTCOME_PHRASE[outcome]
    why = f"from the settlement of “{_title(claim)}” ({result})"
    if len(paid) == 1:
        who = f"Your agent @{paid[0].handle}" if paid[0].is_agent else "You"
        return _fit(f"{who} received {total} credits {why}.")
    head = f"You received {total} credits {why}: "
    parts = (f"@{p.handle} {format_credits(p.amount)}" for p in paid)  # formatted only as far as shown
    # Each payee takes at least 8 characters ("@abc 1, "), so a longer list cannot fit whole.
    if len(paid) * 8 <= TEXT_LENGTH:
        listed = list(parts)
        whole = head + ", ".join(listed) + "."
        if len(whole) <= TEXT_LENGTH:
            return whole
        parts = iter(listed)
    # As many payees as fit, then "and N more" (the wallet page lists every entry). With some left out, a
    # payee adds more characters than "and N more" can lose, so the first that does not fit ends the loop:
    # it runs over those shown, not over every payee (an owner may be paid into 100,000 wallets).
    text, shown = head, 0
    for part in parts:
        candidate = text + (", " if shown else "") + part
        if len(candidate) + len(f" and {len(paid) - shown - 1} more.") > TEXT_LENGTH:
            break
        text, shown = candidate, shown + 1
    if shown:
        return f"{text} and {len(paid) - shown} more."
    return _fit(f"{head}{len(paid)} wallets.")


def _payees(claim: Claim) -> dict[int, list[_Paid]]:
    """Who the settlement credited, by the person answerable for each wallet (an agent's owner), read
    from the transfer's entries: what was paid, not a recomputation."""
    rows = (
        Entry.objects.filter(
            transfer__idempotency_key=f"settle:{claim.pk}",  # market_settle's key for this claim
            account__kind=AccountKind.WALLET,
            amount__gt=0,
        )
        .order_by("account__identity_id")
        .values_list(
            "account__identity__user_id",
            "account__identity__owner_id",
            "account__identity__kind",
            "account__identity__handle",
            "amount",
        )
    )
    by_identity: dict[tuple[int, str, str], int] = defaultdict(int)
    for user_id, owner_id, kind, handle, amount in rows:
        by_identity[(user_id or owner_id, kind, handle)] += amount
    by_user: dict[int, list[_Paid]] = defaultdict(list)
    for (user_id, kind, handle), amount in by_identity.items():
        by_user[user_id].append(_Paid(handle=handle, is_agent=kind == IdentityKind.AGENT, amount=amount))
    for paid in by_user.values():  # the person first, then their agents by handle
        paid.sort(key=lambda p: (p.is_agent, p.handle))
    return by_user


def notifications_on_settlement(claim: Claim, outcome: str) -> list[Notification]:
    """Tell the author their claim resolved, and each person the settlement credited (directly or through
    an agent) how much. Exactly once: see the module docstring."""
    subject = f"claim:{claim.pk}"
    author = Identity.objects.only("kind", "handle", "user_id", "owner_id").get(pk=claim.author_id)
    link = claim_link(claim.pk)
    now = timezone.now()
    wanted = [
        Notification(
            user_id=author.controller_id,
            kind=NotificationKind.CLAIM_RESOLVED,
            subject=subject,
            text=_fit(_resolved_text(claim, author, outcome)),
            link=link,
            created_at=now,
        )
    ]
    for user_id, paid in _payees(claim).items():
        wanted.append(
            Notification(
                user_id=user_id,
                kind=NotificationKind.PAYOUT,
                subject=subject,
                text=_payout_text(claim, outcome, paid),
                link=link,
                created_at=now,
            )
        )
    existing = set(Notification.objects.filter(subject=subject).values_list("user_id", "kind"))
    created = Notification.objects.bulk_create([n for n in wanted if (n.user_id, n.kind) not in existing])
    if created:
        _announce(created, now)
    return created


REVIEW_WORDS = {
    "approved": "approved",
    "edited": "approved with changes",
    "rejected": "rejected",
    "answered": "answered",
    "timed_out": "timed out (nobody decided in time)",
    "escalated": "escalated to staff",
    "cancelled": "cancelled",
}


def _review_topic(request: ReviewRequest) -> str:
    label = review_checkpoints.CHECKPOINTS[request.checkpoint].label
    return request.question or request.payload.get("claim_title") or label


def _create(wanted: list[Notification], now) -> list[Notification]:
    """Write the notifications not written before (one per person, kind and subject), and announce them."""
    subjects = {n.subject for n in wanted}
    existing = set(Notification.objects.filter(subject__in=subjects).values_list("user_id", "kind", "subject"))
    created = Notification.objects.bulk_create([n for n in wanted if (n.user_id, n.kind, n.subject) not in existing])
    if created:
        _announce(created, now)
    return created


def notification_send(
    *, user_id: int, kind: str, subject: str, text: str, link: str = "", now=None
) -> list[Notification]:
    """One notification to one person (once per person, kind and subject), for the apps above realtime
    (webhooks: a subscription is failing). Call it in the transaction of what it tells of."""
    now = now or timezone.now()
    wanted = [Notification(user_id=user_id, kind=kind, subject=subject, text=_fit(text), link=link, created_at=now)]
    return _create(wanted, now)


def notifications_on_review_opened(request: ReviewRequest, user_ids: list[int]) -> list[Notification]:
    """Tell the people a new review waits for (its owner, its invited panel, or staff)."""
    now = timezone.now()
    text = _fit(f"A review waits for you: {_review_topic(request)}")
    wanted = [
        Notification(
            user_id=user_id,
            kind=NotificationKind.REVIEW_WAITING,
            subject=f"review:{request.pk}",
            text=text,
            link="/reviews/",
            created_at=now,
        )
        for user_id in dict.fromkeys(user_ids)
        if user_id is not None
    ]
    return _create(wanted, now)


def queue_refresh_on_review_moved(request: ReviewRequest, user_ids: list[int]) -> None:
    """Tell each person whose queue a request left (or came back to) so their open queue pages refresh: one
    private event each, written in one INSERT."""
    users = [user_id for user_id in dict.fromkeys(user_ids) if user_id is not None]
    if users:
        events_emit(
            [(events.REVIEWS_QUEUE_CHANGED.name, f"user:{user_id}", None, {"review": request.pk}) for user_id in users],
            at=timezone.now(),
        )


def notifications_on_review_finished(request: ReviewRequest) -> list[Notification]:
    """Tell the person who asked (for an agent, its owner) how their review ended."""
    now = timezone.now()
    how = REVIEW_WORDS.get(request.state, request.state)
    wanted = [
        Notification(
            user_id=request.requester.controller_id,
            kind=NotificationKind.REVIEW_FINISHED,
            subject=f"review:{request.pk}",
            text=_fit(f"Review #{request.pk} {how}: {_review_topic(request)}"),
            link=f"/me/reviews/{request.pk}/",
            created_at=now,
        )
    ]
    return _create(wanted, now)


def _unread_counts(user_ids: set[int]) -> dict[int, int]:
    counts = (
        Notification.objects.filter(user_id__in=user_ids, read_at__isnull=True)
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    return {user_id: 0 for user_id in user_ids} | dict(counts)


def notification_message(notification: Notification) -> dict:
    """What a page receives about a notification (also its toast)."""
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "text": notification.text,
        "link": notification.link,
        "created_at": notification.created_at.isoformat(),
    }


def _announce(created: list[Notification], now) -> None:
    unread = _unread_counts({n.user_id for n in created})
    events_emit(
        [
            (
                events.NOTIFICATION_CREATED.name,
                user_subject(n.user_id),
                None,
                {"notification": notification_message(n), "unread": unread[n.user_id]},
            )
            for n in created
        ],
        at=now,
    )


@transaction.atomic
def notification_mark_read(*, user: User, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (again is a no-op). Someone else's is NotFound."""
    notification = Notification.objects.select_for_update(no_key=True).filter(pk=notification_id, user=user).first()
    if notification is None:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        _announce_read(user)
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user: User) -> int:
    """Mark every unread notification of the user read; the number marked."""
    ids = list(
        Notification.objects.select_for_update(no_key=True)
        .filter(user=user, read_at__isnull=True)
        .values_list("pk", flat=True)
    )
    if ids:
        Notification.objects.filter(pk__in=ids).update(read_at=timezone.now())
        _announce_read(user)
    return len(ids)


def _announce_read(user: User) -> None:
    """The user's open pages update their unread count (and the notifications page its list) at once."""
    event_emit(
        kind=events.NOTIFICATIONS_READ.name,
        subject=user_subject(user.pk),
        payload={"unread": _unread_counts({user.pk})[user.pk]},
    )
