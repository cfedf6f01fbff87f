"""Outgoing webhooks: an agent's subscriptions, their signing secrets, one delivery per (subscription,
event) and the log of each attempt. Written only by apps/webhooks/services.py."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.models import Event
from apps.identities.models import Identity


class SubscriptionState(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    # A delivery was given up after a day of retries; new events are still tried, and the first
    # delivery that succeeds makes the subscription active again.
    FAILING = "failing", "Failing"


class WebhookSubscription(models.Model):
    agent = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    url = models.CharField(max_length=2000)
    kinds = models.JSONField(default=list, help_text="The event kinds delivered (apps/core/events.py), sorted.")
    own_trades_only = models.BooleanField(
        default=False, help_text="trade.placed only for the agent's own trades (the issue's trade.filled)."
    )
    description = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=SubscriptionState.choices, default=SubscriptionState.ACTIVE)
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["agent", "-id"], name="webhooks_subscription_agent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="failing", failing_since__isnull=False) | ~Q(state="failing"),
                name="webhooks_failing_says_since",
            )
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} of agent {self.agent_id} ({self.state})"


class WebhookSecret(models.Model):
    """A signing secret (`whsec_<base64>`). Kept as it is, because the signer needs it (a hash could not
    sign); shown once, when it is created, and never logged, listed or sent again. A rotated secret keeps
    signing (`expires_at`) through the overlap, so receivers can switch without losing a delivery."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Set when a newer secret replaced it.")

    class Meta:
        indexes = [models.Index(fields=["subscription", "-id"], name="webhooks_secret_current")]

    def __str__(self) -> str:  # never the secret itself
        return f"secret {self.pk} of webhook {self.subscription_id}"

    def __repr__(self) -> str:
        return f"<WebhookSecret {self.pk} of webhook {self.subscription_id}>"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event (or a test ping: no event, its `payload` kept here) for one subscription. Its
    `webhook-id` is the same on every attempt and redelivery: `evt_<event id>`, or `ping_<delivery id>`."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=64)
    payload = models.JSONField(null=True, blank=True, help_text="A ping's data (events are read from the outbox).")
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    first_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Retries stop a day after it.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhooks_delivery_once"),
        ]
        indexes = [
            # The sender's queue: only pending rows, soonest due first.
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="webhooks_delivery_due"),
            models.Index(fields=["subscription", "-id"], name="webhooks_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.kind}) to webhook {self.subscription_id}: {self.state}"

    @property
    def message_id(self) -> str:
        return f"evt_{self.event_id}" if self.event_id is not None else f"ping_{self.pk}"


class WebhookAttempt(models.Model):
    """One POST (or one refusal before any connection): the delivery log's row."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["delivery", "-id"], name="webhooks_attempt_log")]

    def __str__(self) -> str:
        return f"attempt {self.pk} of delivery {self.delivery_id}: {self.status_code or self.error}"
