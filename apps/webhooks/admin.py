"""Staff look at subscriptions and deliveries; nothing here shows or edits a secret (WebhookSecret is not
registered, and no admin lists it)."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("id", "agent", "url", "state", "consecutive_failures", "failing_since", "created_at")
    list_filter = ("state",)
    search_fields = ("url", "agent__handle")
    list_select_related = ("agent",)
    fields = (
        "agent",
        "url",
        "kinds",
        "own_trades_only",
        "description",
        "state",
        "failing_since",
        "consecutive_failures",
        "created_at",
        "updated_at",
    )


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "subscription", "kind", "state", "attempts", "last_status_code", "next_attempt_at")
    list_filter = ("state", "kind")
    list_select_related = ("subscription",)
    fields = (
        "subscription",
        "event",
        "kind",
        "payload",
        "state",
        "attempts",
        "created_at",
        "first_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "last_status_code",
        "last_error",
        "last_duration_ms",
    )
    raw_id_fields = ("subscription", "event")
    inlines = [AttemptInline]
