import pytest

from tests import factories


@pytest.fixture
def domain(db):
    return factories.domain()


@pytest.fixture
def author(db):
    return factories.human()


@pytest.fixture
def claim(author, domain):
    """An open claim of b = 100 credits, posted by `author`."""
    return factories.new_claim(author, domain)


@pytest.fixture
def trader(db):
    return factories.human()
