import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Rate-limit counters and cached values never leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()
