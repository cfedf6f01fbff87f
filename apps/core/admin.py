from django.contrib import admin

from apps.core.models import Event


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that only a service may write (the outbox, the ledger): the admin only looks."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "subject", "actor_identity_id", "created_at")
    list_filter = ("kind",)
    search_fields = ("subject",)
    readonly_fields = ("kind", "subject", "actor_identity_id", "payload", "created_at")
