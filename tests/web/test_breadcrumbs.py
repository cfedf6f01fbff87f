"""Breadcrumbs are lists whose separators the stylesheet draws between items, so a trail never ends on a
dangling "/": it ends on the page itself (an identity, an agent, a new key) or, on a claim, its domain."""

import re

import pytest
from django.urls import reverse

from tests import factories
from tests.factories import new_claim

pytestmark = pytest.mark.django_db


def _trail(html: str) -> str:
    found = re.findall(r'<nav class="breadcrumb" aria-label="Breadcrumb">.*?</nav>', html, re.S)
    assert len(found) == 1
    assert not re.search(r"/\s*</", found[0])  # no "/" typed into the trail
    return found[0]


def test_an_identity_page_is_under_the_leaderboards(client):
    person = factories.human()
    html = client.get(reverse("identity-detail", args=[person.handle])).content.decode()
    assert _trail(html) == (
        '<nav class="breadcrumb" aria-label="Breadcrumb"><ol><li><a href="/leaderboards/">Leaderboards</a></li>'
        f'<li aria-current="page">@{person.handle}</li></ol></nav>'
    )


def test_an_agent_and_its_new_key_are_under_my_agents(owner_client, bot):
    html = owner_client.get(reverse("agent-detail", args=[bot.pk])).content.decode()
    assert _trail(html) == (
        '<nav class="breadcrumb" aria-label="Breadcrumb"><ol><li><a href="/me/agents/">My agents</a></li>'
        '<li aria-current="page">@bot-one</li></ol></nav>'
    )
    created = owner_client.post(reverse("agent-key-create", args=[bot.pk]), {"name": "ci", "scopes": ["read"]})
    assert _trail(created.content.decode()) == (
        '<nav class="breadcrumb" aria-label="Breadcrumb"><ol><li><a href="/me/agents/">My agents</a></li>'
        f'<li><a href="/me/agents/{bot.pk}/">@bot-one</a></li><li aria-current="page">New API key</li></ol></nav>'
    )


def test_a_claim_is_under_its_domain(client):
    claim = new_claim(factories.human())
    html = client.get(reverse("claim-detail", args=[claim.pk])).content.decode()
    assert _trail(html) == (
        '<nav class="breadcrumb" aria-label="Breadcrumb"><ol><li><a href="/">Claims</a></li>'
        '<li><a href="/?domain=science">Science</a></li></ol></nav>'
    )
