"""Reads of the reviews app: a party's requests, a reviewer's queue, a request's timeline."""

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from apps.accounts.models import User
from apps.identities.models import Identity, IdentityKind
from apps.reviews.models import (
    OPEN_STATES,
    AssignmentState,
    Pool,
    ReviewAssignment,
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
    """The open requests with a seat `reviewer` may take, soonest due first."""
    mine = ReviewAssignment.objects.filter(
        request=OuterRef("pk"), reviewer=reviewer, state__in=[AssignmentState.LEASED, AssignmentState.DECIDED]
    )
    invited = ReviewInvitation.objects.filter(request=OuterRef("pk"), reviewer=reviewer)
    offered = Q(pool=Pool.OWNER, pool_user=user) | Q(pool=Pool.PANEL) & Exists(invited)
    if user.is_staff:
        offered |= Q(pool=Pool.STAFF)
    return (
        ReviewRequest.objects.filter(state__in=OPEN_STATES, seats_open__gt=0)
        .filter(offered)
        .exclude(Exists(mine))
        .order_by("due_at", "id")
    )


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
