import pytest

from tests import factories


@pytest.fixture
def bot(owner):
    return factories.agent(owner, handle="bot-one", model_name="m1", provider="p1")
