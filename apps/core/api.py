"""Shared API pieces: the one NinjaAPI class and its docs page, the one error shape, its handlers, the
error responses to declare, the NUL refusal, keyset pages."""

import functools
import json
import math
from collections.abc import Callable
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import Swagger, render_template
from ninja.parser import Parser
from pydantic import BaseModel

from apps.core.api_types import NO_NUL, ErrorCode, cursor_position
from apps.core.errors import ApplicationError, ValidationFailed


class ErrorBody(Schema):
    code: ErrorCode
    message: str
    detail: Any = None


class ErrorOut(Schema):
    """Every error answer of the API (4xx and 5xx) has this shape."""

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


# Errors that no operation writes itself: Django's and ninja's answers under /api/ get these codes
# (apps.core.middleware.ApiErrorShapeMiddleware), and 413 also comes from the handler below.
ERROR_MESSAGES = {
    400: ("bad_request", "The request could not be read."),
    403: ("permission_denied", "You may not do this."),
    404: ("not_found", "No such path in the API; the operations are listed at /api/v1/openapi.json."),
    405: ("method_not_allowed", "This path does not take this method."),
    413: ("body_too_large", "The request body is larger than the server accepts (detail.limit, in bytes)."),
    500: ("server_error", "Something went wrong on our side; the error was recorded. Try again later."),
}


def error_body(code: str, message: str, detail: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "detail": detail}}


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def _error(api, request: HttpRequest, status: int, code: str, message: str, detail: Any = None) -> HttpResponse:
    return api.create_response(request, error_body(code, message, detail), status=status)


# --- NUL ---------------------------------------------------------------------------------------------
# PostgreSQL cannot store U+0000 in text (psycopg raises DataError, a 500), and no text anyone means to
# write contains it. The path, query, headers and forms are refused by apps.core.middleware; JSON bodies
# by refuse_nul below, which every operation goes through.

NUL = "\x00"
NUL_MESSAGE = "Text may not contain the NUL character (U+0000)."


def nul_refusal(loc: list) -> ValidationFailed:
    """The 422 for a NUL at `loc`: the same shape as any invalid field."""
    return ValidationFailed(detail=[{"loc": loc, "msg": NUL_MESSAGE, "type": "string_nul"}])


def nul_path(value: Any) -> tuple | None:
    """Where a NUL hides in a value (a string, a model, a list, a dict's keys or values), or None."""
    if isinstance(value, str):
        return () if NUL in value else None
    if isinstance(value, BaseModel):
        items = [(field.alias or name, getattr(value, name)) for name, field in type(value).model_fields.items()]
    elif isinstance(value, dict):
        for key in value:
            if isinstance(key, str) and NUL in key:
                return (key,)
        items = list(value.items())
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(enumerate(value))
    else:
        return None
    for key, item in items:
        found = nul_path(item)
        if found is not None:
            return (key, *found)
    return None


def refuse_nul(view_func: Callable) -> Callable:
    """Refuses a NUL in an operation's arguments (`loc` names the field, as a validation error would) or
    anywhere in its JSON body, fields the schema ignores included."""

    @functools.wraps(view_func)
    def checked(request: HttpRequest, **values: Any) -> Any:
        # The path, query and headers were checked by the middleware: a NUL in a value came in the body.
        for name, value in values.items():
            found = nul_path(value)
            if found is not None:
                raise nul_refusal(["body", name, *found])
        # JSON can only spell a NUL as the escape \u0000: look for its bytes before parsing again.
        if request.content_type == "application/json" and b"\\u0000" in request.body:
            try:
                found = nul_path(json.loads(request.body))
            except ValueError:
                found = None
            if found is not None:
                raise nul_refusal(["body", *found])
        return view_func(request, **values)

    return checked


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

    def body_too_large(request, exc: RequestDataTooBig):
        code, message = ERROR_MESSAGES[413]
        return _error(api, request, 413, code, message, {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE})

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
    api.add_exception_handler(RequestDataTooBig, body_too_large)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(ObjectDoesNotExist, not_found)


# --- The API class and its docs --------------------------------------------------------------------


class SwaggerWithCsrf(Swagger):
    """Swagger UI whose "Try it out" works for a signed-in person: ninja sends the CSRF header only when
    the API's *global* auth is a cookie auth, and ours is set per operation, so it sent none and every
    POST was `403 csrf_failed`. The page always carries the token (rendering it sets the CSRF cookie too),
    and ninja's swagger-ui-init.js adds it as X-CSRFToken to every request it makes."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {"swagger_settings": json.dumps(self.settings, indent=1), "api": api, "add_csrf": True}
        return render_template(request, self.template, self.template_cdn, context)


def _declared(status: int) -> dict:
    return {
        "description": HTTPStatus(status).phrase,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


class ExactJsonParser(Parser):
    """Reads a JSON body's numbers as written: a fraction as a Decimal, not a float. JSON Schema's integer
    is any number without a fractional part (`1e6`, `1000000.0`), and through a float "1000000.000000001"
    would pass for one; as a Decimal it is exactly what it says (apps.core.api_types.Int)."""

    def parse_body(self, request: HttpRequest) -> dict:
        return json.loads(request.body, parse_float=Decimal)


def _strings_without_nul(node: Any) -> None:
    """Every string the schema describes with no pattern, enum or format of its own gets the NUL
    pattern: what refuse_nul and the middleware refuse everywhere, stated where a client reads it.
    Headers are left as they are: HTTP itself forbids a NUL in a header's value (RFC 9110, 5.5)."""
    if isinstance(node, dict):
        if node.get("in") == "header":
            return
        if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(node):
            node["pattern"] = NO_NUL
        for value in node.values():
            _strings_without_nul(value)
    elif isinstance(node, list):
        for value in node:
            _strings_without_nul(value)


def _without_null(parameter: dict) -> None:
    """A query or path parameter is text or absent, never null: an optional one says `required: false`,
    and the `null` branch pydantic writes for `X | None` describes nothing a URL can carry (and a
    client generated from it offers a None it cannot send)."""
    schema = parameter.get("schema", {})
    branches = [branch for branch in schema.get("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1 and len(schema["anyOf"]) == 2:
        outer = {key: value for key, value in schema.items() if key != "anyOf"}
        parameter["schema"] = {**branches[0], **outer}


class CredenceAPI(NinjaAPI):
    """What holds for every operation: exact JSON numbers, the NUL refusal, and a schema that says both.
    The schema also declares the errors any operation can answer: 422 (the middleware refuses a NUL in a
    path, query or header before the operation is known), 413 where there is a body, and 500."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("docs", SwaggerWithCsrf())
        kwargs.setdefault("parser", ExactJsonParser())
        super().__init__(**kwargs)
        self.add_decorator(refuse_nul, mode="operation")

    def get_openapi_schema(self, **kwargs: Any):
        schema = super().get_openapi_schema(**kwargs)
        _strings_without_nul(schema["paths"])
        _strings_without_nul(schema["components"])
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] in ("query", "path"):
                        _without_null(parameter)
                responses = operation["responses"]
                for status in (422, 413, 500) if "requestBody" in operation else (422, 500):
                    responses.setdefault(status, _declared(status))
                operation["responses"] = dict(sorted(responses.items(), key=lambda item: int(item[0])))
        return schema


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


def keyset_page(
    queryset, *, cursor: str | None, limit: int | None, key: str = "id", ascending: bool = False
) -> tuple[list, str | None]:
    """Keyset pagination on a unique integer key, newest first unless `ascending` (the queryset is ordered
    to match): stable under inserts, and one query per page whatever the depth (unlike OFFSET). The cursor
    is the last key read."""
    limit = min(max(limit or settings.CREDENCE_API_PAGE_SIZE, 1), 200)
    position = cursor_position(cursor)
    if position is not None:
        queryset = queryset.filter(**{f"{key}__{'gt' if ascending else 'lt'}": position})
    rows = list(queryset[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(getattr(rows[-1], key)) if more else None)
