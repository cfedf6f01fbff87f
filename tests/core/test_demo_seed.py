"""`manage.py demo_seed`: the demo state of `make run`, built through the real services, loaded once."""

from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from django.db.models import F, Sum

from apps.accounts.models import User, VerificationLevel
from apps.core.amounts import CREDIT
from apps.core.management.commands.demo_seed import DEMO_PASSWORD
from apps.core.models import Event
from apps.identities.models import ApiKey, Identity, IdentityKind
from apps.ledger.models import Account, Entry, Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance
from apps.markets.models import Claim, ClaimStatus, Market, Trade
from apps.reputation.models import ClaimRecord

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    """The demo key's token file goes to the data folder: a temporary one here."""
    settings.DATA_DIR = tmp_path


def seed(*args: str) -> str:
    """demo_seed without its simulated history unless asked (it is tested on its own below)."""
    out = StringIO()
    call_command("demo_seed", "--history", "0", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    return {
        "users": list(User.objects.order_by("pk").values_list("pk", "email", "verification_level", "password")),
        "emails": list(EmailAddress.objects.order_by("pk").values_list("pk", "email", "verified", "primary")),
        "identities": list(Identity.objects.order_by("pk").values_list("pk", "kind", "handle", "owner_id")),
        "accounts": list(Account.objects.order_by("pk").values_list("pk", "balance")),
        "transfers": Transfer.objects.count(),
        "entries": Entry.objects.count(),
        "events": Event.objects.count(),
        "api_keys": list(ApiKey.objects.order_by("pk").values_list("pk", "secret_sha256")),
    }


def _spent(identity) -> int:
    """Credit an identity's trades and published claims took from its wallet."""
    trades = Trade.objects.filter(identity=identity).aggregate(total=Sum(F("cost") + F("fee")))["total"] or 0
    subsidies = Market.objects.filter(claim__author=identity).aggregate(total=Sum("subsidy"))["total"] or 0
    return trades + subsidies


def test_demo_seed_creates_verified_people_a_moderator_and_agents():
    output = seed()

    alice = User.objects.get(email="alice@example.com")
    bob = User.objects.get(email="bob@example.com")
    moderator = User.objects.get(email="moderator@example.com")
    for user in (alice, bob, moderator):
        assert user.verification_level == VerificationLevel.EMAIL_VERIFIED
        assert user.check_password(DEMO_PASSWORD)
        assert EmailAddress.objects.filter(user=user, email=user.email, verified=True, primary=True).exists()
        assert Identity.objects.filter(user=user, kind=IdentityKind.HUMAN).exists()
    assert (moderator.is_staff, moderator.is_superuser) == (True, True)
    assert (alice.is_staff, bob.is_staff) == (False, False)

    agents = {agent.handle: agent for agent in Identity.objects.filter(kind=IdentityKind.AGENT)}
    assert sorted(agents) == ["base-rate-bot", "bobs-extremizer", "consensus-tracker"]
    assert {agents["base-rate-bot"].owner_id, agents["consensus-tracker"].owner_id} == {alice.pk}
    assert agents["bobs-extremizer"].owner_id == bob.pk
    for agent in agents.values():
        assert agent.model_name and agent.provider and agent.model_version and agent.autonomy_level

    grant = 1000 * CREDIT
    # Alice funded her bot; authors paid their markets' subsidies; traders paid cost + fee. Each wallet
    # is its grant less exactly what its own trades, subsidies and transfers took (ledger entries).
    assert wallet_balance(agents["base-rate-bot"]) == 250 * CREDIT - _spent(agents["base-rate-bot"])
    assert wallet_balance(Identity.objects.get(user=alice)) == grant - 250 * CREDIT - _spent(
        Identity.objects.get(user=alice)
    )
    assert wallet_balance(Identity.objects.get(user=bob)) == grant - _spent(Identity.objects.get(user=bob))
    assert Claim.objects.filter(status=ClaimStatus.OPEN, tags=["demo"]).count() == 3
    assert Trade.objects.count() == 5
    assert wallet_balance(agents["bobs-extremizer"]) == 0
    assert ledger_verify_report().ok

    assert "alice@example.com" in output
    assert f"password for each: {DEMO_PASSWORD}" in output


def test_running_demo_seed_twice_changes_nothing():
    seed()
    before = snapshot()

    output = seed()

    assert snapshot() == before
    assert "already loaded" in output
    assert ledger_verify_report().ok
    verify = StringIO()
    call_command("ledger_verify", stdout=verify)
    assert "ledger_verify: clean" in verify.getvalue()


def test_a_demo_user_can_sign_in_through_allauth(client):
    seed()

    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": DEMO_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").context["user"].email == "alice@example.com"


def test_demo_seed_refuses_production_settings(settings):
    settings.SETTINGS_MODULE = "config.settings.production"

    with pytest.raises(CommandError, match="production"):
        seed()

    assert not User.objects.exists()


def test_demo_seed_prints_a_working_api_key_on_every_run(client):
    first = seed()
    line = next(line for line in first.splitlines() if line.startswith("API key of @base-rate-bot"))
    token = line.rsplit(" ", 1)[1]
    assert ApiKey.objects.filter(identity__handle="base-rate-bot", name="demo").count() == 1

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["identity"]["handle"] == "base-rate-bot"
    assert me.json()["scopes"] == ["read", "trade"]
    assert line in seed()  # the same key, printed again, not a second one
    assert ApiKey.objects.filter(identity__handle="base-rate-bot").count() == 1


def test_demo_seed_resolves_a_simulated_history_once():
    first = seed("--history", "8")
    before = snapshot()

    second = seed("--history", "8")

    assert ClaimRecord.objects.count() == 8
    assert Claim.objects.filter(tags__contains=["demo-history"]).count() == 8
    assert snapshot() == before
    assert "History: 8 simulated claims resolved and scored" in first
    assert "History" not in second and "already loaded" in second
    assert ledger_verify_report().ok
