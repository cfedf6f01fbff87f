import pytest

from apps.markets.models import Domain
from tests import factories


@pytest.fixture
def domain(db):
    return Domain.objects.get_or_create(slug="science", defaults={"name": "Science"})[0]


@pytest.fixture
def author(db):
    """A person who posts claims."""
    return factories.human()
