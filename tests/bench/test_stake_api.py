"""Throughput of the stake API (`POST /api/v1/claims/{id}/trades`) against the same trade transaction
sent raw through psycopg, and of one hot market against many, in the same run.

- API: a real server, as test_api_auth.py runs it (the web role: gunicorn with config/gunicorn.py, production settings,
  the psycopg pool, Redis), against the test database. Each of BENCH_STAKE_CLIENTS clients
  is its own funded agent with its own API key (scope "trade") and sends small buy orders (1 credit,
  YES and NO alternately, so prices stay near 0.5) with a fresh Idempotency-Key each. Only 201 counts;
  any other answer is an error. The limiters' rates are raised so nothing is throttled (the limiter
  still does its work).
- Raw: the transaction one `trade_place` call sends (captured with CaptureQueriesContext, printed, and
  checked against BASELINE_SHAPE), statement for statement — the service's own SQL constants, imported —
  sent by as many threads on their own psycopg connections: BEGIN, lock the market row and its claim,
  read the key, position and accounts, the four ledger statements, the trade's writes (one statement of
  CTEs), COMMIT — 9 round trips, committed one by one (fsync on). It prices each order with the
  service's own LMSR code (`order_price`), so what it leaves out is the API, Django and the service's
  Python around the statements.
- Hot: every client trades on one claim, so trades are serialised by the market row lock. Many: the
  clients spread over as many claims (client i on claim i).

Targets: API / raw >= 0.4 (hot and many); API hot / API many >= 0.35. Only correctness is asserted:
no error, every accepted trade written once, `ledger_verify` clean.

Knobs (environment): BENCH_SECONDS (per round, default 3), BENCH_ROUNDS (default 3),
BENCH_STAKE_CLIENTS (default 16), BENCH_WORKERS (gunicorn processes; default: config/gunicorn.py's 2 x cores + 1).
BENCH_PROFILE=1 also runs test_stake_api_profile: cProfile of the API path in-process (BENCH_PROFILE_REQUESTS,
default 300; BENCH_PROFILE_DUMP=<file> keeps the stats).
"""

import hashlib
import json
import os
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from io import StringIO
from types import SimpleNamespace

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core import events
from apps.core.amounts import CREDIT
from apps.ledger import services as ledger_services
from apps.ledger.services import EXTERNAL_WORLD, PLATFORM_FEES, ledger_transfer, system_account, wallet_for
from apps.markets import services as market_services
from apps.markets.checkpoints import TRADE
from apps.markets.models import Claim, Market, Trade
from apps.markets.pricing import Order, implied_belief, order_price
from apps.markets.services import trade_place
from apps.reviews.services import current_policies
from tests import factories
from tests.bench.harness import LoadResult, env_number, median, print_table, request_load, web_server
from tests.factories import new_claim

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1800)]

SECONDS = env_number("BENCH_SECONDS", 3.0)
ROUNDS = env_number("BENCH_ROUNDS", 3)
CLIENTS = env_number("BENCH_STAKE_CLIENTS", 16)
WORKERS = int(env_number("BENCH_WORKERS", 0)) or None  # None: config/gunicorn.py decides (2 x cores + 1)
UNREACHABLE_RATE = "100000000/min"
AMOUNT = 1 * CREDIT  # per order, fee included
FUNDS = 10_000_000 * CREDIT  # per agent: far more than a run can spend
LIQUIDITY = 10_000 * CREDIT  # the largest b allowed: 1-credit orders move the price by ~5e-5

# The raw baseline sends the service's own statements (imported, so the two cannot drift apart).
RAW_LOCK_MARKET = market_services._LOCK_MARKET.format(lock="FOR NO KEY UPDATE")
BASELINE_SHAPE = [
    "BEGIN",
    "SELECT markets_market FOR NO KEY UPDATE",
    "SELECT",  # the idempotency key, position, wallet and fees account (FROM (SELECT 1) ...)
    "INSERT ledger_transfer",
    "SELECT ledger_account FOR NO KEY UPDATE",
    "UPDATE ledger_account",
    "INSERT ledger_entry",
    "WITH markets_market markets_position markets_trade markets_pricepoint core_event",
    "COMMIT",
]


def _shape(sql: str) -> str:
    """A statement's verb and table: enough to compare what two implementations send."""
    sql = " ".join(sql.split())
    if sql.upper().startswith("WITH "):  # the tables a statement of data-modifying CTEs writes
        return " ".join(["WITH", *re.findall(r'(?i)(?:INSERT INTO|(?<!DO )UPDATE) "?(\w+)"?', sql)])
    if sql.startswith("SELECT t.id, t.body_sha256"):
        return "SELECT"
    if match := re.match(r'(?i)^(INSERT INTO|UPDATE|DELETE FROM) "?(\w+)"?', sql):
        return f"{match[1].split()[0].upper()} {match[2]}"
    if match := re.match(r'(?i)^SELECT .*? FROM "?(\w+)"?.*?( FOR (NO KEY )?UPDATE)?$', sql):
        return f"SELECT {match[1]}{match[2] or ''}"
    return sql.split()[0].upper().strip('"')


def _conninfo() -> str:
    db = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
    )


def _fund(account, amount: int, key: str) -> None:
    ledger_transfer(
        lines=[(system_account(EXTERNAL_WORLD), -amount), (account, amount)],
        kind="bench_funding",
        idempotency_key=f"bench-fund:{key}",
    )


def _traders(n: int) -> list[tuple[object, str, int]]:
    """n funded agents, each with its own API key: (identity, token, wallet id). At most 10 agents per owner."""
    traders = []
    owner = None
    for i in range(n):
        if i % 10 == 0:
            owner = factories.verified_user()
        agent = factories.agent(owner, handle=f"stake-agent-{i}")
        wallet = wallet_for(agent)
        _fund(wallet, FUNDS, f"agent:{agent.pk}")
        traders.append((agent, factories.api_key(agent, scopes=["read", "trade"]), wallet.pk))
    return traders


def _claims(n: int) -> list[int]:
    """n open claims at the largest liquidity, by one funded author (who pays the subsidies)."""
    domain = factories.domain()
    author = factories.human()
    _fund(wallet_for(author), n * LIQUIDITY, f"author:{author.pk}")
    return [new_claim(author, domain, liquidity=LIQUIDITY).pk for _ in range(n)]


def _side(n: int) -> str:
    return "yes" if n % 2 == 0 else "no"


# --- The API ---------------------------------------------------------------------------------------


def _api_round(port: int, traders, claim_ids: list[int], seconds: float, tag: str) -> LoadResult:
    bodies = [json.dumps({"kind": "buy", "side": _side(n), "amount": AMOUNT}).encode() for n in range(2)]
    headers = [
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"} for _agent, token, _wallet in traders
    ]
    paths = [f"/api/v1/claims/{claim_ids[i % len(claim_ids)]}/trades" for i in range(len(traders))]

    def request_for(i: int, n: int):
        return "POST", paths[i], {**headers[i], "Idempotency-Key": f"{tag}:{i}:{n}"}, bodies[n % 2]

    return request_load(port, request_for, concurrency=len(traders), seconds=seconds, ok_status=201)


# --- The raw baseline ------------------------------------------------------------------------------


def _raw_trade(cursor, *, claim_id: int, identity_id: int, wallet_id: int, fees_id: int, side: str, key: str):
    """One trade as trade_place sends it, statement for statement, with the Python cut to the pricing
    and the values the statements need."""
    now = datetime.now(UTC)
    order = Order(kind="buy", side=side, amount=AMOUNT)
    body = order.body_sha256(claim_id)
    request_id = secrets.token_hex(16)  # as the API's events carry the request's id
    cursor.execute("BEGIN")
    try:
        cursor.execute(RAW_LOCK_MARKET, (claim_id,))
        market_id, q_yes, q_no, liquidity, escrow_id, volume, trade_count, status, closes_at, _subsidy, _title = (
            cursor.fetchone()
        )
        if status != "open" or closes_at <= now:
            raise AssertionError("the raw baseline traded on a closed market")
        cursor.execute(
            market_services._TRADE_CONTEXT,
            (identity_id, identity_id, key, market_id, identity_id, identity_id, PLATFORM_FEES),
        )
        _existing, _body, _market, yes_held, no_held, invested, _wallet, _fees, *_statuses = cursor.fetchone()
        fill = order_price(market=SimpleNamespace(q_yes=q_yes, q_no=q_no, liquidity=liquidity), order=order)
        amounts = {wallet_id: -(fill.cost + fill.fee), escrow_id: fill.cost, fees_id: fill.fee}
        ids = sorted(amounts)
        transfer_body = hashlib.sha256(json.dumps([[pk, amounts[pk]] for pk in ids]).encode()).hexdigest()
        memo = f"Buy {side.upper()} on claim #{claim_id}"
        cursor.execute(
            ledger_services._CLAIM_KEY, ("trade", f"trade:{identity_id}:{key}", transfer_body, memo, "{}", now)
        )
        transfer_id = cursor.fetchone()[0]
        cursor.execute(ledger_services._PG_LOCK_ACCOUNTS, (ids,))
        balances = [balance + amounts[pk] for pk, _kind, balance, _frozen in cursor.fetchall()]
        if min(balances) < 0:
            raise AssertionError("the raw baseline would overdraw")
        cursor.execute(ledger_services._PG_SET_BALANCES, (ids, balances))
        cursor.execute(
            ledger_services._PG_INSERT_ENTRIES, (transfer_id, now, ids, [amounts[pk] for pk in ids], balances)
        )
        yes, no = (fill.shares, 0) if side == "yes" else (0, fill.shares)
        subject, price = f"claim:{claim_id}", str(fill.price_after)
        placed = {"trade": None, "side": side, "shares": fill.shares, "price_yes": price}
        cursor.execute(
            market_services._PG_WRITE_TRADE,
            (
                *(q_yes + yes, q_no + no, volume + fill.cost, trade_count + 1, fill.price_after, now, market_id),
                *(market_id, identity_id, (yes_held or 0) + yes, (no_held or 0) + no, (invested or 0) + fill.cost),
                *(implied_belief(None, fill.price_after), now),
                *(market_id, identity_id, side, fill.shares, fill.cost, fill.fee, fill.price_before, fill.price_after),
                *(None, "", key, body, transfer_id, now),
                *(market_id, fill.price_after, now),
                *(events.TRADE_PLACED.name, subject, identity_id, json.dumps(placed), now, request_id),
                *(events.MARKET_PRICE_CHANGED.name, subject, json.dumps({"price_yes": price}), now, request_id),
            ),
        )
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise


def _raw_round(traders, claim_ids: list[int], fees_id: int, seconds: float, tag: str) -> LoadResult:
    result = LoadResult()
    lock = threading.Lock()
    barrier = threading.Barrier(len(traders) + 1, timeout=60)

    def client(i: int) -> None:
        agent, _token, wallet_id = traders[i]
        claim_id = claim_ids[i % len(claim_ids)]
        ok = bad = 0
        latencies: list[float] = []
        samples: list[str] = []
        with psycopg.connect(_conninfo(), autocommit=True) as conn:
            cursor = conn.cursor()
            barrier.wait()
            deadline = time.perf_counter() + seconds
            while (start := time.perf_counter()) < deadline:
                n = ok + bad
                try:
                    _raw_trade(
                        cursor,
                        claim_id=claim_id,
                        identity_id=agent.pk,
                        wallet_id=wallet_id,
                        fees_id=fees_id,
                        side=_side(n),
                        key=f"{tag}:{i}:{n}",
                    )
                    ok += 1
                    latencies.append(time.perf_counter() - start)
                except Exception as exc:  # counted and asserted on
                    bad += 1
                    if len(samples) < 3:
                        samples.append(repr(exc))
        with lock:
            result.requests += ok
            result.errors += bad
            result.latencies.extend(latencies)
            result.error_samples.extend(samples)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(traders))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


# --- The bench -------------------------------------------------------------------------------------


def _print_captured(traders, claim_id: int) -> None:
    agent = traders[0][0]
    claim = Claim.objects.get(pk=claim_id)
    # The trade.place checkpoint reads its policies once per CREDENCE_REVIEW_POLICY_CACHE_SECONDS in each
    # process, not per trade: read them before, so the capture shows what a trade sends every time.
    current_policies(TRADE)
    with CaptureQueriesContext(connection) as captured:
        trade_place(
            identity=agent, claim=claim, order=Order(kind="buy", side="yes", amount=AMOUNT), idempotency_key="capture"
        )
    shapes = [_shape(q["sql"]) for q in captured.captured_queries]
    print("\nSQL sent by one trade_place call (the API adds its own reads around it):")
    for shape, query in zip(shapes, captured.captured_queries, strict=True):
        print(f"  {shape:<42} {' '.join(query['sql'].split())[:100]}")
    print(f"  -> {len(shapes)} round trips against the raw baseline's {len(BASELINE_SHAPE)}")
    # The baseline sends what the service sends, statement for statement.
    assert shapes == BASELINE_SHAPE, shapes


def test_stake_api_versus_raw_sql_hot_and_many_markets(tmp_path):
    traders = _traders(CLIENTS)
    claims = _claims(CLIENTS + 1)
    hot, many = claims[:1], claims[1:]
    fees_id = system_account(PLATFORM_FEES).pk
    trades_before = Trade.objects.count()
    _print_captured(traders, hot[0])
    expected = 1

    variants = {
        "API, hot": ("api", hot),
        "API, many": ("api", many),
        "raw, hot": ("raw", hot),
        "raw, many": ("raw", many),
    }
    rounds: dict[str, list[LoadResult]] = {name: [] for name in variants}
    run = secrets.token_hex(3)
    extra = {"CREDENCE_API_RATE_AUTH": UNREACHABLE_RATE, "CREDENCE_API_RATE_ANON": UNREACHABLE_RATE}
    with web_server(workers=WORKERS, extra_env=extra, log_dir=tmp_path) as server:

        def measure(name: str, seconds: float, tag: str) -> LoadResult:
            kind, claim_ids = variants[name]
            if kind == "api":
                result = _api_round(server.port, traders, claim_ids, seconds, f"{run}:{tag}")
            else:
                result = _raw_round(traders, claim_ids, fees_id, seconds, f"{run}:{tag}")
            assert result.errors == 0, (name, result.statuses, result.error_samples, server.log.read_text()[-2000:])
            return result

        for name in variants:  # warm up: pools filled, statements prepared, code paths hot
            expected += measure(name, 1, f"warm:{name}").requests
        # Interleave the variants round by round so background noise hits them alike.
        for r in range(ROUNDS):
            for name in variants:
                result = measure(name, SECONDS, f"{r}:{name}")
                rounds[name].append(result)
                expected += result.requests

    rates = {name: median([r.rate for r in results]) for name, results in rounds.items()}
    rows = []
    for name, results in rounds.items():
        merged = LoadResult(latencies=[x for r in results for x in r.latencies])
        rows.append(
            [
                name,
                CLIENTS,
                len(variants[name][1]),
                " / ".join(f"{r.rate:,.0f}" for r in results),
                f"{rates[name]:,.0f}",
                f"{merged.latency_ms(0.5):.1f}",
                f"{merged.latency_ms(0.99):.1f}",
                sum(r.errors for r in results),
                sum(r.requests for r in results),
            ]
        )
    print_table(
        f"Stake API: gunicorn x{WORKERS or '2n+1'} sync workers, {ROUNDS} rounds x {SECONDS:g} s per variant, "
        f"buy orders of {AMOUNT // CREDIT} credit, commits fsynced (cpus: {os.cpu_count()})",
        ["variant", "clients", "markets", "trades/s per round", "median/s", "p50 ms", "p99 ms", "errors", "trades"],
        rows,
    )
    print(f"  ratio API / raw, hot market:    {rates['API, hot'] / rates['raw, hot']:.2f}  (target >= 0.4)")
    print(f"  ratio API / raw, many markets:  {rates['API, many'] / rates['raw, many']:.2f}  (target >= 0.4)")
    print(f"  ratio hot / many, API:          {rates['API, hot'] / rates['API, many']:.2f}  (target >= 0.35)")
    print(f"  ratio hot / many, raw:          {rates['raw, hot'] / rates['raw, many']:.2f}")

    # Every accepted trade was written exactly once, each market counted its own, and the books balance.
    assert Trade.objects.count() - trades_before == expected
    assert sum(Market.objects.filter(claim_id__in=claims).values_list("trade_count", flat=True)) == expected
    out = StringIO()
    call_command("ledger_verify", stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("ledger_verify: clean")


@pytest.mark.skipif(not os.environ.get("BENCH_PROFILE"), reason="set BENCH_PROFILE=1 to profile the API path")
def test_stake_api_profile():
    """cProfile of BENCH_PROFILE_REQUESTS (default 300) trades through the API in-process (Django's test
    client: the WSGI handler, the same middleware, auth, limiter, view and service), one client."""
    import cProfile
    import pstats

    from django.test import Client

    traders = _traders(1)
    claim_id = _claims(1)[0]
    _agent, token, _wallet = traders[0]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    path = f"/api/v1/claims/{claim_id}/trades"

    def post(n: int) -> None:
        body = {"kind": "buy", "side": _side(n), "amount": AMOUNT}
        response = client.post(path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"profile:{n}")
        assert response.status_code == 201, response.content

    for n in range(20):  # warm up
        post(n)
    requests = int(env_number("BENCH_PROFILE_REQUESTS", 300))
    started, cpu = time.perf_counter(), time.process_time()
    for n in range(20, 20 + requests):
        post(n)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    per_trade = f"{1e3 * elapsed / requests:.2f} ms per trade, {1e3 * cpu / requests:.2f} ms CPU"
    print(f"\n{requests} trades in-process: {per_trade}")
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for n in range(20 + requests, 20 + 2 * requests):
        post(n)
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"{requests} trades in-process: {1e3 * elapsed / requests:.2f} ms per trade under cProfile")
    if dump := os.environ.get("BENCH_PROFILE_DUMP"):
        profiler.dump_stats(dump)
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(r"apps/|ninja/(operation|signature|schema|throttling)|lmsr|pydantic/main", 40)
