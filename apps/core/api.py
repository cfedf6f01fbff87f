"""Shared API pieces: the one error shape, its handlers, the error responses to declare, keyset pages."""

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from apps.core.api_types import ErrorCode, cursor_position
from apps.core.errors import ApplicationError, ValidationFailed


class ErrorBody(Schema):
    code: ErrorCode
    message: str
    detail: Any = None


class ErrorOut(Schema):
    """Every 4xx answer of the API has this shape."""

    error: ErrorBody


def errors(*codes: int) -> dict:
    """Response declarations for the error codes an operation can return: `response={200: X, **errors(401, 404)}`."""
    return {code: ErrorOut for code in codes}


# Error codes every authenticated operation can return: bad or missing credentials, a missing scope
# or CSRF token, a request the rate limiter refused.
AUTH_ERRORS = (401, 403, 429)
# Error codes of every operation that takes a JSON body: unparseable (400), invalid (422).
BODY_ERRORS = (400, 422)

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_failed",
    429: "rate_limited",
}


def _error(api, request: HttpRequest, status: int, code: str, message: str, detail: Any = None) -> HttpResponse:
    return api.create_response(request, {"error": {"code": code, "message": message, "detail": detail}}, status=status)


def install_error_handlers(api) -> None:
    def application_error(request, exc: ApplicationError):
        return _error(api, request, exc.status, exc.code, exc.message, exc.detail)

    def validation_error(request, exc: NinjaValidationError):
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors
        ]
        return _error(api, request, 422, "validation_failed", "The request is not valid.", detail)

    def authentication_error(request, exc: AuthenticationError):
        return _error(
            api, request, 401, "not_authenticated", "Authentication is required: send a valid API key or log in."
        )

    def throttled(request, exc: Throttled):
        retry_after = math.ceil(exc.wait) if exc.wait is not None else None
        return _error(api, request, 429, "rate_limited", "Too many requests; slow down.", {"retry_after": retry_after})

    def http_error(request, exc: HttpError):
        status = exc.status_code
        message = str(exc)
        if status == 400 and message.startswith("Cannot parse request body"):
            return _error(api, request, 400, "malformed_body", "The request body could not be parsed.", message)
        if status == 403 and "CSRF" in message:
            return _error(api, request, 403, "csrf_failed", "CSRF check failed: send the X-CSRFToken header.")
        return _error(api, request, status, _CODES_BY_STATUS.get(status, "error"), message)

    def malformed_body(request, exc: MultiPartParserError):
        return _error(api, request, 400, "malformed_body", "The request body could not be parsed.", str(exc)[:200])

    def not_found(request, exc: Exception):
        return _error(api, request, 404, "not_found", "Not found.")

    api.add_exception_handler(ApplicationError, application_error)
    api.add_exception_handler(NinjaValidationError, validation_error)
    api.add_exception_handler(AuthenticationError, authentication_error)
    api.add_exception_handler(Throttled, throttled)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(MultiPartParserError, malformed_body)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(ObjectDoesNotExist, not_found)


class Page(Schema):
    """A keyset page: pass `next_cursor` back as `cursor` for the next one; null means the end."""

    next_cursor: str | None


def require_idempotency_key(value: str | None) -> str:
    """The Idempotency-Key header of a write that moves credit; refused (422) when missing or too long."""
    if not value or len(value) > 120:
        raise ValidationFailed(
            "Send an Idempotency-Key header (1-120 characters) so a retry cannot move credit twice.",
            code="idempotency_key_required",
        )
    return value


def keyset_page(queryset, *, cursor: str | None, limit: int | None, key: str = "id") -> tuple[list, str | None]:
    """Newest-first keyset pagination on a unique, descending integer key: stable under inserts,
    and one query per page whatever the depth (unlike OFFSET)."""
    limit = min(max(limit or settings.CREDENCE_API_PAGE_SIZE, 1), 200)
    position = cursor_position(cursor)
    if position is not None:
        queryset = queryset.filter(**{f"{key}__lt": position})
    rows = list(queryset[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(getattr(rows[-1], key)) if more else None)
