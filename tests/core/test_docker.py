"""docker/: the compose file's shape (no Docker engine here, so it is read, not run), the image's
entrypoint, and the web healthcheck script run against a live server."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
APP_ROLES = ("migrate", "web", "live", "worker", "beat")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]


def test_compose_runs_the_services_and_each_app_role(services):
    started = {name for name, service in services.items() if "profiles" not in service}
    assert started == {"postgres", "redis", "migrate", "web", "live", "worker", "beat", "proxy"}
    for role in APP_ROLES:
        assert services[role]["command"] == [role]
        assert services[role]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    build = services["web"]["build"]
    assert (DOCKER / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).exists()


def test_only_the_data_services_could_have_a_fixed_container_name(services):
    named = {name for name, service in services.items() if "container_name" in service}
    assert named <= {"postgres", "redis"}


def test_app_roles_scale_freely_and_beat_is_a_singleton(services):
    for role in APP_ROLES:
        assert "ports" not in services[role], f"{role} publishes a host port: a second replica could not start"
    assert services["beat"]["deploy"]["replicas"] == 1
    assert "replicas" not in services["web"].get("deploy", {})
    assert "replicas" not in services["worker"].get("deploy", {})
    assert "replicas" not in services["live"].get("deploy", {})
    assert services["proxy"]["ports"] == ["${HTTP_PORT:-8000}:80"]
    assert "proxy_pass $web;" in (DOCKER / "nginx.conf").read_text()
    nginx = (DOCKER / "nginx.conf").read_text()
    assert "set $web http://web:8000;" in nginx and "set $live http://live:8000;" in nginx
    # WebSockets go to the ASGI role, everything else to the WSGI one.
    assert re.search(r"location /ws/ \{[^}]*proxy_pass \$live;[^}]*Upgrade", nginx)
    assert re.search(r"location / \{[^}]*proxy_pass \$web;", nginx)


def test_app_roles_use_production_settings_and_the_compose_services(services):
    for role in APP_ROLES:
        env = services[role]["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert env["DATABASE_URL"].startswith("postgres://credence:") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        # Never the cache's database: a cache clear (FLUSHDB) would drop queued tasks.
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/1"
        assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")


def test_every_variable_compose_sets_is_read_by_the_app():
    """A misspelt variable would be silently ignored: each one must appear in the settings or entrypoint."""
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    readers = "".join(p.read_text() for p in [*(ROOT / "config").rglob("*.py"), DOCKER / "entrypoint.sh"])
    for role in APP_ROLES:
        for name in compose["services"][role]["environment"]:
            assert re.search(rf"\b{name}\b", readers), f"{name} is set in compose.yaml but read nowhere"


def test_app_roles_wait_for_healthy_services_and_a_successful_migration(services):
    for role in ("web", "live", "worker", "beat"):
        depends = services[role]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert depends["postgres"] == {"condition": "service_healthy"}
        assert depends["redis"] == {"condition": "service_healthy"}
    assert services["migrate"]["restart"] == "no"
    assert set(services["migrate"]["depends_on"]) == {"postgres"}


def test_services_have_healthchecks_and_web_uses_healthz(services):
    for name in ("postgres", "redis", "web", "live", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "docker/healthcheck.py"]
    assert services["live"]["healthcheck"]["test"] == ["CMD", "python", "docker/healthcheck.py"]
    assert '"/healthz"' in (DOCKER / "healthcheck.py").read_text()
    assert services["proxy"]["depends_on"]["web"] == {"condition": "service_healthy"}
    assert services["proxy"]["depends_on"]["live"] == {"condition": "service_healthy"}


def test_the_image_is_slim_unprivileged_and_ships_collected_static_files():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.12-slim$", dockerfile, re.M)
    assert "pip install -r requirements/production.txt" in dockerfile
    assert "manage.py collectstatic --noinput" in dockerfile
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert 'ENTRYPOINT ["docker/entrypoint.sh"]' in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env"} <= set(ignored)


def test_the_entrypoint_is_valid_shell_and_knows_every_role():
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    assert subprocess.run(["sh", "-n", str(DOCKER / "entrypoint.sh")], check=False).returncode == 0  # noqa: S603, S607
    assert os.access(DOCKER / "entrypoint.sh", os.X_OK)
    for role in APP_ROLES:
        assert re.search(rf"^\s+{role}\)$", entrypoint, re.M), role
    assert "gunicorn --config config/gunicorn.py config.wsgi:application" in entrypoint
    assert "uvicorn config.asgi:application" in entrypoint
    assert "celery -A config worker" in entrypoint
    assert "celery -A config beat" in entrypoint


@pytest.mark.django_db(transaction=True)
def test_the_web_healthcheck_passes_against_a_healthy_server(live_server):
    port = live_server.url.rsplit(":", 1)[1]
    env = {**os.environ, "PORT": port, "DJANGO_ALLOWED_HOSTS": "localhost,credence.example.com"}

    result = subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, str(DOCKER / "healthcheck.py")], env=env, capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith('healthz: 200 {"status": "ok"')


def test_the_web_healthcheck_fails_when_nothing_answers():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        result = subprocess.run(  # noqa: S603 (fixed argv)
            [sys.executable, str(DOCKER / "healthcheck.py")],
            env={**os.environ, "PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert result.returncode == 1
    assert "refused" in result.stdout.lower()


def test_prometheus_and_grafana_are_optional_and_scrape_with_the_token(services):
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["observability"]
    assert compose["secrets"]["metrics-token"] == {"environment": "CREDENCE_METRICS_TOKEN"}
    assert services["prometheus"]["secrets"] == ["metrics-token"]
    [job] = yaml.safe_load((DOCKER / "prometheus.yml").read_text())["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics-token"}
    assert job["static_configs"][0]["targets"] == ["web:8000"]
    for name in ("prometheus", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name


def test_every_process_serving_or_counting_shares_one_metrics_folder(services):
    for role in ("web", "live", "worker"):
        assert services[role]["environment"]["PROMETHEUS_MULTIPROC_DIR"] == "/run/credence-metrics"
        assert "metrics:/run/credence-metrics" in services[role]["volumes"]
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert compose["volumes"]["metrics"]["driver_opts"]["type"] == "tmpfs"


def test_the_dashboard_and_the_alerts_read_only_metrics_the_app_exports():
    """A renamed metric would leave a panel or an alert silently empty."""
    sources = (ROOT / "apps" / "core" / "metrics.py").read_text() + (
        ROOT / "apps" / "reviews" / "metrics.py"
    ).read_text()
    exported = set()
    for kind, name in re.findall(r'(Counter|Histogram|GaugeMetricFamily)\(\s*"(credence_\w+)"', sources):
        suffixes = {"Counter": ["_total"], "Histogram": ["_bucket", "_count", "_sum"], "GaugeMetricFamily": [""]}
        exported.update(name + suffix for suffix in suffixes[kind])
    # Written by the nightly ledger_verify job through node_exporter's textfile collector, not by the app.
    textfile = {"credence_ledger_verify_ok", "credence_ledger_verify_last_run_timestamp_seconds"}
    dashboard = (DOCKER / "grafana" / "credence-dashboard.json").read_text()
    alerts = (DOCKER / "prometheus-alerts.yml").read_text()
    assert set(re.findall(r"credence_\w+", dashboard)) - {"credence-overview"} <= exported
    assert set(re.findall(r"credence_\w+", alerts)) <= exported | textfile
    assert len(exported) == 14  # the regex found every definition: 5 counters, 1 histogram (3 series), 6 gauges
