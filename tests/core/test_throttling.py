"""API rate limits: a fixed window per caller, counted atomically in Redis."""

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from django.db import connection
from django.test import Client, RequestFactory

from apps.core.throttling import CallerThrottle, client_address, limited_address, parse_rate
from tests import factories
from tests.support import bearer


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


@pytest.mark.django_db
def test_forged_forwarded_for_values_do_not_escape_the_anonymous_limit_without_a_proxy(tight_limits):
    # No proxy in front (CREDENCE_TRUSTED_PROXIES=0, the default): X-Forwarded-For is the caller's own word.
    client = Client(REMOTE_ADDR="198.51.100.7")
    statuses = [
        client.get("/api/v1/identities", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in range(1, 5)
    ]
    assert statuses == [200, 200, 429, 429]


@pytest.mark.django_db
def test_forged_forwarded_for_values_do_not_escape_the_anonymous_limit_behind_one_proxy(tight_limits, settings):
    # The shipped nginx appends the address it saw to whatever X-Forwarded-For the client sent.
    settings.CREDENCE_TRUSTED_PROXIES = 1
    proxy = Client(REMOTE_ADDR="172.18.0.9")
    forged = ["203.0.113.1, 198.51.100.7", "203.0.113.2,198.51.100.7", "198.51.100.7", "x, 10.0.0.1, 198.51.100.7"]
    statuses = [proxy.get("/api/v1/identities", headers={"X-Forwarded-For": xff}).status_code for xff in forged]
    assert statuses == [200, 200, 429, 429]
    # Someone else behind the same proxy is counted on their own.
    other = proxy.get("/api/v1/identities", headers={"X-Forwarded-For": "203.0.113.1, 198.51.100.8"})
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded_for", "address"),
    [
        (0, "198.51.100.7", None, "198.51.100.7"),
        (0, "198.51.100.7", "203.0.113.1", "198.51.100.7"),
        (1, "172.18.0.9", "203.0.113.1, 198.51.100.7", "198.51.100.7"),
        (1, "172.18.0.9", "198.51.100.7:51234", "198.51.100.7"),
        (1, "172.18.0.9", "203.0.113.1, [2001:DB8:0::7]:443", "2001:db8::7"),
        (2, "172.18.0.9", "203.0.113.1, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        # Fewer hops than proxies (a request that skipped a proxy): the farthest hop there is.
        (2, "172.18.0.9", "198.51.100.7", "198.51.100.7"),
        (1, "172.18.0.9", None, "172.18.0.9"),
        # A hop that is not an address means the chain is not what was configured: count the peer.
        (1, "172.18.0.9", "203.0.113.1, unknown", "172.18.0.9"),
        (0, "", None, "unknown"),
    ],
)
def test_the_client_address_is_the_right_most_hop_no_trusted_proxy_wrote(
    settings, trusted, remote, forwarded_for, address
):
    settings.CREDENCE_TRUSTED_PROXIES = trusted
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    request = RequestFactory(REMOTE_ADDR=remote).get("/", headers=headers)
    assert client_address(request) == address


@pytest.mark.parametrize(
    ("remote", "limited"),
    [
        ("198.51.100.7", "198.51.100.7"),
        # One IPv6 subscriber holds a /64: its addresses share one count, as in allauth's limits.
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"),
    ],
)
def test_limits_count_an_ipv6_network_as_one_client(remote, limited):
    assert limited_address(RequestFactory(REMOTE_ADDR=remote).get("/")) == limited


def test_the_shipped_deployment_trusts_its_one_proxy_and_nothing_else_reads_the_header():
    docker = Path(__file__).resolve().parents[2] / "docker"
    services = yaml.safe_load((docker / "compose.yaml").read_text())["services"]
    for role in ("web", "live"):
        assert services[role]["environment"]["CREDENCE_TRUSTED_PROXIES"] == "${CREDENCE_TRUSTED_PROXIES:-1}"
    # nginx appends (never replaces) the address it saw: that right-most hop is the one believed.
    nginx = (docker / "nginx.conf").read_text()
    assert nginx.count("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;") == 2
    # uvicorn would put its own reading of the header (the left-most hop, under "*") in REMOTE_ADDR.
    live = (docker / "entrypoint.sh").read_text().partition("  live)")[2].partition(";;")[0]
    assert "--no-proxy-headers" in live
    assert "--proxy-headers " not in live

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
