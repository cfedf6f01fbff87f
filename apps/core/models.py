from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class TransactionId(models.Func):
    """The writing transaction's id (PostgreSQL's xid8 as a bigint): the outbox cursor's order
    (apps/core/outbox.py). SQLite has one writer at a time, so ids commit in order there: NULL."""

    template = "NULL"
    output_field = models.BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


class Hideable(models.Model):
    """Content a moderator may hide (apps.core.services.content_hide): a hidden text shows as hidden to
    everyone but its author and staff, with the reason; hiding never deletes it (an appeal restores it)."""

    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_reason = models.CharField(max_length=500, blank=True, default="", db_default="")
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        abstract = True

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None


class Event(models.Model):
    """The outbox: one row per domain event, written in the transaction that made the change.

    Consumers (realtime relay, webhook dispatcher, activity feed) read it in id order and keep their
    own cursor, so nothing is published for a rolled-back transaction and nothing is lost on restart.
    """

    kind = models.CharField(max_length=64)
    subject = models.CharField(max_length=128, help_text="What the event is about, e.g. 'identity:42'.")
    actor_identity_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by the database, never by code: raw INSERTs (a trade's) leave it out and get it too.
    txid = models.BigIntegerField(null=True, editable=False, db_default=TransactionId())
    # The request (or the task it enqueued) that wrote it (apps/core/context.py): "" for beat's own work.
    request_id = models.CharField(max_length=64, blank=True, db_default="", default="")

    class Meta:
        indexes = [
            models.Index(fields=["kind", "id"]),
            models.Index(fields=["subject", "id"]),
            models.Index(fields=["txid", "id"], name="core_event_outbox_order"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}"


class OutboxCursor(models.Model):
    """How far one consumer of the outbox (the webhook fan-out, the agents' triggers) has read, in the
    order apps/core/outbox.py defines: (txid, event id)."""

    name = models.CharField(max_length=64, primary_key=True)
    txid = models.BigIntegerField(default=0)
    event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at ({self.txid}, {self.event_id})"


class AuditEntry(models.Model):
    """One staff action or privileged change: who did it (and as whom), what, to which object, the fields
    before and after, the reason, and the request it came in (its id and the client's address).

    Append-only: PostgreSQL refuses UPDATE and DELETE (migration 0004), and it is written by
    `apps.core.audit.audit_record` inside the transaction of the change, so a change and its entry commit
    or roll back together. `manage.py audit_verify` checks that every staff action has its entry.
    """

    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The person who acted; empty for the system (a sweep, a timeout).",
    )
    # Copied, not joined: what the actor was called then, and the capacity they acted in.
    actor_label = models.CharField(max_length=254, blank=True)
    acting_as = models.CharField(
        max_length=40, help_text="The capacity: 'moderator', 'superuser', 'owner', 'reviewer' or 'system'."
    )
    actor_identity_id = models.BigIntegerField(null=True, blank=True, help_text="The actor's identity, if any.")
    action = models.CharField(max_length=64, help_text="What was done, e.g. 'identity.suspend'.")
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["object_type", "object_id", "id"], name="core_audit_object"),
            models.Index(fields=["action", "id"], name="core_audit_action"),
            models.Index(fields=["actor", "id"], name="core_audit_actor"),
            models.Index(fields=["created_at"], name="core_audit_created"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"
