"""Webhook fan-out: events per second delivered to 100 loopback receivers with Standard Webhooks signatures,
against the same POSTs unsigned, measured in the same run (test settings allow loopback receivers, as local
settings do).

100 subscriptions (10 agents of 10 owners, 10 each) want `claim.closed`, each to its own receiver (100
HTTP servers on 127.0.0.1 in a process of their own). A round writes BENCH_WEBHOOK_EVENTS events to the
outbox (one INSERT: the bench measures delivering, not the flows that write events), fans them out
(services.webhooks_fanout: 100 delivery rows per event), then sends every delivery
(services.deliveries_send_due until nothing is due: leasing, signing, the SSRF check and pinned POST,
recording each answer). Rounds alternate signed and unsigned; the table reports the median of each and the
ratio signed / unsigned. Nothing is asserted on time; every delivery must be delivered, exactly once.

Knobs (environment): BENCH_WEBHOOK_EVENTS (per round, default 20), BENCH_ROUNDS (per mode, default 3),
BENCH_WEBHOOK_CONCURRENCY (POSTs in flight, default the setting's 8).
"""

import json
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from apps.core.services import events_emit
from apps.webhooks import services
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from tests import factories
from tests.bench.harness import ROOT, env_number, median, print_table
from tests.webhooks.receivers import fan_out

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVERS = 100
EVENTS = int(env_number("BENCH_WEBHOOK_EVENTS", 20))
ROUNDS = int(env_number("BENCH_ROUNDS", 3))
CONCURRENCY = int(env_number("BENCH_WEBHOOK_CONCURRENCY", 0))


def _subscriptions(ports: list[int]) -> None:
    now = timezone.now()
    agents = []
    for owner_n in range(RECEIVERS // 10):
        owner = factories.verified_user()
        agents += [factories.agent(owner, handle=f"hook-bench-{owner_n}-{n}") for n in range(10)]
    for n, port in enumerate(ports):
        services.subscription_create(
            agent=agents[n // 10], url=f"http://127.0.0.1:{port}/hooks", kinds=["claim.closed"], now=now
        )


def _round(signed: bool) -> dict:
    events_emit([("claim.closed", f"claim:{n + 1}", None, {}) for n in range(EVENTS)], at=timezone.now())
    started = time.perf_counter()
    written = fan_out()
    fanned = time.perf_counter()
    sent = 0
    while batch := services.deliveries_send_due(signed=signed, limit=200):
        sent += len(batch)
    done = time.perf_counter()
    assert written == sent == EVENTS * RECEIVERS
    return {"fanout": written / (fanned - started), "send": sent / (done - fanned), "events": EVENTS / (done - started)}


def test_webhook_fan_out_to_a_hundred_receivers_signed_against_unsigned(settings):
    if CONCURRENCY:
        settings.CREDENCE_WEBHOOK_SEND_CONCURRENCY = CONCURRENCY
    receivers = subprocess.Popen(  # noqa: S603 (fixed argv)
        [sys.executable, "-m", "tests.bench.webhook_receivers", str(RECEIVERS)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ports = json.loads(receivers.stdout.readline())
        _subscriptions(ports)
        assert WebhookSubscription.objects.count() == RECEIVERS
        _round(signed=True)  # warm-up: connections, caches, the first batch's plans
        results = {True: [], False: []}
        for _ in range(ROUNDS):
            for signed in (True, False):
                results[signed].append(_round(signed))
    finally:
        receivers.stdin.close()
        receivers.wait(timeout=30)
    total = EVENTS * RECEIVERS * (2 * ROUNDS + 1)
    assert WebhookDelivery.objects.filter(state="delivered", attempts=1).count() == total

    def figure(signed: bool, key: str) -> float:
        return median([r[key] for r in results[signed]])

    rows = [
        [
            "signed" if signed else "unsigned",
            f"{figure(signed, 'events'):.1f}",
            f"{figure(signed, 'send'):.0f}",
            f"{figure(signed, 'fanout'):.0f}",
        ]
        for signed in (True, False)
    ]
    ratio = figure(True, "events") / figure(False, "events")
    print_table(
        f"Webhook fan-out: {EVENTS} events x {RECEIVERS} receivers per round, median of {ROUNDS} rounds, "
        f"{settings.CREDENCE_WEBHOOK_SEND_CONCURRENCY} POSTs in flight",
        ["mode", "events/s delivered", "deliveries/s sent", "deliveries/s fanned out"],
        rows,
    )
    print(f"  signed / unsigned (events/s): {ratio:.2f}")
