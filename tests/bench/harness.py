"""Shared pieces of the benchmarks: a real ASGI server, a keep-alive HTTP load generator, tables.

A benchmark measures its baseline in the same run and reports the ratio; it never asserts on time,
only on correctness (every request answered as expected).
"""

import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def env_number(name: str, default: float) -> float:
    return type(default)(os.environ.get(name, default))


def print_table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print(
            "  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The test database this run uses (pytest-django's), for a server process to share it."""
    db = connection.settings_dict
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    cache_prefix: str
    log: Path


@contextmanager
def web_server(*, workers: int | None, extra_env: dict[str, str], log_dir: Path) -> Iterator[Server]:
    """The production web role: gunicorn with config/gunicorn.py (as docker/entrypoint.sh `web` runs it)
    serving tests/bench/wsgi.py, production settings and the DB pool. `workers` None: the config's default."""
    command = [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "tests.bench.wsgi:application"]
    env = {"WEB_CONCURRENCY": str(workers)} if workers else {}
    with _server(command, extra_env={**env, **extra_env}, log_dir=log_dir, port_flag="bind") as server:
        yield server


@contextmanager
def asgi_server(*, workers: int, extra_env: dict[str, str], log_dir: Path) -> Iterator[Server]:
    """uvicorn serving the project's ASGI app (the `live` role, and `make run`) with production settings."""
    command = [
        *[sys.executable, "-m", "uvicorn", "tests.bench.asgi:application"],
        *["--workers", str(workers), "--lifespan", "off", "--no-access-log", "--log-level", "warning"],
    ]
    with _server(command, extra_env=extra_env, log_dir=log_dir, port_flag="uvicorn") as server:
        yield server


@contextmanager
def _server(command: list[str], *, extra_env: dict[str, str], log_dir: Path, port_flag: str) -> Iterator[Server]:
    port = free_port()
    prefix = f"credence-bench-{secrets.token_hex(4)}"
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CACHE_KEY_PREFIX": prefix,
        **extra_env,
    }
    if port_flag == "bind":
        command = [*command, "--bind", f"127.0.0.1:{port}"]
    else:
        command = [*command, "--host", "127.0.0.1", "--port", str(port)]
    with running_server(command, port=port, env=env, log=log_dir / f"server-{port}.log", cache_prefix=prefix) as server:
        yield server


@contextmanager
def running_server(
    command: list[str], *, port: int, env: dict[str, str], log: Path, cache_prefix: str = ""
) -> Iterator[Server]:
    """Run `command`, a server already told to listen on `port`, on this test run's database, Redis and
    broker with `env` on top, its output in `log`. Yields once it answers /healthz (within 60 s, else a
    RuntimeError with the log's tail, as when it exits first) and stops it afterwards."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "LOG_LEVEL": "WARNING",
        **env,
    }
    env.pop("CELERY_RESULT_BACKEND", None)
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Server(port=port, process=process, cache_prefix=cache_prefix, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def latency_ms(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# What one client sends next, given its index and how many requests it has sent: method, path,
# headers, body (None for no body).
Request = tuple[str, str, dict[str, str], bytes | None]


def http_load(
    port: int, path: str, *, headers_for: Callable[[int], dict[str, str]], concurrency: int, seconds: float
) -> LoadResult:
    """`concurrency` threads, each on its own keep-alive connection, GET `path` for `seconds`.

    A request counts only when answered 200; anything else (or an exception) is an error.
    """
    headers = [headers_for(i) for i in range(concurrency)]
    return request_load(
        port, lambda i, n: ("GET", path, headers[i], None), concurrency=concurrency, seconds=seconds, ok_status=200
    )


def request_load(
    port: int,
    request_for: Callable[[int, int], Request],
    *,
    concurrency: int,
    seconds: float,
    ok_status: int = 200,
) -> LoadResult:
    """`concurrency` threads, each on its own keep-alive connection, send `request_for(client, n)` for
    `seconds`. A request counts only when answered `ok_status`; anything else (or an exception) is an
    error, and the first few error answers are kept in `error_samples`."""
    result = LoadResult()
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ok = bad = 0
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        samples: list[str] = []
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while (start := time.perf_counter()) < deadline:
            method, path, headers, body = request_for(i, ok + bad)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                content = response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status == ok_status:
                    ok += 1
                    latencies.append(time.perf_counter() - start)
                else:
                    bad += 1
                    if len(samples) < 3:
                        samples.append(f"{response.status} {content[:300]!r}")
            except (OSError, http.client.HTTPException) as exc:
                bad += 1
                if len(samples) < 3:
                    samples.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        with lock:
            result.requests += ok
            result.errors += bad
            result.latencies.extend(latencies)
            result.error_samples.extend(samples)
            for status, n in statuses.items():
                result.statuses[status] = result.statuses.get(status, 0) + n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result
