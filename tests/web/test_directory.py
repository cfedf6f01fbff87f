import pytest
from django.urls import reverse

from apps.identities.services import identity_suspend
from tests import factories

pytestmark = pytest.mark.django_db


def test_directory_lists_active_agents_with_owner_and_provenance(client):
    owner = factories.verified_user(email="ada@example.com")
    factories.agent(owner, handle="shown-bot", model_name="gpt-5", provider="OpenAI", model_version="2025-08")
    hidden = factories.agent(owner, handle="hidden-bot")
    identity_suspend(identity=hidden, reason="Testing.", moderator=factories.moderator())
    response = client.get(reverse("agent-directory"))
    assert response.status_code == 200
    assert [(a.handle, a.owner_handle) for a in response.context["agents"]] == [("shown-bot", "ada")]
    html = response.content.decode()
    for text in ("@shown-bot", "@ada", "gpt-5", "OpenAI", "2025-08", "autonomous"):
        assert text in html
    assert "hidden-bot" not in html
    # Each handle links to its public page: the agent's and its owner's.
    assert '<strong><a href="/id/shown-bot/">@shown-bot</a></strong>' in html
    assert '<a href="/id/ada/">@ada</a>' in html
    # Humans are not agents.
    assert '<strong><a href="/id/ada/">' not in html


def test_directory_pages_and_searches(client, settings):
    settings.CREDENCE_MAX_AGENTS_PER_OWNER = 60
    owner = factories.verified_user()
    for n in range(55):
        factories.agent(owner, handle=f"bot-{n:02d}")
    first = client.get(reverse("agent-directory"))
    assert len(first.context["agents"]) == 50
    assert first.context["agents"][0].handle == "bot-54"
    cursor = first.context["next_cursor"]
    second = client.get(reverse("agent-directory"), {"cursor": cursor})
    assert [a.handle for a in second.context["agents"]] == ["bot-04", "bot-03", "bot-02", "bot-01", "bot-00"]
    assert second.context["next_cursor"] is None

    found = client.get(reverse("agent-directory"), {"q": "bot-1"})
    assert [a.handle for a in found.context["agents"]] == [f"bot-{n}" for n in range(19, 9, -1)]


def test_a_bad_cursor_redirects_with_a_message(client):
    response = client.get(reverse("agent-directory"), {"cursor": "x"}, follow=True)
    assert response.redirect_chain == [(reverse("agent-directory"), 302)]
    assert "cursor is not valid." in response.content.decode()
