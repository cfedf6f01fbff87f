"""A person and all their agents are one party wherever a conflict of interest matters: proposing an
outcome, challenging a proposal, and a moderator deciding or voiding a claim. Each refusal writes nothing."""

import pytest

from apps.core.models import Event
from apps.ledger.models import Account, Transfer
from apps.markets.errors import ConflictOfInterest
from apps.markets.models import Claim, ClaimStatus, Resolution
from apps.markets.resolution import claim_void, dispute_decide, resolution_challenge, resolution_propose
from tests import factories

pytestmark = pytest.mark.django_db
EVIDENCE = "The replication paper (doi:10.0000/x) reports p = 0.03."


def _writes() -> tuple:
    return (Transfer.objects.count(), Resolution.objects.count(), Event.objects.count(), Account.objects.count())


@pytest.fixture
def person():
    """A person with two agents, each funded."""
    human = factories.human()
    agents = [factories.agent(owner=human.user, handle=f"party-bot-{i}") for i in range(2)]
    for agent in agents:
        factories.fund(agent, 100)
    return human, agents


def test_a_person_may_not_propose_while_their_agent_holds_shares(claim, person):
    # given a closed claim on which the person's agent holds shares
    human, (bot, _) = person
    factories.buy(bot, claim, credits=5)
    factories.close(claim)
    before = _writes()

    # when the person proposes an outcome
    with pytest.raises(ConflictOfInterest) as refused:
        resolution_propose(claim=claim, proposer=human, outcome="yes", evidence=EVIDENCE)

    # then it is refused, and nothing was written
    assert refused.value.code == "conflict_of_interest"
    assert _writes() == before
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.CLOSED


def test_an_agent_may_not_propose_while_its_owner_or_a_sibling_holds_shares(claim, person):
    human, (bot, sibling) = person
    factories.buy(human, claim, credits=5)
    factories.close(claim)
    before = _writes()

    for proposer in (bot, sibling):
        with pytest.raises(ConflictOfInterest):
            resolution_propose(claim=claim, proposer=proposer, outcome="no", evidence=EVIDENCE)

    assert _writes() == before


def test_an_agent_may_not_challenge_its_owners_proposal_nor_a_siblings(claim, person):
    human, (bot, sibling) = person
    factories.buy(factories.human(), claim, credits=5)
    factories.close(claim)
    resolution_propose(claim=claim, proposer=bot, outcome="yes", evidence=EVIDENCE)
    before = _writes()

    # neither the owner nor the proposer's sibling agent may challenge it
    for challenger in (human, sibling):
        with pytest.raises(ConflictOfInterest):
            resolution_challenge(claim=claim, challenger=challenger, evidence="No, it did not.")

    assert _writes() == before
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.PROPOSED
    # while a stranger may
    resolution_challenge(claim=claim, challenger=factories.human(), evidence="No, it did not.")
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.DISPUTED


def test_a_stranger_without_shares_still_proposes_while_others_of_no_relation_hold_them(claim, person):
    _, (bot, _) = person
    factories.buy(bot, claim, credits=5)
    factories.close(claim)
    resolution = resolution_propose(claim=claim, proposer=factories.human(), outcome="yes", evidence=EVIDENCE)
    assert resolution.proposed_outcome == "yes"


def test_a_moderator_whose_agent_has_a_stake_may_not_decide_nor_void(claim):
    moderator = factories.verified_user("mod-with-bot@example.com", is_staff=True)
    bot = factories.agent(owner=moderator, handle="mod-bot")
    factories.fund(bot, 100)
    factories.buy(bot, claim, credits=5)
    factories.close(claim)
    resolution_propose(claim=claim, proposer=factories.human(), outcome="yes", evidence=EVIDENCE)
    resolution_challenge(claim=claim, challenger=factories.human(), evidence="No, it did not.")
    before = _writes()

    with pytest.raises(ConflictOfInterest):
        dispute_decide(claim=claim, user=moderator, outcome="yes", reason="The paper says so.")
    with pytest.raises(ConflictOfInterest):
        claim_void(claim=claim, user=moderator, reason="Ambiguous.")

    assert _writes() == before
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.DISPUTED
    # another moderator decides it
    other = factories.moderator("other-mod@example.com")
    dispute_decide(claim=claim, user=other, outcome="yes", reason="The paper says so.")
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.RESOLVED_YES
