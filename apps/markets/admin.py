"""Moderators decide disputes and void claims here, through the same services as everything else."""

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin import ReadOnlyAdmin, credits_column
from apps.core.errors import ApplicationError
from apps.markets.models import Claim, ClaimStatus, Domain, Outcome, Trade
from apps.markets.resolution import claim_void, dispute_decide


class DecideForm(forms.Form):
    outcome = forms.ChoiceField(choices=Outcome.choices)
    reason = forms.CharField(widget=forms.Textarea, max_length=2000, help_text="Required; shown in the record.")


class VoidForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea, max_length=2000, help_text="Required; shown in the record.")


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("slug", "name")
    search_fields = ("slug", "name")


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "status", "domain", "author", "closes_at", "settled_at")
    list_filter = ("status", "domain")
    search_fields = ("title", "author__handle")
    list_select_related = ("domain", "author")
    readonly_fields = (
        "author",
        "status",
        "opens_at",
        "closes_at",
        "resolve_by",
        "liquidity_credits",
        "challenge_window",
        "settled_at",
        "criteria",
        "moderation",
    )
    fields = ("title", "domain", "tags", *readonly_fields)
    liquidity_credits = credits_column("liquidity", "Liquidity")

    def has_add_permission(self, request) -> bool:
        return False  # claims are created by their authors

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Moderation")
    def moderation(self, claim: Claim) -> str:
        links = []
        if claim.status == ClaimStatus.DISPUTED:
            answered = getattr(getattr(claim, "resolution", None), "review_outcome", "")
            links.append(
                format_html(
                    '<a class="button" href="{}">{}</a>',
                    reverse("admin:markets_claim_decide", args=[claim.pk]),
                    "Confirm or overrule the panel" if answered else "Decide the dispute",
                )
            )
        if claim.settled_at is None and claim.status != ClaimStatus.VOIDED:
            links.append(
                format_html(
                    '<a class="button" href="{}">Void the claim</a>',
                    reverse("admin:markets_claim_void", args=[claim.pk]),
                )
            )
        return format_html(" ".join(["{}"] * len(links)), *links) if links else "—"

    def get_urls(self):
        extra = [
            path("<int:claim_id>/decide/", self.admin_site.admin_view(self.decide_view), name="markets_claim_decide"),
            path("<int:claim_id>/void/", self.admin_site.admin_view(self.void_view), name="markets_claim_void"),
        ]
        return extra + super().get_urls()

    def _moderate(self, request: HttpRequest, claim_id: int, form_class, title: str, act) -> HttpResponse:
        if not self.has_change_permission(request):
            raise Http404
        claim = Claim.objects.filter(pk=claim_id).select_related("resolution").first()
        if claim is None:
            raise Http404
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                act(claim, request.user, form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"{title}: done.")
                return redirect("admin:markets_claim_change", claim.pk)
        context = {
            **self.admin_site.each_context(request),
            "claim": claim,
            "form": form,
            "title": title,
            "opts": self.model._meta,
        }
        return render(request, "admin/markets/moderate.html", context)

    def decide_view(self, request: HttpRequest, claim_id: int) -> HttpResponse:
        return self._moderate(
            request,
            claim_id,
            DecideForm,
            "Decide the dispute",
            lambda claim, user, data: dispute_decide(
                claim=claim, user=user, outcome=data["outcome"], reason=data["reason"]
            ),
        )

    def void_view(self, request: HttpRequest, claim_id: int) -> HttpResponse:
        return self._moderate(
            request,
            claim_id,
            VoidForm,
            "Void the claim",
            lambda claim, user, data: claim_void(claim=claim, user=user, reason=data["reason"]),
        )


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "market",
        "identity",
        "side",
        "shares",
        "cost_credits",
        "fee_credits",
        "price_after",
        "created_at",
    )
    cost_credits = credits_column("cost", "Cost")
    fee_credits = credits_column("fee", "Fee")
    list_select_related = ("market", "identity")
    search_fields = ("identity__handle",)
