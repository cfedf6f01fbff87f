"""Throughput of an API-key-authenticated `GET /api/v1/me` against anonymous `GET /healthz`, measured
in the same run through a real server: the web role (gunicorn with config/gunicorn.py, as docker runs it)
with production settings, the psycopg pool and Redis, loaded by HTTP clients in threads (gunicorn's sync workers close
each connection after its answer; the clients reconnect).

/healthz is the baseline: a request through the same middleware that checks the database (SELECT 1),
the cache (set, get, delete) and the Celery broker (a connection to Redis). /me adds what the API
adds: key lookup and hash comparison, the rate limiter (one cache read and write), a second query
for the agent's public profile, and the schema serialisation. Target: me / healthz >= 0.8.

Knobs (environment): BENCH_SECONDS (per round, default 3), BENCH_ROUNDS (default 3),
BENCH_CONCURRENCY (clients, default 8), BENCH_WORKERS (gunicorn processes; default: config/gunicorn.py's 2 x cores + 1).
"""

import json
import os

import pytest
import redis
from django.conf import settings

from tests import factories
from tests.bench.harness import LoadResult, env_number, get, http_load, median, print_table, web_server

pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = env_number("BENCH_SECONDS", 3.0)
ROUNDS = env_number("BENCH_ROUNDS", 3)
CONCURRENCY = env_number("BENCH_CONCURRENCY", 8)
WORKERS = int(env_number("BENCH_WORKERS", 0)) or None  # None: config/gunicorn.py decides (2 x cores + 1)
# Far above what the bench can send, so no request is refused; the limiter still does all its work.
UNREACHABLE_RATE = "100000000/min"


def _tokens(n: int) -> list[str]:
    """One agent and key per client, as n agents calling at once would (10 agents per owner at most)."""
    tokens = []
    owner = None
    for i in range(n):
        if i % 10 == 0:
            owner = factories.verified_user()
        tokens.append(factories.api_key(factories.agent(owner, handle=f"bench-agent-{i}"), scopes=["read"]))
    return tokens


def _throttle_keys(client: redis.Redis, prefix: str) -> int:
    """How many rate-limit histories the server left in the cache; then clear everything it wrote."""
    found = sum(1 for _ in client.scan_iter(match=f"{prefix}:*throttle_*", count=1000))
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    return found


def _connections_received(client: redis.Redis) -> int:
    return client.info("stats")["total_connections_received"]


def _run(throttle: str, tokens: list[str], tmp_path) -> dict[str, list[tuple[LoadResult, float]]]:
    """Each endpoint's rounds: (load result, new Redis connections per request during the round)."""
    extra = {"CREDENCE_API_RATE_AUTH": UNREACHABLE_RATE, "CREDENCE_API_RATE_ANON": UNREACHABLE_RATE}
    if throttle == "off":
        extra["BENCH_API_THROTTLE"] = "off"
    endpoints = {
        "healthz": ("/healthz", lambda i: {}),
        "me": ("/api/v1/me", lambda i: {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}),
    }
    rounds: dict[str, list] = {name: [] for name in endpoints}
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        with web_server(workers=WORKERS, extra_env=extra, log_dir=tmp_path) as server:
            status, body = get(server.port, "/api/v1/me", {"Authorization": f"Bearer {tokens[0]}"})
            assert status == 200 and json.loads(body)["auth"] == "api_key", body
            for path, headers in endpoints.values():  # warm up: pools filled, code paths hot
                http_load(server.port, path, headers_for=headers, concurrency=CONCURRENCY, seconds=1)
            # Alternate the endpoints round by round so background noise hits both alike.
            for _ in range(ROUNDS):
                for name, (path, headers) in endpoints.items():
                    before = _connections_received(client)
                    result = http_load(server.port, path, headers_for=headers, concurrency=CONCURRENCY, seconds=SECONDS)
                    connects = (_connections_received(client) - before) / max(result.requests, 1)
                    assert result.errors == 0, (name, result.statuses, server.log.read_text()[-2000:])
                    rounds[name].append((result, connects))
            throttle_keys = _throttle_keys(client, server.cache_prefix)
    finally:
        client.close()
    # The configuration is what the table says: limiter state in the cache exactly when it is on.
    assert (throttle_keys > 0) == (throttle == "on"), throttle_keys
    return rounds


def test_me_versus_healthz_throughput(tmp_path):
    tokens = _tokens(CONCURRENCY)
    rows, ratios = [], {}
    for throttle in ("on", "off"):
        rounds = _run(throttle, tokens, tmp_path)
        rates = {name: median([r.rate for r, _ in results]) for name, results in rounds.items()}
        ratios[throttle] = rates["me"] / rates["healthz"]
        for name, results in rounds.items():
            merged = LoadResult(latencies=[x for r, _ in results for x in r.latencies])
            rows.append(
                [
                    throttle,
                    name,
                    " / ".join(f"{r.rate:,.0f}" for r, _ in results),
                    f"{rates[name]:,.0f}",
                    f"{merged.latency_ms(0.5):.1f}",
                    f"{merged.latency_ms(0.99):.1f}",
                    f"{median([c for _, c in results]):.2f}",
                    sum(r.requests for r, _ in results),
                ]
            )
    print_table(
        f"API auth: gunicorn x{WORKERS or '2n+1'} sync workers, {CONCURRENCY} clients, "
        f"{ROUNDS} rounds x {SECONDS:g} s per endpoint (cpus: {os.cpu_count()})",
        [
            "API limiter",
            "endpoint",
            "req/s per round",
            "median req/s",
            "p50 ms",
            "p99 ms",
            "redis conn/req",
            "requests",
        ],
        rows,
    )
    print("  (redis conn/req: new connections Redis accepted per request; a server-wide counter, so approximate)")
    for throttle, ratio in ratios.items():
        print(f"  ratio me / healthz, API limiter {throttle}: {ratio:.2f}  (target >= 0.8)")
