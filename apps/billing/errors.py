"""What billing refuses. Each code is in the API's ErrorCode enum."""

from apps.core.errors import ApplicationError, Conflict


class BillingNotConfigured(Conflict):
    code = "billing_not_configured"
    default_message = "Buying credit is not configured on this server (no Stripe keys)."


class SpendingLimitReached(Conflict):
    code = "spending_limit_reached"
    default_message = "A new account may buy only so much credit a day: try a smaller package, or tomorrow."


class PaymentProviderError(ApplicationError):
    status = 502
    code = "payment_provider_error"
    default_message = "Stripe could not be reached or refused the request: nothing was charged. Try again."


class AlreadyVerified(Conflict):
    code = "already_verified"
    default_message = "You are already a verified human."


class VerificationInProgress(Conflict):
    code = "verification_in_progress"
    default_message = "A verification of yours is already waiting for a reviewer."
