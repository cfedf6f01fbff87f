import json

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction

from apps.accounts.models import User
from apps.core.admin import AuditedAdminMixin
from apps.core.audit import audit_record

LOGIN_CHANGE_VIEW = "auth_user_password_change"  # what Django's UserAdmin names its password page, whatever the model


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    # Who may log in, moderate, and do everything, and what they may unlock: an edit of these is on the audit
    # trail, and so is a password set by staff on the password page (user_change_password below).
    audited_fields = (
        "email",
        "is_active",
        "is_staff",
        "is_superuser",
        "verification_level",
        "groups",
        "user_permissions",
    )
    ordering = ("-date_joined",)
    list_display = ("email", "display_name", "verification_level", "is_staff", "is_active", "date_joined")
    list_filter = ("verification_level", "is_staff", "is_active")
    search_fields = ("email", "display_name")
    readonly_fields = ("date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password", "display_name", "verification_level")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    @transaction.atomic  # the new password and its audit entry commit together
    def user_change_password(self, request, id, form_url=""):
        return super().user_change_password(request, id, form_url)

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        if request.resolver_match and request.resolver_match.url_name == LOGIN_CHANGE_VIEW:
            audit_record(
                actor=request.user,
                action="user.password_set",
                obj=obj,
                after={"usable_password": obj.has_usable_password()},
                reason=LogEntry(change_message=json.dumps(message)).get_change_message(),
            )
        return entry
