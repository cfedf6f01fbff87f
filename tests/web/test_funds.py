"""Funding and withdrawing through the agent page: exact balances, one movement per rendered form."""

import re

import pytest
from django.urls import reverse

from apps.identities.services import identity_suspend
from apps.ledger.models import Entry, Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance
from tests import factories
from tests.factories import GRANT
from tests.support import HTMX, hidden_value

pytestmark = pytest.mark.django_db


def _form(client, agent, prefix: str, amount: str) -> dict:
    """The fund or withdraw form as the agent page renders it, filled in."""
    html = client.get(reverse("agent-detail", kwargs={"agent_id": agent.pk})).content.decode()
    return {f"{prefix}-amount": amount, f"{prefix}-idempotency_key": hidden_value(html, f"{prefix}-idempotency_key")}


def _balances(owner, agent) -> tuple[int, int]:
    return wallet_balance(factories.human(owner)), wallet_balance(agent)


def test_fund_then_withdraw_with_htmx(owner, owner_client, bot):
    response = owner_client.post(
        reverse("agent-fund", kwargs={"agent_id": bot.pk}), _form(owner_client, bot, "fund", "12.5"), **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="funds">')
    assert '<span class="balance-amount" id="agent-balance">12.50</span>' in html
    assert '<span class="pill" id="nav-balance" hx-swap-oob="true">987.50</span>' in html
    assert "Moved to @bot-one: 12.50 credits." in html
    assert _balances(owner, bot) == (GRANT - 12_500_000, 12_500_000)

    response = owner_client.post(
        reverse("agent-withdraw", kwargs={"agent_id": bot.pk}), _form(owner_client, bot, "withdraw", "2.25"), **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="balance-amount" id="agent-balance">10.25</span>' in html
    assert '<span class="pill" id="nav-balance" hx-swap-oob="true">989.75</span>' in html
    assert "Withdrawn from @bot-one: 2.25 credits." in html
    assert _balances(owner, bot) == (GRANT - 10_250_000, 10_250_000)
    assert ledger_verify_report().ok


def test_the_fragment_comes_back_with_fresh_idempotency_keys(owner_client, bot):
    data = _form(owner_client, bot, "fund", "1")
    html = owner_client.post(reverse("agent-fund", kwargs={"agent_id": bot.pk}), data, **HTMX).content.decode()
    assert hidden_value(html, "fund-idempotency_key") != data["fund-idempotency_key"]


def test_a_double_submitted_fund_form_moves_credit_once(owner, owner_client, bot):
    data = _form(owner_client, bot, "fund", "40")
    url = reverse("agent-fund", kwargs={"agent_id": bot.pk})
    first = owner_client.post(url, data, **HTMX)
    second = owner_client.post(url, data, **HTMX)
    assert (first.status_code, second.status_code) == (200, 200)
    assert "Moved to @bot-one: 40 credits." in first.content.decode()
    assert (
        "That form was already submitted: the transfer was made once, nothing moved twice." in second.content.decode()
    )
    assert _balances(owner, bot) == (GRANT - 40_000_000, 40_000_000)
    assert Transfer.objects.filter(kind="agent_funding").count() == 1
    # Without htmx too (a browser resubmitting the POST).
    third = owner_client.post(url, data)
    assert third.status_code == 302
    assert _balances(owner, bot) == (GRANT - 40_000_000, 40_000_000)
    assert ledger_verify_report().ok


def test_fund_without_htmx_redirects_with_a_message(owner, owner_client, bot):
    response = owner_client.post(
        reverse("agent-fund", kwargs={"agent_id": bot.pk}), _form(owner_client, bot, "fund", "0.000001")
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("agent-detail", kwargs={"agent_id": bot.pk})
    page = owner_client.get(response["Location"]).content.decode()
    assert "Moved to @bot-one: 0.000001 credits." in page
    assert _balances(owner, bot) == (GRANT - 1, 1)


def test_overdraft_is_refused_with_the_services_message_and_moves_nothing(owner, owner_client, bot):
    entries = Entry.objects.count()
    data = _form(owner_client, bot, "fund", "1000.000001")
    response = owner_client.post(reverse("agent-fund", kwargs={"agent_id": bot.pk}), data, **HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "Not enough credit in the account." in html
    # The bound form comes back with the same key, so a corrected retry is still one transfer.
    assert hidden_value(html, "fund-idempotency_key") == data["fund-idempotency_key"]
    assert 'value="1000.000001"' in html
    assert _balances(owner, bot) == (GRANT, 0)
    assert Entry.objects.count() == entries


def test_overdraft_without_htmx_renders_the_page_with_the_error(owner, owner_client, bot):
    response = owner_client.post(
        reverse("agent-withdraw", kwargs={"agent_id": bot.pk}), _form(owner_client, bot, "withdraw", "1")
    )
    assert response.status_code == 409
    assert response.context["withdraw_form"].errors == {"__all__": ["Not enough credit in the account."]}
    assert _balances(owner, bot) == (GRANT, 0)


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("abc", "Enter a number."),
        ("0", "Ensure this value is greater than or equal to 0.000001."),
        ("-5", "Ensure this value is greater than or equal to 0.000001."),
        ("1.0000001", "Ensure that there are no more than 6 decimal places."),
        ("", "This field is required."),
    ],
)
def test_bad_amounts_are_refused_by_the_form(owner, owner_client, bot, amount, error):
    transfers = Transfer.objects.count()
    response = owner_client.post(
        reverse("agent-fund", kwargs={"agent_id": bot.pk}), _form(owner_client, bot, "fund", amount), **HTMX
    )
    assert response.status_code == 422
    assert error in response.content.decode()
    assert Transfer.objects.count() == transfers
    assert _balances(owner, bot) == (GRANT, 0)


def test_a_missing_idempotency_key_is_refused(owner, owner_client, bot):
    response = owner_client.post(reverse("agent-fund", kwargs={"agent_id": bot.pk}), {"fund-amount": "1"}, **HTMX)
    assert response.status_code == 422
    assert _balances(owner, bot) == (GRANT, 0)


def test_a_suspended_agent_cannot_be_funded_but_can_be_emptied(owner, owner_client, bot):
    owner_client.post(reverse("agent-fund", kwargs={"agent_id": bot.pk}), _form(owner_client, bot, "fund", "5"), **HTMX)
    identity_suspend(identity=bot, reason="Testing.", moderator=factories.moderator())
    response = owner_client.post(
        reverse("agent-fund", kwargs={"agent_id": bot.pk}), _form(owner_client, bot, "fund", "1"), **HTMX
    )
    assert response.status_code == 403
    assert "A suspended agent cannot be funded." in response.content.decode()
    response = owner_client.post(
        reverse("agent-withdraw", kwargs={"agent_id": bot.pk}), _form(owner_client, bot, "withdraw", "5"), **HTMX
    )
    assert response.status_code == 200
    assert _balances(owner, bot) == (GRANT, 0)
    assert ledger_verify_report().ok


def test_fund_forms_target_the_funds_fragment(owner_client, bot):
    html = owner_client.get(reverse("agent-detail", kwargs={"agent_id": bot.pk})).content.decode()
    for name in ("agent-fund", "agent-withdraw"):
        url = reverse(name, kwargs={"agent_id": bot.pk})
        assert re.search(rf'hx-post="{url}" hx-target="#funds" hx-swap="outerHTML"', html)
