"""Writes of the reviews app: policies, opening a request, taking, deciding, cancelling, the sweep, resuming.

Locks: a request's row first (FOR NO KEY UPDATE), then its assignments, then (inside ledger_transfer) the
ledger accounts by id. The queue is taken with SKIP LOCKED, so reviewers never wait on each other, and every
state change re-reads the request under its lock, so two sweeps, two decisions or a decision and a timeout
racing leave exactly one of them applied.
"""

import functools
import hashlib
import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import jsonschema
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User, VerificationLevel
from apps.core import events
from apps.core.audit import audit_record, audited, staff_require
from apps.core.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from apps.core.services import event_emit
from apps.identities.errors import VerificationRequired
from apps.identities.models import Identity, IdentityKind, IdentityStatus
from apps.identities.selectors import party_level
from apps.ledger.errors import IdempotencyConflict
from apps.ledger.models import Account, AccountKind
from apps.ledger.services import ledger_transfer, wallet_for
from apps.reviews import checkpoints, hooks
from apps.reviews.conditions import ConditionInvalid, ConditionSet, Evaluation, Variables, compile_condition
from apps.reviews.errors import (
    AnswerConflict,
    AssignmentNotFound,
    DecisionInvalid,
    DecisionNotAllowed,
    LeaseExpired,
    NotAReviewer,
    PolicyInvalid,
    ReviewClosed,
    ReviewerConflicted,
)
from apps.reviews.models import (
    DECIDED_STATES,
    OPEN_STATES,
    Agreement,
    AssignmentState,
    CheckpointPolicy,
    Decision,
    Pool,
    RequestState,
    ReviewAssignment,
    ReviewDecision,
    ReviewEvent,
    ReviewInvitation,
    ReviewRequest,
    TimeoutAction,
)
from apps.reviews.selectors import queues_of, reviewer_records

STATE_OF_DECISION = {
    Decision.APPROVE: RequestState.APPROVED,
    Decision.EDIT: RequestState.EDITED,
    Decision.REJECT: RequestState.REJECTED,
    Decision.ANSWER: RequestState.ANSWERED,
}
REASON_MAX = 2000


# --- Policies ---------------------------------------------------------------------------------------------

POLICY_FIELDS = (
    "checkpoint",
    "description",
    "condition",
    "sample_percent",
    "decisions",
    "edit_schema",
    "reviewers_required",
    "agreement",
    "pool",
    "pool_min_level",
    "pool_min_reliability",
    "timeout_seconds",
    "on_timeout",
    "price",
)


def policy_check(values: dict) -> None:
    """Refuse, with the reason, a policy that could not run: an unknown checkpoint, a condition that does not
    type-check against the checkpoint's variables, decisions it cannot take, a schema that is not one."""
    checkpoint = checkpoints.checkpoint(values.get("checkpoint", ""))
    if checkpoint is None:
        known = ", ".join(sorted(checkpoints.CHECKPOINTS))
        raise PolicyInvalid(
            f"Unknown checkpoint {values.get('checkpoint')!r} (known: {known}).", detail={"field": "checkpoint"}
        )
    compile_condition(values.get("condition") or "", checkpoint.variables)  # raises ConditionInvalid with the reason
    decisions = values.get("decisions") or []
    allowed = {Decision.APPROVE, Decision.EDIT, Decision.REJECT, Decision.ANSWER}
    if not decisions or not set(decisions) <= allowed or len(set(decisions)) != len(decisions):
        raise PolicyInvalid(
            "Decisions must be some of approve, edit, reject, answer, each once.", detail={"field": "decisions"}
        )
    schema = values.get("edit_schema")
    if Decision.EDIT in decisions:
        if not isinstance(schema, dict):
            raise PolicyInvalid("An edit needs a JSON Schema for the edited payload.", detail={"field": "edit_schema"})
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise PolicyInvalid(
                f"The edit schema is not a JSON Schema: {exc.message}", detail={"field": "edit_schema"}
            ) from None
    if values.get("on_timeout") == TimeoutAction.ANSWER:
        raise PolicyInvalid("A policy times out by approving, rejecting or escalating.", detail={"field": "on_timeout"})
    if values.get("pool") == Pool.OWNER and values.get("reviewers_required", 1) != 1:
        raise PolicyInvalid("The owner pool is one person: one reviewer.", detail={"field": "reviewers_required"})


@transaction.atomic
def policy_create(*, key: str, created_by: User | None, **values) -> CheckpointPolicy:
    policy_check(values)
    policy = CheckpointPolicy.objects.create(key=key, version=1, is_current=True, created_by=created_by, **values)
    _policies_changed()
    return policy


@transaction.atomic
def policy_revise(*, policy: CheckpointPolicy, created_by: User | None, **changes) -> CheckpointPolicy:
    """An edit is a new version: requests the old one fired keep it, new requests get the new one."""
    current = CheckpointPolicy.objects.select_for_update(no_key=True).get(key=policy.key, is_current=True)
    values = {name: getattr(current, name) for name in POLICY_FIELDS} | changes
    policy_check(values)
    CheckpointPolicy.objects.filter(pk=current.pk).update(is_current=False)
    revised = CheckpointPolicy.objects.create(
        key=current.key, version=current.version + 1, is_current=True, created_by=created_by, **values
    )
    _policies_changed()
    return revised


@transaction.atomic
def policy_retire(*, policy: CheckpointPolicy) -> None:
    CheckpointPolicy.objects.filter(key=policy.key, is_current=True).update(is_current=False)
    _policies_changed()


# Each process keeps the current policies of each checkpoint for a few seconds: a trade evaluates them
# without a query. A change made in this process clears it at once; other processes see it within
# CREDENCE_REVIEW_POLICY_CACHE_SECONDS.
_policy_cache: dict[str, tuple[float, list[CheckpointPolicy]]] = {}
# Each current policy with its compiled condition, beside the cached list (compiled once per version).
_conditions_cache: dict[str, tuple[list[CheckpointPolicy], ConditionSet]] = {}


def _policies_changed() -> None:
    transaction.on_commit(policies_forget)


def policies_forget() -> None:
    """Read the policies again at the next checkpoint (this process; the others within the cache's seconds)."""
    _policy_cache.clear()
    _conditions_cache.clear()


def current_policies(checkpoint: str) -> list[CheckpointPolicy]:
    cached = _policy_cache.get(checkpoint)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    policies = list(CheckpointPolicy.objects.filter(checkpoint=checkpoint, is_current=True).order_by("key"))
    _policy_cache[checkpoint] = (now + settings.CREDENCE_REVIEW_POLICY_CACHE_SECONDS, policies)
    return policies


@dataclass(frozen=True)
class Fired:
    policy: CheckpointPolicy
    why: dict


def _sampled(policy: CheckpointPolicy, subject: str) -> bool:
    """Deterministic per subject, as A2I samples: the same subject is always in or always out."""
    if policy.sample_percent >= 100:
        return True
    digest = hashlib.sha256(f"{policy.key}:{policy.version}:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < policy.sample_percent


@functools.cache
def _variables(checkpoint: str) -> Variables:
    return Variables(checkpoints.CHECKPOINTS[checkpoint].variables)


@dataclass(frozen=True)
class _Uncompilable:
    """A stored condition that no longer compiles (its checkpoint's variables changed since it was saved):
    it fires, saying why, as a condition that fails to evaluate does. Never raised into the checkpoint."""

    error: str

    def evaluate(self, activation) -> Evaluation:
        return Evaluation(True, [], f"the condition no longer compiles: {self.error}")


def _compiled(policy: CheckpointPolicy, variables: Variables):
    try:
        return compile_condition(policy.condition, variables)
    except ConditionInvalid as exc:
        return _Uncompilable(exc.message)


def checkpoint_check(*, checkpoint: str, activation: dict, subject: str) -> Fired | None:
    """The first current policy (by key) of `checkpoint` whose condition holds and whose sample takes
    `subject`, with why it fired; None when none does. Never raises for a condition: one that cannot be
    evaluated fires, and says so."""
    policies = current_policies(checkpoint)
    if not policies:
        return None
    variables = _variables(checkpoint)
    cached = _conditions_cache.get(checkpoint)
    if cached is None or cached[0] is not policies:
        cached = (policies, ConditionSet([_compiled(policy, variables) for policy in policies]))
        _conditions_cache[checkpoint] = cached
    conditions = cached[1]
    prepared = variables.activation(activation)  # converted once for every policy's condition
    # Screened in one call; a condition that fires (or that the one call could not judge) is evaluated on its
    # own, for each clause's value and any error: the why a request records.
    for policy, condition, fired in zip(policies, conditions.conditions, conditions.fired(prepared), strict=True):
        if fired is False:
            continue
        evaluation = condition.evaluate(prepared)
        if not evaluation.fired or not _sampled(policy, subject):
            continue
        why = {
            "policy": policy.key,
            "version": policy.version,
            "condition": policy.condition,
            "clauses": [{"clause": text, "value": value} for text, value in evaluation.clauses],
            "sample_percent": policy.sample_percent,
        }
        if evaluation.error:
            why["error"] = evaluation.error
        return Fired(policy=policy, why=why)
    return None


# --- Opening a request ------------------------------------------------------------------------------------


def _event(request: ReviewRequest, kind: str, actor: Identity | None = None, **detail) -> None:
    ReviewEvent.objects.create(request=request, kind=kind, actor=actor, detail=detail)


def _body_sha256(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


_LEVELS = list(VerificationLevel.values)  # least trusted first


def panel_levels(request: ReviewRequest) -> list[str]:
    """The verification levels a panelist of `request` may have: its policy's least level, raised to its
    checkpoint's floor (`Checkpoint.min_reviewer_level`: a dispute's panel is verified humans whatever a policy
    says), and never below email_verified (a person without a verified email has no identity to review with)."""
    floor = checkpoints.CHECKPOINTS[request.checkpoint].min_reviewer_level or VerificationLevel.EMAIL_VERIFIED
    least = max(_LEVELS.index(VerificationLevel.EMAIL_VERIFIED), _LEVELS.index(request.pool_min_level))
    return _LEVELS[max(least, _LEVELS.index(floor)) :]


def _panel_candidates(request: ReviewRequest, excluded_users: set[int]) -> list[Identity]:
    """People who may sit on the panel, best first: active human identities at the panel's levels
    (`panel_levels`), none of the excluded parties, ranked by the registered rankers in the request's scope."""
    levels = panel_levels(request)
    humans = list(
        Identity.objects.filter(
            kind=IdentityKind.HUMAN, status=IdentityStatus.ACTIVE, user__verification_level__in=levels
        )
        .exclude(user_id__in=excluded_users)
        .order_by("id")[: settings.CREDENCE_REVIEW_PANEL_CANDIDATES_SCANNED]
    )
    below = {pk for pk, record in reviewer_records([h.pk for h in humans]).items() if record.below_bar}
    humans = [h for h in humans if h.pk not in below]
    ranks = checkpoints.rank_reviewers(request.pool_scope, [h.user_id for h in humans]) if request.pool_scope else {}
    if request.pool_min_reliability is not None:
        humans = [h for h in humans if ranks.get(h.user_id, -math.inf) >= request.pool_min_reliability]
    humans.sort(key=lambda h: (-ranks.get(h.user_id, -math.inf), h.pk))
    return humans[: max(settings.CREDENCE_REVIEW_PANEL_INVITED, 3 * request.reviewers_required)]


def excluded_users(request: ReviewRequest) -> set[int]:
    """Who may never review it: the requester's party (its owner for an agent, the person for a human), and the
    parties the checkpoint names (e.g. everyone holding shares in the claim). The owner pool is the one
    exception: there the requester's owner is the reviewer asked for."""
    excluded = set(checkpoints.CHECKPOINTS[request.checkpoint].conflicted_users(request))
    excluded.add(request.requester.controller_id)
    return excluded - {None}


@transaction.atomic
def review_request_open(
    *,
    checkpoint: str,
    requester: Identity,
    subject: str,
    payload: dict,
    idempotency_key: str,
    continuation: str = "",
    policy: CheckpointPolicy | None = None,
    why: dict | None = None,
    question: str = "",
    decisions: list[str] | None = None,
    edit_schema: dict | None = None,
    answer_schema: dict | None = None,
    reviewers_required: int | None = None,
    agreement: str | None = None,
    pool: str | None = None,
    pool_scope: str = "",
    timeout_seconds: int | None = None,
    on_timeout: str | None = None,
    timeout_answer=None,
    price: int | None = None,
    held: int = 0,
) -> ReviewRequest:
    """Pause for a person: store the request, hold its price (and `held`, what the paused work may spend),
    invite its reviewers. Call it inside the
    transaction that stores the paused intent, so both exist or neither. Idempotent per (requester, key):
    a retry with the same body answers the first request (`replayed`), another body is a conflict."""
    if checkpoint not in checkpoints.CHECKPOINTS:
        raise NotFound(f"Unknown checkpoint {checkpoint!r}.")
    if policy is not None:
        decisions = decisions or policy.decisions
        edit_schema = edit_schema if edit_schema is not None else policy.edit_schema
        reviewers_required = reviewers_required or policy.reviewers_required
        agreement = agreement or policy.agreement
        pool = pool or policy.pool
        timeout_seconds = timeout_seconds or policy.timeout_seconds
        on_timeout = on_timeout or policy.on_timeout
        price = policy.price if price is None else price
    body = {
        "checkpoint": checkpoint,
        "subject": subject,
        "payload": payload,
        "question": question,
        "decisions": decisions,
        "edit_schema": edit_schema,
        "answer_schema": answer_schema,
        "reviewers_required": reviewers_required,
        "agreement": agreement,
        "pool": pool,
        "pool_scope": pool_scope,
        "timeout_seconds": timeout_seconds,
        "on_timeout": on_timeout,
        "timeout_answer": timeout_answer,
        "price": price or 0,
        "held": held,
        "policy": policy.pk if policy else None,
    }
    digest = _body_sha256(body)
    existing = ReviewRequest.objects.filter(requester=requester, idempotency_key=idempotency_key).first()
    if existing is not None:
        return _replayed(existing, digest)
    owner = requester.owner if requester.kind == IdentityKind.AGENT else requester.user
    pool_user = owner if pool == Pool.OWNER else None
    now = timezone.now()
    request = ReviewRequest(
        checkpoint=checkpoint,
        policy=policy,
        requester=requester,
        subject=subject,
        question=question,
        payload=payload,
        why=why or {},
        decisions=list(decisions or []),
        edit_schema=edit_schema,
        answer_schema=answer_schema,
        reviewers_required=reviewers_required,
        agreement=agreement,
        pool=pool,
        pool_user=pool_user,
        pool_scope=pool_scope,
        pool_min_level=policy.pool_min_level if policy else VerificationLevel.EMAIL_VERIFIED,
        pool_min_reliability=policy.pool_min_reliability if policy else None,
        seats_open=reviewers_required,
        due_at=now + timedelta(seconds=timeout_seconds),
        on_timeout=on_timeout,
        timeout_answer=timeout_answer,
        price=price or 0,
        held=held,
        continuation=continuation,
        idempotency_key=idempotency_key,
        body_sha256=digest,
    )
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:  # a concurrent twin committed first
        return _replayed(ReviewRequest.objects.get(requester=requester, idempotency_key=idempotency_key), digest)
    if request.price or request.held:
        request.escrow = Account.objects.create(kind=AccountKind.REVIEW_ESCROW, code=f"review:{request.pk}:escrow")
        request.save(update_fields=["escrow"])
        total = request.price + request.held
        ledger_transfer(
            lines=[(wallet_for(requester), -total), (request.escrow, total)],
            kind="review_held",
            idempotency_key=f"review:{request.pk}:hold",
            memo=f"Review #{request.pk}: its price and what the paused work may spend, held",
            metadata={"price": request.price, "held": request.held},
        )
    if pool == Pool.PANEL:
        excluded = excluded_users(request)
        ReviewInvitation.objects.bulk_create(
            ReviewInvitation(request=request, reviewer=reviewer, rank=rank)
            for rank, reviewer in enumerate(_panel_candidates(request, excluded), start=1)
        )
    _event(request, "opened", requester, checkpoint=checkpoint, why=request.why, price=request.price)
    _announce_opened(request)
    hooks.request_opened.send(request, waiting_for(request))
    request.replayed = False
    return request


def _announce_opened(request: ReviewRequest) -> None:
    event_emit(
        kind=events.REVIEW_REQUESTED.name,
        subject=f"review:{request.pk}",
        payload={
            "checkpoint": request.checkpoint,
            "subject": request.subject,
            "pool": request.pool,
            "due_at": request.due_at.isoformat(),
        },
        actor_identity_id=request.requester_id,
    )


def waiting_for(request: ReviewRequest) -> list[int]:
    """The people (user ids) a new request waits for: the owner, the invited panel, or the staff."""
    if request.pool == Pool.OWNER:
        return [request.pool_user_id]
    if request.pool == Pool.PANEL:
        return list(request.invitations.order_by("rank").values_list("reviewer__user_id", flat=True))
    staff = User.objects.filter(is_staff=True, is_active=True).exclude(pk__in=excluded_users(request))
    return list(staff.order_by("pk").values_list("pk", flat=True)[: settings.CREDENCE_REVIEW_PANEL_INVITED])


def in_queues_of(request: ReviewRequest) -> list[int]:
    """The people (user ids) whose queues offer `request` while it has a seat: its owner, its invited panel,
    or every active staff member who is no party to it."""
    if request.pool != Pool.STAFF:
        return waiting_for(request)
    staff = User.objects.filter(is_staff=True, is_active=True).exclude(pk__in=excluded_users(request))
    return list(staff.order_by("pk").values_list("pk", flat=True))


def _queues_changed(request: ReviewRequest) -> None:
    """Tell the pages of the people whose queues offer `request` that it left them or came back."""
    hooks.request_moved.send(request, in_queues_of(request))


def _replayed(existing: ReviewRequest, digest: str) -> ReviewRequest:
    if existing.body_sha256 != digest:
        raise IdempotencyConflict("This Idempotency-Key was already used for a different review request.")
    existing.replayed = True
    return existing


@transaction.atomic
def review_ask(
    *,
    requester: Identity,
    question: str,
    context: dict,
    answer_schema: dict,
    pool: str,
    pool_scope: str,
    reviewers_required: int,
    agreement: str,
    timeout_seconds: int,
    timeout_answer,
    price: int,
    idempotency_key: str,
    continuation: str = "",
) -> ReviewRequest:
    """An agent (or a person) asks people a typed question: the `explicit` checkpoint. The answer is checked
    against `answer_schema`, the answer to use on timeout too; nothing resumes (the asker reads the answer)
    unless a `continuation` is named (a hosted agent's run goes on).
    Only an agent asks its owner (a person asks a panel); a panel's scope must exist."""
    if pool == Pool.OWNER and requester.kind != IdentityKind.AGENT:
        raise PermissionDenied("Only an agent asks its owner: ask a panel.", detail={"field": "reviewers"})
    if pool_scope and not checkpoints.scope_exists(pool_scope):
        raise NotFound(f"No such scope {pool_scope!r}.", detail={"field": "reviewers"})
    try:
        jsonschema.Draft202012Validator.check_schema(answer_schema)
    except jsonschema.SchemaError as exc:
        raise ValidationFailed(
            f"answer_schema is not a JSON Schema: {exc.message}", detail={"field": "answer_schema"}
        ) from None
    if timeout_answer is not None:
        try:
            _validate(timeout_answer, answer_schema, "answer to use on timeout")
        except DecisionInvalid as exc:
            raise AnswerConflict(exc.message, detail={"field": "timeout_answer"}) from None
    return review_request_open(
        checkpoint=checkpoints.EXPLICIT,
        requester=requester,
        subject=f"identity:{requester.pk}",
        payload={"context": context},
        idempotency_key=idempotency_key,
        question=question,
        decisions=[Decision.ANSWER],
        answer_schema=answer_schema,
        reviewers_required=reviewers_required,
        agreement=agreement,
        pool=pool,
        pool_scope=pool_scope,
        timeout_seconds=timeout_seconds,
        on_timeout=TimeoutAction.ANSWER,
        timeout_answer=timeout_answer,
        price=price,
        continuation=continuation,
    )


# --- Taking and deciding ----------------------------------------------------------------------------------


def _require_reviewer(reviewer: Identity) -> User:
    if reviewer.kind != IdentityKind.HUMAN or reviewer.status != IdentityStatus.ACTIVE or reviewer.user is None:
        raise NotAReviewer()
    return reviewer.user


def _conflicted(request: ReviewRequest, user: User) -> bool:
    return request.pool != Pool.OWNER and user.pk in excluded_users(request)


def _below_panel_level(request: ReviewRequest, user: User, levels: dict[int, str]) -> bool:
    """Whether `user` is now below the levels of the panel they were invited to (`panel_levels`): a level
    can fall after the invitation (staff lower it). Checked for the panels of a checkpoint with a floor
    (`Checkpoint.min_reviewer_level`: disputes), read from the database once per take or decision (`levels`
    keeps it), so other panels' takes cost no query more. Staff's and owners' requests have no level."""
    if request.pool != Pool.PANEL or not checkpoints.CHECKPOINTS[request.checkpoint].min_reviewer_level:
        return False
    if user.pk not in levels:
        levels[user.pk] = party_level(user)
    return levels[user.pk] not in panel_levels(request)


def _verification_required(request: ReviewRequest) -> VerificationRequired:
    label = checkpoints.CHECKPOINTS[request.checkpoint].label
    return VerificationRequired.needed_for(
        f"Sitting on the panel of {label[:1].lower()}{label[1:]}", detail={"levels": panel_levels(request)}
    )


@transaction.atomic
def review_take_next(*, reviewer: Identity, checkpoint: str | None = None) -> ReviewAssignment | None:
    """Lease the next request offered to `reviewer` (SKIP LOCKED: reviewers taking at once get different
    ones), or None when nothing waits. A request whose parties now include the reviewer is passed over, and
    so is a panel whose level the reviewer is now below; when only such panels waited, VerificationRequired
    says why nothing was taken."""
    user = _require_reviewer(reviewer)
    passed: list[int] = []
    levels: dict[int, str] = {}
    below: ReviewRequest | None = None
    now = timezone.now()
    for _ in range(settings.CREDENCE_REVIEW_TAKE_ATTEMPTS):
        request = _next_offered(user, reviewer, checkpoint=checkpoint, passed=passed, now=now)
        if request is None:
            break
        if _conflicted(request, user):
            passed.append(request.pk)
            continue
        if _below_panel_level(request, user, levels):
            below = below or request
            passed.append(request.pk)
            continue
        assignment = ReviewAssignment.objects.create(
            request=request,
            reviewer=reviewer,
            lease_expires_at=now + timedelta(seconds=settings.CREDENCE_REVIEW_LEASE_SECONDS),
        )
        ReviewRequest.objects.filter(pk=request.pk).update(seats_open=F("seats_open") - 1, state=RequestState.ASSIGNED)
        if request.seats_open == 1:  # (as locked) its last seat: it leaves everyone's queue
            _queues_changed(request)
        _event(
            request,
            "assigned",
            reviewer,
            assignment=assignment.pk,
            lease_expires_at=assignment.lease_expires_at.isoformat(),
        )
        return assignment
    if below is not None:
        raise _verification_required(below)
    return None


def _next_offered(user, reviewer: Identity, *, checkpoint: str | None, passed: list[int], now) -> ReviewRequest | None:
    """Lock the soonest due request offered to `reviewer` that no one else is taking (SKIP LOCKED). Each pool's
    head is read first, unlocked; then the pools are tried in the order of their heads, so the soonest due
    wins across pools, and a pool whose head others hold gives its next request or yields to the next pool."""
    heads = []
    for queue in queues_of(user, reviewer):
        queue = queue.exclude(pk__in=passed).filter(due_at__gt=now)
        if checkpoint:
            queue = queue.filter(checkpoint=checkpoint)
        head = queue.values_list("due_at", "id").first()
        if head is not None:
            heads.append((head, queue))
    for _, queue in sorted(heads, key=lambda pair: pair[0]):
        request = queue.select_for_update(no_key=True, skip_locked=True, of=("self",)).first()
        if request is not None:
            return request
    return None


def _lock(request_id: int) -> ReviewRequest:
    return (
        ReviewRequest.objects.select_for_update(no_key=True, of=("self",))
        .select_related("requester")
        .get(pk=request_id)
    )


def _validate(value, schema: dict | None, what: str) -> None:
    if schema is None:
        return
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(the whole value)"
        raise DecisionInvalid(
            f"The {what} is refused at {where}: {first.message}", detail={"path": list(first.absolute_path)}
        )


def _verdict(kind: str, value) -> tuple[str, str]:
    return kind, json.dumps(value, sort_keys=True) if kind in (Decision.EDIT, Decision.ANSWER) else ""


@transaction.atomic
def review_decide(*, assignment_id: int, reviewer: Identity, kind: str, value=None, reason: str = "") -> ReviewRequest:
    """Record a reviewer's decision on their lease; when the panel agrees (first, majority, unanimous), the
    request is decided, its price is paid to the reviewers who decided and its continuation is queued."""
    user = _require_reviewer(reviewer)
    request_id = (
        ReviewAssignment.objects.filter(pk=assignment_id, reviewer=reviewer)
        .values_list("request_id", flat=True)
        .first()
    )
    if request_id is None:
        raise AssignmentNotFound()
    request = _lock(request_id)
    assignment = ReviewAssignment.objects.select_for_update(no_key=True).get(pk=assignment_id)
    if not request.is_open:
        raise ReviewClosed(detail={"state": request.state})
    now = timezone.now()
    if assignment.state != AssignmentState.LEASED or assignment.lease_expires_at <= now:
        raise LeaseExpired(detail={"assignment": assignment.state})
    if kind not in request.decisions:
        raise DecisionNotAllowed(
            f"This review allows: {', '.join(request.decisions)}.", detail={"allowed": request.decisions}
        )
    reason = (reason or "").strip()
    if kind in (Decision.EDIT, Decision.REJECT) and not reason:
        raise DecisionInvalid("Say why: an edit or a rejection needs a reason.", detail={"field": "reason"})
    if len(reason) > REASON_MAX:
        raise DecisionInvalid(f"A reason has at most {REASON_MAX} characters.", detail={"field": "reason"})
    if kind == Decision.EDIT:
        _validate(value, request.edit_schema, "edited payload")
    elif kind == Decision.ANSWER:
        _validate(value, request.answer_schema, "answer")
    else:
        value = None
    if _conflicted(request, user):
        raise ReviewerConflicted()
    if _below_panel_level(request, user, {}):
        raise _verification_required(request)
    ReviewDecision.objects.create(
        request=request, assignment=assignment, reviewer=reviewer, kind=kind, value=value, reason=reason
    )
    ReviewAssignment.objects.filter(pk=assignment.pk).update(state=AssignmentState.DECIDED, finished_at=now)
    _event(request, "decided", reviewer, decision=kind, value=value, reason=reason)
    _tally(request, now)
    request.refresh_from_db()
    return request


def _tally(request: ReviewRequest, now: datetime) -> None:
    decisions = list(request.review_decisions.order_by("id"))
    counts = Counter(_verdict(d.kind, d.value) for d in decisions)
    (top, top_count), *_ = counts.most_common(1)
    required = request.reviewers_required
    if request.agreement == Agreement.FIRST:
        winner = top if decisions else None
    elif request.agreement == Agreement.MAJORITY:
        winner = top if top_count >= required // 2 + 1 else None
        if winner is None and len(decisions) >= required:
            return _escalate(request, now, why="no majority")
    else:  # unanimous
        if len(counts) > 1:
            return _escalate(request, now, why="not unanimous")
        winner = top if top_count >= required else None
    if winner is None:
        return None
    chosen = next(d for d in decisions if _verdict(d.kind, d.value) == winner)
    deciders = [d.reviewer_id for d in decisions]
    outcome = {
        "decision": chosen.kind,
        "value": chosen.value,
        "reason": chosen.reason,
        "reviewers": [d.reviewer_id for d in decisions if _verdict(d.kind, d.value) == winner],
        "decided_by": deciders,
    }
    _finish(request, STATE_OF_DECISION[Decision(chosen.kind)], outcome, now)
    _pay_reviewers(request, deciders)
    return None


def _finish(request: ReviewRequest, state: str, outcome: dict, now: datetime, actor: Identity | None = None) -> None:
    """End an open request: record how, close the leases still open, queue its continuation after commit."""
    if request.seats_open > 0:  # (as locked) it was still offered: it leaves the queues it was in
        _queues_changed(request)
    updated = ReviewRequest.objects.filter(pk=request.pk, state__in=OPEN_STATES).update(
        state=state, outcome=outcome, finished_at=now, seats_open=0
    )
    if updated != 1:  # the row lock makes this impossible; the check keeps a future caller honest
        raise ReviewClosed()
    ReviewAssignment.objects.filter(request=request, state=AssignmentState.LEASED).update(
        state=AssignmentState.CLOSED, finished_at=now
    )
    request.state, request.outcome, request.finished_at = state, outcome, now
    _event(request, state, actor, outcome=outcome)
    event_emit(
        kind=events.REVIEW_FINISHED.name,
        subject=f"review:{request.pk}",
        payload={"state": state, "outcome": outcome},
        actor_identity_id=actor.pk if actor else None,
    )
    hooks.request_finished.send(request)
    from apps.reviews import tasks  # tasks import services: imported here, once a request needs resuming

    transaction.on_commit(partial(tasks.review_resume_soon, request.pk))


def _pay_reviewers(request: ReviewRequest, deciders: list[int]) -> None:
    """The price goes to the reviewers who decided, split evenly; the first to decide takes the remainder."""
    if not request.price or not deciders:
        return
    share, rest = divmod(request.price, len(deciders))
    wallets = {pk: wallet_for(identity) for pk, identity in Identity.objects.in_bulk(deciders).items()}
    lines = [(request.escrow, -request.price)]
    for i, pk in enumerate(deciders):
        lines.append((wallets[pk], share + (rest if i == 0 else 0)))
    ledger_transfer(
        lines=[line for line in lines if line[1]],
        kind="review_price_paid",
        idempotency_key=f"review:{request.pk}:settle",
        memo=f"Review #{request.pk} decided",
        metadata={"reviewers": deciders},
    )


def _refund(request: ReviewRequest, why: str) -> None:
    if not request.price:
        return
    ledger_transfer(
        lines=[(request.escrow, -request.price), (wallet_for(request.requester), request.price)],
        kind="review_price_returned",
        idempotency_key=f"review:{request.pk}:settle",
        memo=f"Review #{request.pk} {why}: its price returned",
    )


def _escalate(request: ReviewRequest, now: datetime, *, why: str) -> ReviewRequest:
    """The request ends escalated; a successor asks staff the same question, its price carried over."""
    _finish(request, RequestState.ESCALATED, {"escalated": why}, now)
    successor = ReviewRequest.objects.create(
        checkpoint=request.checkpoint,
        policy=request.policy,
        requester=request.requester,
        subject=request.subject,
        question=request.question,
        payload=request.payload,
        why={**request.why, "escalated": why, "from": request.pk},
        decisions=request.decisions,
        edit_schema=request.edit_schema,
        answer_schema=request.answer_schema,
        reviewers_required=1,
        agreement=Agreement.FIRST,
        pool=Pool.STAFF,
        pool_scope=request.pool_scope,
        pool_min_level=request.pool_min_level,
        seats_open=1,
        due_at=now + timedelta(seconds=settings.CREDENCE_REVIEW_STAFF_TIMEOUT_SECONDS),
        on_timeout=request.on_timeout if request.on_timeout != TimeoutAction.ESCALATE else TimeoutAction.REJECT,
        timeout_answer=request.timeout_answer,
        price=request.price,
        held=request.held,
        continuation=request.continuation,
        escalated_from=request,
        idempotency_key=f"{request.idempotency_key}:escalated",
        body_sha256=request.body_sha256,
    )
    if request.price or request.held:
        successor.escrow = Account.objects.create(kind=AccountKind.REVIEW_ESCROW, code=f"review:{successor.pk}:escrow")
        successor.save(update_fields=["escrow"])
        total = request.price + request.held
        ledger_transfer(
            lines=[(request.escrow, -total), (successor.escrow, total)],
            kind="review_price_carried",
            idempotency_key=f"review:{request.pk}:settle",
            memo=f"Review #{request.pk} escalated to #{successor.pk}",
        )
    _event(successor, "opened", None, escalated_from=request.pk, why=why)
    _announce_opened(successor)
    hooks.request_opened.send(successor, waiting_for(successor))
    return successor


@transaction.atomic
def review_cancel(*, request_id: int, by: Identity) -> ReviewRequest:
    """The requester (or, for an agent, its owner's person) withdraws an open request: the price comes back and
    the continuation runs, so whatever the pause held is released."""
    request = _lock(request_id)
    is_owner = by.kind == IdentityKind.HUMAN and by.user_id == request.requester.controller_id
    if by.pk != request.requester_id and not is_owner:
        raise NotFound("No such review.")
    if not request.is_open:
        raise ReviewClosed(detail={"state": request.state})
    now = timezone.now()
    _finish(request, RequestState.CANCELLED, {"cancelled_by": by.pk}, now, actor=by)
    _refund(request, "cancelled")
    return request


@transaction.atomic
def reviews_withdraw(*, checkpoint: str, subject: str, why: str) -> int:
    """Close the open requests of `subject` at `checkpoint` because what they asked was settled elsewhere
    (staff decided the dispute in the admin): cancelled, their price returned, their continuation run (it finds
    nothing left to do). Returns how many."""
    now = timezone.now()
    done = 0
    open_ids = ReviewRequest.objects.filter(checkpoint=checkpoint, subject=subject, state__in=OPEN_STATES)
    for request_id in open_ids.values_list("pk", flat=True):
        request = _lock(request_id)
        if not request.is_open:
            continue
        _finish(request, RequestState.CANCELLED, {"withdrawn": why}, now)
        _refund(request, "withdrawn")
        done += 1
    return done


@audited
def review_overrule(*, request_id: int, user: User, decision: str, value=None, reason: str) -> ReviewRequest:
    """Staff overrule a decided request (a panel's answer to a dispute, within its overrule window): what they
    decided instead is recorded on it and in its timeline, and counted against every reviewer whose decision it
    overturns (`reviewer_records`). The caller carries out what staff decided; this records the verdict."""
    staff_require(user, what="overrule a review")
    reason = (reason or "").strip()
    if not reason:
        raise DecisionInvalid("Say why: an overrule needs a reason.", detail={"field": "reason"})
    request = _lock(request_id)
    if request.state not in DECIDED_STATES or request.overruled_at is not None:
        raise ReviewClosed(
            "Only a decided review can be overruled, once.",
            detail={"state": request.state, "overruled": request.overruled_at is not None},
        )
    request.overruled_at = timezone.now()
    request.overruled_by = user
    request.overruled_outcome = {"decision": decision, "value": value}
    request.overrule_reason = reason[:REASON_MAX]
    request.save(update_fields=["overruled_at", "overruled_by", "overruled_outcome", "overrule_reason"])
    _event(request, "overruled", user.human_identity, decision=decision, value=value, reason=request.overrule_reason)
    audit_record(
        actor=user,
        action="review.overrule",
        obj=request,
        before={"state": request.state, "outcome": request.outcome},
        after={"overruled_outcome": request.overruled_outcome},
        reason=request.overrule_reason,
    )
    return request


# --- The sweep and resuming -------------------------------------------------------------------------------


def _lock_if_open(request_id: int) -> ReviewRequest | None:
    """Lock an open request unless another sweep holds it (it is doing the same work)."""
    return (
        # of=self: the requester's row is read, never locked (locking it would make a sweep skip every
        # request of that requester while another sweep works on one)
        ReviewRequest.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .select_related("requester")
        .filter(pk=request_id, state__in=OPEN_STATES)
        .first()
    )


def review_time_out(request: ReviewRequest, now: datetime) -> None:
    """Apply the request's timeout under its lock. A timeout is recorded as a timeout whatever it does."""
    if request.on_timeout == TimeoutAction.ESCALATE:
        _escalate(request, now, why="timed out")
        return
    outcome = {"timed_out": True, "applied": request.on_timeout, "value": request.timeout_answer}
    _finish(request, RequestState.TIMED_OUT, outcome, now)
    _refund(request, "timed out")


def reviews_sweep(*, now: datetime | None = None) -> dict:
    """Expired leases go back to the queue; requests past due time out. Each request in its own short
    transaction, taken with SKIP LOCKED: two sweeps racing apply each change exactly once."""
    now = now or timezone.now()
    expired = timed_out = 0
    lease_ids = list(
        ReviewAssignment.objects.filter(state=AssignmentState.LEASED, lease_expires_at__lte=now).values_list(
            "request_id", flat=True
        )[:1000]
    )
    for request_id in dict.fromkeys(lease_ids):
        with transaction.atomic():
            request = _lock_if_open(request_id)
            if request is None:
                continue
            leases = list(
                ReviewAssignment.objects.select_for_update(no_key=True).filter(
                    request=request, state=AssignmentState.LEASED, lease_expires_at__lte=now
                )
            )
            for lease in leases:
                ReviewAssignment.objects.filter(pk=lease.pk).update(state=AssignmentState.EXPIRED, finished_at=now)
                _event(request, "lease_expired", None, assignment=lease.pk, reviewer=lease.reviewer_id)
            still = ReviewAssignment.objects.filter(request=request).exclude(state=AssignmentState.EXPIRED).exists()
            ReviewRequest.objects.filter(pk=request.pk).update(
                seats_open=F("seats_open") + len(leases), state=RequestState.ASSIGNED if still else RequestState.PENDING
            )
            if request.seats_open == 0 and leases:  # (as locked) full until now: back in the queues
                _queues_changed(request)
            expired += len(leases)
    due = list(ReviewRequest.objects.filter(state__in=OPEN_STATES, due_at__lte=now).values_list("pk", flat=True)[:1000])
    for request_id in due:
        with transaction.atomic():
            request = _lock_if_open(request_id)
            if request is None or request.due_at > now:
                continue
            review_time_out(request, now)
            timed_out += 1
    stale = now - timedelta(seconds=settings.CREDENCE_REVIEW_RESUME_GRACE_SECONDS)
    unresumed = list(
        ReviewRequest.objects.filter(resumed_at__isnull=True, finished_at__lte=stale)
        .exclude(state__in=OPEN_STATES)
        .values_list("pk", flat=True)[:1000]
    )
    from apps.reviews import tasks

    for request_id in unresumed:
        tasks.review_resume_soon(request_id)
    return {"leases_expired": expired, "timed_out": timed_out, "resumes_queued": len(unresumed)}


def review_resume(*, request_id: int) -> dict | None:
    """Run a finished request's continuation, once: under the request's lock, in the transaction that marks it
    resumed. A second run (a retry, a redelivered task) finds it resumed and does nothing. A refusal the
    continuation raises (the market closed meanwhile) is recorded as its result, its writes undone."""
    with transaction.atomic():
        request = _lock(request_id)
        if request.resumed_at is not None or request.is_open:
            return None
        function = checkpoints.CONTINUATIONS.get(request.continuation) if request.continuation else None
        if request.state == RequestState.ESCALATED:
            function = None  # its successor carries what it held and resumes the work
        elif request.continuation and function is None:
            raise LookupError(f"No continuation {request.continuation!r} is registered (review #{request.pk}).")
        if request.held and request.state != RequestState.ESCALATED:
            # Given back first, in this transaction: the continuation spends it again (an approved order), so
            # approving cannot fail for want of credit that was there when the review was asked.
            ledger_transfer(
                lines=[(request.escrow, -request.held), (wallet_for(request.requester), request.held)],
                kind="review_released",
                idempotency_key=f"review:{request.pk}:release",
                memo=f"Review #{request.pk} finished: what it held, given back",
            )
        result: dict = {"continued": False}
        if function is not None:
            try:
                with transaction.atomic():
                    result = {"continued": True, **(function(request) or {})}
            except ApplicationError as exc:
                result = {"continued": False, "refused": exc.code, "message": exc.message}
        now = timezone.now()
        ReviewRequest.objects.filter(pk=request.pk).update(resumed_at=now, resume_result=result)
        _event(request, "resumed", None, result=result)
        event_emit(kind=events.REVIEW_RESUMED.name, subject=f"review:{request.pk}", payload={"result": result})
        return result
