"""Reviews over REST: an agent asks a person (`POST /reviews`, 202) and reads the answer (`GET /reviews/{id}`);
a signed-in person takes the next review waiting for them and decides it. Deciding is for people: those
operations take a browser session, never an API key."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Body, Field, Query, Schema, Status

from apps.core.api import AUTH_ERRORS, BODY_ERRORS, Page, errors, keyset_page, require_idempotency_key
from apps.core.api_types import (
    IDEMPOTENT,
    NO_NUL,
    NOT_BLANK,
    ApiRouter,
    DomainSlug,
    IdempotencyKeyHeader,
    Input,
    Int,
    PageQuery,
    ParamInt,
    body_int,
    plain_json,
)
from apps.core.errors import NotFound
from apps.identities.auth import caller_identity, key_or_session, session_only
from apps.ledger.services import MAX_AMOUNT
from apps.reviews import selectors, services
from apps.reviews.models import Agreement, ReviewRequest

router = ApiRouter(tags=["reviews"])

TIMEOUT_MIN = 60
TIMEOUT_MAX = 30 * 24 * 3600
QUESTION_MAX = 2000


Label = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
# Bounds inside the type, so that the schema states them on the optional field too.
TextLength = body_int(ge=1, le=5000)
Bound = body_int(ge=-MAX_AMOUNT, le=MAX_AMOUNT)


class TextAnswer(Input):
    """A line of text, or one of `enum` (the options a person picks from)."""

    type: Literal["string"]
    enum: list[Label] | None = Field(None, min_length=1, max_length=20)
    maxLength: TextLength | None = None
    title: Label | None = None


class NumberAnswer(Input):
    type: Literal["number", "integer"]
    minimum: Bound | None = None
    maximum: Bound | None = None
    title: Label | None = None


class BooleanAnswer(Input):
    type: Literal["boolean"]
    title: Label | None = None


AnswerSpec = Annotated[
    TextAnswer | NumberAnswer | BooleanAnswer,
    Field(
        discriminator="type",
        description="The answer's JSON Schema, in the subset a person's form is drawn from: a text (or options: "
        '{"type": "string", "enum": [...]}), a number, or a yes/no.',
    ),
]


class OwnerReviewers(Input):
    kind: Literal["owner"] = Field(description="Your owner answers (an agent's own person).")


class PanelReviewers(Input):
    kind: Literal["panel"] = Field(description="People ranked in a domain (conflicts excluded) answer.")
    domain: DomainSlug | None = Field(None, description="The domain they are ranked in; none: by seniority.")
    count: Int = Field(1, ge=1, le=5, description="How many answer.")
    agreement: Literal["first", "majority", "unanimous"] = "first"


class ReviewAskIn(Input):
    question: str = Field(min_length=1, max_length=QUESTION_MAX, pattern=NOT_BLANK, description="What to ask.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="Anything the person needs to answer, shown with the question."
    )
    answer: AnswerSpec
    reviewers: Annotated[OwnerReviewers | PanelReviewers, Field(discriminator="kind")] = Field(
        default_factory=lambda: OwnerReviewers(kind="owner")
    )
    timeout_seconds: Int = Field(3600, ge=TIMEOUT_MIN, le=TIMEOUT_MAX, description="How long to wait.")
    timeout_answer: Any = Field(
        None, description="The answer to use if nobody answers in time (null: none); the answer schema must admit it."
    )
    price: Int = Field(0, ge=0, le=MAX_AMOUNT, description="Micro-credits you pay the people who answer; held now.")


class ReviewOut(Schema):
    id: int
    checkpoint: str
    subject: str
    state: Literal[
        "pending", "assigned", "approved", "edited", "rejected", "answered", "timed_out", "escalated", "cancelled"
    ]
    question: str
    payload: dict[str, Any]
    why: dict[str, Any] = Field(description="Why it was asked: the policy and each condition's result.")
    decisions: list[str]
    answer_schema: dict[str, Any] | None
    edit_schema: dict[str, Any] | None
    reviewers_required: int
    agreement: str
    pool: str
    due_at: datetime
    price: int = Field(description="Micro-credits held for the reviewers.")
    outcome: dict[str, Any] | None = Field(
        description="null while open; then the decision (decision, value, reason, reviewers), the timeout "
        "({timed_out: true, applied, value}), the escalation or the cancellation."
    )
    escalated_to: int | None = Field(
        alias="escalated_to_pk", description="The request that took over when this one escalated."
    )
    created_at: datetime
    finished_at: datetime | None
    resumed_at: datetime | None = Field(description="When what the review paused went on (its continuation ran).")
    resume_result: dict[str, Any] | None
    replayed: bool = Field(False, description="True when this answers a retry with the same Idempotency-Key.")


class ReviewPage(Page):
    items: list[ReviewOut]


class QueueItemOut(Schema):
    id: int
    checkpoint: str
    subject: str
    question: str
    due_at: datetime
    reviewers_required: int
    price: int


class QueueOut(Schema):
    waiting: int = Field(description="How many reviews wait for you now.")
    items: list[QueueItemOut] = Field(description="The first of them, soonest due first.")


class AssignmentOut(Schema):
    id: int
    lease_expires_at: datetime = Field(description="Decide before this, or the review goes back to the queue.")
    review: ReviewOut


Reason = Annotated[str, Field(min_length=1, max_length=services.REASON_MAX, pattern=NOT_BLANK)]


class ApproveIn(Input):
    decision: Literal["approve"]
    reason: str = Field("", max_length=services.REASON_MAX, pattern=NO_NUL)


class EditIn(Input):
    decision: Literal["edit"]
    value: dict[str, Any] = Field(description="The payload as you edited it; the review's edit_schema must admit it.")
    reason: Reason


class RejectIn(Input):
    decision: Literal["reject"]
    reason: Reason


class AnswerIn(Input):
    decision: Literal["answer"]
    value: Any = Field(description="Your answer; the review's answer_schema must admit it.")
    reason: str = Field("", max_length=services.REASON_MAX, pattern=NO_NUL)


DecisionIn = Annotated[ApproveIn | EditIn | RejectIn | AnswerIn, Field(discriminator="decision")]


class QueueQuery(Schema):
    checkpoint: str | None = Field(None, max_length=40, pattern=r"^[a-z.]{1,40}$")


def _out(review: ReviewRequest) -> ReviewRequest:
    """The request as the API shows it: read again with what it links to (a service returns the row it wrote)."""
    fresh = selectors.review_by_id(review.pk)
    fresh.replayed = getattr(review, "replayed", False)
    return fresh


def _mine(request: HttpRequest, review_id: int) -> ReviewRequest:
    review = selectors.reviews_of_party(caller_identity(request.auth)).filter(pk=review_id).first()
    if review is None:
        raise NotFound("No such review.")
    return review


@router.post(
    "/reviews",
    response={202: ReviewOut, 200: ReviewOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=key_or_session("review:request"),
    summary="Ask a person (202; a retry with the same Idempotency-Key answers 200 with the first request)",
    openapi_extra=IDEMPOTENT,
)
def reviews_ask(
    request: HttpRequest, response: HttpResponse, payload: ReviewAskIn, idempotency_key: IdempotencyKeyHeader = None
):
    identity = caller_identity(request.auth)
    key = require_idempotency_key(idempotency_key)
    reviewers = payload.reviewers
    domain = getattr(reviewers, "domain", None)
    review = services.review_ask(
        requester=identity,
        question=payload.question,
        context=plain_json(payload.context),
        answer_schema=payload.answer.model_dump(exclude_none=True),
        pool=reviewers.kind,
        pool_scope=f"domain:{domain}" if domain else "",
        reviewers_required=getattr(reviewers, "count", 1),
        agreement=getattr(reviewers, "agreement", Agreement.FIRST),
        timeout_seconds=payload.timeout_seconds,
        timeout_answer=plain_json(payload.timeout_answer),
        price=payload.price,
        idempotency_key=key,
    )
    response["Location"] = f"/api/v1/reviews/{review.pk}"
    return Status(200 if review.replayed else 202, _out(review))


@router.get(
    "/reviews",
    response={200: ReviewPage, **errors(*AUTH_ERRORS, 422)},
    auth=key_or_session("read"),
    summary="My review requests, newest first (a person sees their agents' too)",
)
def reviews_list(request: HttpRequest, page: Query[PageQuery]):
    rows, next_cursor = keyset_page(
        selectors.reviews_of_party(caller_identity(request.auth)), cursor=page.cursor, limit=page.limit
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.get(
    "/reviews/queue",
    response={200: QueueOut, **errors(*AUTH_ERRORS, 422)},
    auth=session_only,
    summary="What waits for me to review",
)
def reviews_queue(request: HttpRequest, filters: Query[QueueQuery]):
    identity = caller_identity(request.auth)
    waiting, first = selectors.queue_of(identity, checkpoint=filters.checkpoint)
    return {"waiting": waiting, "items": first}


@router.post(
    "/reviews/queue/take",
    response={200: AssignmentOut, 204: None, **errors(*AUTH_ERRORS)},
    auth=session_only,
    summary="Take the next review waiting for me (204 when none waits)",
)
def reviews_take(request: HttpRequest, filters: Query[QueueQuery]):
    assignment = services.review_take_next(reviewer=caller_identity(request.auth), checkpoint=filters.checkpoint)
    if assignment is None:
        return Status(204, None)
    return {"id": assignment.pk, "lease_expires_at": assignment.lease_expires_at, "review": _out(assignment.request)}


@router.post(
    "/reviews/assignments/{assignment_id}/decision",
    response={200: ReviewOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    auth=session_only,
    summary="Decide a review I took",
)
def reviews_decide(request: HttpRequest, assignment_id: ParamInt, payload: Body[DecisionIn]):
    review = services.review_decide(
        assignment_id=assignment_id,
        reviewer=caller_identity(request.auth),
        kind=payload.decision,
        value=plain_json(getattr(payload, "value", None)),
        reason=payload.reason,
    )
    return _out(review)


@router.get(
    "/reviews/{review_id}",
    response={200: ReviewOut, **errors(*AUTH_ERRORS, 404, 422)},
    auth=key_or_session("read"),
    summary="A review I asked for (or one of my agents did)",
)
def reviews_get(request: HttpRequest, review_id: ParamInt):
    return _mine(request, review_id)


@router.post(
    "/reviews/{review_id}/cancel",
    response={200: ReviewOut, **errors(*AUTH_ERRORS, 404, 409, 422)},
    auth=key_or_session("review:request"),
    summary="Withdraw an open review I asked for: its price comes back",
)
def reviews_cancel(request: HttpRequest, review_id: ParamInt):
    review = _mine(request, review_id)
    return _out(services.review_cancel(request_id=review.pk, by=caller_identity(request.auth)))
