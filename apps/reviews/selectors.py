"""Reads of the reviews app: a party's requests, a reviewer's queue, a request's timeline."""

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, DurationField, Exists, ExpressionWrapper, Min, OuterRef, Q, QuerySet, Subquery

from apps.accounts.models import User
from apps.core.metrics import TransactionStart
from apps.identities.models import Identity, IdentityKind
from apps.reviews.models import (
    DECIDED_STATES,
    OPEN_STATES,
    AssignmentState,
    Pool,
    ReviewAssignment,
    ReviewDecision,
    ReviewEvent,
    ReviewInvitation,
    ReviewRequest,
)

QUEUE_SHOWN = 20


def _with_links(requests: QuerySet[ReviewRequest]) -> QuerySet[ReviewRequest]:
    successor = ReviewRequest.objects.filter(escalated_from=OuterRef("pk")).values("pk")[:1]
    return requests.annotate(escalated_to_pk=Subquery(successor))


def review_by_id(review_id: int) -> ReviewRequest:
    return _with_links(ReviewRequest.objects.filter(pk=review_id)).get()


def reviews_of_party(identity: Identity) -> QuerySet[ReviewRequest]:
    """The requests `identity` may read as a requester, newest first: its own; for a person, also their agents'."""
    requests = ReviewRequest.objects.all()
    if identity.kind == IdentityKind.HUMAN:
        requests = requests.filter(requester__in=Identity.objects.filter(owner_id=identity.user_id)) | requests.filter(
            requester=identity
        )
    else:
        requests = requests.filter(requester=identity)
    return _with_links(requests).order_by("-id")


def offered_to(user: User, reviewer: Identity):
    """The open requests with a seat `reviewer` may take, soonest due first (for counting and showing; a take
    reads the queues by pool: `queues_of`)."""
    offered = Q(pool=Pool.OWNER, pool_user=user) | Q(pool=Pool.PANEL) & Exists(_invited(reviewer))
    if user.is_staff:
        offered |= Q(pool=Pool.STAFF)
    return _open_with_seat().filter(offered).exclude(Exists(_mine(reviewer))).order_by("due_at", "id")


def queues_of(user: User, reviewer: Identity) -> list[QuerySet[ReviewRequest]]:
    """`offered_to` as one queue per pool the reviewer is in, each soonest due first. Each is read from the head
    of its own index (reviews_open_seat_by_pool; for a panel, the reviewer's invitations), so taking the next
    request costs the same with ten requests waiting or ten thousand; an OR of the pools could not be read
    in order from any one index and would sort the whole queue on every take."""
    open_with_seat = _open_with_seat().exclude(Exists(_mine(reviewer))).order_by("due_at", "id")
    queues = [
        open_with_seat.filter(pool=Pool.OWNER, pool_user=user),
        open_with_seat.filter(pool=Pool.PANEL).filter(Exists(_invited(reviewer))),
    ]
    if user.is_staff:
        queues.append(open_with_seat.filter(pool=Pool.STAFF))
    return queues


def _open_with_seat() -> QuerySet[ReviewRequest]:
    return ReviewRequest.objects.filter(state__in=OPEN_STATES, seats_open__gt=0)


def _mine(reviewer: Identity) -> QuerySet[ReviewAssignment]:
    return ReviewAssignment.objects.filter(
        request=OuterRef("pk"), reviewer=reviewer, state__in=[AssignmentState.LEASED, AssignmentState.DECIDED]
    )


def _invited(reviewer: Identity) -> QuerySet[ReviewInvitation]:
    return ReviewInvitation.objects.filter(request=OuterRef("pk"), reviewer=reviewer)


def queue_of(reviewer: Identity, *, checkpoint: str | None = None) -> tuple[int, list[ReviewRequest]]:
    """How many requests wait for `reviewer`, and the first of them (soonest due first). Two queries."""
    if reviewer.kind != IdentityKind.HUMAN or reviewer.user is None:
        return 0, []
    queue = offered_to(reviewer.user, reviewer)
    if checkpoint:
        queue = queue.filter(checkpoint=checkpoint)
    return queue.count(), list(queue[:QUEUE_SHOWN])


def timeline(review: ReviewRequest) -> list[ReviewEvent]:
    return list(review.events.select_related("actor").order_by("id"))


# --- Reviewers' records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewerRecord:
    taken: int  # leases taken
    decided: int  # decisions made
    lease_expiries: int  # leases that ran out before a decision
    on_panels: int  # decisions on requests a panel (or an owner) went on to decide
    agreed: int  # of those, decisions the outcome agreed with
    overruled: int  # decisions for an outcome staff later overruled (they count as disagreeing, too)
    median_seconds: float | None  # from taking a request to deciding it

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.on_panels if self.on_panels else None

    @property
    def below_bar(self) -> bool:
        """The rule (docs/architecture.md, "Reviews"): after REVIEWER_BAR_MIN_DECISIONS decided requests, a reviewer
        whose decisions the outcome agreed with less than half the time, or who let more than half of their leases
        run out, leaves the panels (their agents' owner can still ask them; staff still review)."""
        if self.on_panels >= REVIEWER_BAR_MIN_DECISIONS and self.agreed * 2 < self.on_panels:
            return True
        return self.taken >= REVIEWER_BAR_MIN_DECISIONS and self.lease_expiries * 2 > self.taken


REVIEWER_BAR_MIN_DECISIONS = 10


def _verdict_matches(decision: ReviewDecision, outcome: dict) -> bool:
    return decision.kind == outcome.get("decision") and (
        decision.kind not in ("edit", "answer") or decision.value == outcome.get("value")
    )


def reviewer_records(reviewer_ids: list[int]) -> dict[int, ReviewerRecord]:
    """Each reviewer's record, in three queries whatever their number."""
    reviewer_ids = list(reviewer_ids)
    taken = Counter()
    expired = Counter()
    for reviewer_id, state in ReviewAssignment.objects.filter(reviewer_id__in=reviewer_ids).values_list(
        "reviewer_id", "state"
    ):
        taken[reviewer_id] += 1
        expired[reviewer_id] += state == AssignmentState.EXPIRED
    decided = Counter()
    on_panels = Counter()
    agreed = Counter()
    overruled = Counter()
    durations: dict[int, list[float]] = {pk: [] for pk in reviewer_ids}
    decisions = ReviewDecision.objects.filter(reviewer_id__in=reviewer_ids).select_related("request", "assignment")
    for decision in decisions:
        reviewer = decision.reviewer_id
        decided[reviewer] += 1
        durations[reviewer].append((decision.created_at - decision.assignment.created_at).total_seconds())
        request = decision.request
        if request.state in DECIDED_STATES:
            on_panels[reviewer] += 1
            if request.overruled_at is None:
                agreed[reviewer] += _verdict_matches(decision, request.outcome)
            else:  # staff's verdict is the outcome; a decision for the overturned one is scored against them
                agreed[reviewer] += _verdict_matches(decision, request.overruled_outcome)
                overruled[reviewer] += _verdict_matches(decision, request.outcome)
    return {
        pk: ReviewerRecord(
            taken=taken[pk],
            decided=decided[pk],
            lease_expiries=expired[pk],
            on_panels=on_panels[pk],
            agreed=agreed[pk],
            overruled=overruled[pk],
            median_seconds=statistics.median(durations[pk]) if durations[pk] else None,
        )
        for pk in reviewer_ids
    }


def reviewer_record(reviewer: Identity) -> ReviewerRecord:
    return reviewer_records([reviewer.pk])[reviewer.pk]


def decisions_of(reviewer: Identity) -> QuerySet[ReviewDecision]:
    """A reviewer's decisions, newest first, with their requests."""
    return ReviewDecision.objects.filter(reviewer=reviewer).select_related("request").order_by("-id")


def waiting_by_kind(reviewer: Identity) -> list[tuple[str, str, int]]:
    """What waits for `reviewer` counted by checkpoint and, for panels, by scope: (checkpoint, scope, count), one
    query whatever the number."""
    rows = (
        offered_to(reviewer.user, reviewer)
        .order_by()
        .values("checkpoint", "pool", "pool_scope")
        .annotate(waiting=Count("id"))
    )
    counts: Counter = Counter()
    for row in rows:
        counts[row["checkpoint"], row["pool_scope"] if row["pool"] == Pool.PANEL else ""] += row["waiting"]
    return [(checkpoint, scope, waiting) for (checkpoint, scope), waiting in sorted(counts.items())]


def leases_of(reviewer: Identity, *, now, limit: int) -> list[ReviewAssignment]:
    """The reviewer's leases still running, soonest to expire first, with their requests."""
    leases = ReviewAssignment.objects.filter(reviewer=reviewer, state=AssignmentState.LEASED, lease_expires_at__gt=now)
    return list(leases.select_related("request").order_by("lease_expires_at", "id")[:limit])


def assignment_of(reviewer: Identity, assignment_id: int) -> ReviewAssignment | None:
    """The reviewer's own assignment, with its request and requester; someone else's is None, as a missing one."""
    return (
        ReviewAssignment.objects.filter(pk=assignment_id, reviewer=reviewer)
        .select_related("request__requester")
        .first()
    )


def open_by_checkpoint() -> list[tuple[str, int, timedelta]]:
    """(checkpoint, open requests, age of the oldest) for each checkpoint with an open request, in one query
    over the open requests' partial index (/metrics). Ages are taken on the database's clock."""
    rows = (
        ReviewRequest.objects.filter(state__in=OPEN_STATES)
        .values("checkpoint")
        .annotate(
            depth=Count("id"),
            oldest=ExpressionWrapper(TransactionStart() - Min("created_at"), output_field=DurationField()),
        )
        .order_by("checkpoint")
    )
    return [(row["checkpoint"], row["depth"], max(row["oldest"], timedelta(0))) for row in rows]
