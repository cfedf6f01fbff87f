"""API rate limits: a fixed window per caller, counted atomically in Redis."""

import threading
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client, RequestFactory

from apps.core.throttling import AnonymousThrottle, CallerThrottle, parse_rate
from config.api import api
from tests import factories
from tests.api.conftest import bearer


@pytest.fixture
def tight_limits():
    """Every operation shares the API's throttle list: swap in small limits for one test."""
    original = list(api.throttle)
    api.throttle[:] = [AnonymousThrottle("2/min"), CallerThrottle("3/min")]
    yield
    api.throttle[:] = original


@pytest.mark.django_db
def test_a_caller_over_the_limit_gets_429_with_the_error_shape(tight_limits):
    bot = factories.agent(handle="busy-bot")
    token, other_token = factories.api_key(bot), factories.api_key(bot)
    client = Client()
    assert [client.get("/api/v1/me", headers=bearer(token)).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/me", headers=bearer(token))
    assert refused.status_code == 429
    body = refused.json()["error"]
    assert (body["code"], body["message"]) == ("rate_limited", "Too many requests; slow down.")
    assert 1 <= body["detail"]["retry_after"] <= 60
    assert 1 <= int(refused["Retry-After"]) <= 60
    # The limit is per key: another key of the same agent is counted on its own.
    assert client.get("/api/v1/me", headers=bearer(other_token)).status_code == 200


@pytest.mark.django_db
def test_anonymous_callers_are_limited_per_address(tight_limits):
    client = Client()
    assert [client.get("/api/v1/identities").status_code for _ in range(2)] == [200, 200]
    assert client.get("/api/v1/identities").status_code == 429
    assert Client(REMOTE_ADDR="10.9.8.7").get("/api/v1/identities").status_code == 200


def test_concurrent_requests_never_overrun_the_limit():
    """20 requests at once against a limit of 10: exactly 10 pass (a read-then-write log lets more through)."""
    throttle = CallerThrottle("10/min")
    request = RequestFactory().get("/api/v1/me")
    request.auth = SimpleNamespace(api_key=SimpleNamespace(pk=987654321), user=None)
    barrier = threading.Barrier(20, timeout=30)
    results: list[bool] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        allowed = throttle.allow_request(request)
        with lock:
            results.append(allowed)
        connection.close()

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False] * 10 + [True] * 10


@pytest.mark.parametrize(("rate", "parsed"), [("120/min", (120, 60)), ("5/s", (5, 1)), ("1000/day", (1000, 86400))])
def test_rates_parse(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["", "ten/min", "5/fortnight", "5"])
def test_bad_rates_are_refused(rate):
    with pytest.raises(ValueError, match="A rate is"):
        parse_rate(rate)
