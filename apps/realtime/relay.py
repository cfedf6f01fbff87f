"""Fan the outbox out to the browsers attached to this process.

Each ASGI process polls `core.Event` and hands each new row to its own consumers of that subject. Reading
the outbox instead of a channel layer means a change arrives the same way whichever process or Celery
worker made it (embedded mode included: they share only the database), and a rolled-back transaction
sends nothing.

Commit order: an event's id is taken at INSERT, so a lower id may commit after a higher one was sent.
Each poll re-reads the last `WINDOW` ids and skips those already sent, so a late commit within the window
is still delivered, once.

The relay runs only while some browser follows something; the next browser after none restarts it from
what is committed then (anything older is each browser's own to replay).
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable

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
def _snapshot() -> tuple[int, set[int]]:
    """The highest committed id, and the committed ids within WINDOW of it."""
    ids = list(Event.objects.order_by("-id").values_list("id", flat=True)[:WINDOW])
    highest = ids[0] if ids else 0
    return highest, {i for i in ids if i > highest - WINDOW}


@sync_to_async
def _since(first: int) -> list[tuple[dict, str]]:
    """The events after `first`, each as the browsers get it, with the id of the request that wrote it (kept
    for the relay's log line: a request's trace goes from the web and the worker on to the sockets)."""
    events = Event.objects.filter(id__gt=first).order_by("id")[: BATCH + WINDOW]
    return [(event_message(e), e.request_id) for e in events]


@sync_to_async
def events_after(subjects: str | Iterable[str], after: int, limit: int = BATCH) -> list[dict]:
    """What a reconnecting browser missed, oldest first; a caller pages on from the last id it got."""
    subjects = [subjects] if isinstance(subjects, str) else list(subjects)
    events = Event.objects.filter(subject__in=subjects, id__gt=after).order_by("id")[:limit]
    return [event_message(e) for e in events]


class Relay:
    def __init__(self) -> None:
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._followers: dict[str, set] = defaultdict(set)
        self.highest = 0
        self._sent: set[int] = set()

    async def follow(self, subject: str, consumer) -> None:
        """Returns only once the relay has its starting point, so the consumer's replay, read after this,
        overlaps the relay (the consumer drops repeats) instead of leaving a gap."""
        self._followers[subject].add(consumer)
        if self._task is None or self._task.done():  # the first browser (after none) starts the relay
            self._ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        await self._ready.wait()

    def unfollow(self, subject: str, consumer) -> None:
        self._followers[subject].discard(consumer)
        if not self._followers[subject]:
            del self._followers[subject]

    async def poll_once(self) -> int:
        """Send what is new; the number of events sent."""
        sent = 0
        for message, request_id in await _since(self.highest - WINDOW):
            if message["id"] in self._sent:
                continue
            self._sent.add(message["id"])
            self.highest = max(self.highest, message["id"])
            followers = list(self._followers.get(message["subject"], ()))
            for consumer in followers:
                try:
                    await consumer.deliver(message)
                except Exception:  # one browser gone mid-send must not cost the others this event
                    logger.warning("Could not deliver event %s to a socket", message["id"], exc_info=True)
            if followers:
                logger.debug(
                    "relayed event %s (%s) of request %s to %d socket(s)",
                    message["id"], message["kind"], request_id or "-", len(followers),
                )  # fmt: skip
            sent += 1
        self._sent = {i for i in self._sent if i > self.highest - WINDOW}
        return sent

    async def _run(self) -> None:
        # Ids in the window not committed yet stay unsent: if their transactions commit, they are relayed.
        try:
            self.highest, self._sent = await _snapshot()
        except Exception:
            logger.exception("The outbox relay could not read its starting point; going on from the last one")
        finally:
            self._ready.set()
        interval = settings.CREDENCE_REALTIME_POLL_MS / 1000
        while self._followers:
            try:
                await self.poll_once()
            except Exception:  # the database went away for a moment: keep the state, try again
                logger.exception("The outbox relay could not read; retrying")
            await asyncio.sleep(interval)


relay = Relay()
