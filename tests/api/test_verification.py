"""Owning agents and funding them, by the API, for a person below verified_human: at most
CREDENCE_UNVERIFIED_MAX_AGENTS agents, each left holding at most CREDENCE_UNVERIFIED_AGENT_FUNDING_LIMIT_CREDITS;
past that, 403 `verification_required` saying what to do, and nothing written. A verified person keeps the
ordinary limits (docs/architecture.md, "What verification unlocks")."""

import pytest

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.identities.models import Identity
from apps.ledger.models import Entry, Transfer
from apps.ledger.selectors import wallet_balance
from tests import factories
from tests.factories import GRANT
from tests.support import signed_in

pytestmark = pytest.mark.django_db
VERIFY = "needs a verified identity: verify on your account page (/me/verification/)."


def _post(client, path, payload, **headers):
    return client.post(path, payload, content_type="application/json", headers=headers)


def _agent(handle: str) -> dict:
    return {"handle": handle, "autonomy_level": "autonomous"}


def _fund(client, agent, amount, key):
    return _post(client, f"/api/v1/agents/{agent.pk}/fund", {"amount": amount}, **{"Idempotency-Key": key})


@pytest.fixture
def unverified():
    return factories.unverified_user()


def test_an_unverified_person_may_own_two_agents_and_no_more(unverified, settings):
    # given the defaults: two agents for an unverified owner, ten for a verified one
    assert (settings.CREDENCE_UNVERIFIED_MAX_AGENTS, settings.CREDENCE_MAX_AGENTS_PER_OWNER) == (2, 10)
    client = signed_in(unverified)
    assert [_post(client, "/api/v1/agents", _agent(h)).status_code for h in ("bot-a", "bot-b")] == [201, 201]
    events = Event.objects.count()

    # when they register a third, then it is refused with the limit, and nothing is created
    response = _post(client, "/api/v1/agents", _agent("bot-c"))
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "verification_required",
        "message": f"Owning more than 2 agents {VERIFY}",
        "detail": {"limit": 2},
    }
    assert list(unverified.agents.order_by("handle").values_list("handle", flat=True)) == ["bot-a", "bot-b"]
    assert not Identity.objects.filter(handle="bot-c").exists()
    assert Event.objects.count() == events


def test_a_verified_person_may_own_more_than_two(owner, owner_client):
    responses = [_post(owner_client, "/api/v1/agents", _agent(h)).status_code for h in ("bot-a", "bot-b", "bot-c")]
    assert responses == [201, 201, 201]
    assert owner.agents.count() == 3


def test_the_agent_cap_of_everyone_comes_first(unverified, settings):
    # a cap below the unverified limit is the cap: verifying would not lift it, so the refusal says so
    settings.CREDENCE_MAX_AGENTS_PER_OWNER = 1
    client = signed_in(unverified)
    assert _post(client, "/api/v1/agents", _agent("bot-a")).status_code == 201
    response = _post(client, "/api/v1/agents", _agent("bot-b"))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "too_many_agents")


def test_an_unverified_owner_may_fund_an_agent_up_to_the_limit_and_no_further(unverified):
    # given an unverified owner's agent holding 60 credits
    client = signed_in(unverified)
    bot = factories.agent(unverified, handle="small-bot")
    assert _fund(client, bot, 60 * CREDIT, "first").status_code == 200

    # when they fund 40 credits and one micro-credit more, then it is refused, and nothing moved
    transfers, entries = Transfer.objects.count(), Entry.objects.count()
    response = _fund(client, bot, 40 * CREDIT + 1, "second")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "verification_required",
        "message": f"Funding an agent past 100 credits {VERIFY}",
        "detail": {"limit": 100 * CREDIT, "balance_after": 100 * CREDIT + 1},
    }
    assert (Transfer.objects.count(), Entry.objects.count()) == (transfers, entries)
    assert (wallet_balance(bot), wallet_balance(factories.human(unverified))) == (60 * CREDIT, GRANT - 60 * CREDIT)

    # and up to exactly 100 credits it is allowed
    allowed = _fund(client, bot, 40 * CREDIT, "third")
    assert (allowed.status_code, allowed.json()["agent_balance"]) == (200, 100 * CREDIT)
    # a retry of the first funding replays it, though the agent now holds the limit
    replayed = _fund(client, bot, 60 * CREDIT, "first")
    assert (replayed.status_code, replayed.json()["replayed"]) == (200, True)
    assert wallet_balance(bot) == 100 * CREDIT


def test_a_verified_owner_funds_past_the_limit(owner, owner_client, bot):
    response = _fund(owner_client, bot, 250 * CREDIT, "big")
    assert (response.status_code, response.json()["agent_balance"]) == (200, 250 * CREDIT)
