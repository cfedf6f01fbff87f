"""Local development: the embedded defaults (SQLite, file cache, filesystem broker) unless
DATABASE_URL / REDIS_URL say otherwise."""

from config.env import env_bool

from .base import *

DEBUG = env_bool("DJANGO_DEBUG", True)

# A receiver on this machine (docs/examples/webhook_receiver.py) may get webhooks, over plain http too.
CREDENCE_HTTP_ALLOW_LOOPBACK = env_bool("CREDENCE_HTTP_ALLOW_LOOPBACK", True)
