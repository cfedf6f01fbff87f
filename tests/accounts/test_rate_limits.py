"""allauth's rate limits count in the shared cache (Redis in the test suite, as in production)."""

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.test import Client
from django.urls import reverse

from tests import factories
from tests.support import clear_test_cache

pytestmark = pytest.mark.django_db

WRONG = "The email address and/or password you specified are not correct."
LIMITED = "Too many failed login attempts. Try again later."


def _login(client: Client, email: str, password: str, **headers: str):
    return client.post(reverse("account_login"), {"login": email, "password": password}, headers=headers)


def test_the_cache_is_redis():
    assert settings.CACHES["default"]["BACKEND"] == "apps.core.cache.RedisCache"
    assert isinstance(caches["default"], DjangoRedisCache)


def test_repeated_failed_logins_lock_the_account_even_for_the_right_password():
    user = factories.verified_user(email="target@example.com")
    other = factories.verified_user(email="bystander@example.com")
    client = Client()
    # 5 failures per account and address in 5 minutes (and 10 a minute per address): the address that
    # failed is locked out of this account, the right password included.
    for _ in range(5):
        response = _login(client, "target@example.com", "wrong-password-123")
        assert response.status_code == 200
        assert WRONG in response.content.decode()

    response = _login(client, "target@example.com", factories.PASSWORD)
    assert response.status_code == 200
    assert LIMITED in response.content.decode()
    assert "_auth_user_id" not in client.session

    # The limit is per account: someone else signs in from the same address.
    bystander = _login(client, "bystander@example.com", factories.PASSWORD)
    assert bystander.status_code == 302
    assert client.session["_auth_user_id"] == str(other.pk)

    # The counters live in the cache: clearing it lifts the lock.
    clear_test_cache()
    fresh = Client()
    assert _login(fresh, "target@example.com", factories.PASSWORD).status_code == 302
    assert fresh.session["_auth_user_id"] == str(user.pk)


def test_a_stranger_cannot_lock_the_owner_out():
    owner = factories.verified_user(email="target@example.com")
    stranger = Client(REMOTE_ADDR="203.0.113.50")
    for _ in range(5):
        assert WRONG in _login(stranger, "target@example.com", "wrong-password-123").content.decode()
    refused = _login(stranger, "target@example.com", factories.PASSWORD)
    assert LIMITED in refused.content.decode()
    assert "_auth_user_id" not in stranger.session

    # The owner, from their own address, signs in with the right password.
    home = Client(REMOTE_ADDR="198.51.100.7")
    response = _login(home, "target@example.com", factories.PASSWORD)
    assert response.status_code == 302
    assert home.session["_auth_user_id"] == str(owner.pk)
    # ... and their own mistakes count on their own: four more failures from home are still answered.
    fresh = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(4):
        assert WRONG in _login(fresh, "target@example.com", "wrong-password-123").content.decode()


def test_one_address_cannot_try_many_accounts():
    users = [factories.verified_user(email=f"member{n}@example.com") for n in range(11)]
    guesser = Client(REMOTE_ADDR="203.0.113.50")
    for n in range(10):
        assert WRONG in _login(guesser, f"member{n}@example.com", "wrong-password-123").content.decode()
    # 10 failures a minute per address, whichever accounts they were on: the eleventh account is refused
    # to this address even with its right password.
    refused = _login(guesser, "member10@example.com", factories.PASSWORD)
    assert LIMITED in refused.content.decode()
    assert "_auth_user_id" not in guesser.session

    member = Client(REMOTE_ADDR="198.51.100.7")
    assert _login(member, "member10@example.com", factories.PASSWORD).status_code == 302
    assert member.session["_auth_user_id"] == str(users[10].pk)


def test_two_people_behind_one_proxy_have_separate_login_buckets(settings):
    settings.CREDENCE_TRUSTED_PROXIES = 1
    user = factories.verified_user(email="colleague@example.com")
    # Both reach the app through the same nginx, which appends the address it saw to X-Forwarded-For.
    first = Client(REMOTE_ADDR="172.18.0.9")
    for n in range(10):
        response = _login(first, f"nobody{n}@example.com", "wrong-password-123", x_forwarded_for="198.51.100.7")
        assert WRONG in response.content.decode()
    # The first person is over the per-address limit, forged hops to the left of the proxy's included.
    for forged in ("203.0.113.1, 198.51.100.7", "203.0.113.2,198.51.100.7"):
        response = _login(first, "colleague@example.com", factories.PASSWORD, x_forwarded_for=forged)
        assert LIMITED in response.content.decode()
    assert "_auth_user_id" not in first.session

    second = Client(REMOTE_ADDR="172.18.0.9")
    response = _login(second, "colleague@example.com", factories.PASSWORD, x_forwarded_for="198.51.100.8")
    assert response.status_code == 302
    assert second.session["_auth_user_id"] == str(user.pk)


def test_forged_forwarded_for_values_do_not_escape_the_login_limit_without_a_proxy():
    guesser = Client(REMOTE_ADDR="203.0.113.50")
    factories.verified_user(email="target@example.com")
    for n in range(5):
        response = _login(guesser, "target@example.com", "wrong-password-123", x_forwarded_for=f"198.51.100.{n}")
        assert WRONG in response.content.decode()
    response = _login(guesser, "target@example.com", factories.PASSWORD, x_forwarded_for="198.51.100.99")
    assert LIMITED in response.content.decode()
    assert "_auth_user_id" not in guesser.session


def test_a_tighter_configured_limit_applies(settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "2/5m/key"}
    factories.verified_user(email="tight@example.com")
    client = Client()
    for _ in range(2):
        assert WRONG in _login(client, "tight@example.com", "wrong-password-123").content.decode()
    response = _login(client, "tight@example.com", factories.PASSWORD)
    assert LIMITED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset_requests_are_limited_per_address(settings):
    settings.ACCOUNT_RATE_LIMITS = {"reset_password": "5/m/ip,1/5m/key"}
    factories.verified_user(email="forgetful@example.com")
    client = Client()
    first = client.post(reverse("account_reset_password"), {"email": "forgetful@example.com"})
    assert first.status_code == 302
    second = client.post(reverse("account_reset_password"), {"email": "forgetful@example.com"})
    assert second.status_code == 429
    assert b"<h1>Too many requests</h1>" in second.content
    assert b'<a class="brand" href="/">' in second.content
