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
