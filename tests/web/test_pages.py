"""Every page renders for its owner, asks anonymous visitors to sign in, hides other owners' agents,
carries the CSP nonce on its scripts, and issues the same number of queries whatever the number of rows."""

import re

import pytest
from django.urls import reverse

from apps.identities.models import IdentityStatus
from apps.identities.services import identity_suspend
from apps.ledger.models import Transfer
from apps.ledger.services import wallet_fund_agent
from tests import factories

pytestmark = pytest.mark.django_db

OWNER_PAGES = ["my-agents", "wallet", "agent-detail"]


def _url(name: str, bot) -> str:
    return (
        reverse(name)
        if name in ("agent-directory", "my-agents") or not name.startswith("agent-")
        else (reverse(name, kwargs={"agent_id": bot.pk}))
    )


@pytest.mark.parametrize("name", OWNER_PAGES)
def test_owner_pages_render(owner_client, bot, name):
    response = owner_client.get(_url(name, bot))
    assert response.status_code == 200
    assert b'<nav class="nav" aria-label="Main">' in response.content


@pytest.mark.parametrize("name", ["home", "agent-directory"])
def test_public_pages_render_for_anyone(client, bot, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert b"Sign in" in response.content


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("my-agents", "get"),
        ("my-agents", "post"),
        ("wallet", "get"),
        ("agent-detail", "get"),
        ("agent-update", "post"),
        ("agent-suspend", "post"),
        ("agent-reactivate", "post"),
        ("agent-key-create", "post"),
        ("agent-fund", "post"),
        ("agent-withdraw", "post"),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, bot, name, method):
    url = _url(name, bot)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


def test_anonymous_key_revoke_is_sent_to_sign_in(client, bot):
    factories.api_key(bot)
    key = bot.api_keys.get()
    url = reverse("agent-key-revoke", kwargs={"agent_id": bot.pk, "key_id": key.pk})
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize(
    ("name", "method", "data"),
    [
        ("agent-detail", "get", {}),
        ("agent-update", "post", {"autonomy_level": "advisory", "model_name": "hijacked"}),
        ("agent-suspend", "post", {"reason": "mine now"}),
        ("agent-reactivate", "post", {}),
        ("agent-key-create", "post", {"name": "stolen", "scopes": ["read"]}),
        ("agent-fund", "post", {"fund-amount": "1", "fund-idempotency_key": "6c0f7a1e-4f7e-4a53-9b7e-0d2f5c1d7e11"}),
        (
            "agent-withdraw",
            "post",
            {"withdraw-amount": "1", "withdraw-idempotency_key": "6c0f7a1e-4f7e-4a53-9b7e-0d2f5c1d7e12"},
        ),
    ],
)
def test_another_owners_agent_is_not_found_and_untouched(stranger_client, bot, name, method, data):
    transfers = Transfer.objects.count()
    response = getattr(stranger_client, method)(_url(name, bot), data)
    assert response.status_code == 404
    bot.refresh_from_db()
    assert (bot.model_name, bot.status, bot.api_keys.count()) == ("m1", IdentityStatus.ACTIVE, 0)
    assert Transfer.objects.count() == transfers


def test_another_owners_key_cannot_be_revoked(stranger_client, bot):
    factories.api_key(bot)
    key = bot.api_keys.get()
    response = stranger_client.post(reverse("agent-key-revoke", kwargs={"agent_id": bot.pk, "key_id": key.pk}))
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_a_key_of_another_agent_is_not_found_through_mine(owner, owner_client, bot, stranger):
    theirs = factories.agent(stranger, handle="their-bot")
    factories.api_key(theirs)
    key = theirs.api_keys.get()
    response = owner_client.post(reverse("agent-key-revoke", kwargs={"agent_id": bot.pk, "key_id": key.pk}))
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize("name", ["home", "agent-directory", "my-agents", "wallet", "agent-detail", "mfa_index"])
def test_csp_header_carries_the_nonce_of_the_htmx_script(owner_client, bot, name):
    response = owner_client.get(_url(name, bot))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    header_nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", policy).group(1)
    script = re.search(rb'<script src="/static/django_htmx/htmx-2\.min\.js"[^>]*nonce="([^"]+)"', response.content)
    assert script.group(1).decode() == header_nonce
    assert "style-src 'self';" in policy
    # No inline style anywhere: the policy would block it.
    assert b"<style" not in response.content
    assert b" style=" not in response.content


def test_each_response_gets_a_fresh_nonce(client):
    first = client.get(reverse("home"))["Content-Security-Policy"]
    second = client.get(reverse("home"))["Content-Security-Policy"]
    assert first != second


def test_allauth_pages_render_inside_the_layout(client):
    for name in ["account_login", "account_signup", "account_reset_password"]:
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert b'<main id="main" class="container narrow">' in response.content
        assert b'<a class="brand" href="/">' in response.content


@pytest.mark.parametrize(
    ("name", "heading"),
    [
        ("account_email", b"Email Addresses"),
        ("account_change_password", b"Change Password"),
        ("mfa_index", b"Two-Factor Authentication"),
        ("account_logout", b"Are you sure you want to sign out?"),
    ],
)
def test_account_settings_render_inside_the_layout(owner_client, name, heading):
    response = owner_client.get(reverse(name))
    assert response.status_code == 200
    assert heading in response.content
    assert b'<main id="main" class="container medium">' in response.content
    assert b'<nav class="tabs" aria-label="Account settings">' in response.content


def test_signing_out_from_the_navigation(owner_client):
    home = owner_client.get(reverse("home")).content.decode()
    assert f'<form method="post" action="{reverse("account_logout")}" class="inline-form">' in home
    response = owner_client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in owner_client.session


# --- Query counts: the same number of queries for 3 rows as for 30. ---------------------------------

ROWS = [3, 30]


@pytest.fixture
def many_agents_allowed(settings):
    settings.CREDENCE_MAX_AGENTS_PER_OWNER = 40


@pytest.mark.parametrize("rows", ROWS)
def test_my_agents_query_count_does_not_grow(owner, owner_client, many_agents_allowed, rows, django_assert_num_queries):
    agents = [factories.agent(owner, handle=f"bot-{n}") for n in range(rows)]
    wallet_fund_agent(owner=owner, agent=agents[0], amount=5_000_000, idempotency_key="q1")
    identity_suspend(identity=agents[-1], reason="Testing.", moderator=factories.moderator())
    # session, user, human identity (navigation), navigation balance, navigation reviews waiting, agents with
    # owner handle and balance
    with django_assert_num_queries(6):
        response = owner_client.get(reverse("my-agents"))
    assert response.status_code == 200
    assert len(response.context["agents"]) == rows
    assert len(re.findall(rb'<a href="/me/agents/\d+/">', response.content)) == rows
    assert [agent.balance for agent in response.context["agents"]] == [0] * (rows - 1) + [5_000_000]


@pytest.mark.parametrize("rows", ROWS)
def test_wallet_query_count_does_not_grow(owner, owner_client, bot, rows, django_assert_num_queries):
    for n in range(rows - 1):  # the signup grant is the first entry
        wallet_fund_agent(owner=owner, agent=bot, amount=1_000_000, idempotency_key=f"w{n}")
    # session, user, human identity, navigation balance, navigation reviews waiting, page balance, what is owed,
    # the latest purchases with their packages, one page of entries with transfers
    with django_assert_num_queries(9):
        response = owner_client.get(reverse("wallet"))
    assert response.status_code == 200
    assert len(response.context["entries"]) == min(rows, 25)


@pytest.mark.parametrize("rows", ROWS)
def test_directory_query_count_does_not_grow(client, many_agents_allowed, rows, django_assert_num_queries):
    owners = [factories.verified_user() for _ in range(3)]
    for n in range(rows):
        factories.agent(owners[n % 3], handle=f"dir-bot-{n}", model_name="m", provider="p", model_version="v")
    # anonymous: one query for the page of agents with their owners' handles
    with django_assert_num_queries(1):
        response = client.get(reverse("agent-directory"))
    assert response.status_code == 200
    assert len(response.context["agents"]) == rows
