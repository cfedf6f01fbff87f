"""Reviews in the browser. The reviewer's side: the queue (what waits for me, my leases, my decisions and my
record), taking the next request, one assignment shown readably by its checkpoint with why it fired, and its
decision. The requester's side: the requests I and my agents made, and one request's timeline, with Cancel.

Every page needs a signed-in person with a human identity: agents never decide. An assignment that is not the
viewer's is a 404, as a missing one is. The queue's count refreshes itself when the person's socket tells of a
notification (static/js/live.js dispatches `credence:notifications`).
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import VerificationLevel
from apps.core.amounts import format_credits
from apps.core.api import keyset_page
from apps.core.errors import ApplicationError
from apps.identities.errors import VERIFICATION_PAGE
from apps.identities.models import Identity
from apps.identities.selectors import public_identity
from apps.markets import selectors as markets_selectors
from apps.reviews import selectors, services
from apps.reviews.checkpoints import CHECKPOINTS, EXPLICIT
from apps.reviews.models import OPEN_STATES, AssignmentState, Decision, ReviewAssignment, ReviewRequest
from apps.web.forms.reviews import DecisionForm, decision_forms, editable_values
from apps.web.views.claim_page import price_chart
from apps.web.views.common import INVALID_FORM_STATUS, viewer_of

TRADE = "trade.place"
DISPUTE = "resolution.dispute"
# Properties of an edit that are micro-credits: typed and shown as credits.
MONEY = {TRADE: frozenset({"amount"})}
LEASES_SHOWN = 20
DECISIONS_SHOWN = 10
PAGE_SIZE = 25
NO_REVIEWER = "Verify your email address first: reviewing needs a market identity."


def label_of(checkpoint: str) -> str:
    known = CHECKPOINTS.get(checkpoint)
    return known.label if known else checkpoint


def _money(review: ReviewRequest) -> frozenset[str]:
    return MONEY.get(review.checkpoint, frozenset())


def _value_text(value, money: frozenset[str] = frozenset()) -> str:
    """A decided value in a sentence: `amount 5 credits, limit price 0.6` for an object, the value itself else."""
    if isinstance(value, dict):
        return ", ".join(
            f"{name.replace('_', ' ')} "
            + (f"{format_credits(v)} credits" if name in money and isinstance(v, int) else _value_text(v))
            for name, v in value.items()
        )
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value if isinstance(value, str) else json.dumps(value)


def outcome_summary(review: ReviewRequest) -> str:
    """How a request ended (or stands), in a sentence a requester reads."""
    outcome = review.outcome or {}
    reason = f": “{outcome['reason']}”" if outcome.get("reason") else "."
    match review.state:
        case "pending":
            text = "Waiting for a reviewer."
        case "assigned":
            text = "A reviewer has it."
        case "approved":
            text = f"Approved{reason}"
        case "edited":
            text = f"Approved with changes ({_value_text(outcome.get('value'), _money(review))}){reason}"
        case "rejected":
            text = f"Rejected{reason}"
        case "answered":
            text = f"Answered: {_value_text(outcome.get('value'))}."
        case "timed_out":
            applied = outcome.get("applied")
            if applied == "answer":
                text = f"Nobody decided in time; the default answer applied ({_value_text(outcome.get('value'))})."
            else:
                done = "approved" if applied == "approve" else "rejected"
                text = f"Nobody decided in time; it was {done}, as its timeout says."
        case "escalated":
            text = f"Escalated to staff ({outcome.get('escalated', 'no agreement')})."
        case _:
            text = f"Withdrawn: {outcome['withdrawn']}." if outcome.get("withdrawn") else "Cancelled."
    result = review.resume_result or {}
    if result.get("message"):
        text += f" Not carried out: {result['message']}"
    return text


# --- The queue -------------------------------------------------------------------------------------------------


def _groups(reviewer: Identity) -> list[dict]:
    """What waits for the reviewer by checkpoint and, for panels, by scope."""
    return [
        {"checkpoint": checkpoint, "label": label_of(checkpoint), "scope": scope, "waiting": waiting}
        for checkpoint, scope, waiting in selectors.waiting_by_kind(reviewer)
    ]


def _headed(review: ReviewRequest) -> ReviewRequest:
    """Attach what a list shows of a request: its checkpoint's label, and its question or what it is about."""
    review.label = label_of(review.checkpoint)
    review.headline = review.question or review.payload.get("claim_title") or review.subject
    return review


def _waiting(reviewer: Identity) -> dict:
    waiting, first = selectors.queue_of(reviewer)
    for review in first:
        _headed(review)
    return {"reviewer": reviewer, "waiting": waiting, "first": first, "groups": _groups(reviewer) if waiting else []}


def _leases(reviewer: Identity) -> list[ReviewAssignment]:
    """The reviewer's leases still running, soonest to expire first."""
    leases = selectors.leases_of(reviewer, now=timezone.now(), limit=LEASES_SHOWN)
    for lease in leases:
        _headed(lease.request)
    return leases


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{round(hours / 24)} days"


def reviewer_record_context(reviewer: Identity) -> dict:
    """A reviewer's record as the queue and their public page show it."""
    record = selectors.reviewer_record(reviewer)
    agreement = record.agreement
    return {
        "record": record,
        "agreement_percent": None if agreement is None else round(agreement * 100),
        "median_time": _duration(record.median_seconds),
    }


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    reviewer = viewer_of(request)
    if reviewer is None:
        return render(request, "reviews/queue.html", {"reviewer": None})
    context = _waiting(reviewer)
    if request.htmx and request.htmx.target == "review-waiting":
        return render(request, "reviews/queue.html#waiting", context)
    context["leases"] = _leases(reviewer)
    context["decisions"] = list(selectors.decisions_of(reviewer)[:DECISIONS_SHOWN])
    for decision in context["decisions"]:
        _headed(decision.request)
    context.update(reviewer_record_context(reviewer))
    # The request's user (read for this request): what the page says; taking and deciding read the level again.
    panel_verified = request.user.has_level(VerificationLevel.VERIFIED_HUMAN)
    context.update(panel_verified=panel_verified, verification_page=VERIFICATION_PAGE)
    return render(request, "reviews/queue.html", context)


@login_required
@require_POST
def review_take(request: HttpRequest) -> HttpResponse:
    """Lease the next request waiting (of one checkpoint, if the form names one) and open it."""
    reviewer = viewer_of(request)
    if reviewer is None:
        messages.error(request, NO_REVIEWER)
        return redirect("review-queue")
    checkpoint = request.POST.get("checkpoint") or None
    if checkpoint is not None and checkpoint not in CHECKPOINTS:
        raise Http404("No such checkpoint.")
    try:
        assignment = services.review_take_next(reviewer=reviewer, checkpoint=checkpoint)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("review-queue")
    if assignment is None:
        of = f" among “{label_of(checkpoint)}”" if checkpoint else ""
        messages.info(request, f"Nothing waits for you{of} now.")
        return redirect("review-queue")
    return redirect("review-assignment", assignment_id=assignment.pk)


# --- One assignment and its decision ---------------------------------------------------------------------------


def _my_assignment(request: HttpRequest, assignment_id: int) -> tuple[ReviewAssignment, Identity]:
    """The viewer's assignment; someone else's is indistinguishable from a missing one."""
    reviewer = viewer_of(request)
    assignment = None
    if reviewer is not None:
        assignment = selectors.assignment_of(reviewer, assignment_id)
    if assignment is None:
        raise Http404("No such assignment.")
    return assignment, reviewer


def _why(review: ReviewRequest) -> dict:
    """Why the request was made, as the page lists it."""
    why = review.why or {}
    return {
        "policy": why.get("policy"),
        "version": why.get("version"),
        "condition": why.get("condition"),
        "clauses": [
            {"clause": c.get("clause"), "value": _value_text(c.get("value"))}
            for c in why.get("clauses") or []
            if isinstance(c, dict)
        ],
        "sample_percent": why.get("sample_percent"),
        "error": why.get("error"),
        "supervised": bool(why.get("supervised")),
        "threshold": why.get("review_orders_above"),
        "escalated": why.get("escalated"),
        "escalated_from": why.get("from"),
    }


def _item(review: ReviewRequest, reviewer: Identity) -> dict:
    """The request as its checkpoint reads: a trade ticket, a question, a dispute, or the payload as JSON."""
    payload = review.payload or {}
    context = {"payload_json": json.dumps(payload, indent=2, ensure_ascii=False)}
    if review.checkpoint == TRADE:
        requester = public_identity(review.requester.handle)
        context.update(order=payload.get("order") or {}, owner_handle=getattr(requester, "owner_handle", None))
    elif review.checkpoint == EXPLICIT:
        context["context_json"] = json.dumps(payload.get("context", {}), indent=2, ensure_ascii=False)
    elif review.checkpoint == DISPUTE:
        claim = markets_selectors.claim_visible(payload["claim"], reviewer) if "claim" in payload else None
        context.update(price_chart(claim) if claim is not None else {"chart": None})
    return context


def _decision_context(
    assignment: ReviewAssignment, *, bound: DecisionForm | None = None, error: str = "", notice: str = ""
) -> dict:
    review = assignment.request
    open_ = (
        assignment.state == AssignmentState.LEASED
        and assignment.lease_expires_at > timezone.now()
        and review.state in OPEN_STATES
    )
    return {
        "assignment": assignment,
        "review": review,
        "can_decide": open_ and not notice,
        "forms": decision_forms(review, bound=bound, money=_money(review)) if open_ and not notice else [],
        "decision_error": error,
        "decision_notice": notice,
    }


def _assignment_response(
    request: HttpRequest, assignment: ReviewAssignment, reviewer: Identity, *, status: int = 200, **decision
) -> HttpResponse:
    context = _decision_context(assignment, **decision)
    if request.htmx and request.htmx.target == "review-decision":
        return render(request, "reviews/assignment.html#decision", context, status=status)
    review = assignment.request
    context.update(
        label=label_of(review.checkpoint),
        why=_why(review),
        **_item(review, reviewer),
    )
    return render(request, "reviews/assignment.html", context, status=status)


@login_required
@require_GET
def review_assignment(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment, reviewer = _my_assignment(request, assignment_id)
    return _assignment_response(request, assignment, reviewer)


def _decided_notice(kind: str, review: ReviewRequest) -> str:
    done = {
        Decision.APPROVE: "You approved",
        Decision.EDIT: "You approved with changes",
        Decision.REJECT: "You rejected",
        Decision.ANSWER: "You answered",
    }[kind]
    if review.state in OPEN_STATES:
        return f"{done} review #{review.pk}; it waits for the rest of its panel."
    return f"{done} review #{review.pk}. {outcome_summary(review)}"


@login_required
@require_POST
def review_decide(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment, reviewer = _my_assignment(request, assignment_id)
    review = assignment.request
    kind = request.POST.get("decision", "")
    form = None
    if kind in review.decisions:
        form = DecisionForm(
            request.POST,
            kind=kind,
            schema=review.edit_schema if kind == Decision.EDIT else review.answer_schema,
            initial_values=editable_values(review.payload) if kind == Decision.EDIT else None,
            money=_money(review),
        )
        if not form.is_valid():
            return _assignment_response(request, assignment, reviewer, status=INVALID_FORM_STATUS, bound=form)
        kind, value, reason = form.decision()
    else:  # a decision the request does not allow: the service says which it does (or that it is over)
        value, reason = None, request.POST.get("reason", "")
    try:
        decided = services.review_decide(
            assignment_id=assignment.pk, reviewer=reviewer, kind=kind, value=value, reason=reason
        )
    except ApplicationError as exc:
        error = form.show_refusal(exc) if form is not None else exc.message
        assignment, _ = _my_assignment(request, assignment_id)  # as it stands now (closed, expired, still open)
        return _assignment_response(request, assignment, reviewer, status=exc.status, bound=form, error=error)
    notice = _decided_notice(kind, decided)
    if request.htmx:
        assignment.refresh_from_db()
        assignment.request = decided
        return _assignment_response(request, assignment, reviewer, notice=notice)
    messages.success(request, notice)
    return redirect("review-queue")


# --- The requester's side --------------------------------------------------------------------------------------


def _requests_of(identity: Identity) -> QuerySet[ReviewRequest]:
    return selectors.reviews_of_party(identity).select_related("requester")


def _described(review: ReviewRequest) -> ReviewRequest:
    review.summary = outcome_summary(review)
    return _headed(review)


@login_required
@require_GET
def my_reviews(request: HttpRequest) -> HttpResponse:
    """My requests and my agents': the open ones first, then the finished, each list newest first."""
    identity = viewer_of(request)
    if identity is None:
        return render(request, "reviews/mine.html", {"identity": None})
    mine = _requests_of(identity)
    try:
        waiting, waiting_next = keyset_page(
            mine.filter(state__in=OPEN_STATES), cursor=request.GET.get("waiting") or None, limit=PAGE_SIZE
        )
        finished, finished_next = keyset_page(
            mine.exclude(state__in=OPEN_STATES), cursor=request.GET.get("finished") or None, limit=PAGE_SIZE
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("my-reviews")
    return render(
        request,
        "reviews/mine.html",
        {
            "identity": identity,
            "waiting": [_described(r) for r in waiting],
            "waiting_next": waiting_next,
            "finished": [_described(r) for r in finished],
            "finished_next": finished_next,
        },
    )


def _my_request(request: HttpRequest, review_id: int) -> tuple[ReviewRequest, Identity]:
    identity = viewer_of(request)
    review = _requests_of(identity).filter(pk=review_id).first() if identity is not None else None
    if review is None:
        raise Http404("No such review.")
    return review, identity


# A timeline event's details the page shows elsewhere (why it fired, how it ended) or that mean nothing to a
# requester (an assignment's id and lease).
UNSHOWN_DETAIL = {"outcome", "assignment", "lease_expires_at"}


def _detail_text(detail: dict) -> list[tuple[str, str]]:
    """An event's details as the timeline lists them: name, and the value as text (a price in credits)."""
    items = []
    for name, value in (detail or {}).items():
        shown_elsewhere = name in UNSHOWN_DETAIL or (name == "why" and isinstance(value, dict))
        if shown_elsewhere or value is None or value in ("", {}, []) or (name == "price" and not value):
            continue
        if name == "price":
            value = f"{format_credits(value)} credits"
        items.append((name.replace("_", " "), _value_text(value)))
    return items


def _request_page(
    request: HttpRequest, review: ReviewRequest, identity: Identity, *, status: int = 200, error: str = ""
) -> HttpResponse:
    events = selectors.timeline(review)
    for event in events:
        event.items = _detail_text(event.detail)
    context = {
        "review": _described(review),
        "events": events,
        "why": _why(review),
        "cancel_error": error,
        **_item(review, identity),
    }
    return render(request, "reviews/request.html", context, status=status)


@login_required
@require_GET
def my_review(request: HttpRequest, review_id: int) -> HttpResponse:
    review, identity = _my_request(request, review_id)
    return _request_page(request, review, identity)


@login_required
@require_POST
def my_review_cancel(request: HttpRequest, review_id: int) -> HttpResponse:
    review, identity = _my_request(request, review_id)
    try:
        services.review_cancel(request_id=review.pk, by=identity)
    except ApplicationError as exc:  # over meanwhile: the page as it stands now, with why
        review, _ = _my_request(request, review_id)
        return _request_page(request, review, identity, status=exc.status, error=exc.message)
    returned = f" Its price, {format_credits(review.price)} credits, is back." if review.price else ""
    messages.success(request, f"Review #{review.pk} is cancelled.{returned}")
    return redirect("my-review", review_id=review.pk)
