"""gunicorn's settings for the web role (docker/entrypoint.sh `web`; the benches in tests/bench run it too).

Pages and the REST API are served by WSGI in synchronous worker processes, one request at a time per
process: the ORM is synchronous, and under the ASGI server the same views ran with an async/sync thread
hop per request and GIL contention between the event loop and the thread holding row locks — the stake
API served 0.33 of raw SQL's throughput under uvicorn and 0.50 here (docs/performance.md, "Staking").
WebSockets (Channels) are the `live` role's: uvicorn serving config.asgi. Values come from the environment.
"""

import multiprocessing
import os

from apps.core.logs import logging_settings

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# The usual 2 x cores + 1: a process waiting on PostgreSQL leaves its core to another.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count() + 1)
worker_class = "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "20"))
# Behind the proxy: trust its X-Forwarded-* headers (the container is not published).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
# A worker is replaced after this many requests (plus jitter): a slow leak cannot grow without bound.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn's own lines (the master's: workers booted, a worker timed out) in the format the app logs in
# (apps/core/logs.py): JSON under production settings or LOG_FORMAT=json. Each worker's Django setup then
# configures the same handler again.
_production = os.environ.get("DJANGO_SETTINGS_MODULE", "").endswith(".production")
logconfig_dict = logging_settings(os.environ.get("LOG_FORMAT") or ("json" if _production else "console"), loglevel)
