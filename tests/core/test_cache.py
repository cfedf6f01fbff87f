import threading

from django.core.cache import caches

from apps.core.cache import RedisCache


def _cache_in_a_new_thread():
    """Django hands every thread (and every ASGI request context) its own cache object."""
    found = []
    thread = threading.Thread(target=lambda: found.append(caches["default"]))
    thread.start()
    thread.join()
    return found[0]


def test_cache_objects_of_one_process_share_one_redis_client():
    here, there = caches["default"], _cache_in_a_new_thread()
    assert isinstance(here, RedisCache)
    assert here is not there
    assert here._cache is there._cache
    pool = here._cache._get_connection_pool(write=True)
    assert there._cache._get_connection_pool(write=True) is pool


def test_the_shared_client_reads_what_another_cache_object_wrote():
    here, there = caches["default"], _cache_in_a_new_thread()
    here.set("shared-client-check", 42, timeout=10)
    assert there.get("shared-client-check") == 42
