"""The API's shared types: what a client may send, and what the schema promises, in one place.

pydantic's lax mode coerces: `true` is the integer 1, `1e6` and "1000000" are integers, "yes" is true, and
Decimal reads ".5", "0.5e0" and full-width digits. A client generated from the schema, or an agent writing
JSON by hand, must not have a typo move credit, so the API is strict instead, in every router:

- a body's integer is a JSON integer and its boolean a JSON boolean (`Int`, `Bool`);
- a path or query integer, which arrives as text, is ASCII digits (`ParamInt`);
- a probability is a JSON number or a string matching exactly the ASCII pattern the schema publishes
  (`Probability`, `Belief`).

A refused value is a 422 `validation_failed` like any invalid input, before anything is written.
"""

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Router, Schema
from pydantic import AfterValidator, BeforeValidator, Strict, WithJsonSchema

from apps.core.errors import ValidationFailed

Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]


def _ascii_integer(value: Any) -> Any:
    # int() would also read " 5", "+5", "1_0" and other scripts' digits; pydantic's lax int reads "5.0".
    if isinstance(value, str):
        if not re.fullmatch(r"-?[0-9]{1,19}", value):
            raise ValueError("An integer is written in ASCII digits.")
        return int(value)
    return value


def param_int(*, ge: int | None = None, le: int | None = None) -> Any:
    """A path or query integer within bounds. The bounds live here, before the validator, and not in the
    field: pydantic cannot translate a field's bounds on a validated type inside `X | None`, and writes
    them into the schema as the unknown keywords `ge`/`le` instead of minimum/maximum."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_ascii_integer)]


ParamInt = param_int()


def _probability(places: int) -> Any:
    """A probability strictly between 0 and 1 with at most `places` decimals, as a JSON number or as a
    string that fullmatches the published pattern (the only spelling read: no ".5", "5e-1", " 0.5" or
    full-width digits)."""
    pattern = rf"^0\.(?!0+$)[0-9]{{1,{places}}}$"
    text = re.compile(pattern)

    def parse(value: Any) -> Any:
        if isinstance(value, bool):  # a bool is an int to Python, and Decimal(True) is 1
            raise ValueError("A probability is a number or a decimal string, not a boolean.")
        if isinstance(value, str):
            if not text.fullmatch(value):
                raise ValueError(f'A probability string is "0." and 1 to {places} digits, like "0.62".')
            return Decimal(value)
        return value

    def normal(value: Decimal) -> Decimal:
        # One spelling per number: "0.70" and 0.7 are the same order, so a retry of either replays.
        return value.normalize()

    return Annotated[
        Decimal,
        BeforeValidator(parse),
        Field(gt=0, lt=1, decimal_places=places),
        AfterValidator(normal),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    {"type": "string", "pattern": pattern},
                ],
                "examples": ["0.62"],
            }
        ),
    ]


# A price limit: to the 1e-20 the market stores.
Probability = _probability(20)
# A stated belief: to the 1e-6 beliefs are stored at.
Belief = _probability(6)


# --- Errors -------------------------------------------------------------------------------------------

# Every `error.code` the API answers: the codes of the ApplicationError family, the codes raised with
# `code=`, and those the handlers in apps/core/api.py give to errors from outside the family.
# tests/contract/test_schema.py collects them from the code and fails on one missing here (or left over).
ErrorCode = Literal[
    "bad_request",
    "body_too_large",
    "claim_not_open",
    "conflict",
    "conflict_of_interest",
    "csrf_failed",
    "email_not_verified",
    "error",
    "handle_taken",
    "idempotency_conflict",
    "idempotency_key_required",
    "identity_suspended",
    "illegal_transition",
    "insufficient_credit",
    "insufficient_shares",
    "invalid_api_key",
    "invalid_cursor",
    "malformed_body",
    "market_closed",
    "method_not_allowed",
    "missing_scope",
    "not_authenticated",
    "not_found",
    "nothing_to_trade",
    "permission_denied",
    "price_limit_crossed",
    "rate_limited",
    "server_error",
    "session_required",
    "suspended_by_moderator",
    "too_many_agents",
    "too_many_keys",
    "too_many_open_claims",
    "validation_failed",
]


# --- Names --------------------------------------------------------------------------------------------

# What identities.services accepts for a new agent (it stores the handle lowercase).
AGENT_HANDLE = r"^(?!.*--)[A-Za-z0-9][A-Za-z0-9-]{1,38}[A-Za-z0-9]$"
# Any existing handle (a person's is derived from their email and may hold "_"), matched case-insensitively.
HANDLE = r"^[A-Za-z0-9_-]{1,40}$"
# A domain's slug (domains are rows: GET /domains lists them).
DOMAIN = r"^[A-Za-z0-9_-]{1,40}$"

Handle = Annotated[str, Field(pattern=HANDLE, description="An identity's handle.", examples=["base-rate-bot"])]
DomainSlug = Annotated[str, Field(pattern=DOMAIN, description="A domain's slug (GET /domains).", examples=["science"])]


# --- Pages --------------------------------------------------------------------------------------------

CURSOR = r"^[0-9]{1,18}$"
CURSOR_HELP = "The `next_cursor` of the previous page (a decimal number); omit for the first page."


def cursor_type(pattern: str) -> Any:
    """A page cursor: declared with its pattern, checked by `cursor_position` with the same one."""
    return Annotated[str, WithJsonSchema({"type": "string", "pattern": pattern, "description": CURSOR_HELP})]


Cursor = cursor_type(CURSOR)


def cursor_position(cursor: str | None, *, pattern: str = CURSOR) -> int | None:
    """The number a page cursor carries; a cursor the schema's pattern refuses is a 422 `invalid_cursor`
    (checked here rather than by pydantic so that bad cursors keep their own code)."""
    if cursor is None or cursor == "":
        return None
    if not re.fullmatch(pattern, cursor):
        raise ValidationFailed("cursor is not valid.", code="invalid_cursor", detail={"cursor": cursor})
    return int(cursor)


Limit = param_int(ge=1, le=200)


class PageQuery(Schema):
    cursor: Cursor | None = None
    limit: Limit | None = Field(None, description="Items per page (default 50).")


# --- Headers ------------------------------------------------------------------------------------------

IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": True,
    "description": "Any string of 1-120 characters naming this write: a retry with the same key answers the "
    "first result instead of writing twice.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 120},
}
# The header is read as optional and checked by core.api.require_idempotency_key, so that a missing one keeps
# its own error code (`idempotency_key_required`); the schema declares it as what it is: required.
IDEMPOTENT = {"parameters": [IDEMPOTENCY_KEY]}

RETRY_AFTER = {
    "description": "Seconds to wait before the next request (also in the body's `detail.retry_after`).",
    "schema": {"type": "integer", "minimum": 1},
}


class ApiRouter(Router):
    """A Router whose operations declare the `Retry-After` header on their 429 answer (django-ninja sends it
    with every throttled answer but has no way to declare a response header)."""

    def add_api_operation(self, path: str, methods: list[str], view_func, **kwargs) -> None:
        response = kwargs.get("response")
        if isinstance(response, dict) and 429 in response:
            extra = dict(kwargs.get("openapi_extra") or {})
            extra["responses"] = {**extra.get("responses", {}), 429: {"headers": {"Retry-After": RETRY_AFTER}}}
            kwargs["openapi_extra"] = extra
        super().add_api_operation(path, methods, view_func, **kwargs)
