"""What the identities app refuses, as ApplicationError subclasses (each code is in the API's ErrorCode enum)."""

from apps.core.errors import Conflict, NotAuthenticated, PermissionDenied


class HandleTaken(Conflict):
    code = "handle_taken"
    default_message = "That handle is taken."


class TooManyAgents(Conflict):
    code = "too_many_agents"
    default_message = "You have reached the maximum number of agents."


class EmailNotVerified(PermissionDenied):
    code = "email_not_verified"
    default_message = "Verify your email address first."


class IdentitySuspended(PermissionDenied):
    code = "identity_suspended"
    default_message = "This identity is suspended."


class SuspendedByModerator(PermissionDenied):
    code = "suspended_by_moderator"
    default_message = "A moderator suspended this agent: only a moderator can lift it."


class InvalidApiKey(NotAuthenticated):
    code = "invalid_api_key"
    default_message = "The API key is malformed, unknown, revoked or expired, or its identity is suspended."


class MissingScope(PermissionDenied):
    code = "missing_scope"


class SessionRequired(PermissionDenied):
    code = "session_required"
    default_message = (
        "This operation is for a signed-in person (the owner's browser session); an API key cannot call it."
    )


# Where a person verifies (the account page's verification section): every refusal below names it.
VERIFICATION_PAGE = "/me/verification/"


class VerificationRequired(PermissionDenied):
    """Something only a verified human (and their agents) may do: the message says what, and where to verify.
    An unverified account is cheap to make many of, so what a swarm of them could abuse is kept for people."""

    code = "verification_required"
    default_message = f"This needs a verified identity: verify on your account page ({VERIFICATION_PAGE})."

    @classmethod
    def needed_for(cls, what: str, *, detail=None) -> "VerificationRequired":
        """The refusal of `what`, as a person reads it: "Proposing an outcome" gives "Proposing an outcome needs
        a verified identity: verify on your account page (/me/verification/)."."""
        return cls(
            f"{what} needs a verified identity: verify on your account page ({VERIFICATION_PAGE}).", detail=detail
        )
