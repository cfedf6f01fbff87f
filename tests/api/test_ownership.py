"""Every endpoint that takes an id answers 404 to anyone but the owner, and changes nothing."""

import pytest

from apps.identities.models import ApiKey, Identity
from apps.ledger.models import Transfer
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def strangers_agent(db):
    agent = factories.agent(factories.verified_user(), handle="strangers-bot")
    factories.api_key(agent)
    return agent


def _key(agent):
    return ApiKey.objects.get(identity=agent)


ENDPOINTS = [
    ("get", "/api/v1/agents/{agent}", None),
    ("patch", "/api/v1/agents/{agent}", {"model_version": "hacked"}),
    ("post", "/api/v1/agents/{agent}/suspend", {"reason": "x"}),
    ("post", "/api/v1/agents/{agent}/reactivate", None),
    ("get", "/api/v1/agents/{agent}/keys", None),
    ("post", "/api/v1/agents/{agent}/keys", {"name": "mine now", "scopes": ["read"]}),
    ("post", "/api/v1/agents/{agent}/keys/{key}/revoke", None),
    ("get", "/api/v1/agents/{agent}/wallet", None),
    ("get", "/api/v1/agents/{agent}/wallet/entries", None),
    ("post", "/api/v1/agents/{agent}/fund", {"amount": 1}),
    ("post", "/api/v1/agents/{agent}/withdraw", {"amount": 1}),
]


@pytest.mark.parametrize(("method", "path", "payload"), ENDPOINTS)
def test_another_owners_agent_is_404(owner_client, strangers_agent, method, path, payload):
    before = (
        Identity.objects.get(pk=strangers_agent.pk).__dict__.copy(),
        ApiKey.objects.count(),
        Transfer.objects.count(),
    )
    url = path.format(agent=strangers_agent.pk, key=_key(strangers_agent).pk)
    response = getattr(owner_client, method)(
        url, payload or {}, content_type="application/json", headers={"Idempotency-Key": "k"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    after = Identity.objects.get(pk=strangers_agent.pk).__dict__.copy()
    for state in (before[0], after):
        state.pop("_state")
    assert after == before[0]
    assert (ApiKey.objects.count(), Transfer.objects.count()) == before[1:]
    assert _key(strangers_agent).revoked_at is None


def test_another_agents_key_under_my_agent_is_404(owner_client, bot, strangers_agent):
    response = owner_client.post(f"/api/v1/agents/{bot.pk}/keys/{_key(strangers_agent).pk}/revoke")
    assert response.status_code == 404
    assert _key(strangers_agent).revoked_at is None


def test_a_human_identity_id_is_not_an_agent(owner, owner_client):
    human = factories.human(owner)
    assert owner_client.get(f"/api/v1/agents/{human.pk}").status_code == 404
