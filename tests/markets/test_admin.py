import pytest

from apps.accounts.models import User
from apps.ledger.selectors import wallet_balance
from apps.markets.models import Claim, ClaimStatus, Resolution
from apps.markets.resolution import resolution_challenge
from tests import factories
from tests.support import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator_client():
    return signed_in(User.objects.create_superuser(email="mod@example.com", password=factories.PASSWORD))


@pytest.fixture
def disputed(claim):
    """A claim whose proposal (NO, by `proposer`) `challenger` disputes."""
    factories.buy(factories.human(), claim, "yes", key="t")
    factories.close(claim)
    proposer, challenger = factories.human(), factories.human()
    factories.propose(claim, "no", proposer, evidence="It did not happen.")
    resolution_challenge(claim=claim, challenger=challenger, evidence="It did.")
    return claim, proposer, challenger


def test_staff_decide_a_dispute_with_a_reason(moderator_client, disputed):
    claim, _, challenger = disputed
    page = moderator_client.get(f"/admin/markets/claim/{claim.pk}/change/")
    assert page.status_code == 200
    assert f"/admin/markets/claim/{claim.pk}/decide/" in page.content.decode()
    refused = moderator_client.post(f"/admin/markets/claim/{claim.pk}/decide/", {"outcome": "yes", "reason": ""})
    assert refused.status_code == 200  # the form again, with the error
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.DISPUTED
    response = moderator_client.post(
        f"/admin/markets/claim/{claim.pk}/decide/", {"outcome": "yes", "reason": "Source B."}
    )
    assert response.status_code == 302
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.RESOLVED_YES
    bond = Resolution.objects.get(claim=claim).bond
    assert wallet_balance(challenger) == factories.GRANT + bond // 2


def test_deciding_twice_shows_the_rule_not_a_crash(moderator_client, disputed):
    claim, _, _ = disputed
    moderator_client.post(f"/admin/markets/claim/{claim.pk}/decide/", {"outcome": "no", "reason": "Source A."})
    again = moderator_client.post(f"/admin/markets/claim/{claim.pk}/decide/", {"outcome": "yes", "reason": "Changed."})
    assert again.status_code == 200
    assert "Only a disputed claim can be decided." in again.content.decode()
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.RESOLVED_NO


def test_staff_void_an_open_claim(moderator_client, claim):
    response = moderator_client.post(f"/admin/markets/claim/{claim.pk}/void/", {"reason": "Duplicate of #1."})
    assert response.status_code == 302
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.VOIDED


def test_non_staff_cannot_reach_the_moderation_views(disputed):
    claim, _, _ = disputed
    not_staff = signed_in(factories.verified_user())
    response = not_staff.post(f"/admin/markets/claim/{claim.pk}/decide/", {"outcome": "yes", "reason": "mine"})
    assert response.status_code == 302  # to the admin login
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.DISPUTED
