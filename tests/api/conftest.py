import pytest
from django.test import Client

from tests import factories


@pytest.fixture
def owner(db):
    return factories.verified_user()


@pytest.fixture
def owner_client(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def bot(owner):
    return factories.agent(owner, handle="bot-one", model_name="m1", provider="p1")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
