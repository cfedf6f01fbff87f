import pytest

from tests import factories
from tests.support import signed_in


@pytest.fixture
def bot(owner):
    return factories.agent(owner, handle="bot-one", model_name="m1", provider="p1", model_version="2025-01")


@pytest.fixture
def stranger(db):
    return factories.verified_user()


@pytest.fixture
def stranger_client(stranger):
    return signed_in(stranger)
