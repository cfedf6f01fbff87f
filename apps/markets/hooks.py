"""Markets' extension points (apps/core/extensions.py): where the apps above markets plug into its flows
without markets importing them. Listeners connect in their AppConfig.ready(); `manage.py
extension_points` lists them.

- `claim_settled` (claim, outcome): inside the settlement's transaction, once per claim (settlement is
  exactly-once). A listener's writes commit or roll back with the settlement, and one that raises rolls
  the settlement back: only work that is part of the settlement's truth belongs here (reputation scores
  the claim).
- `claim_settled_announce` (claim, outcome): next, in the same transaction, for what is derived for
  display (notifications). Isolated: each listener in a savepoint of its own, a failure undone and logged
  while the settlement commits. Nothing derived for display may fail a money transaction.
- `trade_committed` (claim id): after a trade's transaction commits. Listeners must be cheap (schedule
  work, do not do it) and must not raise.
"""

from apps.core.extensions import ExtensionPoint

claim_settled = ExtensionPoint(
    "markets.claim_settled", when="a claim is settled, inside the settlement's transaction (claim, outcome)"
)
claim_settled_announce = ExtensionPoint(
    "markets.claim_settled_announce",
    when="a claim is settled, after claim_settled, for display (claim, outcome)",
    isolated=True,
)
trade_committed = ExtensionPoint("markets.trade_committed", when="a trade's transaction committed (claim id)")


def notify_claim_settled(claim, outcome: str) -> None:
    """Run the settlement's listeners; call it inside the settlement's transaction."""
    claim_settled.send(claim, outcome)
    claim_settled_announce.send(claim, outcome)


def notify_trade_committed(claim_id: int) -> None:
    trade_committed.send(claim_id)
