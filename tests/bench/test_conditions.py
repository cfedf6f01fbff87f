"""What checkpoint conditions cost a checkpoint: evaluating 0, 10 and 100 policies (none firing) per hit, as
`checkpoint_check` does it, against no checkpoint at all. Pure Python, no database.

A hit builds its activation dict afresh (as a trade does). As the services do it: the dict is converted once
(`Variables.activation`) and every policy's condition screened in one call to the library (`ConditionSet`).
Shown beside it: one call per condition, with the activation prepared once (what the services did before the
set) or given as the dict; and the library alone (one `Program.execute` per condition on a prepared context,
no conversion). The ratio column is the throughput of a trade of BENCH_TRADE_MS milliseconds (default 4.5,
docs/performance.md) with the hit added, against without.

Knobs (environment): BENCH_CONDITION_HITS (hits per measurement, default 2,000), BENCH_ROUNDS (default 3),
BENCH_TRADE_MS (default 4.5).
"""

import time

from apps.core.amounts import CREDIT
from apps.reviews import conditions
from apps.reviews.conditions import ConditionSet, compile_condition
from tests.bench.harness import env_number, median, print_table
from tests.support import ORDER_VARIABLES as DECLARED

HITS = env_number("BENCH_CONDITION_HITS", 2_000)
ROUNDS = env_number("BENCH_ROUNDS", 3)
TRADE_MS = env_number("BENCH_TRADE_MS", 4.5)


def _policies(n: int) -> list[str]:
    """n distinct conditions none of which fires for _activation(): the typical one with its threshold
    varied, and one in four reading a list."""
    policies = []
    for i in range(n):
        policy = f'actor.kind == "agent" && order.amount > {500 + i} * CREDIT && claim.domain == "health"'
        if i % 4 == 3:
            policy = f'claim.tags.exists(t, t == "tag{i}") || actor.reliability < 0.{i % 9}'
        policies.append(policy)
    return policies


def _activation(i: int) -> dict:
    return {
        "actor": {
            "kind": "agent",
            "handle": f"bot{i}",
            "autonomy_level": "supervised",
            "reliability": 0.9,
            "age_days": 3,
        },
        "order": {"kind": "buy", "side": "yes", "amount": 20 * CREDIT + i, "shares": 10, "limit_price": 0.5},
        "claim": {"id": i, "domain": "health", "title": "Will it rain?", "tags": ["weather", "paris"]},
    }


def _as_services_do(policies: list[str]) -> float:
    variables = compile_condition("", DECLARED).variables
    screened = ConditionSet([compile_condition(policy, DECLARED) for policy in policies])
    started = time.perf_counter()
    for i in range(HITS):
        prepared = variables.activation(_activation(i))
        assert not any(screened.fired(prepared))
    return time.perf_counter() - started


def _each_from_the_dict(policies: list[str]) -> float:
    started = time.perf_counter()
    for i in range(HITS):
        values = _activation(i)
        for policy in policies:
            assert not compile_condition(policy, DECLARED).evaluate(values).fired
    return time.perf_counter() - started


def _prepared(policies: list[str]) -> float:
    variables = compile_condition("", DECLARED).variables
    compiled = [compile_condition(policy, DECLARED) for policy in policies]
    started = time.perf_counter()
    for i in range(HITS):
        prepared = variables.activation(_activation(i))
        for condition in compiled:
            assert not condition.evaluate(prepared).fired
    return time.perf_counter() - started


def _library_alone(policies: list[str]) -> float:
    variables = compile_condition("", DECLARED).variables
    programs = [compile_condition(policy, DECLARED)._program for policy in policies]
    context = variables.activation(_activation(0)).context
    started = time.perf_counter()
    for _ in range(HITS):
        for program in programs:
            program.execute(context)
    return time.perf_counter() - started


def _baseline() -> float:
    """No checkpoint: the activation is still built, nothing reads it."""
    started = time.perf_counter()
    for i in range(HITS):
        _activation(i)
    return time.perf_counter() - started


def test_conditions_per_checkpoint_hit():
    for policy in _policies(100):  # compiled once, as a process does on the first hit
        compile_condition(policy, DECLARED)
    rows = []
    for n in (0, 10, 100):
        policies = _policies(n)
        base = median([_baseline() for _ in range(ROUNDS)])
        measured = {
            "as the services do": median([_as_services_do(policies) for _ in range(ROUNDS)]),
            "a call each, prepared": median([_prepared(policies) for _ in range(ROUNDS)]),
            "a call each, from the dict": median([_each_from_the_dict(policies) for _ in range(ROUNDS)]),
            "the library alone": median([_library_alone(policies) for _ in range(ROUNDS)]),
        }
        for way, seconds in measured.items():
            if way == "the library alone" and n == 0:
                continue
            hit_us = max(seconds - (0 if way == "the library alone" else base), 0) / HITS * 1e6
            rows.append(
                [
                    n,
                    way,
                    f"{hit_us:.1f}",
                    f"{hit_us / n:.2f}" if n else "-",
                    f"{TRADE_MS / (TRADE_MS + hit_us / 1000):.3f}",
                ]
            )
    print_table(
        f"Checkpoint conditions, none firing ({HITS:,} hits, median of {ROUNDS})",
        ["policies", "evaluated", "us per hit", "us per policy", f"ratio to a {TRADE_MS} ms trade"],
        rows,
    )


def test_compiling_a_condition():
    """Once per policy version per process (then cached); the worst case is what a save costs."""
    sources = {
        "the typical condition": 'actor.kind == "agent" && order.amount > {i} * CREDIT && claim.domain == "health"',
        "a comprehension": 'claim.tags.exists(t, t.startsWith("w{i}")) && actor.age_days < 30',
        "a 390-item list (1,967 characters)": "order.shares in [" + ", ".join(["{i}"] * 390) + "]",
    }
    rows = []
    for name, template in sources.items():
        n = 100
        started = time.perf_counter()
        for i in range(n):
            compile_condition(template.format(i=100 + i), DECLARED)
        rows.append([name, f"{(time.perf_counter() - started) / n * 1e6:.0f}"])
    conditions._compiled.cache_clear()
    print_table("Compiling a condition (uncached)", ["condition", "us"], rows)
