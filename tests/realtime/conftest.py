import pytest

from tests import factories


@pytest.fixture
def domain(db):
    return factories.domain()


@pytest.fixture
def author(db):
    """A person who posts claims."""
    return factories.human()
