from django.conf import settings
from django.core.cache import cache


def clear_test_cache() -> None:
    """Delete this run's cache keys only. cache.clear() would FLUSHDB the whole Redis database,
    taking with it anything else there (a Celery queue, another run's keys)."""
    client = cache._cache.get_client(write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
