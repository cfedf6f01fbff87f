"""A Redis cache whose connection pool lives as long as the process.

Django keeps one cache object per thread or async context. Under ASGI every request runs in a fresh
context, so the stock RedisCache built a new client, a new connection pool and a new TCP connection
per request (~1.3 ms here, against ~0.4 ms for a get+set on a reused connection; the API's rate
limiter reads the cache on every call). redis-py pools are thread-safe, so one client per
(servers, options) is shared by every cache object of the process.
"""

import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.utils.functional import cached_property

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


class RedisCache(DjangoRedisCache):
    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client
