import threading
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection


def clear_test_cache() -> None:
    """Delete this run's cache keys only. cache.clear() would FLUSHDB the whole Redis database,
    taking with it anything else there (a Celery queue, another run's keys)."""
    client = cache._cache.get_client(write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def race(n: int, work: Callable[[int], object], *, timeout: float = 120) -> list[object]:
    """Run work(i) in n threads released together by a barrier, so their transactions really overlap.
    Each thread closes its own database connection. Returns each result, or the exception it raised."""
    barrier = threading.Barrier(n, timeout=30)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock or lock wait?)"
    return results
