from django.db import models


class TransactionId(models.Func):
    """The writing transaction's id (PostgreSQL's xid8 as a bigint): the outbox cursor's order
    (apps/core/outbox.py). SQLite has one writer at a time, so ids commit in order there: NULL."""

    template = "NULL"
    output_field = models.BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


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
