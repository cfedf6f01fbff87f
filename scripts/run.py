"""`make run`: the whole product on this machine, with demo data, in one command.

    scripts/run.py [--host 127.0.0.1] [--port 8000] [--no-install] [--no-seed] [--worker-concurrency 2]

Steps: create or refresh .venv (scripts/bootstrap.sh local), migrate, load the demo data (idempotent),
then start together and supervise the ASGI server (uvicorn), a Celery worker and Celery beat.

Without DATABASE_URL / REDIS_URL everything is embedded under CREDENCE_DATA_DIR (default ./var):
SQLite in WAL mode, a file cache, a filesystem Celery broker and file result backend, the in-memory
channel layer. With them set, PostgreSQL and Redis are used instead.

Ctrl-C or SIGTERM stops every process started here; if one of them dies, the others are stopped and
the exit status is non-zero. Each child runs in its own process group, so the stop reaches its own
children too (Celery's pool processes) and nothing is left behind.

Standard library only: this runs before the virtualenv exists, under whatever Python >= 3.12
scripts/find-python.sh found.
"""

from __future__ import annotations  # so that an older Python gets as far as the version check below

import argparse
import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FALSE_WORDS = {"0", "false", "no", "off", ""}
TRUE_WORDS = {"1", "true", "yes", "on"}


def say(message: str) -> None:
    print(f"credence: {message}", flush=True)


class Child:
    """One process we started, leader of its own process group, its output relayed line by line."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], *, capture: bool = False) -> None:
        self.name = name
        self.argv = argv
        self.captured: list[str] = []
        self.tail: collections.deque[str] = collections.deque(maxlen=30)
        self.proc = subprocess.Popen(  # noqa: S603 (argv built by this script)
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            # A group of its own: the terminal's Ctrl-C reaches only this script, which then stops the
            # children in order; and killpg() reaches their own children as well.
            process_group=0,
        )
        self.pid = self.proc.pid
        self._capture = capture
        self._pump = threading.Thread(target=self._relay, name=f"relay-{name}", daemon=True)
        self._pump.start()

    def _relay(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.tail.append(line)
            if self._capture:
                self.captured.append(line)
            # If our own stdout went away, keep draining so that the child never blocks on a full pipe.
            with contextlib.suppress(OSError, ValueError):
                print(f"{self.name:<7}| {line}", flush=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def signal_leader(self, signum: int) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill_group(self) -> None:
        """SIGKILL whatever is left in the group, including children orphaned by the leader's exit."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def finish(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._pump.join(timeout=5)


class Supervisor:
    def __init__(self, stop_timeout: float) -> None:
        self.children: list[Child] = []
        self.stop_timeout = stop_timeout
        self.stop_signal: int | None = None
        self.force = False

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame) -> None:
        if self.stop_signal is not None:
            self.force = True  # a second Ctrl-C: stop waiting for graceful shutdowns
        self.stop_signal = signum

    def start(self, name: str, argv: list[str], env: dict[str, str], *, capture: bool = False) -> Child:
        child = Child(name, argv, env, capture=capture)
        self.children.append(child)
        return child

    def run_once(self, name: str, argv: list[str], env: dict[str, str], *, capture: bool = False) -> Child:
        """Run a step to completion (still interruptible); exit with a clear message if it fails."""
        child = self.start(name, argv, env, capture=capture)
        while child.running():
            if self.stop_signal is not None:
                self.shutdown(f"{signal.Signals(self.stop_signal).name} received during {name}", status=130)
            time.sleep(0.1)
        child.finish()
        self.children.remove(child)
        if child.proc.returncode != 0:
            say(f"{name} failed (exit code {child.proc.returncode}): {' '.join(argv)}")
            self.shutdown(None, status=1)
        return child

    def stop_all(self) -> None:
        alive = [child for child in self.children if child.running()]
        for child in alive:
            child.signal_leader(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while any(child.running() for child in alive) and time.monotonic() < deadline and not self.force:
            time.sleep(0.1)
        for child in self.children:
            if child.running():
                say(f"{child.name} (pid {child.pid}) did not stop in time; killing it")
            child.kill_group()
        for child in self.children:
            child.finish()

    def shutdown(self, reason: str | None, status: int) -> None:
        if reason:
            say(f"{reason}; stopping {len([c for c in self.children if c.running()])} process(es)")
        self.stop_all()
        say("stopped" if status == 0 else f"stopped (exit status {status})")
        sys.exit(status)


def parse_args() -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(description="Start Credence (web, worker, beat) with demo data.")
    parser.add_argument("--host", default=env.get("CREDENCE_HOST", "127.0.0.1"), help="bind address (CREDENCE_HOST)")
    parser.add_argument(
        "--port", type=int, default=int(env.get("CREDENCE_PORT") or 8000), help="HTTP port (CREDENCE_PORT)"
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        default=env.get("CREDENCE_NO_INSTALL", "").strip().lower() in TRUE_WORDS,
        help="do not create or refresh .venv (CREDENCE_NO_INSTALL=1)",
    )
    parser.add_argument("--no-seed", action="store_true", help="do not load the demo data")
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=int(env.get("CREDENCE_WORKER_CONCURRENCY") or 2),
        help="Celery worker processes (CREDENCE_WORKER_CONCURRENCY)",
    )
    parser.add_argument("--startup-timeout", type=float, default=120, help="seconds to wait for /healthz")
    parser.add_argument("--stop-timeout", type=float, default=20, help="seconds to wait for a graceful stop")
    return parser.parse_args()


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def browse_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 (reading the bind address, not choosing it)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def probe_health(url: str) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:  # noqa: S310 (our own server)
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, ValueError):
        return None, ""


def child_environment(args: argparse.Namespace, url: str) -> tuple[dict[str, str], Path]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    data_dir = Path(env.get("CREDENCE_DATA_DIR") or ROOT / "var").expanduser().resolve()
    env["CREDENCE_DATA_DIR"] = str(data_dir)
    env.setdefault("CREDENCE_SITE_URL", url)
    env["PYTHONUNBUFFERED"] = "1"
    # Every process writes its counters to one folder, so /metrics shows the web's and the worker's together
    # (apps/core/metrics.py).
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(data_dir / "metrics"))
    if debug_is_off(env):
        env.setdefault("DJANGO_STATIC_ROOT", str(data_dir / "static"))
    return env, data_dir


def debug_is_off(env: dict[str, str]) -> bool:
    """Local settings default to DEBUG on; DJANGO_DEBUG=0 turns it off (read as config/env.py does)."""
    return "DJANGO_DEBUG" in env and env["DJANGO_DEBUG"].strip().lower() in FALSE_WORDS


def venv_python(no_install: bool) -> str:
    candidate = ROOT / ".venv" / "bin" / "python"
    if candidate.exists():
        return str(candidate)
    if no_install:
        return sys.executable  # e.g. in a container where the requirements are installed system-wide
    say("scripts/bootstrap.sh did not create .venv/bin/python")
    sys.exit(1)


def main() -> None:
    args = parse_args()
    if sys.version_info < (3, 12):  # noqa: UP036 (run by whatever python3 the caller has)
        say(f"needs Python >= 3.12, this is {sys.version.split()[0]} ({sys.executable}); see scripts/find-python.sh")
        sys.exit(1)
    if os.name != "posix":
        say("scripts/run.py supervises process groups and needs a POSIX system (Linux, macOS, WSL)")
        sys.exit(1)
    os.chdir(ROOT)
    url = browse_url(args.host, args.port)
    if not port_is_free(args.host, args.port):
        say(f"{args.host}:{args.port} is in use; choose another with --port (or CREDENCE_PORT)")
        sys.exit(1)

    supervisor = Supervisor(stop_timeout=args.stop_timeout)
    supervisor.install_signal_handlers()
    env, data_dir = child_environment(args, url)

    if not args.no_install:
        supervisor.run_once("install", ["bash", "scripts/bootstrap.sh", "local"], env)
    python = venv_python(args.no_install)
    missing = subprocess.run(  # noqa: S603 (fixed argv)
        [python, "-c", "import django, uvicorn, celery"], cwd=ROOT, env=env, capture_output=True, check=False
    )
    if missing.returncode != 0:
        say(f"{python} lacks the requirements; run without --no-install. ({missing.stderr.decode().strip()[-200:]})")
        sys.exit(1)

    embedded = not env.get("DATABASE_URL") and not env.get("REDIS_URL")
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "celery").mkdir(exist_ok=True)  # beat's schedule file lives here, whatever the broker
    # Counters start from zero with each run: the last run's processes' files would be added in forever.
    metrics_dir = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()
    say(f"settings {env['DJANGO_SETTINGS_MODULE']}, data in {data_dir}")
    say(
        "embedded mode: SQLite, file cache, filesystem Celery broker"
        if embedded
        else f"services: database {'PostgreSQL' if env.get('DATABASE_URL') else 'SQLite'}, "
        f"{'Redis' if env.get('REDIS_URL') else 'no Redis (file cache, filesystem broker)'}"
    )

    manage = [python, "manage.py"]
    supervisor.run_once("migrate", [*manage, "migrate", "--noinput"], env)
    logins: list[str] = []
    if not args.no_seed:
        seed = supervisor.run_once("seed", [*manage, "demo_seed"], env, capture=True)
        logins = [line for line in seed.captured if not line.startswith("demo_seed:")]
    if debug_is_off(env):
        # Without DEBUG, WhiteNoise serves only collected files; with it, straight from the finders.
        supervisor.run_once("static", [*manage, "collectstatic", "--noinput", "-v0"], env)

    celery = [python, "-m", "celery", "-A", "config"]
    supervisor.start(
        "web",
        [
            *[python, "-m", "uvicorn", "config.asgi:application"],
            *["--host", args.host, "--port", str(args.port)],
            # Channels' router does not speak the lifespan protocol; say so rather than let uvicorn probe.
            *["--lifespan", "off", "--timeout-graceful-shutdown", "10"],
            # Client addresses come from CREDENCE_TRUSTED_PROXIES alone (apps.core.throttling): uvicorn's
            # default would set REMOTE_ADDR from X-Forwarded-For for requests from 127.0.0.1.
            "--no-proxy-headers",
        ],
        env,
    )
    supervisor.start(
        "worker",
        [
            *celery,
            *["worker", "--loglevel", "INFO", "--concurrency", str(args.worker_concurrency)],
            # One local worker: no peers to synchronise with or to gossip to.
            *["--hostname", "local@%h", "--without-mingle", "--without-gossip", "--without-heartbeat"],
        ],
        env,
    )
    supervisor.start("beat", [*celery, "beat", "--loglevel", "INFO"], env)

    ready = False
    deadline = time.monotonic() + args.startup_timeout
    last_body = ""
    while True:
        if supervisor.stop_signal is not None:
            supervisor.shutdown(f"{signal.Signals(supervisor.stop_signal).name} received", status=0)
        for child in supervisor.children:
            if not child.running():
                supervisor.shutdown(
                    f"{child.name} (pid {child.pid}) exited with code {child.proc.returncode}: "
                    f"{' '.join(child.argv[1:4])}…",
                    status=1,
                )
        if not ready and time.monotonic() >= deadline:
            supervisor.shutdown(
                f"{url}/healthz did not answer 200 within {args.startup_timeout:.0f}s (last answer: {last_body!r})",
                status=1,
            )
        if not ready:
            status, last_body = probe_health(url)
            if status == 200:
                ready = True
                banner = [
                    "",
                    "=" * 72,
                    f"Credence is running at {url}/",
                    f"  admin: {url}/admin/   API docs: {url}/api/docs   health: {url}/healthz",
                    f"  metrics: {url}/metrics (signed in as staff)",
                    *logins,
                    "Stop with Ctrl-C.",
                    "=" * 72,
                    "",
                ]
                if args.host in ("0.0.0.0", "::"):  # noqa: S104
                    banner.insert(-2, "Listening on every interface: add your host name to DJANGO_ALLOWED_HOSTS.")
                print("\n".join(banner), flush=True)
                continue
        time.sleep(0.5 if not ready else 0.2)


if __name__ == "__main__":
    main()
