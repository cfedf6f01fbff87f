import pytest

from tests import factories


@pytest.fixture
def domain(db):
    return factories.domain()


@pytest.fixture
def other_domain(db):
    return factories.domain("economics")


@pytest.fixture
def author(db):
    return factories.human()


@pytest.fixture
def resolver(db):
    """A verified identity that never trades: it proposes outcomes."""
    return factories.human()
