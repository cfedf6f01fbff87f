"""Markets' extension points (apps/core/extensions.py); listeners connect in their AppConfig.ready().

- `claim_settled`: in the settlement's transaction, once per claim. A listener that raises rolls the
  settlement back, so only work that is part of the settlement's truth belongs here (scoring).
- `claim_settled_announce`: next, in the same transaction, isolated: for work derived for display
  (notifications), which must never fail a money transaction.
- `trade_committed`: after a trade's transaction commits. Listeners must be cheap (schedule work, do not
  do it) and must not raise.
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
