"""Where apps above markets (reputation, later the realtime relay) plug into its flows without markets
importing them: the blueprint's dependency direction points down, so markets calls out through these
lists, filled at start-up by the listening apps' AppConfig.ready().

- `claim_settled`: called inside the settlement's transaction with (claim, outcome), once per claim
  (settlement is exactly-once). A listener's writes commit or roll back with the settlement.
- `trade_committed`: called after a trade's transaction commits, with the claim id. Listeners must be
  cheap (schedule work, do not do it) and must not raise.
"""

from collections.abc import Callable
from typing import Any

claim_settled: list[Callable[[Any, str], None]] = []
trade_committed: list[Callable[[int], None]] = []


def notify_trade_committed(claim_id: int) -> None:
    for listener in trade_committed:
        listener(claim_id)
