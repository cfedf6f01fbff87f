"""Reads of the realtime app: the cursor a live page starts from, and a person's notifications."""

from collections.abc import Iterable

from django.db.models import Max, QuerySet

from apps.accounts.models import User
from apps.core.models import Event
from apps.identities.models import Identity
from apps.markets import selectors as market_selectors
from apps.realtime.models import Notification


def live_cursor(subjects: Iterable[str] = ()) -> int:
    """The highest event id at render, a page's `data-live-after`: its socket replays every later event
    of its subjects, so nothing between render and connect is missed. Without `subjects`, the highest id
    of all: cheapest, and as correct, since a socket replays only its own subjects."""
    events = Event.objects.all()
    subjects = list(subjects)
    if subjects:
        events = events.filter(subject__in=subjects)
    return events.aggregate(highest=Max("id"))["highest"] or 0


def events_after(subject: str, after: int) -> list[int]:
    """A subject's event ids after `after`, oldest first. A view that changed a claim sends them with its
    answer so the page refreshes once for them: the change's own events, and any other already committed,
    which the refresh (read after) shows too."""
    return list(Event.objects.filter(subject=subject, id__gt=after).order_by("id").values_list("id", flat=True))


def claims_visible_ids(claim_ids: Iterable[int], viewer: Identity | None) -> set[int]:
    """Which of these claims `viewer` may see. Drafts go through the markets rule one by one: only their
    authors ask for them, so that is rare."""
    wanted = set(claim_ids)
    visible = set(market_selectors.claims_listed().filter(pk__in=wanted).values_list("pk", flat=True))
    for claim_id in wanted - visible:
        if market_selectors.claim_visible(claim_id, viewer) is not None:
            visible.add(claim_id)
    return visible


def notifications_of(user: User) -> QuerySet[Notification]:
    """The user's notifications, newest first."""
    return Notification.objects.filter(user=user).order_by("-id")


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def stream_cursor(subject: str) -> int:
    """The highest event id of one subject (a person's stream): where a socket without a cursor starts."""
    return live_cursor([subject])
