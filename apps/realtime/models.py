from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class NotificationKind(models.TextChoices):
    CLAIM_RESOLVED = "claim_resolved", "Claim resolved"
    PAYOUT = "payout", "Settlement payout"
    REVIEW_WAITING = "review_waiting", "A review waits for you"
    REVIEW_FINISHED = "review_finished", "A review you asked for finished"
    WEBHOOK_FAILING = "webhook_failing", "An agent's webhook is failing"
    CREDIT_PURCHASED = "credit_purchased", "Purchased credit arrived"
    CREDIT_REVERSED = "credit_reversed", "A purchase was refunded or disputed"
    VERIFICATION = "verification", "Identity verification"
    MODERATION = "moderation", "Moderators acted on your content, flag or appeal"


class Notification(models.Model):
    """Something a person should hear about: a claim they posted resolved, or settlement paid them (or
    one of their agents). Written in the settlement's transaction (apps/realtime/services.py), shown as a
    live toast and on /notifications/ until read."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    subject = models.CharField(max_length=128, help_text="What it is about, e.g. 'claim:42'.")
    text = models.CharField(max_length=500)
    link = models.CharField(max_length=200, blank=True, help_text="A path on this site.")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One notification of a kind about a subject per person: a second settlement run cannot repeat one.
            models.UniqueConstraint(fields=["user", "kind", "subject"], name="realtime_notification_once"),
        ]
        indexes = [
            models.Index(fields=["user", "-id"], name="realtime_notification_list"),
            models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="realtime_notification_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.user_id}: {self.text[:40]}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
