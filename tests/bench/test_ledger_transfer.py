"""Throughput of `ledger_transfer` against the same statements sent raw through psycopg, in the same run.

The baseline is what the service cannot avoid: BEGIN, INSERT the transfer, SELECT the accounts
FOR NO KEY UPDATE in id order, UPDATE their balances, INSERT the entries, COMMIT — six round trips,
committed one by one (fsync on). The service adds its Python (validation, body hash, the ORM) and
whatever statements it sends beyond those. Target: service / raw >= 0.5.

Two raw baselines are measured: psycopg's default cursor (server-side binding; psycopg prepares a
statement after 5 executions) is the ratio's denominator; a ClientCursor (client-side binding, which
is what Django uses unless OPTIONS["server_side_binding"] is set) shows how much of the gap is the
binding mode rather than the service.

Each thread moves credit back and forth between its own two wallets, so threads never wait on each
other's row locks; that measures throughput, not contention (tests/ledger/test_concurrency.py does that).

Knobs (environment): BENCH_SECONDS (per round, default 3), BENCH_ROUNDS (default 3),
BENCH_LEDGER_THREADS (default "1,4").
"""

import hashlib
import os
import re
import threading
import time
from datetime import UTC, datetime
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ledger.models import Transfer
from apps.ledger.services import ledger_transfer, wallet_for
from tests import factories
from tests.bench.harness import env_number, median, print_table

pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = env_number("BENCH_SECONDS", 3.0)
ROUNDS = env_number("BENCH_ROUNDS", 3)
THREADS = [int(n) for n in os.environ.get("BENCH_LEDGER_THREADS", "1,4").split(",")]
AMOUNT = 5

# The baseline's statements, written as the service's captured SQL reads (see _captured_statements).
RAW_INSERT_TRANSFER = (
    "INSERT INTO ledger_transfer (kind, idempotency_key, body_sha256, memo, metadata, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)
RAW_LOCK = "SELECT id, kind, balance FROM ledger_account WHERE id IN (%s, %s) ORDER BY id FOR NO KEY UPDATE"
RAW_UPDATE = (
    "UPDATE ledger_account SET balance = (CASE WHEN id = %s THEN %s WHEN id = %s THEN %s ELSE NULL END)::bigint "
    "WHERE id IN (%s, %s)"
)
RAW_INSERT_ENTRIES = (
    "INSERT INTO ledger_entry (transfer_id, account_id, amount, balance_after, created_at) "
    "VALUES (%s, %s, %s, %s, %s), (%s, %s, %s, %s, %s) RETURNING id"
)
BASELINE_SHAPE = [
    "BEGIN",
    "INSERT ledger_transfer",
    "SELECT ledger_account FOR NO KEY UPDATE",
    "UPDATE ledger_account",
    "INSERT ledger_entry",
    "COMMIT",
]


def _shape(sql: str) -> str:
    """A statement's verb and table: enough to compare what two implementations send."""
    sql = re.sub(r"^\d+ times: ", "", " ".join(sql.split()))  # how Django records an executemany
    if match := re.match(r'(?i)^(INSERT INTO|UPDATE|DELETE FROM) "?(\w+)"?', sql):
        return f"{match[1].split()[0].upper()} {match[2]}"
    if match := re.match(r'(?i)^SELECT .*? FROM "?(\w+)"?.*?( FOR (NO KEY )?UPDATE)?$', sql):
        return f"SELECT {match[1]}{match[2] or ''}"
    if match := re.match(r'(?i)^WITH .*\b(INSERT INTO|UPDATE) "?(\w+)"?', sql):
        return f"WITH ... {match[1].split()[0].upper()} {match[2]}"
    return sql.split()[0].upper().strip('"')


def _captured_statements(a, b) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        ledger_transfer(lines=[(a, -AMOUNT), (b, AMOUNT)], kind="bench", idempotency_key="bench:capture")
    return [q["sql"] for q in captured.captured_queries]


def _conninfo() -> str:
    db = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
    )


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = 0
        self.errors: list[BaseException] = []


def _service_worker(pair, seconds: float, tag: str, counts: Counts, barrier: threading.Barrier) -> None:
    a, b = pair
    done = 0
    try:
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            src, dst = (a, b) if done % 2 == 0 else (b, a)
            ledger_transfer(lines=[(src, -AMOUNT), (dst, AMOUNT)], kind="bench", idempotency_key=f"{tag}:{done}")
            done += 1
    except Exception as exc:  # reported and asserted on
        with counts.lock:
            counts.errors.append(exc)
    finally:
        connection.close()
        with counts.lock:
            counts.done += done


def _raw_worker(pair, seconds: float, tag: str, counts: Counts, barrier: threading.Barrier, client_binding: bool):
    a, b = (account.pk for account in pair)
    done = 0
    try:
        with psycopg.connect(_conninfo(), autocommit=True) as conn:
            cursor = psycopg.ClientCursor(conn) if client_binding else conn.cursor()
            barrier.wait()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                src, dst = (a, b) if done % 2 == 0 else (b, a)
                low, high = sorted((src, dst))
                key = f"{tag}:{done}"
                now = datetime.now(UTC)
                cursor.execute("BEGIN")
                body = hashlib.sha256(key.encode()).hexdigest()
                cursor.execute(RAW_INSERT_TRANSFER, ("bench", key, body, "", "{}", now))
                transfer_id = cursor.fetchone()[0]
                cursor.execute(RAW_LOCK, (low, high))
                balances = {pk: balance for pk, _kind, balance in cursor.fetchall()}
                new = {src: balances[src] - AMOUNT, dst: balances[dst] + AMOUNT}
                if new[src] < 0:
                    raise AssertionError("the raw baseline would overdraw")
                cursor.execute(RAW_UPDATE, (low, new[low], high, new[high], low, high))
                cursor.execute(
                    RAW_INSERT_ENTRIES,
                    (transfer_id, src, -AMOUNT, new[src], now, transfer_id, dst, AMOUNT, new[dst], now),
                )
                cursor.execute("COMMIT")
                done += 1
    except Exception as exc:  # reported and asserted on
        with counts.lock:
            counts.errors.append(exc)
    finally:
        with counts.lock:
            counts.done += done


def _measure(variant: str, pairs, seconds: float, tag: str) -> tuple[float, int]:
    counts = Counts()
    barrier = threading.Barrier(len(pairs) + 1, timeout=60)
    threads = []
    for i, pair in enumerate(pairs):
        if variant == "ledger_transfer":
            args = (_service_worker, (pair, seconds, f"{tag}:{i}", counts, barrier))
        else:
            args = (_raw_worker, (pair, seconds, f"{tag}:{i}", counts, barrier, variant == "raw, client binding"))
        threads.append(threading.Thread(target=args[0], args=args[1]))
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert counts.errors == [], counts.errors[:3]
    return counts.done / elapsed, counts.done


def test_ledger_transfer_versus_raw_sql():
    pairs = [(wallet_for(factories.human()), wallet_for(factories.human())) for _ in range(max(THREADS))]

    statements = _captured_statements(*pairs[0])
    shapes = [_shape(sql) for sql in statements]
    print("\nSQL sent by one ledger_transfer call:")
    for shape, sql in zip(shapes, statements, strict=True):
        print(f"  {shape:<42} {' '.join(sql.split())[:110]}")
    # The baseline must do the same work: every data statement of the service, and no more.
    data_shapes = [s for s in shapes if not s.startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))]
    assert data_shapes == BASELINE_SHAPE[1:-1], data_shapes
    extra = len(statements) - len(BASELINE_SHAPE)
    print(f"  -> {len(statements)} round trips against the baseline's {len(BASELINE_SHAPE)} ({extra:+d})")

    variants = ["raw psycopg", "raw, client binding", "ledger_transfer"]
    rows, ratios = [], {}
    transfers_before, expected = Transfer.objects.count(), 0
    for n_threads in THREADS:
        rates: dict[str, list[float]] = {v: [] for v in variants}
        for variant in variants:  # warm up: connections open, statements prepared, code paths hot
            expected += _measure(variant, pairs[:n_threads], 0.5, f"warm:{n_threads}:{variant}")[1]
        for r in range(ROUNDS):
            for variant in variants:
                rate, done = _measure(variant, pairs[:n_threads], SECONDS, f"{n_threads}:{r}:{variant}")
                rates[variant].append(rate)
                expected += done
        base = median(rates["raw psycopg"])
        for variant in variants:
            rows.append(
                [
                    n_threads,
                    variant,
                    " / ".join(f"{x:,.0f}" for x in rates[variant]),
                    f"{median(rates[variant]):,.0f}",
                    f"{1e6 / median(rates[variant]) * n_threads:,.0f}",
                    f"{median(rates[variant]) / base:.2f}",
                ]
            )
        ratios[n_threads] = median(rates["ledger_transfer"]) / base

    print_table(
        f"Ledger transfers: {ROUNDS} rounds x {SECONDS:g} s per variant, commits fsynced (cpus: {os.cpu_count()})",
        ["threads", "variant", "transfers/s per round", "median/s", "us per transfer", "vs raw"],
        rows,
    )
    for n_threads, ratio in ratios.items():
        print(f"  ratio ledger_transfer / raw psycopg, {n_threads} thread(s): {ratio:.2f}  (target >= 0.5)")

    # Every transfer of every variant landed exactly once, and the books still balance.
    assert Transfer.objects.count() - transfers_before == expected
    out = StringIO()
    call_command("ledger_verify", stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("ledger_verify: clean")
