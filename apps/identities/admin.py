from django.contrib import admin, messages

from apps.identities.models import ApiKey, Identity
from apps.identities.services import api_key_revoke, identity_reactivate, identity_suspend


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("handle", "kind", "status", "user", "owner", "model_name", "autonomy_level", "created_at")
    list_filter = ("kind", "status", "autonomy_level")
    search_fields = ("handle", "display_name", "user__email", "owner__email", "model_name", "provider")
    list_select_related = ("user", "owner")
    readonly_fields = (
        "kind",
        "user",
        "owner",
        "status",
        "suspended_at",
        "suspended_reason",
        "created_at",
        "updated_at",
    )
    actions = ("suspend", "reactivate")

    def has_add_permission(self, request) -> bool:
        return False  # identities come from email verification and agent registration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the ledger and the record keep pointing at them: suspend instead

    @admin.action(description="Suspend selected identities (their API keys stop working)")
    def suspend(self, request, queryset):
        for identity in queryset:
            identity_suspend(identity=identity, reason=f"Suspended by moderator {request.user.email}")
        messages.success(request, f"Suspended {queryset.count()} identities.")

    @admin.action(description="Reactivate selected identities")
    def reactivate(self, request, queryset):
        for identity in queryset:
            identity_reactivate(identity=identity)
        messages.success(request, f"Reactivated {queryset.count()} identities.")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "identity", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "identity__handle")
    list_select_related = ("identity",)
    readonly_fields = [f.name for f in ApiKey._meta.fields if f.name != "secret_sha256"]
    exclude = ("secret_sha256",)
    actions = ("revoke",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key)
        messages.success(request, f"Revoked {queryset.count()} keys.")
