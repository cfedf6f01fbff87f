"""Local webhook receivers for the tests and the bench: real HTTP servers on 127.0.0.1 (never anywhere else)
that record what they received and answer as told."""

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the server answers (`status`, `body`, `location` for a redirect; `hang` until `release` is set),
    and what it received, in order."""

    port: int = 0
    status: int = 204
    body: bytes = b""
    location: str = ""
    hang: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            receiver.arrived.set()
            if receiver.hang:
                receiver.release.wait(timeout=30)
            self.send_response(receiver.status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", str(len(receiver.body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the sender may have gone (a timeout)
                self.wfile.write(receiver.body)

        def log_message(self, format, *args) -> None:
            pass

    return Handler


@contextlib.contextmanager
def receiving(**answer) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (a free port), answering as `answer` says; stopped on exit."""
    receiver = Receiver(**answer)
    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()


# --- Driving the pipeline -------------------------------------------------------------------------------


def fan_out(*, now=None, timeout: float = 60) -> int:
    """Run the fan-out until it has read every committed event; the deliveries it wrote. A transaction left
    open anywhere on the database server holds the outbox's horizon back (apps/core/outbox.py): wait it out
    rather than read a partial batch. Call it from a transactional test (the outbox reads committed rows)."""
    import time

    from apps.core.outbox import outbox_lag
    from apps.webhooks.services import CONSUMER, webhooks_fanout

    written = 0
    deadline = time.monotonic() + timeout
    while True:
        found = webhooks_fanout(now=now)
        written += found or 0
        if outbox_lag(CONSUMER) == 0:
            return written
        if time.monotonic() > deadline:
            raise AssertionError(f"the fan-out still lags {outbox_lag(CONSUMER)} events after {timeout}s")
        time.sleep(0.05)


def subscribe(agent, url: str, kinds=("identity.updated",), **options):
    """A subscription of `agent` through the service; returns (subscription, secret)."""
    from apps.webhooks.services import subscription_create

    return subscription_create(agent=agent, url=url, kinds=list(kinds), **options)


def touch(agent, n: int = 1) -> None:
    """n identity.updated events on the agent (its owner edits its description), each its own transaction."""
    from apps.identities.services import agent_update

    for i in range(n):
        agent_update(owner=agent.owner, agent=agent, description=f"edit {i} {agent.description}"[:2000])
        agent.refresh_from_db()
