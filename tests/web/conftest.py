import re

import pytest
from django.test import Client

from apps.core.amounts import CENT, exact_credits, format_credits
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


def amount(shown: str, exact: str) -> str:
    """How a page shows a rounded amount of credits: the figure people read, every digit on hover."""
    return f'<span class="amount" title="{exact} credits">{shown}</span>'


def shown(micro: int, *, signed: bool = False) -> str:
    """What a page shows for an amount computed in a test (`|credits`, or `|signed_credits` if signed): the
    amounts module's two formats, whose exact outputs tests/web/test_amounts.py pins down."""
    sign = "+" if signed and micro > 0 else ""
    rounded = sign + format_credits(micro)
    return rounded if micro % CENT == 0 or abs(micro) < CENT else amount(rounded, sign + exact_credits(micro))
