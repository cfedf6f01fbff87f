"""docs/examples/webhook_receiver.py runs as documented and verifies real signed deliveries: a ping and an
event are printed once each (a redelivery is recognised by its webhook-id), and a forged delivery is 401."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from apps.webhooks import services
from apps.webhooks.models import WebhookDelivery
from tests import factories
from tests.bench.harness import free_port
from tests.webhooks.receivers import fan_out, subscribe, touch

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def example(tmp_path):
    """Start the example with a secret: yields start(secret, port) -> (process, stdout lines file)."""
    started = []

    def start(secret: str, port: int):
        out = open(tmp_path / "out.jsonl", "w")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(  # noqa: S603 (fixed argv)
            [sys.executable, str(ROOT / "docs/examples/webhook_receiver.py"), "--port", str(port)],
            env={**os.environ, "WEBHOOK_SECRET": secret},
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append((process, out))
        line = process.stderr.readline()
        assert line.strip() == f"listening on http://127.0.0.1:{port}/", line
        return process, tmp_path / "out.jsonl"

    yield start
    for process, out in started:
        process.terminate()
        process.wait(timeout=10)
        out.close()


def test_the_example_receiver_verifies_real_deliveries(example):
    port = free_port()
    bot = factories.agent()
    subscription, secret = subscribe(bot, f"http://127.0.0.1:{port}/hooks")
    process, out = example(secret, port)
    services.ping_send(subscription=subscription)
    touch(bot)
    fan_out()
    services.deliveries_send_due()
    event_delivery = WebhookDelivery.objects.get(event__isnull=False)
    services.delivery_redeliver(delivery=event_delivery)
    services.deliveries_send_due()
    assert sorted(WebhookDelivery.objects.values_list("state", "last_status_code")) == [("delivered", 204)] * 2
    printed = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(item["type"] for item in printed) == ["identity.updated", "webhook.ping"]  # the redelivery: once
    by_type = {item["type"]: item for item in printed}
    assert by_type["identity.updated"]["webhook_id"] == f"evt_{event_delivery.event_id}"
    assert by_type["identity.updated"]["data"]["subject"] == f"identity:{bot.pk}"
    assert by_type["webhook.ping"]["data"]["subscription"] == subscription.pk

    forged = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks",
        data=b'{"type":"claim.resolved"}',
        headers={"webhook-id": "evt_1", "webhook-timestamp": "0", "webhook-signature": "v1,AAAA"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=5)  # noqa: S310 (127.0.0.1)
    assert refused.value.code == 401
    assert process.poll() is None
