"""Checkpoint policies, review requests, their assignments, decisions and timeline.

The database holds the rules a service could forget: a policy has one current version per key; a request's
payload and why it fired never change, and its timeline and decisions are append-only (triggers, migration
0002); a reviewer takes a request at most once; an edit or a rejection carries its reason.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.identities.models import Identity
from apps.ledger.models import Account


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    EDIT = "edit", "Edit"
    REJECT = "reject", "Reject"
    ANSWER = "answer", "Answer"


class Agreement(models.TextChoices):
    FIRST = "first", "First answer"
    MAJORITY = "majority", "Majority"
    UNANIMOUS = "unanimous", "Unanimous"


class Pool(models.TextChoices):
    OWNER = "owner", "The requester's owner"
    STAFF = "staff", "Staff"
    PANEL = "panel", "A panel of reviewers"


class TimeoutAction(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    ESCALATE = "escalate", "Escalate to staff"
    ANSWER = "answer", "Use the default answer"


class ReviewerLevel(models.TextChoices):
    EMAIL_VERIFIED = "email_verified", "Email verified"
    VERIFIED_HUMAN = "verified_human", "Verified human"


class CheckpointPolicy(models.Model):
    """When a checkpoint pauses for a person, and how the review runs. Versioned: an edit is a new row with the
    next version, and the requests a version fired keep pointing at it."""

    key = models.SlugField(max_length=60)
    version = models.PositiveIntegerField()
    is_current = models.BooleanField(default=True)
    checkpoint = models.CharField(max_length=40)
    description = models.TextField(blank=True)
    condition = models.TextField(blank=True, help_text="CEL; empty means every time.")
    sample_percent = models.PositiveSmallIntegerField(default=100)
    decisions = models.JSONField(default=list)
    edit_schema = models.JSONField(null=True, blank=True)
    reviewers_required = models.PositiveSmallIntegerField(default=1)
    agreement = models.CharField(max_length=10, choices=Agreement.choices, default=Agreement.FIRST)
    pool = models.CharField(max_length=10, choices=Pool.choices)
    pool_min_level = models.CharField(
        max_length=20, choices=ReviewerLevel.choices, default=ReviewerLevel.VERIFIED_HUMAN
    )
    pool_min_reliability = models.FloatField(null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField()
    on_timeout = models.CharField(max_length=10, choices=TimeoutAction.choices)
    price = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "checkpoint policies"
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="reviews_policy_key_version_unique"),
            models.UniqueConstraint(
                fields=["key"], condition=Q(is_current=True), name="reviews_policy_one_current_version"
            ),
            models.CheckConstraint(
                condition=Q(sample_percent__gte=0, sample_percent__lte=100), name="reviews_policy_sample_percent"
            ),
            models.CheckConstraint(
                condition=Q(reviewers_required__gte=1, reviewers_required__lte=5),
                name="reviews_policy_reviewers_1_to_5",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="reviews_policy_price_non_negative"),
            models.CheckConstraint(condition=Q(timeout_seconds__gte=60), name="reviews_policy_timeout_a_minute"),
        ]
        indexes = [models.Index(fields=["checkpoint"], condition=Q(is_current=True), name="reviews_policy_current")]

    def __str__(self) -> str:
        return f"{self.key} v{self.version} ({self.checkpoint})"


class RequestState(models.TextChoices):
    PENDING = "pending", "Pending"
    ASSIGNED = "assigned", "Assigned"
    APPROVED = "approved", "Approved"
    EDITED = "edited", "Edited"
    REJECTED = "rejected", "Rejected"
    ANSWERED = "answered", "Answered"
    TIMED_OUT = "timed_out", "Timed out"
    ESCALATED = "escalated", "Escalated"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATES = (RequestState.PENDING, RequestState.ASSIGNED)
DECIDED_STATES = (RequestState.APPROVED, RequestState.EDITED, RequestState.REJECTED, RequestState.ANSWERED)
FINAL_STATES = (*DECIDED_STATES, RequestState.TIMED_OUT, RequestState.ESCALATED, RequestState.CANCELLED)


class ReviewRequest(models.Model):
    """One pause: what is asked, of whom, by when, and what happens next (`continuation`)."""

    checkpoint = models.CharField(max_length=40)
    policy = models.ForeignKey(CheckpointPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    requester = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="review_requests")
    subject = models.CharField(max_length=80)
    question = models.TextField(blank=True)
    payload = models.JSONField(default=dict)
    why = models.JSONField(default=dict)
    decisions = models.JSONField(default=list)
    edit_schema = models.JSONField(null=True, blank=True)
    answer_schema = models.JSONField(null=True, blank=True)
    reviewers_required = models.PositiveSmallIntegerField()
    agreement = models.CharField(max_length=10, choices=Agreement.choices)
    pool = models.CharField(max_length=10, choices=Pool.choices)
    # The owner pool's one reviewer; for a panel, the scope its reviewers are ranked in ("domain:<slug>").
    pool_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pool_scope = models.CharField(max_length=40, blank=True)
    pool_min_level = models.CharField(max_length=20, choices=ReviewerLevel.choices)
    pool_min_reliability = models.FloatField(null=True, blank=True)
    seats_open = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=10, choices=RequestState.choices, default=RequestState.PENDING)
    due_at = models.DateTimeField()
    on_timeout = models.CharField(max_length=10, choices=TimeoutAction.choices)
    timeout_answer = models.JSONField(null=True, blank=True)
    price = models.BigIntegerField(default=0)
    # What the paused work may spend (a paused order's budget), held from the requester with the price and
    # given back when the request resumes, just before its continuation spends it.
    held = models.BigIntegerField(default=0)
    escrow = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    outcome = models.JSONField(null=True, blank=True)
    continuation = models.CharField(max_length=60, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resume_result = models.JSONField(null=True, blank=True)
    # Staff overruling a decided request (a panel's answer to a dispute): what they decided instead, shaped
    # as `outcome` is ({"decision": ..., "value": ...}), by whom, why. Scored against the reviewers it overturns.
    overruled_at = models.DateTimeField(null=True, blank=True)
    overruled_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    overruled_outcome = models.JSONField(null=True, blank=True)
    overrule_reason = models.TextField(blank=True)
    escalated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="escalated_to"
    )
    idempotency_key = models.CharField(max_length=160)
    body_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["requester", "idempotency_key"], name="reviews_request_idempotent"),
            models.CheckConstraint(
                condition=Q(reviewers_required__gte=1, reviewers_required__lte=5),
                name="reviews_request_reviewers_1_to_5",
            ),
            models.CheckConstraint(
                condition=Q(seats_open__lte=F("reviewers_required")), name="reviews_request_seats_within_panel"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="reviews_request_price_non_negative"),
            models.CheckConstraint(condition=Q(held__gte=0), name="reviews_request_held_non_negative"),
            # A finished request says when and how; an open one has neither.
            models.CheckConstraint(
                condition=Q(state__in=OPEN_STATES, finished_at__isnull=True, outcome__isnull=True)
                | Q(~Q(state__in=OPEN_STATES), finished_at__isnull=False, outcome__isnull=False),
                name="reviews_request_finished_says_how",
            ),
            models.CheckConstraint(
                condition=~Q(pool=Pool.OWNER) | Q(pool_user__isnull=False),
                name="reviews_request_owner_pool_names_owner",
            ),
            # Only a decided request can be overruled, and an overrule says by whom, what and why.
            models.CheckConstraint(
                condition=Q(overruled_at__isnull=True, overruled_by__isnull=True, overruled_outcome__isnull=True)
                | Q(
                    state__in=DECIDED_STATES,
                    overruled_at__isnull=False,
                    overruled_by__isnull=False,
                    overruled_outcome__isnull=False,
                )
                & ~Q(overrule_reason=""),
                name="reviews_request_overrule_is_whole",
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state__in=OPEN_STATES), name="reviews_open_due"),
            models.Index(fields=["pool_user"], condition=Q(state__in=OPEN_STATES), name="reviews_open_owner"),
            # The head of each pool's queue (selectors.queues_of), soonest due first; a request leaves them when
            # its last seat is taken. The owner pool is read by its one reviewer, the others by pool.
            models.Index(
                fields=["pool", "due_at", "id"],
                condition=Q(state__in=OPEN_STATES, seats_open__gt=0),
                name="reviews_open_seat_by_pool",
            ),
            models.Index(
                fields=["pool_user", "due_at", "id"],
                condition=Q(state__in=OPEN_STATES, seats_open__gt=0),
                name="reviews_open_seat_by_owner",
            ),
            models.Index(
                fields=["finished_at"],
                condition=Q(resumed_at__isnull=True) & ~Q(state__in=OPEN_STATES),
                name="reviews_to_resume",
            ),
        ]

    def __str__(self) -> str:
        return f"review #{self.pk} {self.checkpoint} {self.subject} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class ReviewInvitation(models.Model):
    """Who may take a panel request: chosen when it opens (ranked, conflicts excluded)."""

    request = models.ForeignKey(ReviewRequest, on_delete=models.CASCADE, related_name="invitations")
    reviewer = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")
    rank = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "reviewer"], name="reviews_invitation_once"),
        ]
        indexes = [models.Index(fields=["reviewer", "request"], name="reviews_invited_reviewer")]

    def __str__(self) -> str:
        return f"review #{self.request_id} invites identity #{self.reviewer_id}"


class AssignmentState(models.TextChoices):
    LEASED = "leased", "Leased"
    DECIDED = "decided", "Decided"
    EXPIRED = "expired", "Lease expired"
    CLOSED = "closed", "Closed without a decision"


class ReviewAssignment(models.Model):
    """A reviewer's lease on a request: it ends in a decision, or expires and the seat goes back to the queue."""

    request = models.ForeignKey(ReviewRequest, on_delete=models.PROTECT, related_name="assignments")
    reviewer = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="review_assignments")
    state = models.CharField(max_length=10, choices=AssignmentState.choices, default=AssignmentState.LEASED)
    lease_expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Never one reviewer twice on a request: one lease or one decision each. A lease that expired
            # does not count (it went back to the queue, and its reviewer may take it again).
            models.UniqueConstraint(
                fields=["request", "reviewer"],
                condition=Q(state__in=["leased", "decided"]),
                name="reviews_assignment_one_per_reviewer",
            ),
        ]
        indexes = [
            models.Index(fields=["lease_expires_at"], condition=Q(state="leased"), name="reviews_lease_expiry"),
            models.Index(fields=["reviewer", "state"], name="reviews_assignment_reviewer"),
        ]

    def __str__(self) -> str:
        return f"review #{self.request_id} taken by identity #{self.reviewer_id} ({self.state})"


class ReviewDecision(models.Model):
    """A reviewer's verdict. Append-only; an edit or a rejection says why."""

    request = models.ForeignKey(ReviewRequest, on_delete=models.PROTECT, related_name="review_decisions")
    assignment = models.OneToOneField(ReviewAssignment, on_delete=models.PROTECT, related_name="decision")
    reviewer = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Decision.choices)
    value = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=[Decision.EDIT, Decision.REJECT]) | ~Q(reason=""),
                name="reviews_decision_edit_reject_say_why",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on review #{self.request_id} by identity #{self.reviewer_id}"


class ReviewEvent(models.Model):
    """A request's timeline: who did what, when. Append-only."""

    request = models.ForeignKey(ReviewRequest, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=30)
    actor = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["request", "id"], name="reviews_event_timeline")]

    def __str__(self) -> str:
        return f"{self.kind} on review #{self.request_id}"
