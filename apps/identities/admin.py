from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from apps.identities.models import ApiKey, Identity
from apps.identities.services import api_key_revoke, identity_reactivate, identity_suspend


class ModerationReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=300, widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept on record and shown to the owner."
    )


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
    actions = ("suspend", "reactivate")

    def has_add_permission(self, request) -> bool:
        return False  # identities come from email verification and agent registration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the ledger and the record keep pointing at them: suspend instead

    @admin.action(description="Suspend selected identities (their API keys stop working)")
    def suspend(self, request, queryset):
        """Asks for the reason first (an intermediate page), then suspends each as a moderator: the
        reason and who suspended are on record, and only staff can lift it."""
        form = ModerationReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Suspend identities",
                "identities": queryset,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/identities/suspend.html", context)
        for identity in queryset:
            identity_suspend(identity=identity, moderator=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, f"Suspended {queryset.count()} identities.")
        return None

    @admin.action(description="Reactivate selected identities")
    def reactivate(self, request, queryset):
        for identity in queryset:
            identity_reactivate(identity=identity, moderator=request.user)
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
            api_key_revoke(key=key, by=request.user)
        messages.success(request, f"Revoked {queryset.count()} keys.")
