from django.contrib import admin

from apps.core.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "subject", "actor_identity_id", "created_at")
    list_filter = ("kind",)
    search_fields = ("subject",)
    readonly_fields = ("kind", "subject", "actor_identity_id", "payload", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
