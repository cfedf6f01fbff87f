"""Staff look at hosted agents and their runs here, and stop or start an agent (the staff kill switch: an owner
cannot lift it). Both are view-only pages: owners set agents up through their pages and the API, only a run
writes its record, and a save from a change form would write back a stale copy of a row whose spending a run
is counting. A hosted agent's secrets (a model endpoint's key) are never shown, only their names."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.html import format_html

from apps.agents import selectors, services
from apps.agents.models import AgentOrder, AgentRun, HostedAgent
from apps.core.admin import ReadOnlyAdmin, credits_column


class StopReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=300, widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept on record and shown to the owner."
    )


@admin.register(HostedAgent)
class HostedAgentAdmin(ReadOnlyAdmin):
    list_display = ("agent", "owner", "strategy", "stopped_by", "next_run_at", "spent_today_credits")
    list_filter = ("strategy", "stopped_by")
    search_fields = ("identity__handle", "identity__owner__email")
    list_select_related = ("identity__owner",)
    exclude = ("secrets",)
    readonly_fields = (*(f.name for f in HostedAgent._meta.fields if f.name != "secrets"), "secrets_kept")
    actions = ("stop", "start")
    spent_today_credits = credits_column("spent_today", "Spent today")

    @admin.display(description="Agent", ordering="identity__handle")
    def agent(self, obj: HostedAgent) -> str:
        return f"@{obj.identity.handle}"

    @admin.display(description="Owner", ordering="identity__owner__email")
    def owner(self, obj: HostedAgent) -> str:
        return obj.identity.owner.email if obj.identity.owner_id else ""

    @admin.display(description="Secrets")
    def secrets_kept(self, obj: HostedAgent) -> str:
        """Which secrets are stored, never what they are."""
        return ", ".join(f"{name} (set)" for name in sorted(obj.secrets or {})) or "none"

    @admin.action(description="Stop (staff kill switch)")
    def stop(self, request, queryset):
        """Asks for the reason first (an intermediate page), then stops each as staff: no run starts, a running
        one ends before its next order, and only staff can start it again."""
        form = StopReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Stop hosted agents",
                "agents": queryset.select_related("identity"),
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/agents/stop.html", context)
        for hosted in queryset:
            services.hosted_agent_stop(hosted=hosted, by=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, f"Stopped {queryset.count()} hosted agents.")
        return None

    @admin.action(description="Start")
    def start(self, request, queryset):
        for hosted in queryset:
            services.hosted_agent_start(hosted=hosted, by=request.user)
        messages.success(request, f"Started {queryset.count()} hosted agents.")


class OrderInline(admin.TabularInline):
    model = AgentOrder
    fields = ("step", "claim_id", "trade", "review", "spent_credits", "refused", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("step",)
    spent_credits = credits_column("spent", "Spent")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "agent", "trigger", "state", "outcome", "orders_placed", "spent_credits", "created_at")
    list_filter = ("state", "trigger")
    search_fields = ("agent__identity__handle", "outcome", "error")
    list_select_related = ("agent__identity",)
    inlines = (OrderInline,)
    readonly_fields = (*(f.name for f in AgentRun._meta.fields), "journal_pretty")
    spent_credits = credits_column("spent", "Spent")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("traceback")  # a list never shows them
        return queryset

    @admin.display(description="Journal")
    def journal_pretty(self, obj: AgentRun) -> str:
        journal = json.dumps(selectors.journal_of(obj), indent=2, ensure_ascii=False)
        return format_html('<pre class="readonly">{}</pre>', journal)
