"""A real Celery worker on Redis sends the deliveries the fan-out wrote: the `webhooks.send` task, queued as
the fan-out queues it after commit, reaches the worker, which POSTs to a receiver on 127.0.0.1 that
verifies the signature with standardwebhooks. The worker reads this test's database (committed rows)."""

import os
from urllib.parse import urlsplit

import pytest
from django.db import connection
from standardwebhooks import Webhook

from apps.webhooks.models import WebhookDelivery
from tests import factories
from tests.support import celery_worker, routed, worker_wait
from tests.webhooks.receivers import fan_out, receiving, subscribe, touch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]


def _test_database_url() -> str:
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/credence"))
    return url._replace(path=f"/{connection.settings_dict['NAME']}").geturl()


def test_a_worker_delivers_what_the_fan_out_queued(tmp_path):
    log_path = tmp_path / "worker.log"
    bot = factories.agent()
    with (
        receiving(status=200) as receiver,
        celery_worker(log_path, env={"DATABASE_URL": _test_database_url()}) as (proc, queue),
        routed("webhooks.send", queue),
    ):
        _, secret = subscribe(bot, receiver.url)
        touch(bot, 3)
        assert fan_out() == 3  # queues webhooks.send on commit: routed to the worker

        def all_delivered():
            return WebhookDelivery.objects.filter(state="delivered").count() == 3

        worker_wait(all_delivered, proc, log_path, "three deliveries")
    assert len(receiver.received) == 3
    for received in receiver.received:
        assert Webhook(secret).verify(received.body, received.headers)["type"] == "identity.updated"
    assert "Task webhooks.send[" in log_path.read_text()
