import pytest
from django.test import Client

from apps.accounts.models import User
from apps.identities.models import ApiKey, IdentityStatus
from apps.ledger.models import Account, Transfer
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator_client():
    moderator = User.objects.create_superuser(email="mod@example.com", password=factories.PASSWORD)
    client = Client()
    client.force_login(moderator)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/identities/identity/",
        "/admin/identities/apikey/",
        "/admin/ledger/account/",
        "/admin/ledger/transfer/",
        "/admin/core/event/",
        "/admin/accounts/user/",
    ],
)
def test_changelists_render_without_a_query_per_row(moderator_client, url, django_assert_max_num_queries):
    for n in range(3):
        factories.api_key(factories.agent(handle=f"admin-bot-{n}"))
    with django_assert_max_num_queries(12):
        small = moderator_client.get(url)
    assert small.status_code == 200
    for n in range(3, 15):
        factories.api_key(factories.agent(handle=f"admin-bot-{n}"))
    with django_assert_max_num_queries(12):
        assert moderator_client.get(url).status_code == 200


def test_suspend_action_goes_through_the_service(moderator_client):
    bot = factories.agent(handle="naughty-bot")
    # the action first asks why (an intermediate page), and suspends nothing yet
    asked = moderator_client.post("/admin/identities/identity/", {"action": "suspend", "_selected_action": [bot.pk]})
    assert asked.status_code == 200
    assert "@naughty-bot" in asked.content.decode()
    bot.refresh_from_db()
    assert bot.status == IdentityStatus.ACTIVE
    # an empty reason is refused there too
    moderator_client.post(
        "/admin/identities/identity/", {"action": "suspend", "_selected_action": [bot.pk], "apply": "1", "reason": ""}
    )
    bot.refresh_from_db()
    assert bot.status == IdentityStatus.ACTIVE

    response = moderator_client.post(
        "/admin/identities/identity/",
        {"action": "suspend", "_selected_action": [bot.pk], "apply": "1", "reason": "Spamming claims."},
        follow=True,
    )
    assert response.status_code == 200
    bot.refresh_from_db()
    assert bot.status == IdentityStatus.SUSPENDED
    assert (bot.suspended_as, bot.suspended_by.email, bot.suspended_reason) == (
        "moderator",
        "mod@example.com",
        "Spamming claims.",
    )


def test_revoke_action(moderator_client):
    factories.api_key(factories.agent(handle="key-bot"))
    key = ApiKey.objects.get()
    moderator_client.post("/admin/identities/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_ledger_cannot_be_edited_in_the_admin(moderator_client):
    factories.verified_user()
    transfer = Transfer.objects.get()
    account = Account.objects.filter(kind="wallet").get()
    assert moderator_client.get("/admin/ledger/transfer/add/").status_code == 403
    response = moderator_client.post(f"/admin/ledger/account/{account.pk}/change/", {"balance": 10**12})
    assert response.status_code == 403
    assert moderator_client.post(f"/admin/ledger/transfer/{transfer.pk}/delete/", {"post": "yes"}).status_code == 403
    account.refresh_from_db()
    assert account.balance == 1000 * 10**6


def test_the_admin_shows_credits_not_micro_credits(moderator_client):
    # given a person with their 1,000-credit grant, and an agent funded with 12.345678 credits
    owner = factories.verified_user()
    bot = factories.funded_agent(owner, handle="money-bot", amount=12_345_678, key="admin-money")
    wallet = Account.objects.get(identity=bot)

    # then the accounts list and the transfer's entries read credits, every digit kept
    accounts = moderator_client.get("/admin/ledger/account/").content.decode()
    assert "Balance (credits)" in accounts
    assert '<td class="field-balance_credits">12.345678</td>' in accounts
    assert '<td class="field-balance_credits">987.654322</td>' in accounts
    assert "12345678" not in accounts
    transfer = Transfer.objects.get(idempotency_key__endswith="admin-money")
    entries = moderator_client.get(f"/admin/ledger/transfer/{transfer.pk}/change/").content.decode()
    assert "-12.345678" in entries
    assert wallet.balance == 12_345_678
