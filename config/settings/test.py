"""The test suite: PostgreSQL and Redis, always (money paths need real row locks; allauth's rate
limits need a real cache). `make test` finds or starts both and exports their URLs."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import database_from_url

_database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/credence")
if not _database_url.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured("The test suite runs on PostgreSQL: DATABASE_URL must be a postgres:// URL.")
DATABASES = {"default": database_from_url(_database_url)}
# Tests open many short-lived connections from threads; a pool per test database only gets in the way.
DATABASES["default"].pop("OPTIONS", None)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"credence-test-{os.getpid()}",
    }
}
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}

# Receivers in tests are local servers on 127.0.0.1; no test sends a DNS query (names other than localhost
# do not resolve: tests that need one stub the resolver). A short timeout keeps the hanging-receiver tests short.
CREDENCE_HTTP_ALLOW_LOOPBACK = True
CREDENCE_HTTP_RESOLVER = "apps.core.http.offline_resolver"
CREDENCE_WEBHOOK_TIMEOUT_SECONDS = 1.0
