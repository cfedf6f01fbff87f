"""`make run` end to end: scripts/run.py on the embedded defaults starts web, worker and beat with demo
data; the product answers; a task makes the round trip; Ctrl-C leaves no process behind.

Every process run.py starts inherits CREDENCE_DATA_DIR, a temporary folder unique to the test, so the
test finds them all in /proc by that marker (whatever their process group), checks them, and in any
case kills what is left before it returns.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from apps.demo.management.commands.demo_seed import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
STARTUP_TIMEOUT = 150
ANONYMOUS_LIMIT = 5

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(400),
    pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds processes through /proc"),
]


ARRANGE_A_DUE_RESOLUTION = """
import json, django; django.setup()
from datetime import timedelta
from django.db.models import Max
from django.utils import timezone
from apps.core.models import Event
from apps.identities.models import Identity
from apps.markets.models import Claim, ClaimStatus, Resolution
from apps.markets.resolution import claims_close_due, resolution_propose
claim = Claim.objects.filter(status=ClaimStatus.OPEN, title__startswith="Will").order_by("pk").first()
Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
claims_close_due()
claim.refresh_from_db()
resolver = Identity.objects.get(user__email="moderator@example.com", kind="human")
resolution_propose(claim=claim, proposer=resolver, outcome="yes", evidence="The smoke test.")
Resolution.objects.filter(claim=claim).update(challenge_deadline=timezone.now() - timedelta(seconds=1))
print(json.dumps([claim.pk, Event.objects.aggregate(m=Max("id"))["m"]]))
"""


HOSTED_RUNS = """
import json, django; django.setup()
from apps.agents.models import AgentRun
runs = AgentRun.objects.filter(state="succeeded").values_list("agent__identity__handle", "orders_placed")
print(json.dumps(sorted(set(runs))))
"""


FINALIZE_IN_THE_WORKER = (
    "import django; django.setup(); from apps.markets.tasks import finalize_due; finalize_due.delay().get(timeout=60)"
)


def python(run, code: str) -> str:
    """Run `code` in a fresh Python process with the product's environment: another process on the same
    embedded database and broker, as the worker is."""
    done = subprocess.run(  # noqa: S603 (fixed argv)
        [PYTHON, "-c", code], cwd=ROOT, env=run.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(data_dir: Path) -> dict[str, str]:
    """This machine's environment minus every service URL and Django/Celery override: the defaults."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL"} and not k.startswith(("CELERY_", "DJANGO_", "CREDENCE_"))
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", CREDENCE_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    env["CREDENCE_API_RATE_ANON"] = f"{ANONYMOUS_LIMIT}/min"  # low, so the test can reach it
    return env


def processes_of(data_dir: Path) -> dict[int, str]:
    """pid -> command line of every live process started with this data dir in its environment."""
    marker = f"CREDENCE_DATA_DIR={data_dir}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in environ:
            found[int(entry.name)] = cmdline
    return found


class Run:
    def __init__(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = embedded_env(self.data_dir)
        self.log_path = tmp_path / "run.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(  # noqa: S603 (fixed argv)
                [PYTHON, "scripts/run.py", "--no-install", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # signals from the test runner's terminal never reach it
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n--- run.py output (tail) ---\n{self.log()[-6000:]}")

    def wait_healthy(self) -> dict:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"run.py exited with {self.proc.returncode} before /healthz answered")
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{self.url}/healthz", timeout=5)
                if response.status_code == 200:
                    return response.json()
            time.sleep(0.5)
        self.fail(f"/healthz did not answer 200 within {STARTUP_TIMEOUT}s")
        raise AssertionError  # unreachable

    def cleanup(self) -> None:
        """Whatever happened in the test: stop run.py, then kill anything still carrying our marker."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for pid in processes_of(self.data_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def run(tmp_path):
    started = Run(tmp_path)
    try:
        yield started
    finally:
        started.cleanup()


def wait_until_gone(data_dir: Path, timeout: float = 10) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while (left := processes_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_make_run_serves_the_product_and_stops_every_process_on_ctrl_c(run):
    health = run.wait_healthy()
    assert health == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}

    # Embedded defaults, as configured: SQLite in the data dir, the filesystem broker's folders beside it.
    assert (run.data_dir / "credence.sqlite3").exists()
    assert (run.data_dir / "celery" / "broker").is_dir()
    assert not (ROOT / "control").exists(), "kombu's control folder must live in the data dir"

    # One task through the embedded broker, the worker run.py started, and the file result backend.
    round_trip = subprocess.run(  # noqa: S603 (fixed argv)
        [
            PYTHON,
            "-c",
            "import json, django; django.setup(); from apps.core.tasks import ping; "
            "print(json.dumps(ping.delay().get(timeout=60)))",
        ],
        cwd=ROOT,
        env=run.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert round_trip.returncode == 0, round_trip.stderr[-3000:]
    assert json.loads(round_trip.stdout.strip().splitlines()[-1])["pong"] is True
    assert "Task core.ping[" in run.log()

    # Live updates on the embedded defaults: a change the worker makes reaches a socket on the web process
    # (they share only the SQLite file). A demo claim is closed and proposed, its window put in the past,
    # then the worker's finalize task resolves it and the open socket hears claim.resolved.
    arranged = python(run, ARRANGE_A_DUE_RESOLUTION)
    claim_id, cursor = json.loads(arranged.splitlines()[-1])
    with ws_connect(f"ws://127.0.0.1:{run.port}/ws/claims/?ids={claim_id}&after={cursor}", origin=run.url) as ws:
        python(run, FINALIZE_IN_THE_WORKER)
        heard = []
        deadline = time.monotonic() + 30
        while "claim.resolved" not in heard and time.monotonic() < deadline:
            heard.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))["kind"])
    assert "claim.resolved" in heard, heard
    assert "Task markets.finalize_due[" in run.log()

    # The demo's two hosted agents trade on their own: beat dispatches them (they are due at once), the worker
    # runs them, and each run places orders.
    deadline, ran = time.monotonic() + 90, []
    while time.monotonic() < deadline:
        ran = json.loads(python(run, HOSTED_RUNS).splitlines()[-1])
        if {handle for handle, _ in ran} == {"base-rate-bot", "consensus-tracker"}:
            break
        time.sleep(2)
    assert {handle for handle, _ in ran} == {"base-rate-bot", "consensus-tracker"}, (ran, run.log()[-3000:])
    assert all(orders > 0 for _, orders in ran), ran
    assert "Task agents.run[" in run.log() and "Task agents.dispatch[" in run.log()

    # A client behind no proxy cannot pick its own address with X-Forwarded-For: uvicorn leaves REMOTE_ADDR
    # alone, so a new forged value per request is still one client to the anonymous API limit.
    forged = [
        httpx.get(f"{run.url}/api/v1/claims", headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=10).status_code
        for i in range(ANONYMOUS_LIMIT + 2)
    ]
    assert forged == [200] * ANONYMOUS_LIMIT + [429, 429], forged

    with httpx.Client(base_url=run.url, timeout=10) as browser:
        # Static files are served by the app itself: ours, and a package's (from the finders, DEBUG on).
        css = browser.get("/static/css/app.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert browser.get("/static/admin/css/base.css").status_code == 200

        # A demo user signs in through the real login page (allauth: verified email required).
        login_page = browser.get("/accounts/login/")
        assert login_page.status_code == 200
        assert "/static/css/app.css" in login_page.text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
        signed_in = browser.post(
            "/accounts/login/",
            data={"login": "alice@example.com", "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{run.url}/accounts/login/"},
        )
        assert signed_in.status_code == 302, signed_in.text[-2000:]
        assert signed_in.headers["location"] == "/"
        assert "Sign out" in browser.get("/").text

    banner = run.log()
    assert f"Credence is running at {run.url}/" in banner
    assert "alice@example.com" in banner
    assert f"password for each: {DEMO_PASSWORD}" in banner
    # The banner (between its rules) is what the person reads: no library's warning inside it, and kombu's
    # about the broker URL's missing host nowhere in the output of the seed, the worker or beat.
    rule = "=" * 72
    box = banner[banner.index(f"{rule}\nCredence is running") : banner.rindex(rule)]
    assert "WARNING" not in box, box
    assert "No hostname was supplied" not in banner

    started = processes_of(run.data_dir)
    commands = list(started.values())
    assert any("uvicorn config.asgi:application" in c for c in commands), commands
    assert sum("celery -A config worker" in c for c in commands) >= 2, commands  # main process + pool
    assert any("celery -A config beat" in c for c in commands), commands
    groups = {os.getpgid(pid) for pid in started if pid != run.proc.pid}
    assert len(groups) == 3, "web, worker and beat each lead a process group of their own"

    run.proc.send_signal(signal.SIGINT)

    assert run.proc.wait(timeout=60) == 0, run.log()[-3000:]
    assert wait_until_gone(run.data_dir) == {}
    for group in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)
    assert "credence: stopped" in run.log()


def test_when_a_child_dies_run_stops_the_others_and_fails(run):
    run.wait_healthy()
    beat = next(pid for pid, command in processes_of(run.data_dir).items() if "celery -A config beat" in command)

    os.kill(beat, signal.SIGKILL)

    assert run.proc.wait(timeout=60) == 1
    assert wait_until_gone(run.data_dir) == {}
    assert f"beat (pid {beat}) exited with code -9" in run.log()


def test_run_refuses_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(  # noqa: S603 (fixed argv)
            [PYTHON, "scripts/run.py", "--no-install", "--port", str(port)],
            cwd=ROOT,
            env=embedded_env(tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1
    assert f"127.0.0.1:{port} is in use" in result.stdout
    assert not (tmp_path / "data").exists(), "nothing was started or written"
