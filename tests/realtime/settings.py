"""Settings for a real ASGI server that browsers drive in tests (tests/e2e): the test suite's (PostgreSQL
and Redis from the environment, cookies over plain HTTP), with static files served from the source
folders as pytest-django's live server does."""

from config.settings.test import *  # noqa: F403

WHITENOISE_USE_FINDERS = True
