"""Staff manage checkpoint policies here (an edit saves a new version; a policy that cannot be checked is
refused with the reason, never saved) and look at review requests with their timeline."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from apps.core.admin import AuditedAdminMixin, ReadOnlyAdmin, credits_column
from apps.core.audit import audit_record
from apps.core.errors import ApplicationError
from apps.reviews import services
from apps.reviews.models import CheckpointPolicy, ReviewDecision, ReviewEvent, ReviewRequest


class PolicyForm(forms.ModelForm):
    class Meta:
        model = CheckpointPolicy
        fields = ("key", *services.POLICY_FIELDS)

    def clean(self):
        cleaned = super().clean()
        values = {name: cleaned.get(name) for name in services.POLICY_FIELDS}
        try:
            services.policy_check(values)
        except ApplicationError as exc:
            field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
            if field in self.fields:
                raise ValidationError({field: exc.message}) from None
            raise ValidationError(exc.message) from None
        return cleaned


@admin.register(CheckpointPolicy)
class CheckpointPolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = PolicyForm
    # A revision is recorded on the new version, with the old version's values as its before.
    audited_fields = ("key", *services.POLICY_FIELDS)
    list_display = ("key", "version", "is_current", "checkpoint", "pool", "reviewers_required", "created_at")
    list_filter = ("is_current", "checkpoint", "pool")
    search_fields = ("key", "description", "condition")
    readonly_fields = ("version", "is_current", "created_by", "created_at")
    actions = ("retire",)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_current:  # an old version is history: it is only read
            return [field.name for field in CheckpointPolicy._meta.fields]
        if obj is not None:
            return (*self.readonly_fields, "key")
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # requests point at the version that fired them

    def save_model(self, request: HttpRequest, obj: CheckpointPolicy, form, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in services.POLICY_FIELDS}
        if change:
            revised = services.policy_revise(policy=obj, created_by=request.user, **values)
            messages.info(request, f"Saved as version {revised.version}; version {obj.version} stays as it was.")
            obj.pk = revised.pk  # the admin's redirect shows the new version
        else:
            created = services.policy_create(key=form.cleaned_data["key"], created_by=request.user, **values)
            obj.pk = created.pk

    @admin.action(description="Retire the selected policies (no version stays current)")
    def retire(self, request: HttpRequest, queryset) -> None:
        for policy in queryset.filter(is_current=True):
            with transaction.atomic():  # the retirement and its audit entry commit together
                services.policy_retire(policy=policy)
                audit_record(
                    actor=request.user,
                    action="checkpointpolicy.retire",
                    obj=policy,
                    before={"is_current": True},
                    after={"is_current": False},
                )
        messages.info(request, "Retired.")


class EventInline(admin.TabularInline):
    model = ReviewEvent
    fields = ("created_at", "kind", "actor", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("id",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DecisionInline(EventInline):
    model = ReviewDecision
    fields = ("created_at", "reviewer", "kind", "value", "reason")
    readonly_fields = fields


@admin.register(ReviewRequest)
class ReviewRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "checkpoint", "subject", "state", "requester", "pool", "due_at", "price_credits")
    list_filter = ("state", "checkpoint", "pool")
    search_fields = ("subject", "question", "requester__handle")
    list_select_related = ("requester",)
    inlines = (DecisionInline, EventInline)
    price_credits = credits_column("price", "Price")
    readonly_fields = [field.name for field in ReviewRequest._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is not None and request.user.is_staff  # to look at one (every field is read-only)
