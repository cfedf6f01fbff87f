"""WebSockets for live pages.

A socket sends outbox events as JSON ({id, kind, subject, payload, at}): those after `?after=<event id>`,
oldest first, then each new one. No id is sent twice on a connection, so a client resumes from the highest
it has seen.

- `/ws/claims/<id>/`: one claim.
- `/ws/claims/?ids=1,2,3`: several claims (static/js/live.js opens one socket per page). If any is a claim
  the visitor may not see: 4404, naming none. A page asks only for claims it rendered, and naming the
  failures would tell a stranger which drafts exist. No ids, a malformed one or over MAX_CLAIMS: 4400.
- `/ws/me/`: the signed-in person's stream (`user:<id>` from the session, never the URL). Its first
  message has no id: `{"kind": "hello", "unread": n, "cursor": <the stream's highest event id>}`, so the
  page needs no query of its own for the count. Anonymous: 4401.

A refused socket is accepted, then closed with its code: a refused handshake would give the page no code.
"""

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import structlog
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.core.context import RequestContext, new_request_id, request_context
from apps.markets import selectors as market_selectors
from apps.realtime import selectors
from apps.realtime.relay import BATCH, events_after, relay
from apps.realtime.services import user_subject

log = structlog.get_logger(__name__)

REMEMBERED = 2000  # ids a connection remembers having sent (replay and relay may overlap)
MAX_CLAIMS = 200
BAD_REQUEST, NOT_AUTHENTICATED, NOT_FOUND = 4400, 4401, 4404


def _viewer(user):
    return user.human_identity if user is not None and user.is_authenticated else None


@sync_to_async
def _visible(claim_id: int, user) -> bool:
    return market_selectors.claim_visible(claim_id, _viewer(user)) is not None


@sync_to_async
def _all_visible(claim_ids: list[int], user) -> bool:
    return selectors.claims_visible_ids(claim_ids, _viewer(user)) == set(claim_ids)


@sync_to_async
def _hello(user) -> dict:
    subject = user_subject(user.pk)
    return {"kind": "hello", "unread": selectors.unread_count(user), "cursor": selectors.stream_cursor(subject)}


def _claim_ids(values: list[str]) -> list[int] | None:
    """`ids=1,2,3` (or `ids=1&ids=2`) as sorted unique ids; None when malformed, empty or too many."""
    ids = set()
    for value in ",".join(values).split(","):
        value = value.strip()
        if not value:
            continue
        if not value.isdigit() or int(value) == 0:
            return None
        ids.add(int(value))
    if not ids or len(ids) > MAX_CLAIMS:
        return None
    return sorted(ids)


class OutboxConsumer(AsyncJsonWebsocketConsumer):
    """Replays what the page missed, then relays what is new.

    The relay is followed before the replay starts, so nothing falls between them. What it delivers
    meanwhile waits in a backlog until the replay ends: a client never sees a newer id before an older one
    it missed, so resuming from the highest id it saw loses nothing."""

    subjects: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        """The socket's whole life runs in a context of its own (apps.core.context), with a request id of its
        own: its connect, refusal and disconnect lines, and anything logged while it is served, share it."""
        user = scope.get("user")  # already loaded by the auth middleware
        user_id = user.pk if user is not None and user.is_authenticated else None
        with request_context(RequestContext(request_id=new_request_id(), user_id=user_id)):
            await super().__call__(scope, receive, send)

    async def websocket_connect(self, message) -> None:
        log.info("websocket_connect", path=self.scope.get("path"))
        await super().websocket_connect(message)

    def query(self, name: str) -> list[str]:
        return parse_qs(self.scope.get("query_string", b"").decode()).get(name, [])

    def after(self) -> int | None:
        value = (self.query("after") or [""])[0]
        return int(value) if value.isdigit() else None

    async def refuse(self, code: int) -> None:
        log.info("websocket_refused", path=self.scope.get("path"), code=code)
        await self.accept()
        await self.close(code=code)

    async def stream(
        self, subjects: list[str], after: int | None, hello: Callable[[], Awaitable[dict]] | None = None
    ) -> None:
        self.sent: set[int] = set()
        self.backlog: list[dict] = []
        self.replaying = True
        self.subjects = subjects
        await self.accept()
        for subject in subjects:
            await relay.follow(subject, self)
        if hello is not None:  # read after following: a change from now on is delivered, or counted here
            await self.send_json(await hello())
        cursor = after
        while cursor is not None:
            batch = await events_after(subjects, cursor)
            for message in batch:
                await self._send(message)
            cursor = batch[-1]["id"] if len(batch) == BATCH else None
        while self.backlog:
            self.backlog.sort(key=lambda m: m["id"])
            await self._send(self.backlog.pop(0))
        self.replaying = False

    async def disconnect(self, code: int) -> None:
        log.info("websocket_disconnect", path=self.scope.get("path"), code=code)
        for subject in self.subjects:
            relay.unfollow(subject, self)

    async def deliver(self, message: dict) -> None:
        if self.replaying:
            self.backlog.append(message)
        else:
            await self._send(message)

    async def _send(self, message: dict) -> None:
        if message["id"] in self.sent:
            return
        self.sent.add(message["id"])
        if len(self.sent) > REMEMBERED:
            self.sent = set(sorted(self.sent)[-REMEMBERED // 2 :])
        await self.send_json(message)


class ClaimConsumer(OutboxConsumer):
    """One claim: `/ws/claims/<id>/?after=<event id>`."""

    async def connect(self) -> None:
        claim_id = int(self.scope["url_route"]["kwargs"]["claim_id"])
        if not await _visible(claim_id, self.scope.get("user")):
            await self.refuse(NOT_FOUND)
            return
        await self.stream([f"claim:{claim_id}"], self.after())


class ClaimsConsumer(OutboxConsumer):
    """Several claims: `/ws/claims/?ids=1,2,3&after=<event id>`."""

    async def connect(self) -> None:
        claim_ids = _claim_ids(self.query("ids"))
        if claim_ids is None:
            await self.refuse(BAD_REQUEST)
            return
        if not await _all_visible(claim_ids, self.scope.get("user")):
            await self.refuse(NOT_FOUND)
            return
        await self.stream([f"claim:{claim_id}" for claim_id in claim_ids], self.after())


class MeConsumer(OutboxConsumer):
    """The signed-in person's stream: `/ws/me/?after=<event id>`."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(NOT_AUTHENTICATED)
            return
        await self.stream([user_subject(user.pk)], self.after(), hello=lambda: _hello(user))
