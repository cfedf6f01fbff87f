"""Reads of the webhooks app: an agent's subscriptions, a subscription's delivery log."""

from django.db.models import Prefetch, QuerySet

from apps.identities.models import Identity
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

ATTEMPTS_SHOWN = 20


def subscriptions_of(agent: Identity) -> QuerySet[WebhookSubscription]:
    """The agent's subscriptions, newest first (one query; no secret is read)."""
    return WebhookSubscription.objects.filter(agent=agent).order_by("-id")


def subscription_of(agent: Identity, subscription_id: int) -> WebhookSubscription | None:
    """The agent's subscription by id, or None: someone else's answers as a missing one."""
    return subscriptions_of(agent).filter(pk=subscription_id).first()


def deliveries_of(subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    """The delivery log, newest first, each with its attempts (newest first): two queries a page."""
    attempts = WebhookAttempt.objects.order_by("-id")
    return (
        WebhookDelivery.objects.filter(subscription=subscription)
        .order_by("-id")
        .prefetch_related(Prefetch("attempt_log", queryset=attempts))
    )


def delivery_of(subscription: WebhookSubscription, delivery_id: int) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(subscription=subscription, pk=delivery_id).first()
