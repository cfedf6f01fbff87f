"""What a review checkpoint costs an order that does not pause: `trade_place` with 0, 10 and 100 current
`trade.place` policies (none firing) against `trade_place` with no checkpoint at all, in the same run.

With no policy (and a trader who is not supervised) the checkpoint reads nothing. With policies it reads the
claim, whether the key traded or paused, in one query, prices the order once and evaluates every condition
(apps/reviews/conditions.py). Target: >= 0.9 of the throughput without a checkpoint. One thread, commits
fsynced; each variant alternates YES and NO buys of one credit so the price stays where it is.

Knobs (environment): BENCH_SECONDS (per round, default 3), BENCH_ROUNDS (default 3).
"""

import os
import time
from itertools import count

import pytest

from apps.core.amounts import CREDIT
from apps.markets.checkpoints import TRADE
from apps.markets.models import Trade
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from apps.reviews import services as reviews
from apps.reviews.models import CheckpointPolicy, ReviewRequest
from tests import factories
from tests.bench.harness import env_number, median, print_table

pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = env_number("BENCH_SECONDS", 3.0)
ROUNDS = int(env_number("BENCH_ROUNDS", 3))
NO_CHECKPOINT = ReviewRequest()  # trade_place(reviewed=...) skips the checkpoint, as a continuation does
CONDITIONS = [
    'actor.kind == "agent" && order.amount > 1000000 * CREDIT',
    'claim.domain == "nowhere-{i}" && order.side == "yes"',
    'order.kind == "sell" && order.shares > {i} * CREDIT && actor.age_days < 1',
    '"embargoed-{i}" in claim.tags',
    'actor.handle.startsWith("blocked-{i}-") || order.limit_price > 0.999',
]


def _policies(n: int) -> None:
    """Exactly `n` current trade.place policies, none of which fires for the bench's orders."""
    CheckpointPolicy.objects.filter(checkpoint=TRADE).update(is_current=False)
    for i in range(n):
        key = f"bench-{i}"
        existing = CheckpointPolicy.objects.filter(key=key).order_by("-version").first()
        if existing is not None:
            CheckpointPolicy.objects.filter(pk=existing.pk).update(is_current=True)
            continue
        reviews.policy_create(
            key=key,
            created_by=None,
            checkpoint=TRADE,
            condition=CONDITIONS[i % len(CONDITIONS)].format(i=i),
            decisions=["approve", "reject"],
            reviewers_required=1,
            agreement="first",
            pool="staff",
            timeout_seconds=3600,
            on_timeout="reject",
        )
    reviews.policies_forget()


def _measure(trader, claim, keys, seconds: float, *, checkpoint: bool) -> tuple[float, int]:
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        side = "yes" if done % 2 == 0 else "no"
        trade = trade_place(
            identity=trader,
            claim=claim.pk,
            order=Order(kind="buy", side=side, amount=CREDIT),
            idempotency_key=f"bench-{next(keys)}",
            reviewed=None if checkpoint else NO_CHECKPOINT,
        )
        assert isinstance(trade, Trade), trade  # nothing pauses
        done += 1
    return done / (time.perf_counter() - started), done


def test_trade_place_with_policies_that_do_not_fire():
    trader = factories.agent(handle="bench-trader")
    factories.fund(trader, 1_000_000)
    author = factories.human()
    factories.fund(author, 10_000)
    claim = factories.new_claim(author, factories.domain(), liquidity=10_000 * CREDIT)
    keys = count()
    variants = [
        ("no checkpoint", 0, False),
        ("0 policies", 0, True),
        ("10 policies", 10, True),
        ("100 policies", 100, True),
    ]
    rates: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    placed = 0
    for _name, n, checkpoint in variants:  # warm up
        _policies(n)
        placed += _measure(trader, claim, keys, 0.5, checkpoint=checkpoint)[1]
    for _ in range(ROUNDS):
        for name, n, checkpoint in variants:
            _policies(n)
            rate, done = _measure(trader, claim, keys, SECONDS, checkpoint=checkpoint)
            rates[name].append(rate)
            placed += done
    base = median(rates["no checkpoint"])
    print_table(
        f"trade_place and the trade.place checkpoint: {ROUNDS} rounds x {SECONDS:g} s per variant, one thread, "
        f"commits fsynced (cpus: {os.cpu_count()})",
        ["variant", "trades/s per round", "median/s", "us per trade", "vs no checkpoint"],
        [
            [
                name,
                " / ".join(f"{x:,.0f}" for x in rates[name]),
                f"{median(rates[name]):,.0f}",
                f"{1e6 / median(rates[name]):,.0f}",
                f"{median(rates[name]) / base:.2f}",
            ]
            for name, _, _ in variants
        ],
    )
    for name, _, _ in variants[1:]:
        print(f"  ratio {name} / no checkpoint: {median(rates[name]) / base:.2f}  (target >= 0.9)")
    assert Trade.objects.filter(identity=trader).count() == placed
    assert ReviewRequest.objects.count() == 0
