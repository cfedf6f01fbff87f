"""What every app's admin shares: read-only pages for what only services write, credits shown as credits,
the audit trail (its own list and export, an object's history on its change page) and the mixin that puts an
admin edit of a privileged field on that trail."""

import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.core.amounts import exact_credits
from apps.core.audit import audit_record
from apps.core.models import AuditEntry, Event


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


# --- Filters moderators share -----------------------------------------------------------------------------


class RecentFilter(admin.SimpleListFilter):
    """Rows created in the last day or week (a subclass names another date field)."""

    title = "recent"
    parameter_name = "recent"
    field = "created_at"
    WINDOWS = {"24h": ("Last 24 hours", timedelta(hours=24)), "7d": ("Last 7 days", timedelta(days=7))}

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.WINDOWS.items()]

    def queryset(self, request, queryset):
        if self.value() in self.WINDOWS:
            return queryset.filter(**{f"{self.field}__gte": timezone.now() - self.WINDOWS[self.value()][1]})
        return queryset


class HiddenFilter(admin.SimpleListFilter):
    """Hideable content: hidden by a moderator, or shown."""

    title = "hidden"
    parameter_name = "hidden"

    def lookups(self, request, model_admin):
        return [("yes", "Hidden"), ("no", "Shown")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(hidden_at__isnull=self.value() == "no")
        return queryset


# --- The audit trail -------------------------------------------------------------------------------------


def admin_link(object_type: str, object_id: str, text: str):
    """A link to the admin page of ("app.model", id) when the admin has one, else the text: no query."""
    try:
        model = apps.get_model(object_type)
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[object_id])
    except (LookupError, ValueError, NoReverseMatch):
        return text
    return format_html('<a href="{}">{}</a>', url, text)


def _shown(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


def changes_of(entry: AuditEntry) -> list[tuple[str, str, str]]:
    """An entry's before → after as (field, was, is), one per field either side names."""
    before, after = entry.before or {}, entry.after or {}
    names = list(before) + [name for name in after if name not in before]
    return [
        (name, _shown(before[name]) if name in before else "", _shown(after[name]) if name in after else "")
        for name in names
    ]


class AuditTrailMixin:
    """A moderated object's change page shows its history on the audit trail, newest first: the entries on
    the object itself (and those `audit_trail_filter` adds, e.g. an identity's wallet), in one query."""

    change_form_template = "admin/core/change_form_audit_trail.html"
    audit_trail_limit = 50

    def audit_trail_filter(self, object_id: str) -> Q:
        return Q(object_type=self.model._meta.label_lower, object_id=object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        pk = unquote(object_id)
        rows = list(
            AuditEntry.objects.filter(self.audit_trail_filter(pk)).order_by("-id")[: self.audit_trail_limit + 1]
        )
        trail = [(entry, changes_of(entry)) for entry in rows[: self.audit_trail_limit]]
        query = "?" + urlencode({"object_type": self.model._meta.label_lower, "object_id": pk})
        context = {
            "audit_trail": trail,
            "audit_trail_more": len(rows) > self.audit_trail_limit,
            "audit_trail_url": reverse("admin:core_auditentry_changelist") + query,
        }
        return super().change_view(request, object_id, form_url, extra_context={**(extra_context or {}), **context})


# The columns of an export, in order (the admin's list shows the first ones a moderator scans).
EXPORT_COLUMNS = (
    "id",
    "created_at",
    "actor_id",
    "actor_label",
    "acting_as",
    "actor_identity_id",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "reason",
    "request_id",
    "ip",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP): such a cell is
# exported with a leading quote, so it reads as text. Tab and carriage return are on OWASP's list too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else _shown(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object csv.writer writes to, handing each line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _export_rows(queryset: QuerySet) -> Iterator[dict]:
    # One query, read in chunks (a server-side cursor on PostgreSQL): no model instances, no query per row.
    for values in queryset.values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000):
        row = dict(zip(EXPORT_COLUMNS, values, strict=True))
        row["created_at"] = row["created_at"].isoformat()
        yield row


def audit_csv(queryset: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in _export_rows(queryset):
        yield writer.writerow([row["id"], *(csv_cell(row[name]) for name in EXPORT_COLUMNS[1:])])


def audit_jsonl(queryset: QuerySet) -> Iterator[str]:
    for row in _export_rows(queryset):
        yield json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


EXPORTS = {
    "csv": (audit_csv, "text/csv; charset=utf-8"),
    "jsonl": (audit_jsonl, "application/x-ndjson; charset=utf-8"),
}


def export_response(queryset: QuerySet, fmt: str) -> StreamingHttpResponse:
    rows, content_type = EXPORTS[fmt]
    response = StreamingHttpResponse(rows(queryset.order_by("-id")), content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    return response


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit trail: who did what, as whom, to what, why, from which request. Only `audit_record` writes
    it (and PostgreSQL refuses to change it); here it is read, filtered and exported."""

    change_list_template = "admin/core/auditentry/change_list.html"
    list_display = (
        "created_at",
        "actor_label",
        "acting_as",
        "action",
        "object_type",
        "object_id",
        "object_shown",
        "reason",
        "request_id",
        "ip",
    )
    list_filter = ("action", "acting_as", "object_type")
    date_hierarchy = "created_at"
    search_fields = ("object_id", "object_repr", "reason", "request_id", "actor_label")
    ordering = ("-id",)
    list_per_page = 100
    show_full_result_count = False  # a COUNT of the whole trail on every page is what grows
    readonly_fields = [field.name for field in AuditEntry._meta.fields]
    actions = ("export_csv", "export_jsonl")

    @admin.display(description="Object", ordering="object_repr")
    def object_shown(self, entry: AuditEntry):
        return admin_link(entry.object_type, entry.object_id, entry.object_repr or entry.object_id)

    @admin.action(description="Export the selected entries as CSV")
    def export_csv(self, request, queryset):
        return export_response(queryset, "csv")

    @admin.action(description="Export the selected entries as JSON lines")
    def export_jsonl(self, request, queryset):
        return export_response(queryset, "jsonl")

    def get_urls(self):
        return [
            path(
                "export/<str:fmt>/",
                self.admin_site.admin_view(self.export_view),
                name="core_auditentry_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest, fmt: str):
        """The whole list as filtered, searched and ordered on the page (its query string), every page of it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if fmt not in EXPORTS:
            raise PermissionDenied  # no such export: nothing to tell apart from a forbidden one
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            messages.error(request, "Those filters do not apply to the audit trail.")
            return HttpResponseRedirect(reverse("admin:core_auditentry_changelist"))
        return export_response(changelist.get_queryset(request), fmt)


# --- Admin edits of privileged things --------------------------------------------------------------------


class AuditedAdminMixin:
    """An admin edit (the change form, a list_editable column) of a field named in `audited_fields` is recorded on
    the audit trail: `<model>.change` with the fields that changed, as they were and as they are, and the admin's
    change message as the reason (`<model>.create` for an object added). The entry is written by
    save_related, after save_model and the many-to-many fields, inside the transaction the admin wraps a save
    in, so the change and its entry commit together. The before comes from the database (save_form), so an
    admin whose save_model calls a service (which may save another row: a new policy version) is covered."""

    audited_fields: tuple[str, ...] = ()

    def audited_values(self, obj) -> dict:
        values = {}
        for name in self.audited_fields:
            field = obj._meta.get_field(name)
            if field.many_to_many:
                values[name] = sorted(getattr(obj, name).values_list("pk", flat=True))
            else:
                values[name] = getattr(obj, field.attname)
        return values

    def save_form(self, request, form, change):
        obj = super().save_form(request, form, change)
        stored = type(obj)._default_manager.filter(pk=obj.pk).first() if change and obj.pk is not None else None
        obj._audit_before = self.audited_values(stored) if stored is not None else None
        return obj

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        stored = type(obj)._default_manager.get(pk=obj.pk)
        before, after = getattr(obj, "_audit_before", None), self.audited_values(stored)
        if before is None:  # added
            changed = list(after)
            before = {}
        else:
            changed = [name for name in after if before.get(name) != after[name]]
            if not changed:
                return
        message = self.construct_change_message(request, form, formsets, add=not change)
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{'change' if change else 'create'}",
            obj=stored,
            before={name: before[name] for name in changed if name in before},
            after={name: after[name] for name in changed},
            reason=LogEntry(change_message=json.dumps(message)).get_change_message(),
        )
