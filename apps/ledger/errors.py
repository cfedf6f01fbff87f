"""What the ledger refuses."""

from apps.core.errors import Conflict


class InsufficientCredit(Conflict):
    code = "insufficient_credit"
    default_message = "Not enough credit in the account."


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = "This Idempotency-Key was already used with a different request."
