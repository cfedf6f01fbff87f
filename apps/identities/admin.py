"""Identities and API keys in the admin. A moderator's actions on an identity (suspend, with or without their
agents, lift, revoke every key, freeze the wallet) are added by apps/moderation/admin.py, which registers a
subclass of IdentityAdmin: they go through `moderation_act` (the person is told, and may appeal), and this
layer may not import moderation."""

from django.contrib import admin, messages

from apps.identities.models import ApiKey, Identity
from apps.identities.services import api_key_revoke


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = (
        "handle",
        "kind",
        "status",
        "suspended_as",
        "user",
        "owner",
        "model_name",
        "autonomy_level",
        "created_at",
    )
    list_filter = ("kind", "status", "suspended_as", "autonomy_level")
    search_fields = ("handle", "display_name", "user__email", "owner__email", "model_name", "provider")
    list_select_related = ("user", "owner", "suspended_by")
    readonly_fields = (
        "kind",
        "user",
        "owner",
        "status",
        "suspended_at",
        "suspended_as",
        "suspended_by",
        "suspended_reason",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request) -> bool:
        return False  # identities come from email verification and agent registration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the ledger and the record keep pointing at them: suspend instead


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
            api_key_revoke(key=key, by=request.user)
        messages.success(request, f"Revoked {queryset.count()} keys.")
