"""The API's shared types: what a client may send, and what the schema promises.

pydantic's lax mode coerces (`true` is the integer 1, "yes" is true, Decimal reads ".5" and full-width
digits), and a typo must not move credit. So every router is strict, and a refusal is a 422
`validation_failed` before anything is written:

- a body's integer is a JSON integer and its boolean a JSON boolean (`Int`, `Bool`);
- a path or query integer is ASCII digits (`ParamInt`);
- a probability is a JSON number, or a string matching exactly the pattern the schema publishes
  (`Probability`, `Belief`).

Strict stops where the published schema (OpenAPI 3.1: JSON Schema 2020-12) does, so a request it admits
is never a 422. An integer is any number without a fraction, as JSON Schema defines it (`1e6` and
`1000000.0` are 1000000, read exactly: see apps.core.api.ExactJsonParser); a probability number is a
multiple of its precision; text carries the patterns the services check.
"""

import math
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Header, Router, Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Strict, WithJsonSchema

from apps.core.errors import ValidationFailed


def _whole_number(value: Any) -> Any:
    # A whole Decimal is the integer JSON Schema says it is; anything else is left for the strict int to
    # refuse. `adjusted()` reads the size without computing: "1e100000000" must reach neither arithmetic
    # (the decimal context overflows) nor int() (a hundred-million-digit integer), and past 19 digits
    # nothing is in range anyway.
    small = isinstance(value, Decimal) and value.is_finite() and value.adjusted() < 19
    if small and value == value.to_integral_value():
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_whole_number), Strict()]
Bool = Annotated[bool, Strict()]


def body_int(*, ge: int | None = None, le: int | None = None) -> Any:
    """A body integer within bounds, bounds inside the type (before the validator), so the schema states them
    as minimum/maximum even on an optional field (`body_int(ge=1) | None`), as param_int does for paths."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_whole_number), Strict()]


class Input(Schema):
    """A request body: a field the schema does not name is refused (422), and the schema says so
    (`additionalProperties: false`). Ignoring it would let a misspelt `limit_prcie` place an order
    without its limit."""

    model_config = ConfigDict(extra="forbid")


# --- Text ---------------------------------------------------------------------------------------------

# PostgreSQL text cannot hold NUL: apps.core.api.refuse_nul refuses it in every string, and the schema
# carries this pattern on every string that has no stricter one (CredenceAPI.get_openapi_schema).
NO_NUL = r"^[^\x00]*$"
# Text the services store stripped and require non-empty: at least one character that str.strip() keeps.
# The class spells out what both Python's and ECMAScript's `\s` leave out, so it means the same in both.
KEPT = r"[^\x00\s\x1c-\x1f\x85\ufeff]"
NOT_BLANK = rf"^[^\x00]*{KEPT}[^\x00]*$"


def not_blank(min_chars: int = 1) -> str:
    """The pattern of text whose stripped form has at least `min_chars` characters (and no NUL)."""
    if min_chars <= 1:
        return NOT_BLANK
    return rf"^[^\x00]*{KEPT}[^\x00]{{{min_chars - 2},}}{KEPT}[^\x00]*$"


# A link on an agent's page: empty, or an http(s) URL (identities.services._clean_provenance).
LINK = r"^[ \t\n\r\x0b\x0c]*(https?://[^\x00]*)?$"


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


# An id or a count in a path or query: a positive PostgreSQL bigint (a longer one cannot name a row).
ParamInt = param_int(ge=1, le=2**63 - 1)


def _probability(places: int) -> Any:
    """A probability in (0, 1) with at most `places` decimals: a JSON number, or a string matching the
    published pattern exactly (no ".5", "5e-1", " 0.5" or full-width digits)."""
    pattern = rf"^0\.(?!0+$)[0-9]{{1,{places}}}$"
    text = re.compile(pattern)
    step = float(f"1e-{places}")

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
                    # multipleOf: the precision, so that a number the schema admits has no more places.
                    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": step},
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
    "agent_stopped",
    "already_appealed",
    "already_flagged",
    "already_hosted",
    "answer_conflict",
    "bad_request",
    "budget_exceeded",
    "body_too_large",
    "claim_has_trades",
    "claim_not_open",
    "condition_invalid",
    "config_invalid",
    "conflict",
    "conflict_of_interest",
    "csrf_failed",
    "date_conflict",
    "decision_invalid",
    "decision_not_allowed",
    "email_not_verified",
    "flag_rate_limited",
    "error",
    "handle_taken",
    "idempotency_conflict",
    "idempotency_key_required",
    "identity_suspended",
    "illegal_transition",
    "insufficient_credit",
    "account_in_debt",
    "billing_not_configured",
    "spending_limit_reached",
    "payment_provider_error",
    "already_verified",
    "verification_in_progress",
    "insufficient_shares",
    "invalid_api_key",
    "invalid_cursor",
    "lease_expired",
    "malformed_body",
    "market_closed",
    "method_not_allowed",
    "missing_scope",
    "not_a_reviewer",
    "not_appealable",
    "not_authenticated",
    "not_found",
    "nothing_to_change",
    "nothing_to_trade",
    "permission_denied",
    "policy_invalid",
    "price_limit_crossed",
    "rate_limited",
    "review_closed",
    "reviewer_conflicted",
    "server_error",
    "session_required",
    "stopped_by_staff",
    "strategy_unknown",
    "suspended_by_moderator",
    "too_many_agents",
    "too_many_keys",
    "too_many_open_claims",
    "too_many_webhooks",
    "validation_failed",
    "verification_required",
    "wallet_frozen",
    "webhook_disabled",
    "webhook_url_refused",
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
# How an operation reads it: `idempotency_key: IdempotencyKeyHeader = None`, then require_idempotency_key().
IdempotencyKeyHeader = Annotated[str | None, Header(None, alias="Idempotency-Key", include_in_schema=False)]

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


# --- Output ------------------------------------------------------------------------------------------


def _decimal_str(value: object) -> object:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else value


# A Decimal sent as its exact decimal string (probabilities, prices): JSON numbers would pass through floats.
DecimalStr = Annotated[
    str,
    BeforeValidator(_decimal_str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["0.5"]}),
]


def plain_json(value: Any) -> Any:
    """A request's free-form JSON (a context, an answer) as JSON can store it. The API reads a body's numbers
    as decimals (ExactJsonParser), which a JSONField cannot write: a whole number becomes an int, another a
    float, and one no float can hold (1e400) its decimal string."""
    if isinstance(value, Decimal):
        if value.is_finite() and value.adjusted() < 19 and value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if math.isfinite(as_float) else str(value)
    if isinstance(value, dict):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_json(item) for item in value]
    return value
