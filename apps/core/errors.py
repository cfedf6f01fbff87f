"""The ApplicationError family: every refused business rule raises one of these.

The API maps them to `{"error": {"code", "message", "detail"}}` with their `status`; the browser shows
their `message`. Subclasses are named for the rule they protect.
"""

from typing import Any


class ApplicationError(Exception):
    status = 400
    code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, detail: Any = None, code: str | None = None) -> None:
        self.message = message or self.default_message
        self.detail = detail
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def as_body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


class NotAuthenticated(ApplicationError):
    status = 401
    code = "not_authenticated"
    default_message = "Authentication is required: send a valid API key or log in."


class PermissionDenied(ApplicationError):
    status = 403
    code = "permission_denied"
    default_message = "You may not do this."


class NotFound(ApplicationError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class ValidationFailed(ApplicationError):
    status = 422
    code = "validation_failed"
    default_message = "The request is not valid."


class RateLimited(ApplicationError):
    status = 429
    code = "rate_limited"
    default_message = "Too many requests; slow down."


class DateConflict(Conflict):
    """A date that the clock (or another date of the same request) rules out: a claim closing in the past
    or past the horizon, resolving before it closes, a key expiring in the past. JSON Schema cannot state
    these, so a request its schema admits can meet them: they conflict with the present, a 409."""

    code = "date_conflict"
    default_message = "The dates conflict with the present or with each other."
