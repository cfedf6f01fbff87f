"""Flags, moderators' actions and appeals. The queue is the reviews app's (a flag is a `moderation.flag`
review request in the staff pool; an appeal a `moderation.appeal` one), and every action's audit entry is
core's AuditEntry: these rows are what the people involved see and what an appeal points at."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.identities.models import Identity
from apps.reviews.models import ReviewRequest


class Target(models.TextChoices):
    CLAIM = "claim", "Claim"
    CLARIFICATION = "clarification", "Clarification"
    BELIEF = "belief", "Belief's rationale"
    IDENTITY = "identity", "Identity"


class FlagReason(models.TextChoices):
    SPAM = "spam", "Spam or advertising"
    ABUSE = "abuse", "Harassment or abuse"
    MISLEADING = "misleading", "Misleading or manipulative"
    UNRESOLVABLE = "unresolvable", "Cannot be resolved as written"
    DUPLICATE = "duplicate", "Duplicate of another claim"
    IMPERSONATION = "impersonation", "Impersonation or a fake account"
    ILLEGAL = "illegal", "Illegal content or private information"
    OTHER = "other", "Something else (say what in the note)"


class FlagStatus(models.TextChoices):
    OPEN = "open", "Open"
    UPHELD = "upheld", "Upheld"
    DISMISSED = "dismissed", "Dismissed"
    CLOSED = "closed", "Closed"


class Flag(models.Model):
    """Someone asks moderators to look at something. Its review request carries it through the staff queue."""

    flagger = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="flags_raised")
    target_type = models.CharField(max_length=16, choices=Target.choices)
    target_id = models.BigIntegerField()
    # The person (user id) answerable for the target: its author, or the identity's controller. Copied at
    # flagging time: the queue filters and the conflict rule read it without a join per kind of target.
    party = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=16, choices=FlagReason.choices)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    review = models.OneToOneField(ReviewRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.ForeignKey(
        "ModerationAction", null=True, blank=True, on_delete=models.PROTECT, related_name="flags"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["flagger", "target_type", "target_id"],
                condition=Q(status="open"),
                name="moderation_one_open_flag_per_flagger",
            ),
        ]
        indexes = [
            models.Index(fields=["target_type", "target_id", "status"], name="moderation_flag_target"),
            models.Index(fields=["flagger", "-created_at"], name="moderation_flag_flagger"),
            models.Index(fields=["status", "-created_at"], name="moderation_flag_status"),
        ]

    def __str__(self) -> str:
        return f"Flag #{self.pk} on {self.target_type} #{self.target_id} ({self.reason})"

    @property
    def subject(self) -> str:
        return f"{self.target_type}:{self.target_id}"


class ActionKind(models.TextChoices):
    HIDE = "hide", "Hide"
    RESTORE = "restore", "Restore"
    EDIT = "edit", "Edit the claim"
    CLARIFY = "clarify", "Add a clarification"
    VOID = "void", "Void the claim"
    SUSPEND = "suspend", "Suspend"
    SUSPEND_PARTY = "suspend_party", "Suspend the person and all their agents"
    REACTIVATE = "reactivate", "Lift the suspension"
    REVOKE_KEYS = "revoke_keys", "Revoke all API keys"
    FREEZE = "freeze", "Freeze the wallet"
    UNFREEZE = "unfreeze", "Unfreeze the wallet"


# What undoes an action, when an appeal is granted (an edit, a clarification and a void are not undone by
# an appeal: the words people trade on, and a market's refunds, stand; the appeal is answered in words).
REVERSAL = {
    ActionKind.HIDE: ActionKind.RESTORE,
    ActionKind.SUSPEND: ActionKind.REACTIVATE,
    ActionKind.SUSPEND_PARTY: ActionKind.REACTIVATE,
    ActionKind.FREEZE: ActionKind.UNFREEZE,
}
# The actions a person may appeal (once): those an appeal can undo. A void (its refunds are paid), a moderator's
# clarification (the words people trade on) and revoked keys (the owner makes new ones) are final; the person
# is told why all the same.
APPEALABLE = (*REVERSAL, ActionKind.EDIT)


class ModerationAction(models.Model):
    """What a moderator did, to what, and why: what the person affected reads, and what they may appeal."""

    kind = models.CharField(max_length=16, choices=ActionKind.choices)
    target_type = models.CharField(max_length=16, choices=Target.choices)
    target_id = models.BigIntegerField()
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The person affected (told, and the one who may appeal).
    party = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500)
    detail = models.JSONField(default=dict, blank=True)
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["target_type", "target_id", "-id"], name="moderation_action_target"),
            models.Index(fields=["party", "-id"], name="moderation_action_party"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.target_type} #{self.target_id}"

    @property
    def subject(self) -> str:
        return f"{self.target_type}:{self.target_id}"

    @property
    def appealable(self) -> bool:
        return self.kind in APPEALABLE


class AppealStatus(models.TextChoices):
    OPEN = "open", "Waiting for a moderator"
    GRANTED = "granted", "Granted: the action was undone"
    DENIED = "denied", "Denied: the action stands"


class Appeal(models.Model):
    """The person affected asks, once, for an action to be looked at again, by another moderator."""

    action = models.OneToOneField(ModerationAction, on_delete=models.PROTECT, related_name="appeal")
    appellant = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="appeals")
    statement = models.TextField()
    status = models.CharField(max_length=8, choices=AppealStatus.choices, default=AppealStatus.OPEN)
    review = models.OneToOneField(ReviewRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "-id"], name="moderation_appeal_status")]

    def __str__(self) -> str:
        return f"Appeal of action #{self.action_id} ({self.status})"
