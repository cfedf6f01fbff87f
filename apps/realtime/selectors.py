"""Reads of the realtime app: the cursor a live page starts from, and a person's notifications."""

from collections.abc import Iterable

from django.db.models import Max, QuerySet

from apps.accounts.models import User
from apps.core.models import Event
from apps.identities.models import Identity
from apps.markets import selectors as market_selectors
from apps.realtime.models import Notification


def live_cursor(subjects: Iterable[str] = ()) -> int:
    """The highest outbox event id a page has seen when it renders: it goes into the page as
    `data-live-after`, and the page's socket replays every later event of its subjects, so nothing that
    happens between the render and the socket opening is missed. With `subjects` (e.g. ["claim:4"]), the
    highest id among theirs (one index lookup each); without, the highest id of all (the cheapest, and
    as correct: the socket replays only its own subjects' events anyway)."""
    events = Event.objects.all()
    subjects = list(subjects)
    if subjects:
        events = events.filter(subject__in=subjects)
    return events.aggregate(highest=Max("id"))["highest"] or 0


def events_after(subject: str, after: int) -> list[int]:
    """The ids of a subject's events committed after `after`, oldest first (one range of the (subject, id)
    index). A view that just changed a claim passes them to the page with its answer: they are the events
    its change wrote, and any others about the claim already committed, which the page's refresh, read
    after them, shows too."""
    return list(Event.objects.filter(subject=subject, id__gt=after).order_by("id").values_list("id", flat=True))


def claims_visible_ids(claim_ids: Iterable[int], viewer: Identity | None) -> set[int]:
    """Which of these claims `viewer` may see: published ones in one query; a claim never published
    (a draft, its author's alone) is checked by the markets rule, one by one (rare: only authors ask)."""
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
