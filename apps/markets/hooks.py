"""Where apps above markets (reputation, the realtime relay) plug into its flows without markets
importing them: the blueprint's dependency direction points down, so markets calls out through these
lists, filled at start-up by the listening apps' AppConfig.ready().

- `claim_settled`: called inside the settlement's transaction with (claim, outcome), once per claim
  (settlement is exactly-once). A listener's writes commit or roll back with the settlement, and a
  listener that raises rolls the settlement back: only work that is part of the settlement's truth
  belongs here (reputation scores the claim).
- `claim_settled_announce`: called next, in the same transaction, for what is derived for display
  (notifications). Each runs in a savepoint of its own: one that fails is rolled back to it and logged,
  and the settlement commits all the same. Nothing derived for display may fail a money transaction.
- `trade_committed`: called after a trade's transaction commits, with the claim id. Listeners must be
  cheap (schedule work, do not do it) and must not raise.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

claim_settled: list[Callable[[Any, str], None]] = []
claim_settled_announce: list[Callable[[Any, str], None]] = []
trade_committed: list[Callable[[int], None]] = []


def notify_claim_settled(claim: Any, outcome: str) -> None:
    """Run the settlement's listeners; call it inside the settlement's transaction."""
    for listener in claim_settled:
        listener(claim, outcome)
    for listener in claim_settled_announce:
        try:
            with transaction.atomic():  # a savepoint: a failure undoes this listener's writes only
                listener(claim, outcome)
        except Exception:
            logger.exception("claim_settled_announce listener %r failed for claim %s", listener, claim.pk)


def notify_trade_committed(claim_id: int) -> None:
    for listener in trade_committed:
        listener(claim_id)


@contextmanager
def trade_committed_paused() -> Iterator[None]:
    """Set the trade-committed listeners aside (they queue a Celery consensus refresh per claim) for work
    that refreshes each consensus itself with no worker running: the demo seed and the simulation. The
    block's on-commit callbacks run inside it."""
    saved = list(trade_committed)
    trade_committed.clear()
    try:
        yield
    finally:
        trade_committed[:] = saved
