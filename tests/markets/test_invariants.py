"""Random lives of one or two markets — deposits, trades of every order type, close, propose, challenge,
dispute, finalize, void, settle — with the books checked after every step.

Every action goes through its service with whatever arguments Hypothesis draws, so many are refused
(a sale of shares not held, a proposal before close, a trade after it, a second settlement...): a
refused action must write nothing at all. Time passes on a simulated clock: closes_at and the
challenge deadline are moved into the past with queryset .update(), as tests/markets/test_resolution.py
does. Each example runs inside a savepoint rolled back at teardown, so examples cannot see each other.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apps.accounts.models import User
from apps.core.amounts import CREDIT
from apps.core.errors import ApplicationError
from apps.core.models import Event
from apps.identities.models import Identity
from apps.ledger.models import Account, AccountKind, Entry, Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance
from apps.ledger.services import wallet_fund_agent
from apps.markets.models import Claim, ClaimStatus, Market, Position, Resolution, Trade
from apps.markets.pricing import Order
from apps.markets.resolution import (
    FINAL_STATUSES,
    claim_void,
    claims_close_due,
    dispute_decide,
    resolution_challenge,
    resolution_finalize,
    resolution_propose,
)
from apps.markets.services import trade_place
from apps.markets.settlement import market_settle
from tests import factories

pytestmark = pytest.mark.django_db

EVIDENCE = "The source named in the criteria says so."
CLAIM = st.integers(0, 1)  # taken modulo the number of claims in the example
WHO = st.integers(0, 20)  # taken modulo the number of identities
SIDE = st.sampled_from(["yes", "no"])
OUTCOME = st.sampled_from(["yes", "no", "void"])
# Mostly small stakes, sometimes more than a 1,000-credit wallet holds (refused: InsufficientCredit).
AMOUNT = st.one_of(st.integers(1, 60 * CREDIT), st.integers(900 * CREDIT, 2000 * CREDIT), st.sampled_from([1, CREDIT]))
# Now and then 0 or 1, which no belief or limit may be (refused: ValidationFailed).
BELIEF = st.one_of(*[st.decimals("0.01", "0.99", places=2)] * 4, st.sampled_from([Decimal(0), Decimal(1)]))
# Percent of the shares held to sell back; above 100 asks for more than is held (refused).
SELL_PERCENT = st.one_of(st.integers(1, 100), st.just(101))


def _traded(machine: "MarketMachine") -> bool:
    """The lifecycle rules wait for a few trades: otherwise most steps of an example go to refused
    proposals and most markets end before they trade."""
    return machine.trades >= 2


class MarketMachine(RuleBasedStateMachine):
    author_pk: int
    trader_pks: list[int]  # humans with their 1,000-credit grant; the last is the owner of the agent
    agent_pk: int
    staff_pk: int
    domain_pk: int

    def __init__(self) -> None:
        super().__init__()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        self.author = Identity.objects.get(pk=self.author_pk)
        self.identities = [self.author, *Identity.objects.filter(pk__in=self.trader_pks).order_by("pk")]
        self.agent = Identity.objects.get(pk=self.agent_pk)
        self.identities.append(self.agent)
        self.staff = User.objects.get(pk=self.staff_pk)
        self.claims: list[Claim] = []
        self.n = 0  # fresh idempotency keys
        self.trades = 0  # trades placed so far

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    # --- helpers ---------------------------------------------------------------------------------

    def _key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def _claim(self, index: int) -> Claim:
        return Claim.objects.get(pk=self.claims[index % len(self.claims)].pk)

    def _who(self, index: int) -> Identity:
        return self.identities[index % len(self.identities)]

    def _snapshot(self) -> tuple:
        return (
            Transfer.objects.count(),
            Entry.objects.count(),
            Account.objects.count(),
            Trade.objects.count(),
            Position.objects.count(),
            Resolution.objects.count(),
            Event.objects.count(),
            dict(Account.objects.values_list("pk", "balance")),
            list(Claim.objects.order_by("pk").values_list("status", "settled_at")),
            list(Market.objects.order_by("pk").values_list("q_yes", "q_no", "trade_count")),
            list(Position.objects.order_by("pk").values_list("yes_shares", "no_shares", "net_invested")),
        )

    def _attempt(self, action):
        """Run a service call; a refusal (an ApplicationError) must leave every row as it was."""
        before = self._snapshot()
        try:
            return action()
        except ApplicationError:
            assert self._snapshot() == before
            return None

    # --- deposits --------------------------------------------------------------------------------

    @precondition(lambda self: len(self.identities) < 9)
    @rule()
    def a_new_human_arrives(self):
        """A fresh verified human with the signup grant from the external world."""
        self.identities.append(factories.human())

    @rule(amount=AMOUNT)
    def the_owner_funds_the_agent(self, amount):
        self._attempt(
            lambda: wallet_fund_agent(
                owner=self.agent.owner, agent=self.agent, amount=amount, idempotency_key=self._key()
            )
        )

    # --- orders ----------------------------------------------------------------------------------

    def _trade(self, who: int, claim: int, order: Order) -> None:
        identity, claim = self._who(who), self._claim(claim)
        if self._attempt(lambda: trade_place(identity=identity, claim=claim, order=order, idempotency_key=self._key())):
            self.trades += 1

    @initialize(claims=st.integers(1, 2))
    def publish_claims(self, claims):
        self.claims = [factories.new_claim(self.author, self._domain()) for _ in range(claims)]

    def _domain(self):
        from apps.markets.models import Domain

        return Domain.objects.get(pk=self.domain_pk)

    @rule(who=WHO, claim=CLAIM, side=SIDE, amount=AMOUNT, limit=st.one_of(st.none(), BELIEF), partial=st.booleans())
    def buy(self, who, claim, side, amount, limit, partial):
        self._trade(who, claim, Order(kind="buy", side=side, amount=amount, limit_price=limit, allow_partial=partial))

    @rule(who=WHO, claim=CLAIM, belief=BELIEF, amount=AMOUNT)
    def state_a_belief(self, who, claim, belief, amount):
        self._trade(who, claim, Order(kind="belief", belief=belief, amount=amount))

    @rule(who=WHO, claim=CLAIM, side=SIDE, percent=SELL_PERCENT, limit=st.one_of(st.none(), BELIEF))
    def sell(self, who, claim, side, percent, limit):
        """Mostly a holder of `side` sells part of it; with no holder, someone sells what they lack."""
        field = "yes_shares" if side == "yes" else "no_shares"
        holders = list(Position.objects.filter(market__claim=self._claim(claim), **{f"{field}__gt": 0}).order_by("pk"))
        if holders:
            position = holders[who % len(holders)]
            who = next(i for i, identity in enumerate(self.identities) if identity.pk == position.identity_id)
        held = getattr(position, field) if holders else 0
        shares = max(held * percent // 100, 1) if percent <= 100 else held + 1
        self._trade(who, claim, Order(kind="sell", side=side, shares=shares, limit_price=limit, allow_partial=True))

    # --- the clock and the lifecycle -------------------------------------------------------------

    @precondition(_traded)
    @rule(claim=CLAIM, beat=st.booleans())
    def closing_time_passes(self, claim, beat):
        """closes_at moves into the past; the beat that writes `closed` down may or may not have run."""
        claim = self._claim(claim)
        past = timezone.now() - timedelta(seconds=1)
        Claim.objects.filter(pk=claim.pk, closes_at__gt=past).update(closes_at=past)
        if beat:
            claims_close_due()

    @precondition(_traded)
    @rule(claim=CLAIM)
    def the_challenge_window_passes(self, claim):
        Resolution.objects.filter(claim=self._claim(claim)).update(
            challenge_deadline=timezone.now() - timedelta(seconds=1)
        )

    @precondition(_traded)
    @rule(claim=CLAIM, who=WHO, outcome=OUTCOME)
    def propose(self, claim, who, outcome):
        claim, proposer = self._claim(claim), self._who(who)
        self._attempt(lambda: resolution_propose(claim=claim, proposer=proposer, outcome=outcome, evidence=EVIDENCE))

    @precondition(_traded)
    @rule(claim=CLAIM, who=WHO)
    def challenge(self, claim, who):
        claim, challenger = self._claim(claim), self._who(who)
        self._attempt(lambda: resolution_challenge(claim=claim, challenger=challenger, evidence=EVIDENCE))

    @precondition(_traded)
    @rule(claim=CLAIM)
    def finalize(self, claim):
        claim = self._claim(claim)
        self._attempt(lambda: resolution_finalize(claim=claim))

    @precondition(_traded)
    @rule(claim=CLAIM, outcome=OUTCOME, as_staff=st.booleans())
    def decide_the_dispute(self, claim, outcome, as_staff):
        claim = self._claim(claim)
        user = self.staff if as_staff else self.author.user
        self._attempt(lambda: dispute_decide(claim=claim, user=user, outcome=outcome, reason="The record shows it."))

    @precondition(_traded)
    @rule(claim=CLAIM)
    def void(self, claim):
        claim = self._claim(claim)
        self._attempt(lambda: claim_void(claim=claim, user=self.staff, reason="The criteria cannot be applied."))

    @precondition(_traded)
    @rule(claim=CLAIM)
    def settle(self, claim):
        self._settle(self._claim(claim))

    @precondition(_traded)
    @rule(claim=CLAIM, outcome=OUTCOME, path=st.sampled_from(["unchallenged", "disputed", "voided"]))
    def run_to_settlement(self, claim, outcome, path):
        """The rest of the claim's life in one step, through the services, so that examples reach
        settlement often: close, propose, then finalize, or challenge and decide, or void; settle."""
        claim = self._claim(claim)
        if claim.settled_at is not None:
            return
        if path == "voided" and claim.status not in FINAL_STATUSES:
            claim_void(claim=claim, user=self.staff, reason="The criteria cannot be applied.")
            claim.refresh_from_db()
        if claim.status == ClaimStatus.OPEN:
            factories.closing_time_passes(claim)
            claims_close_due()
            claim.refresh_from_db()
        if claim.status == ClaimStatus.CLOSED:
            # A newcomer holds no position, so the proposal is accepted (the bond fits the grant).
            resolution_propose(claim=claim, proposer=factories.human(), outcome=outcome, evidence=EVIDENCE)
            claim.refresh_from_db()
        if claim.status == ClaimStatus.PROPOSED and path == "disputed":
            resolution_challenge(claim=claim, challenger=factories.human(), evidence=EVIDENCE)
            claim.refresh_from_db()
        if claim.status == ClaimStatus.PROPOSED:
            factories.challenge_window_passes(claim)
            resolution_finalize(claim=claim)
            claim.refresh_from_db()
        if claim.status == ClaimStatus.DISPUTED:
            dispute_decide(claim=claim, user=self.staff, outcome=outcome, reason="The record shows it.")
            claim.refresh_from_db()
        self._settle(claim)

    def _settle(self, claim: Claim) -> None:
        """Settle, and check every payee against the positions when it is not a no-op or a refusal."""
        market = Market.objects.filter(claim=claim).first()
        if market is None or claim.status not in FINAL_STATUSES or claim.settled_at is not None:
            self._attempt(lambda: market_settle(claim=claim))
            return
        escrow = Account.objects.get(pk=market.escrow_id).balance
        positions = list(Position.objects.filter(market=market).select_related("identity"))
        before = {p.identity_id: wallet_balance(p.identity) for p in positions}
        author_before = wallet_balance(claim.author)
        transfer = market_settle(claim=claim)
        owed = {
            ClaimStatus.RESOLVED_YES: {p.identity_id: p.yes_shares for p in positions},
            ClaimStatus.RESOLVED_NO: {p.identity_id: p.no_shares for p in positions},
            ClaimStatus.VOIDED: {p.identity_id: max(p.net_invested, 0) for p in positions},
        }[claim.status]
        if sum(owed.values()) <= escrow:  # otherwise a VOID scaled down pro rata (dust to fees)
            for p in positions:
                if p.identity_id != claim.author_id:
                    assert wallet_balance(p.identity) == before[p.identity_id] + owed[p.identity_id]
            residual = escrow - sum(owed.values())
            assert wallet_balance(claim.author) == author_before + residual + owed.get(claim.author_id, 0)
            assert transfer.metadata["dust"] == 0
        # Exactly once: a second run returns the same transfer and writes nothing.
        snapshot = self._snapshot()
        assert market_settle(claim=claim).pk == transfer.pk
        assert self._snapshot() == snapshot

    # --- invariants, after every step ------------------------------------------------------------

    @invariant()
    def credit_is_conserved(self):
        assert Account.objects.aggregate(total=Sum("balance", default=0))["total"] == 0

    @invariant()
    def no_internal_account_is_negative(self):
        assert not Account.objects.filter(balance__lt=0).exclude(kind=AccountKind.EXTERNAL).exists()

    @invariant()
    def every_escrow_covers_its_market(self):
        for market in Market.objects.select_related("claim", "escrow"):
            escrow = market.escrow.balance
            if market.claim.settled_at is not None:
                assert escrow == 0
                continue
            assert escrow >= max(market.q_yes, market.q_no)
            costs = Trade.objects.filter(market=market).aggregate(total=Sum("cost", default=0))["total"]
            assert escrow == market.subsidy + costs

    @invariant()
    def shares_outstanding_are_the_sum_of_positions(self):
        for market in Market.objects.all():
            totals = Position.objects.filter(market=market).aggregate(
                yes=Sum("yes_shares", default=0), no=Sum("no_shares", default=0)
            )
            assert (market.q_yes, market.q_no) == (totals["yes"], totals["no"])

    @invariant()
    def bond_escrows_hold_exactly_the_open_bonds(self):
        for resolution in Resolution.objects.select_related("bond_escrow"):
            held = 0 if resolution.finalized_at else resolution.bond * (2 if resolution.challenger_id else 1)
            assert resolution.bond_escrow.balance == held

    @invariant()
    def the_ledger_verifies(self):
        report = ledger_verify_report()
        assert report.ok, report.problems


def test_random_market_lives_keep_every_invariant():
    owner = factories.verified_user()
    traders = [factories.human(), factories.human(), factories.human(owner)]
    agent = factories.agent(owner=owner)
    staff = factories.moderator("moderator@example.com")
    machine = type(
        "Machine",
        (MarketMachine,),
        {
            "author_pk": factories.human().pk,
            "trader_pks": [t.pk for t in traders],
            "agent_pk": agent.pk,
            "staff_pk": staff.pk,
            "domain_pk": factories.domain().pk,
        },
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            database=None,
            deadline=None,  # database round trips vary; correctness is what is checked here
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
