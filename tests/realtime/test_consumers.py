"""A socket's own ordering rules, without a server: what the relay delivers while the consumer is still
replaying waits until the replay is done, so the page never sees a newer id before an older one it
missed (resuming from the highest id seen then loses nothing); and no id is sent twice."""

import asyncio
import json

from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

from apps.realtime import consumers
from apps.realtime.consumers import OutboxConsumer


class Socket(ApplicationCommunicator):
    """The ASGI WebSocket protocol, as a browser's server speaks it (channels.testing needs daphne)."""

    def __init__(self, consumer, path: str) -> None:
        route, _, query = path.partition("?")
        scope = {"type": "websocket", "path": route, "query_string": query.encode(), "headers": [], "subprotocols": []}
        super().__init__(consumer.as_asgi(), scope)

    async def connect(self) -> bool:
        await self.send_input({"type": "websocket.connect"})
        return (await self.receive_output(2))["type"] == "websocket.accept"

    async def receive_json_from(self) -> dict:
        message = await self.receive_output(2)
        assert message["type"] == "websocket.send", message
        return json.loads(message["text"])

    async def receive_nothing(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.output_queue.get(), timeout)
        except TimeoutError:
            return True
        return False

    async def disconnect(self) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(1)


def _event(event_id: int) -> dict:
    return {"id": event_id, "kind": "trade.placed", "subject": "claim:1", "payload": {}, "at": "2026-01-01T00:00:00"}


class FakeRelay:
    def __init__(self) -> None:
        self.followers: list = []

    async def follow(self, subject: str, consumer) -> None:
        self.followers.append(consumer)

    def unfollow(self, subject: str, consumer) -> None:
        self.followers.remove(consumer)


class OneClaim(OutboxConsumer):
    async def connect(self) -> None:
        await self.stream(["claim:1"], self.after())


def test_live_events_during_a_replay_are_sent_after_it_each_id_once(monkeypatch):
    relay = FakeRelay()
    asked: list[tuple[list[str], int]] = []

    async def events_after(subjects, after, limit=consumers.BATCH):
        asked.append((subjects, after))
        # while the replay reads, the relay hands over a newer event and one the replay also holds
        for consumer in relay.followers:
            await consumer.deliver(_event(15))
            await consumer.deliver(_event(12))
        return [_event(11), _event(12), _event(13)]

    monkeypatch.setattr(consumers, "relay", relay)
    monkeypatch.setattr(consumers, "events_after", events_after)

    async def scenario() -> list[int]:
        socket = Socket(OneClaim, "/ws/test/?after=10")
        assert await socket.connect()
        received = [(await socket.receive_json_from())["id"] for _ in range(4)]
        # once live: a new event goes straight out, a repeat does not
        await relay.followers[0].deliver(_event(16))
        await relay.followers[0].deliver(_event(15))
        received.append((await socket.receive_json_from())["id"])
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect()
        assert relay.followers == []
        return received

    assert async_to_sync(scenario)() == [11, 12, 13, 15, 16]
    assert asked == [(["claim:1"], 10)]


def test_a_replay_pages_on_until_a_short_batch(monkeypatch):
    relay = FakeRelay()
    asked: list[int] = []

    async def events_after(subjects, after, limit=consumers.BATCH):
        asked.append(after)
        start = after + 1
        size = 3 if after < 20 else 1
        return [_event(i) for i in range(start, start + size)]

    monkeypatch.setattr(consumers, "relay", relay)
    monkeypatch.setattr(consumers, "events_after", events_after)
    monkeypatch.setattr(consumers, "BATCH", 3)

    async def scenario() -> list[int]:
        socket = Socket(OneClaim, "/ws/test/?after=14")
        assert await socket.connect()
        received = [(await socket.receive_json_from())["id"] for _ in range(7)]
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect()
        return received

    assert async_to_sync(scenario)() == [15, 16, 17, 18, 19, 20, 21]
    assert asked == [14, 17, 20]


def test_without_a_cursor_a_socket_is_live_only(monkeypatch):
    relay = FakeRelay()

    async def events_after(subjects, after, limit=consumers.BATCH):
        raise AssertionError("no replay without ?after=")

    monkeypatch.setattr(consumers, "relay", relay)
    monkeypatch.setattr(consumers, "events_after", events_after)

    async def scenario() -> list[int]:
        socket = Socket(OneClaim, "/ws/test/?after=nope")
        assert await socket.connect()
        await relay.followers[0].deliver(_event(40))
        received = [(await socket.receive_json_from())["id"]]
        await socket.disconnect()
        return received

    assert async_to_sync(scenario)() == [40]
