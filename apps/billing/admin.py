"""Staff edit the credit packages, and look at purchases, debts, Stripe's events and verifications. Money moves
only through the services: the admin replays an event (the same processing as the webhook), nothing else."""

from django.contrib import admin, messages

from apps.billing.models import CreditPackage, Debt, Purchase, StripeEvent, Verification
from apps.billing.services import stripe_events_retry
from apps.core.admin import AuditedAdminMixin, ReadOnlyAdmin, credits_column
from apps.core.amounts import format_credits
from apps.ledger.models import Account, AccountKind


@admin.register(CreditPackage)
class CreditPackageAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audited_fields = ("name", "credits", "price", "currency", "active", "position")  # what people pay, for what
    list_display = ("name", "credits_shown", "price", "currency", "active", "position")
    list_editable = ("active", "position")
    credits_shown = credits_column("credits", "Credits")


class OwesFilter(admin.SimpleListFilter):
    title = "the buyer owes"
    parameter_name = "owes"

    def lookups(self, request, model_admin):
        return [("yes", "Yes: a debt is open")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            debtors = Account.objects.filter(kind=AccountKind.DEBT, balance__lt=0).values("identity_id")
            return queryset.filter(identity_id__in=debtors)
        return queryset


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "credits_shown",
        "amount",
        "currency",
        "status",
        "reversed_shown",
        "dispute_status",
        "created_at",
    )
    list_filter = ("status", "dispute_status", OwesFilter)
    search_fields = ("user__email", "stripe_session_id", "payment_intent_id")
    list_select_related = ("user",)
    credits_shown = credits_column("credits", "Credits")
    reversed_shown = credits_column("reversed_credits", "Taken back")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "created", "received_at", "processed_at", "attempts", "outcome")
    list_filter = ("type", ("processed_at", admin.EmptyFieldListFilter))
    search_fields = ("id", "payment_intent_id")
    actions = ("replay",)

    @admin.action(description="Process again (the unprocessed ones among those selected)")
    def replay(self, request, queryset):
        done = stripe_events_retry(event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{done} event(s) processed now.", messages.SUCCESS)


@admin.register(Verification)
class VerificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "method", "status", "flagged", "flag_reason", "created_at")
    list_filter = ("method", "status", "flagged")
    search_fields = ("user__email", "stripe_session_id", "fingerprint")
    list_select_related = ("user",)
    exclude = ("fingerprint",)


@admin.register(Debt)
class DebtAdmin(ReadOnlyAdmin):
    list_display = ("identity", "owed", "created_at")
    search_fields = ("identity__handle",)
    list_select_related = ("identity",)

    @admin.display(description="Owed (credits)")
    def owed(self, obj):
        return format_credits(-obj.balance)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=AccountKind.DEBT, balance__lt=0)
