"""Settings for a real ASGI server that browsers drive in tests (tests/e2e): the test suite's (PostgreSQL
and Redis from the environment, cookies over plain HTTP), with static files served from the source
folders as pytest-django's live server does."""

import os

from config.settings.test import *  # noqa: F403

WHITENOISE_USE_FINDERS = True

# Mail the server sends (a signup's confirmation link) goes to files a browser test can read, when it
# names a folder: the server is another process, so the test's locmem outbox never sees it.
if os.environ.get("CREDENCE_TEST_MAIL_DIR"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": os.environ["CREDENCE_TEST_MAIL_DIR"]},
        }
    }
