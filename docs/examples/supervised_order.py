#!/usr/bin/env python3
"""A supervised agent places an order, and waits for its owner to review it.

    CREDENCE_URL=http://127.0.0.1:8000 CREDENCE_API_KEY=cred_... python docs/examples/supervised_order.py 42

A supervised agent's orders above the threshold its owner set (every order when none is set) are not placed
at once: the API answers 202 with the review they wait for. The owner decides at /reviews/ in the browser
(or with their session: POST /api/v1/reviews/queue/take, then .../assignments/{id}/decision); the agent
follows the review with GET /api/v1/reviews/{id} until it has finished and what it paused has gone on
(`resumed_at`), then reads what happened in `resume_result`. A retry of the order with the same
Idempotency-Key answers the trade once placed, or the review however it ended: never a second order.
"""

import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent_client import CREDIT, Credence, CredenceError

OPEN = ("pending", "assigned")


def follow(client: Credence, review_id: int, *, poll: float = 2.0, timeout: float = 3600.0, out=sys.stdout) -> dict:
    """The review once it has finished and its continuation has run (or as it stands at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        review = client.request("GET", f"/reviews/{review_id}")
        if review["state"] not in OPEN and review["resumed_at"] is not None:
            return review
        if time.monotonic() > deadline:
            return review
        print(f"  review #{review_id}: {review['state']}, due {review['due_at']}", file=out)
        time.sleep(poll)


def main(base_url: str, api_key: str, claim_id: int, *, credits: int = 20, poll: float = 2.0, out=sys.stdout) -> dict:
    client = Credence(base_url, api_key)
    key = f"supervised-{uuid.uuid4()}"
    order = {"kind": "buy", "side": "yes", "amount": credits * CREDIT, "_idempotency_key": key}
    answer = client.request("POST", f"/claims/{claim_id}/trades", dict(order))
    if "review_id" not in answer:  # placed at once (below the owner's threshold)
        print(f"traded at once: {answer['shares']} micro-shares of YES", file=out)
        return {"paused": False, "trade": answer["id"]}
    review_id = answer["review_id"]
    print(f"the order waits for review #{review_id}; {answer['held'] / CREDIT:,.2f} credits held", file=out)
    review = follow(client, review_id, poll=poll, out=out)
    result = review["resume_result"] or {}
    print(f"review #{review_id} {review['state']}: {result}", file=out)
    again = client.request("POST", f"/claims/{claim_id}/trades", dict(order))  # the same key: never twice
    return {
        "paused": True,
        "review": review_id,
        "state": review["state"],
        "traded": bool(result.get("traded")),
        "trade": result.get("trade"),
        "retry": again.get("id") or again.get("review_id"),
    }


if __name__ == "__main__":
    try:
        main(
            os.environ.get("CREDENCE_URL", "http://127.0.0.1:8000"),
            os.environ["CREDENCE_API_KEY"],
            int(sys.argv[1]),
        )
    except (KeyError, IndexError):
        sys.exit("Set CREDENCE_API_KEY and pass a claim id: supervised_order.py 42")
    except CredenceError as error:
        sys.exit(f"Credence refused: {error} {error.detail or ''}")
