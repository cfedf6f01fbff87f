"""WebSockets for live pages: one connection follows one claim (`/ws/claims/<id>/?after=<event id>`)."""

from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.markets import selectors as market_selectors
from apps.realtime.relay import events_after, relay

REMEMBERED = 2000  # ids a connection remembers having sent (replay and relay may overlap)


@sync_to_async
def _visible(claim_id: int, user) -> bool:
    viewer = user.human_identity if user is not None and user.is_authenticated else None
    return market_selectors.claim_visible(claim_id, viewer) is not None


class ClaimConsumer(AsyncJsonWebsocketConsumer):
    """Sends the claim's outbox events as JSON ({id, kind, subject, payload, at}): first those after
    `?after=` (what the page missed), oldest first, then each new one as the relay reads it. A client
    keeps the highest id it has seen and resumes from it. A claim the visitor may not see closes 4404."""

    async def connect(self) -> None:
        claim_id = int(self.scope["url_route"]["kwargs"]["claim_id"])
        if not await _visible(claim_id, self.scope.get("user")):
            await self.accept()  # then close with a code a page can read (a refused handshake has none)
            await self.close(code=4404)
            return
        self.subject = f"claim:{claim_id}"
        self.sent: set[int] = set()
        query = parse_qs(self.scope.get("query_string", b"").decode())
        after = query.get("after", [""])[0]
        await self.accept()
        relay.follow(self.subject, self)  # follow first, then replay: an overlap is sent once
        if after.isdigit():
            for message in await events_after(self.subject, int(after)):
                await self.deliver(message)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "subject"):
            relay.unfollow(self.subject, self)

    async def deliver(self, message: dict) -> None:
        if message["id"] in self.sent:
            return
        self.sent.add(message["id"])
        if len(self.sent) > REMEMBERED:
            self.sent = set(sorted(self.sent)[-REMEMBERED // 2 :])
        await self.send_json(message)
