"""Where a person below verified_human meets what verification unlocks, in the browser: the claim page's
resolution panel says why they cannot propose or challenge, with a link to the verification page, instead of a
form that fails (and a form posted all the same shows the service's refusal); the agent pages show the
unverified limits and refuse past them with the service's message; the reviews queue says dispute panels need a
verified identity (docs/architecture.md, "What verification unlocks")."""

import pytest
from django.urls import reverse

from apps.core.amounts import CREDIT
from apps.identities.models import Identity
from apps.ledger.selectors import wallet_balance
from apps.markets.models import Resolution
from tests import factories
from tests.factories import GRANT, closing_time_passes
from tests.support import HTMX, hidden_value, signed_in, snapshot

pytestmark = pytest.mark.django_db

LINK = '<a href="/me/verification/">verify on your account page</a>'
PROPOSING = "Proposing an outcome needs a verified identity: verify on your account page (/me/verification/)."
CHALLENGING = "Challenging a proposal needs a verified identity: verify on your account page (/me/verification/)."


@pytest.fixture
def unverified(db):
    return factories.unverified_user()


@pytest.fixture
def unverified_client(unverified):
    return signed_in(unverified)


@pytest.fixture
def closed(db):
    claim = factories.new_claim(factories.human(), factories.domain())
    factories.buy(factories.human(), claim, "yes", credits=10, key="k")
    closing_time_passes(claim)
    return claim


def _page(client, claim) -> str:
    return client.get(reverse("claim-detail", kwargs={"claim_id": claim.pk})).content.decode()


# --- The resolution panel -------------------------------------------------------------------------------------


def test_an_unverified_person_is_told_why_they_cannot_propose_instead_of_a_form(unverified_client, closed):
    html = _page(unverified_client, closed)
    assert f"Proposing an outcome needs a verified identity: {LINK}." in html
    assert 'name="propose-evidence"' not in html


def test_a_verified_person_gets_the_proposal_form(closed):
    html = _page(signed_in(factories.verified_user()), closed)
    assert 'name="propose-evidence"' in html
    assert "needs a verified identity" not in html


@pytest.mark.parametrize("htmx", [True, False])
def test_a_proposal_posted_anyway_shows_the_services_refusal(unverified_client, closed, htmx):
    before = snapshot()
    response = unverified_client.post(
        reverse("claim-propose", kwargs={"claim_id": closed.pk}),
        {"propose-outcome": "yes", "propose-evidence": "The paper."},
        **(HTMX if htmx else {}),
    )
    assert response.status_code == 403
    assert f'<div class="alert alert-error" role="alert"><p>{PROPOSING}</p></div>' in response.content.decode()
    assert snapshot() == before
    assert not Resolution.objects.exists()


def test_an_unverified_person_is_told_why_they_cannot_challenge_and_a_post_is_refused(unverified_client, closed):
    factories.propose(closed, "yes", factories.human(), evidence="The paper.")
    html = _page(unverified_client, closed)
    assert f"Challenging a proposal needs a verified identity: {LINK}." in html
    assert 'name="challenge-evidence"' not in html

    before = snapshot()
    response = unverified_client.post(
        reverse("claim-challenge", kwargs={"claim_id": closed.pk}), {"challenge-evidence": "Retracted."}, **HTMX
    )
    assert response.status_code == 403
    assert CHALLENGING in response.content.decode()
    assert snapshot() == before
    assert Resolution.objects.get(claim=closed).challenger_id is None

    assert 'name="challenge-evidence"' in _page(signed_in(factories.verified_user()), closed)


# --- Agents: registering and funding --------------------------------------------------------------------------


def test_the_agents_page_shows_the_unverified_limits_and_refuses_a_third_agent(unverified, unverified_client):
    # given an unverified person with two agents
    factories.agent(unverified, handle="first-bot")
    factories.agent(unverified, handle="second-bot")

    # then the registration form says what an unverified owner may do, and where to verify
    html = unverified_client.get(reverse("my-agents")).content.decode()
    assert "Until your identity is verified you may own 2 agents,\n    fund each up to 100 credits" in html
    assert "weight in the consensus is cut to 25%." in html
    assert '<a href="/me/verification/">Verify on your account page</a> to lift these limits.' in html

    # and registering a third shows the service's refusal, and registers nothing
    response = unverified_client.post(reverse("my-agents"), {"handle": "third-bot", "autonomy_level": "autonomous"})
    assert response.status_code == 403
    message = "Owning more than 2 agents needs a verified identity: verify on your account page (/me/verification/)."
    assert response.context["form"].errors == {"__all__": [message]}
    assert message in response.content.decode()
    assert not Identity.objects.filter(handle="third-bot").exists()


def test_a_verified_owner_sees_no_limits(owner_client):
    assert "Until your identity is verified" not in owner_client.get(reverse("my-agents")).content.decode()


def _fund_form(client, agent, amount: str) -> dict:
    html = client.get(reverse("agent-detail", kwargs={"agent_id": agent.pk})).content.decode()
    return {"fund-amount": amount, "fund-idempotency_key": hidden_value(html, "fund-idempotency_key")}


@pytest.mark.parametrize("htmx", [True, False])
def test_funding_past_the_limit_shows_the_services_refusal(unverified, unverified_client, htmx):
    # given an unverified owner's agent, whose page says how far it may be funded
    bot = factories.agent(unverified, handle="small-bot")
    html = unverified_client.get(reverse("agent-detail", kwargs={"agent_id": bot.pk})).content.decode()
    assert "Until your identity is verified, funding may leave an agent holding at most 100 credits." in html

    # when 150 credits are moved to it, then the refusal is shown on the form and nothing moved
    before = snapshot()
    response = unverified_client.post(
        reverse("agent-fund", kwargs={"agent_id": bot.pk}),
        _fund_form(unverified_client, bot, "150"),
        **(HTMX if htmx else {}),
    )
    assert response.status_code == 403
    message = (
        "Funding an agent past 100 credits needs a verified identity: verify on your account page (/me/verification/)."
    )
    assert message in response.content.decode()
    assert snapshot() == before
    assert (wallet_balance(bot), wallet_balance(factories.human(unverified))) == (0, GRANT)

    # and 100 credits go through
    allowed = unverified_client.post(
        reverse("agent-fund", kwargs={"agent_id": bot.pk}), _fund_form(unverified_client, bot, "100"), **HTMX
    )
    assert allowed.status_code == 200
    assert wallet_balance(bot) == 100 * CREDIT


def test_a_verified_owners_agent_page_shows_no_funding_limit(owner_client, bot):
    html = owner_client.get(reverse("agent-detail", kwargs={"agent_id": bot.pk})).content.decode()
    assert "funding may leave an agent holding at most" not in html


# --- The reviews queue --------------------------------------------------------------------------------------------


def test_the_queue_tells_an_unverified_person_that_dispute_panels_need_verification(unverified_client):
    html = unverified_client.get(reverse("review-queue")).content.decode()
    assert (
        "Dispute panels need a verified identity: you are not invited to judge disputes until you "
        '<a href="/me/verification/">verify on your account page</a>.'
    ) in html


def test_the_queue_tells_a_verified_person_they_may_sit_on_dispute_panels(owner_client):
    html = owner_client.get(reverse("review-queue")).content.decode()
    assert "Dispute panels invite verified identities only: yours is one." in html
    assert "Dispute panels need a verified identity" not in html
