"""Fan the outbox out to the browsers attached to this process.

Each ASGI process runs one relay: a few times a second it reads the `core.Event` rows it has not sent yet
and hands each to the consumers in this process that follow its subject. The outbox is the source of
truth, so a change reaches the browsers the same way whether it was made by this process, another web
process or a Celery worker (embedded mode included: they share only the database); nothing is sent for a
transaction that rolled back; and no channel layer is needed between processes (each reads the outbox).

Commit order: an event's id is taken at INSERT, so a transaction may commit a lower id after a higher one
was sent. The relay re-reads a trailing window of ids (`WINDOW`) each time and remembers which ids it
sent, so a late commit within the window is still delivered, once.

A browser that reconnects names the last id it saw; its consumer replays the subject's later events from
the same table before going live, so nothing is lost across a reconnect and nothing is sent twice.
"""

import asyncio
import logging
from collections import defaultdict

from asgiref.sync import sync_to_async
from django.conf import settings

from apps.core.models import Event

logger = logging.getLogger(__name__)
BATCH = 500
WINDOW = 500  # ids re-read behind the highest one sent, for transactions that commit out of id order


def event_message(event: Event) -> dict:
    return {
        "id": event.id,
        "kind": event.kind,
        "subject": event.subject,
        "payload": event.payload,
        "at": event.created_at.isoformat(),
    }


@sync_to_async
def _latest_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


@sync_to_async
def _since(first: int) -> list[dict]:
    return [event_message(e) for e in Event.objects.filter(id__gt=first).order_by("id")[: BATCH + WINDOW]]


@sync_to_async
def events_after(subject: str, after: int, limit: int = BATCH) -> list[dict]:
    """What a reconnecting browser missed: the subject's events after `after`, oldest first."""
    return [event_message(e) for e in Event.objects.filter(subject=subject, id__gt=after).order_by("id")[:limit]]


class Relay:
    def __init__(self) -> None:
        self._task: asyncio.Task | None = None
        self._followers: dict[str, set] = defaultdict(set)
        self.highest = 0
        self._sent: set[int] = set()

    def follow(self, subject: str, consumer) -> None:
        self._followers[subject].add(consumer)
        if self._task is None or self._task.done():  # the first browser starts the relay
            self._task = asyncio.get_running_loop().create_task(self._run())

    def unfollow(self, subject: str, consumer) -> None:
        self._followers[subject].discard(consumer)
        if not self._followers[subject]:
            del self._followers[subject]

    async def poll_once(self) -> int:
        """Send what is new; the number of events sent."""
        sent = 0
        for message in await _since(self.highest - WINDOW):
            if message["id"] in self._sent:
                continue
            self._sent.add(message["id"])
            self.highest = max(self.highest, message["id"])
            for consumer in list(self._followers.get(message["subject"], ())):
                await consumer.deliver(message)
            sent += 1
        self._sent = {i for i in self._sent if i > self.highest - WINDOW}
        return sent

    async def _run(self) -> None:
        if not self.highest:
            self.highest = await _latest_id()  # older events are each browser's own to replay, by id
            self._sent = set(range(max(self.highest - WINDOW, 0) + 1, self.highest + 1))
        interval = settings.CREDENCE_REALTIME_POLL_MS / 1000
        while self._followers:
            try:
                await self.poll_once()
            except Exception:  # the database went away for a moment: keep the state, try again
                logger.exception("The outbox relay could not read; retrying")
            await asyncio.sleep(interval)


relay = Relay()
