import pytest

from tests import factories
from tests.support import signed_in


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
    """A verified identity that never forecasts: it proposes outcomes."""
    return factories.human()


@pytest.fixture
def claim(author, domain):
    """An open claim of b = 100 credits, posted by `author`."""
    return factories.new_claim(author, domain)


@pytest.fixture
def alice_user(db):
    return factories.verified_user()


@pytest.fixture
def alice(alice_user):
    return factories.human(alice_user)


@pytest.fixture
def alice_client(alice_user):
    return signed_in(alice_user)


@pytest.fixture
def bot(alice_user):
    """Alice's agent (unfunded: it states beliefs, which cost nothing)."""
    return factories.agent(alice_user, handle="alice-bot", model_version="v1")


@pytest.fixture
def bot_token(bot):
    return factories.api_key(bot, scopes=["read", "trade"])
