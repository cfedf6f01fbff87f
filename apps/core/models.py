from django.db import models


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

    class Meta:
        indexes = [models.Index(fields=["kind", "id"]), models.Index(fields=["subject", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}"
