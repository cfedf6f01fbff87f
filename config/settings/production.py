"""Production: secrets and hosts must come from the environment; HTTPS everywhere."""

from django.core.exceptions import ImproperlyConfigured

from apps.core.logs import logging_settings
from config.env import env_bool, env_int, env_str

from .base import *
from .base import DATABASE_URL, LOG_LEVEL, REDIS_URL, SECRET_KEY, mailers

DEBUG = False

if SECRET_KEY.startswith("insecure-") or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY to a random value of at least 50 characters.")
# The embedded fallbacks are for one machine: SQLite ignores the row locks the ledger relies on, and a
# file cache or filesystem broker is not shared between hosts. Production names its services.
if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured("Set DATABASE_URL to a postgres:// URL: production runs on PostgreSQL.")
if not REDIS_URL:
    raise ImproperlyConfigured("Set REDIS_URL (cache, channel layer and, by default, the Celery broker).")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Mail goes out over SMTP unless EMAIL_BACKEND names another production backend (the console backend
# of the other environments would silently drop the verification emails signup depends on).
MAILERS = mailers("django.core.mail.backends.smtp.EmailBackend")

# One JSON object per line, for the log collector (LOG_FORMAT=console for a person reading a terminal).
LOG_FORMAT = env_str("LOG_FORMAT", "json")
LOGGING = logging_settings(LOG_FORMAT, LOG_LEVEL)

# Several web processes must share one channel layer.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes and scrapers on the private network speak plain HTTP: the health check, and /metrics (which admits
# only its bearer token or staff).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env_str("ACCOUNT_DEFAULT_HTTP_PROTOCOL", "https")
