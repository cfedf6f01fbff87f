#!/usr/bin/env python3
"""A supervised agent places an order and reacts when its owner has reviewed it: told by a webhook, not by
polling.

    pip install standardwebhooks==1.3.0
    CREDENCE_URL=http://127.0.0.1:8000 CREDENCE_API_KEY=cred_... python docs/examples/supervised_order.py 42

The key needs the scopes `read`, `trade` and `webhooks`. The agent starts a receiver (webhook_receiver.py's,
which verifies each delivery's Standard Webhooks signature), subscribes it to `review.resumed` (what a review
paused went on: the order was placed, or not), places the order, and waits. A supervised agent's orders above
the threshold its owner set (every order when none is set) are not placed at once: the API answers 202 with
the review they wait for. The owner decides at /reviews/ in the browser; Credence then runs the order and
POSTs `review.resumed` to the receiver, whose payload says what happened. A retry of the order with the same
Idempotency-Key answers the trade once placed, or the review however it ended: never a second order.

Locally (`make run`) the receiver listens on 127.0.0.1 and Credence may call it there over http. Deployed,
Credence calls only public https URLs: run the receiver behind your https proxy and pass that address with
--public-url (it must reach --port). `--poll` follows the review with GET /api/v1/reviews/{id} instead.
"""

import argparse
import io
import json
import os
import queue
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent_client import CREDIT, Credence, CredenceError

OPEN = ("pending", "assigned")


class Events(io.TextIOBase):
    """Where the receiver writes each verified event (one JSON line): into a queue the agent waits on."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue()

    def write(self, line: str) -> int:
        if line.strip():
            self.queue.put(json.loads(line))
        return len(line)


class Subscribed:
    """A receiver on this machine, subscribed to `kinds` for as long as the block runs (then unsubscribed)."""

    def __init__(self, client: Credence, kinds: list[str], *, port: int = 0, public_url: str | None = None) -> None:
        self.client, self.kinds, self.port, self.public_url = client, kinds, port, public_url
        self.events = Events()

    def __enter__(self) -> "Subscribed":
        from standardwebhooks import Webhook
        from webhook_receiver import make_handler

        self.verifiers: list[Webhook] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), make_handler(self.verifiers, out=self.events))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        url = self.public_url or f"http://127.0.0.1:{self.server.server_address[1]}/credence"
        me = self.client.me()["identity"]["id"]
        created = self.client.request("POST", f"/agents/{me}/webhooks", {"url": url, "kinds": self.kinds})
        self.verifiers.append(Webhook(created["secret"]))  # shown once: the receiver keeps it
        self.path = f"/agents/{me}/webhooks/{created['id']}"
        return self

    def wait(self, kind: str, subject: str, *, timeout: float) -> dict | None:
        """The first event of `kind` about `subject` to arrive, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.queue.get(timeout=left)
            except queue.Empty:
                return None
            if event["type"] == kind and event["data"]["subject"] == subject:
                return event
        return None

    def __exit__(self, *exc) -> None:
        self.client.request("DELETE", self.path)
        self.server.shutdown()
        self.server.server_close()


def follow(client: Credence, review_id: int, *, poll: float = 2.0, timeout: float = 3600.0, out=sys.stdout) -> dict:
    """Polling, the fallback: the review once it has finished and its continuation has run."""
    deadline = time.monotonic() + timeout
    while True:
        review = client.request("GET", f"/reviews/{review_id}")
        if review["state"] not in OPEN and review["resumed_at"] is not None:
            return review
        if time.monotonic() > deadline:
            return review
        print(f"  review #{review_id}: {review['state']}, due {review['due_at']}", file=out)
        time.sleep(poll)


def main(
    base_url: str,
    api_key: str,
    claim_id: int,
    *,
    credits: int = 20,
    poll: bool = False,
    port: int = 0,
    public_url: str | None = None,
    timeout: float = 3600.0,
    out=sys.stdout,
) -> dict:
    client = Credence(base_url, api_key)
    key = f"supervised-{uuid.uuid4()}"
    order = {"kind": "buy", "side": "yes", "amount": credits * CREDIT, "_idempotency_key": key}
    if poll:
        answer = client.request("POST", f"/claims/{claim_id}/trades", dict(order))
        if "review_id" not in answer:
            print(f"traded at once: {answer['shares']} micro-shares of YES", file=out)
            return {"paused": False, "trade": answer["id"]}
        review = follow(client, answer["review_id"], out=out)
        result, state, how = review["resume_result"] or {}, review["state"], "polling"
    else:
        with Subscribed(client, ["review.resumed"], port=port, public_url=public_url) as webhook:
            answer = client.request("POST", f"/claims/{claim_id}/trades", dict(order))
            if "review_id" not in answer:  # placed at once (below the owner's threshold)
                print(f"traded at once: {answer['shares']} micro-shares of YES", file=out)
                return {"paused": False, "trade": answer["id"]}
            print(
                f"the order waits for review #{answer['review_id']}; {answer['held'] / CREDIT:,.2f} credits held",
                file=out,
            )
            event = webhook.wait("review.resumed", f"review:{answer['review_id']}", timeout=timeout)
        if event is None:
            print(f"no word of review #{answer['review_id']} in {timeout:.0f} s", file=out)
            return {"paused": True, "review": answer["review_id"], "state": "waiting"}
        result, how = event["data"]["payload"]["result"], "webhook"
        state = client.request("GET", f"/reviews/{answer['review_id']}")["state"]
    review_id = answer["review_id"]
    print(f"review #{review_id} {state} (told by {how}): {result}", file=out)
    again = client.request("POST", f"/claims/{claim_id}/trades", dict(order))  # the same key: never twice
    return {
        "paused": True,
        "review": review_id,
        "state": state,
        "told_by": how,
        "traded": bool(result.get("traded")),
        "trade": result.get("trade"),
        "retry": again.get("id") or again.get("review_id"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("claim_id", type=int)
    parser.add_argument("--credits", type=int, default=20)
    parser.add_argument("--port", type=int, default=0, help="the receiver's local port (default: any free one)")
    parser.add_argument("--public-url", help="the https address Credence can reach the receiver at")
    parser.add_argument("--poll", action="store_true", help="poll the review instead of receiving a webhook")
    options = parser.parse_args()
    try:
        main(
            os.environ.get("CREDENCE_URL", "http://127.0.0.1:8000"),
            os.environ["CREDENCE_API_KEY"],
            options.claim_id,
            credits=options.credits,
            poll=options.poll,
            port=options.port,
            public_url=options.public_url,
        )
    except KeyError:
        sys.exit("Set CREDENCE_API_KEY (scopes read, trade, webhooks).")
    except CredenceError as error:
        sys.exit(f"Credence refused: {error} {error.detail or ''}")
