"""The web-role benchmark server's entry point: the project's WSGI application, unchanged unless
BENCH_API_THROTTLE=off, which empties the API's throttle list (every operation shares that list)
so the cost of rate limiting can be told apart from the rest of a request."""

import os

from config.wsgi import application

if os.environ.get("BENCH_API_THROTTLE") == "off":
    from config.api import api  # after config.wsgi: Django is set up by then

    api.throttle.clear()

__all__ = ["application"]
