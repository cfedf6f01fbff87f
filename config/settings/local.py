"""Local development: the embedded defaults (SQLite, file cache, filesystem broker) unless
DATABASE_URL / REDIS_URL say otherwise."""

from config.env import env_bool

from .base import *

DEBUG = env_bool("DJANGO_DEBUG", True)

# Model servers and webhook receivers on 127.0.0.1 (apps/core/http.py); never in production.
CREDENCE_HTTP_ALLOW_LOOPBACK = True
