"""The ledger in the admin is for looking only: every movement goes through ledger_transfer."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin, credits_column
from apps.ledger.models import Account, Entry, Transfer


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ("account", "amount_credits", "balance_after_credits", "created_at")
    readonly_fields = fields
    extra = 0
    amount_credits = credits_column("amount", "Amount")
    balance_after_credits = credits_column("balance_after", "Balance after")
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "code", "identity", "balance_credits", "created_at")
    balance_credits = credits_column("balance", "Balance")
    list_filter = ("kind",)
    search_fields = ("code", "identity__handle")
    list_select_related = ("identity",)


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "idempotency_key", "memo", "created_at")
    list_filter = ("kind",)
    search_fields = ("idempotency_key", "memo")
    inlines = (EntryInline,)
