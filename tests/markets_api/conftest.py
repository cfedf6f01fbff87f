import pytest

from tests import factories
from tests.support import signed_in


@pytest.fixture
def domain(db):
    return factories.domain()


@pytest.fixture
def author_user(owner):
    return owner


@pytest.fixture
def author(author_user):
    return factories.human(author_user)


@pytest.fixture
def author_client(owner_client):
    return owner_client


@pytest.fixture
def claim(author, domain):
    """An open claim of b = 100 credits, posted by `author`."""
    return factories.new_claim(author, domain)


@pytest.fixture
def trader_user(db):
    return factories.verified_user()


@pytest.fixture
def trader(trader_user):
    return factories.human(trader_user)


@pytest.fixture
def trader_client(trader_user):
    return signed_in(trader_user)


@pytest.fixture
def bot(trader_user):
    """The trader's agent, funded with 200 credits (BOT_FUNDS)."""
    return factories.funded_agent(trader_user, handle="trader-bot")


@pytest.fixture
def bot_token(bot):
    return factories.api_key(bot, scopes=["read", "trade"])
