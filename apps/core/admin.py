from django.contrib import admin

from apps.core.amounts import exact_credits
from apps.core.models import Event


def credits_column(field: str, label: str):
    """An admin column (a ModelAdmin attribute) that shows a micro-credit field as credits, every digit
    kept ("636.027921"): a moderator reads money, not micro-units, and investigates to the micro-credit."""

    @admin.display(description=f"{label} (credits)", ordering=field)
    def column(model_admin, obj) -> str:
        value = getattr(obj, field)
        return "" if value is None else exact_credits(value)

    return column


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
