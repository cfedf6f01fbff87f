from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.core.amounts import CREDIT
from apps.core.errors import PermissionDenied, ValidationFailed
from apps.core.models import Event
from apps.ledger.models import Account, Entry, Transfer
from apps.ledger.selectors import wallet_balance
from apps.ledger.services import PLATFORM_FEES, system_account
from apps.markets.errors import ConflictOfInterest, IllegalTransition
from apps.markets.models import Claim, ClaimStatus, Market, Resolution
from apps.markets.resolution import (
    bond_for,
    claim_void,
    claims_close_due,
    dispute_decide,
    effective_status,
    resolution_challenge,
    resolution_finalize,
    resolution_propose,
)
from apps.markets.settlement import market_settle
from tests import factories
from tests.factories import GRANT

pytestmark = pytest.mark.django_db
EVIDENCE = "The replication paper (doi:10.0000/x) reports p = 0.03."


@pytest.fixture
def staff(db):
    return factories.moderator("staff@example.com")


@pytest.fixture
def traded(claim):
    """Two traders: one on YES, one on NO; then the market closes."""
    yes, no = factories.human(), factories.human()
    factories.buy(yes, claim, "yes", credits=30, key="y")
    factories.buy(no, claim, "no", credits=10, key="n")
    factories.close(claim)
    return claim, yes, no


def test_close_due_closes_every_past_claim_in_one_pass(author, domain):
    # given three claims whose closing time has passed and one still open
    past = [factories.new_claim(author, domain) for _ in range(3)]
    future = factories.new_claim(author, domain)
    Claim.objects.filter(pk__in=[c.pk for c in past]).update(closes_at=timezone.now() - timedelta(minutes=1))

    # when the sweep runs, then it closes the three, once
    assert claims_close_due() == 3
    assert set(Claim.objects.filter(status=ClaimStatus.CLOSED).values_list("pk", flat=True)) == {c.pk for c in past}
    assert Claim.objects.get(pk=future.pk).status == ClaimStatus.OPEN
    assert Event.objects.filter(kind="claim.closed").count() == 3
    assert claims_close_due() == 0


def test_reads_treat_a_past_close_as_closed_before_the_beat_runs(claim):
    factories.closing_time_passes(claim)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPEN
    assert effective_status(claim) == ClaimStatus.CLOSED


def test_a_proposal_posts_the_bond_and_opens_the_window(traded):
    # given a closed market and a bond of 10 credits plus 1% of its volume
    claim, _, _ = traded
    proposer = factories.human()
    market = Market.objects.get(claim=claim)
    bond = bond_for(market)
    assert bond == 10 * CREDIT + -(-market.volume // 100)

    # when a newcomer proposes YES
    resolution = resolution_propose(claim=claim, proposer=proposer, outcome="yes", evidence=EVIDENCE)

    # then the bond moved from their wallet to its escrow, and the challenge window opened
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PROPOSED
    assert resolution.bond == bond
    assert Account.objects.get(pk=resolution.bond_escrow_id).balance == bond
    assert wallet_balance(proposer) == GRANT - bond
    assert resolution.challenge_deadline == resolution.proposed_at + claim.challenge_window


def test_no_proposal_before_close_or_from_a_position_holder(claim):
    # given a trader holding YES shares on an open claim
    trader = factories.human()
    factories.buy(trader, claim, "yes", key="t")
    transfers = Transfer.objects.count()

    # when anyone proposes before the close, the trader after it, or a newcomer an unknown outcome: refused
    with pytest.raises(IllegalTransition):
        resolution_propose(claim=claim, proposer=factories.human(), outcome="yes", evidence=EVIDENCE)
    factories.close(claim)
    with pytest.raises(ConflictOfInterest):
        resolution_propose(claim=claim, proposer=trader, outcome="yes", evidence=EVIDENCE)
    with pytest.raises(ValidationFailed):
        resolution_propose(claim=claim, proposer=factories.human(), outcome="maybe", evidence=EVIDENCE)

    # then no bond was posted: the only transfers are the two newcomers' signup grants
    assert Transfer.objects.count() == transfers + 2
    assert not Resolution.objects.exists()
    assert not Account.objects.filter(kind="bond_escrow").exists()


def test_an_unchallenged_proposal_finalizes_after_the_window_and_returns_the_bond(traded):
    # given a proposal of NO, not finalized while its window is open
    claim, _, _ = traded
    proposer = factories.human()
    resolution_propose(claim=claim, proposer=proposer, outcome="no", evidence=EVIDENCE)
    with pytest.raises(IllegalTransition):
        resolution_finalize(claim=claim)

    # when the window passes, reads already say NO; then finalizing makes it so and returns the bond
    factories.challenge_window_passes(claim)
    claim.refresh_from_db()
    assert effective_status(claim, claim.resolution) == ClaimStatus.RESOLVED_NO
    resolution_finalize(claim=claim)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_NO
    assert wallet_balance(proposer) == GRANT
    assert Resolution.objects.get(claim=claim).bond_escrow.balance == 0


def test_a_challenge_disputes_and_staff_decide_for_the_challenger(traded, staff):
    # given a proposal of NO, challenged by someone else (the proposer may not challenge themselves)
    claim, _, _ = traded
    proposer, challenger = factories.human(), factories.human()
    resolution = resolution_propose(claim=claim, proposer=proposer, outcome="no", evidence=EVIDENCE)
    with pytest.raises(ConflictOfInterest):
        resolution_challenge(claim=claim, challenger=proposer, evidence="I changed my mind.")
    resolution_challenge(claim=claim, challenger=challenger, evidence="The paper says p = 0.03: that is YES.")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DISPUTED
    bond = resolution.bond
    assert Account.objects.get(pk=resolution.bond_escrow_id).balance == 2 * bond

    # when someone who is not staff decides, or staff without a reason: refused
    with pytest.raises(PermissionDenied):
        dispute_decide(
            claim=claim, user=User.objects.create_user("not-staff@example.com", "x"), outcome="yes", reason="r"
        )
    with pytest.raises(ValidationFailed):
        dispute_decide(claim=claim, user=staff, outcome="yes", reason=" ")

    # when staff decide YES with a reason
    fees = system_account(PLATFORM_FEES).balance
    dispute_decide(claim=claim, user=staff, outcome="yes", reason="The paper reports p = 0.03.")

    # then the challenger gets their bond and half the proposer's; the platform keeps the other half
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_YES
    assert wallet_balance(challenger) == GRANT + bond // 2
    assert wallet_balance(proposer) == GRANT - bond
    assert system_account(PLATFORM_FEES).balance == fees + bond - bond // 2
    assert Account.objects.get(pk=resolution.bond_escrow_id).balance == 0
    assert Resolution.objects.get(claim=claim).decided_by == staff


def test_no_challenge_after_the_window(traded):
    claim, _, _ = traded
    resolution_propose(claim=claim, proposer=factories.human(), outcome="yes", evidence=EVIDENCE)
    factories.challenge_window_passes(claim)
    with pytest.raises(IllegalTransition):
        resolution_challenge(claim=claim, challenger=factories.human(), evidence="Too late.")


def test_settling_yes_pays_each_winning_share_and_empties_the_escrow(traded):
    # given a market resolved YES, not yet settled
    claim, yes, no = traded
    resolution_propose(claim=claim, proposer=factories.human(), outcome="yes", evidence=EVIDENCE)
    factories.finalize(claim)
    market = Market.objects.get(claim=claim)
    escrow = Account.objects.get(pk=market.escrow_id).balance
    yes_before, no_before, author_before = wallet_balance(yes), wallet_balance(no), wallet_balance(claim.author)

    # when it settles
    transfer = market_settle(claim=claim)

    # then each winning share is paid, the author gets the rest of the escrow
    assert wallet_balance(yes) == yes_before + market.q_yes  # one micro-credit per winning micro-share
    assert wallet_balance(no) == no_before
    assert wallet_balance(claim.author) == author_before + escrow - market.q_yes
    assert Account.objects.get(pk=market.escrow_id).balance == 0
    assert transfer.metadata == {"outcome": "yes", "payees": 1, "residual": escrow - market.q_yes, "dust": 0}
    entries = Entry.objects.count()
    again = market_settle(claim=claim)  # exactly once
    assert again.pk == transfer.pk
    assert Entry.objects.count() == entries
    assert Event.objects.filter(kind="claim.settled", subject=f"claim:{claim.pk}").count() == 1


def test_void_refunds_net_investment_and_the_subsidy(traded, staff):
    claim, yes, no = traded
    market = Market.objects.get(claim=claim)
    positions = {p.identity_id: p.net_invested for p in market.positions.all()}
    before = {identity: wallet_balance(identity) for identity in (yes, no, claim.author)}
    claim_void(claim=claim, user=staff, reason="The experiment was cancelled.")
    market_settle(claim=claim)
    assert wallet_balance(yes) == before[yes] + positions[yes.pk]
    assert wallet_balance(no) == before[no] + positions[no.pk]
    # the author gets the subsidy back (plus the rounding the market kept), never less
    assert wallet_balance(claim.author) - before[claim.author] >= market.subsidy
    assert Account.objects.get(pk=market.escrow_id).balance == 0


def test_voiding_a_disputed_claim_returns_both_bonds(traded, staff):
    claim, _, _ = traded
    proposer, challenger = factories.human(), factories.human()
    resolution_propose(claim=claim, proposer=proposer, outcome="yes", evidence=EVIDENCE)
    resolution_challenge(claim=claim, challenger=challenger, evidence="No.")
    claim_void(claim=claim, user=staff, reason="Criteria were ambiguous.")
    assert (wallet_balance(proposer), wallet_balance(challenger)) == (GRANT, GRANT)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.VOIDED
    with pytest.raises(IllegalTransition):
        claim_void(claim=claim, user=staff, reason="again")


def test_settlement_needs_a_final_outcome(traded):
    claim, _, _ = traded
    transfers = Transfer.objects.count()
    with pytest.raises(IllegalTransition):
        market_settle(claim=claim)
    assert Transfer.objects.count() == transfers


def test_a_voided_draft_settles_with_nothing_to_pay(author, domain, staff):
    draft = factories.new_claim(author, domain, publish=False)
    claim_void(claim=draft, user=staff, reason="Spam.")
    assert market_settle(claim=draft) is None
    draft.refresh_from_db()
    assert draft.settled_at is not None


def test_prices_never_matter_to_payouts(traded):
    """A winning share pays exactly one credit whatever it cost."""
    claim, yes, _ = traded
    market = Market.objects.get(claim=claim)
    assert market.price_yes > Decimal("0.5")
    resolution_propose(claim=claim, proposer=factories.human(), outcome="no", evidence=EVIDENCE)
    factories.challenge_window_passes(claim)
    resolution_finalize(claim=claim)
    before = wallet_balance(yes)
    market_settle(claim=claim)
    assert wallet_balance(yes) == before


def test_settlement_tells_each_identity_paid_on_its_own_subject(traded, staff):
    # given a claim with a YES holder and a NO holder, voided: both are refunded their net investment
    claim, yes, no = traded
    market = Market.objects.get(claim=claim)
    invested = {p.identity_id: p.net_invested for p in market.positions.all()}
    claim_void(claim=claim, user=staff, reason="The experiment was cancelled.")

    market_settle(claim=claim)

    paid = Event.objects.filter(kind="position.paid").order_by("subject")
    assert sorted((e.subject, e.payload) for e in paid) == sorted(
        (f"identity:{who.pk}", {"claim": claim.pk, "outcome": "void", "amount": invested[who.pk]}) for who in (yes, no)
    )
    # settled again (a retry), nothing more is told
    market_settle(claim=claim)
    assert Event.objects.filter(kind="position.paid").count() == 2
