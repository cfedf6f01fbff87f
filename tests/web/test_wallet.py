import pytest
from django.urls import reverse

from apps.ledger.services import wallet_fund_agent, wallet_withdraw_agent
from tests import factories

pytestmark = pytest.mark.django_db


def test_wallet_shows_balance_and_signed_history(owner, owner_client, bot):
    wallet_fund_agent(owner=owner, agent=bot, amount=12_500_000, idempotency_key="a")
    wallet_withdraw_agent(owner=owner, agent=bot, amount=2_000_000, idempotency_key="b")
    response = owner_client.get(reverse("wallet"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="balance-amount">989.50</span>' in html
    assert [(e.amount, e.balance_after, e.transfer.kind) for e in response.context["entries"]] == [
        (2_000_000, 989_500_000, "agent_withdrawal"),
        (-12_500_000, 987_500_000, "agent_funding"),
        (1_000_000_000, 1_000_000_000, "signup_grant"),
    ]
    assert ">+2</td>" in html
    assert ">-12.50</td>" in html
    assert ">+1,000</td>" in html
    assert "Welcome grant" in html
    assert response.context["next_cursor"] is None
    assert 'rel="next"' not in html


def test_wallet_history_pages_backwards_with_a_cursor(owner, owner_client, bot):
    for n in range(29):
        wallet_fund_agent(owner=owner, agent=bot, amount=1_000_000, idempotency_key=f"p{n}")
    first = owner_client.get(reverse("wallet"))
    entries = first.context["entries"]
    assert len(entries) == 25
    cursor = first.context["next_cursor"]
    assert cursor == str(entries[-1].pk)
    assert f'href="?cursor={cursor}" rel="next"' in first.content.decode()

    second = owner_client.get(reverse("wallet"), {"cursor": cursor})
    assert [e.amount for e in second.context["entries"]] == [-1_000_000] * 4 + [1_000_000_000]
    assert second.context["next_cursor"] is None
    assert 'rel="next"' not in second.content.decode()
    assert '<a href="/wallet/">← Newest</a>' in second.content.decode()


def test_a_bad_cursor_is_a_message_not_an_error(owner_client):
    response = owner_client.get(reverse("wallet"), {"cursor": "nope"}, follow=True)
    assert response.redirect_chain == [(reverse("wallet"), 302)]
    assert "cursor is not valid." in response.content.decode()


def test_a_user_without_a_verified_email_has_no_wallet_yet(client):
    user = factories.UserFactory()
    client.force_login(user)
    response = client.get(reverse("wallet"))
    assert response.status_code == 200
    assert "You have no wallet yet: verify your email address first." in response.content.decode()


def test_navigation_shows_the_wallet_balance(owner, owner_client, bot):
    wallet_fund_agent(owner=owner, agent=bot, amount=250_000, idempotency_key="n")
    html = owner_client.get(reverse("home")).content.decode()
    assert '<span class="pill" id="nav-balance">999.75</span>' in html
