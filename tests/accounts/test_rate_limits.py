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


def _login(client: Client, email: str, password: str):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_the_cache_is_redis():
    assert settings.CACHES["default"]["BACKEND"] == "apps.core.cache.RedisCache"
    assert isinstance(caches["default"], DjangoRedisCache)


def test_repeated_failed_logins_lock_the_account_even_for_the_right_password():
    user = factories.verified_user(email="target@example.com")
    other = factories.verified_user(email="bystander@example.com")
    client = Client()
    # allauth's default: 5 failures per account in 5 minutes (and 10 a minute per IP).
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
