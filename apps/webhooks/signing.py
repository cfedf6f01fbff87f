"""What a delivery carries, per the Standard Webhooks convention (https://www.standardwebhooks.com/):

    POST <url>
    content-type: application/json
    webhook-id: evt_<event id>            (ping_<delivery id> for a test ping; the same on every retry)
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256> [v1,<...> during a secret's rotation overlap]

    {"type": "<kind>", "timestamp": "<the event's time, ISO 8601>",
     "data": {"id", "subject", "payload", "actor_identity_id", "created_at"}}

The signature is the `standardwebhooks` package's own (`Webhook(secret).sign`), over
`<webhook-id>.<webhook-timestamp>.<body>`, so any Standard Webhooks verifier checks it.
"""

import base64
import json
import secrets
from datetime import UTC, datetime

from django.core.serializers.json import DjangoJSONEncoder
from standardwebhooks import Webhook

from apps.core.models import Event

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format, not a secret)
SECRET_BYTES = 32  # 256 bits, the HMAC-SHA256 key length
PING = "webhook.ping"  # a test delivery's type: not an outbox event, never subscribed to


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _encode(body: dict) -> bytes:
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_body(event: Event) -> bytes:
    created = _iso(event.created_at)
    data = {
        "id": event.pk,
        "subject": event.subject,
        "payload": event.payload,
        "actor_identity_id": event.actor_identity_id,
        "created_at": created,
    }
    return _encode({"type": event.kind, "timestamp": created, "data": data})


def ping_body(payload: dict, created_at: datetime) -> bytes:
    return _encode({"type": PING, "timestamp": _iso(created_at), "data": payload})


def headers(*, message_id: str, at: datetime, body: bytes, secrets_: list[str] | None) -> dict[str, str]:
    """The request's headers; `secrets_` None sends it unsigned (the benchmark's baseline only)."""
    sent = {
        "Content-Type": "application/json",
        "User-Agent": "Credence-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
    }
    if secrets_ is not None:
        sent["webhook-signature"] = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets_)
    return sent
