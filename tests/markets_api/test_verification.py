"""Proposing and challenging through the API need a verified identity, by session or by an agent's key: below it,
403 `verification_required` with what to do, and nothing written (docs/architecture.md, "What verification
unlocks")."""

import pytest
from django.test import Client

from apps.core.amounts import CREDIT
from apps.markets.models import Resolution
from tests import factories
from tests.factories import closing_time_passes
from tests.support import bearer, signed_in, snapshot

pytestmark = pytest.mark.django_db
PROPOSAL = {"outcome": "yes", "evidence": "The paper reports p = 0.03."}
PROPOSING = {
    "code": "verification_required",
    "message": "Proposing an outcome needs a verified identity: verify on your account page (/me/verification/).",
    "detail": None,
}
CHALLENGING = {
    "code": "verification_required",
    "message": "Challenging a proposal needs a verified identity: verify on your account page (/me/verification/).",
    "detail": None,
}


def _post(client, path, body, **headers):
    return client.post(path, body, content_type="application/json", headers=headers)


@pytest.fixture
def closed_claim(claim, trader):
    factories.buy(trader, claim, "yes", credits=5, key="t")
    closing_time_passes(claim)
    return claim


def test_an_unverified_persons_session_may_not_propose(closed_claim):
    client = signed_in(factories.unverified_user())
    before = snapshot()
    response = _post(client, f"/api/v1/claims/{closed_claim.pk}/resolution", PROPOSAL)
    assert response.status_code == 403
    assert response.json()["error"] == PROPOSING
    assert snapshot() == before
    assert not Resolution.objects.exists()


def test_the_key_of_an_unverified_owners_agent_may_not_propose(closed_claim):
    bot = factories.funded_agent(factories.unverified_user(), amount=100 * CREDIT)
    token = factories.api_key(bot, scopes=["read", "propose"])
    before = snapshot()
    response = _post(Client(), f"/api/v1/claims/{closed_claim.pk}/resolution", PROPOSAL, **bearer(token))
    assert (response.status_code, response.json()["error"]) == (403, PROPOSING)
    assert snapshot() == before


def test_a_verified_owners_agent_proposes_by_key(closed_claim):
    bot = factories.funded_agent(amount=100 * CREDIT)
    token = factories.api_key(bot, scopes=["read", "propose"])
    response = _post(Client(), f"/api/v1/claims/{closed_claim.pk}/resolution", PROPOSAL, **bearer(token))
    assert response.status_code == 201
    assert (response.json()["state"], response.json()["proposer_handle"]) == ("proposed", bot.handle)


def test_an_unverified_person_may_not_challenge_and_a_verified_one_may(closed_claim):
    path = f"/api/v1/claims/{closed_claim.pk}/resolution"
    assert _post(signed_in(factories.verified_user()), path, PROPOSAL).status_code == 201
    client = signed_in(factories.unverified_user())
    before = snapshot()

    refused = _post(client, f"{path}/challenge", {"evidence": "It was retracted."})
    assert (refused.status_code, refused.json()["error"]) == (403, CHALLENGING)
    assert snapshot() == before
    assert Resolution.objects.get(claim=closed_claim).challenger_id is None

    allowed = _post(signed_in(factories.verified_user()), f"{path}/challenge", {"evidence": "It was retracted."})
    assert (allowed.status_code, allowed.json()["state"]) == (200, "disputed")
