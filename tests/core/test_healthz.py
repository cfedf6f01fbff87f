"""/healthz answers 200 only when the database, the cache and the Celery broker all answer.

Failures are real: the dependency is pointed at a TCP port that is bound but not listening, so every
connection is refused, and the check itself runs unmodified.
"""

import socket
import time

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_port():
    """A local port that refuses connections for the duration of the test (bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_healthz_is_ok_when_every_dependency_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_names_the_broker_when_it_is_down(client, monkeypatch, closed_port):
    # Celery reads CELERY_BROKER_URL from the environment on every connection it opens.
    monkeypatch.setenv("CELERY_BROKER_URL", f"redis://127.0.0.1:{closed_port}/0")
    started = time.monotonic()

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")
    assert "refused" in body["checks"]["broker"].lower()
    assert time.monotonic() - started < 15, "a dead broker must not hang the health check"


def test_healthz_names_the_cache_when_it_is_down(client, closed_port):
    dead_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
        }
    }
    with override_settings(CACHES=dead_cache):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "ok"
    assert body["checks"]["cache"].startswith("error: ConnectionError")


def test_healthz_refuses_other_methods(client):
    assert client.post("/healthz").status_code == 405
