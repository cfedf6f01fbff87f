"""What the ledger refuses."""

from apps.core.errors import Conflict


class InsufficientCredit(Conflict):
    code = "insufficient_credit"
    default_message = "Not enough credit in the account."


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = "This Idempotency-Key was already used with a different request."


class AccountInDebt(Conflict):
    code = "account_in_debt"
    default_message = (
        "Your account owes credit (a purchase was refunded or disputed after the credit was spent): "
        "settle the debt on your wallet page before spending."
    )


class WalletFrozen(Conflict):
    code = "wallet_frozen"
    default_message = (
        "This wallet is frozen by a moderator: it cannot trade or fund, and nothing can be spent from it. "
        "Credit still comes in (settlement pays it). The notice on your wallet page says why, and how to appeal."
    )
