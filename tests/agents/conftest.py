import pytest

from tests.agents import scripted


@pytest.fixture(autouse=True)
def _scripted_strategy():
    """The scripted strategy is offered while an agents test runs (and only then)."""
    scripted.register()
    yield
    scripted.unregister()
