import re

import pytest
from django.test import Client

from tests import factories


@pytest.fixture
def bot(owner):
    return factories.agent(owner, handle="bot-one", model_name="m1", provider="p1", model_version="2025-01")


@pytest.fixture
def stranger(db):
    return factories.verified_user()


@pytest.fixture
def stranger_client(stranger) -> Client:
    client = Client()
    client.force_login(stranger)
    return client


HTMX = {"HTTP_HX_REQUEST": "true"}


def hidden_value(html: str, name: str) -> str:
    """The value of a hidden input, as the browser would send it back."""
    match = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden input {name!r}"
    return match.group(1)
