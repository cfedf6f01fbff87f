"""Scoring a resolved claim: exactly once (settlement twice, claim_score twice, the sweep after, threads),
nobody on VOID, only forecasts before closes_at, no credit for a stated belief, and the extremizing fit
that each scoring refreshes."""

import contextlib
import itertools
import math
import threading
from decimal import Decimal

import pytest

from apps.core.models import Event
from apps.ledger.models import Entry, Transfer
from apps.ledger.selectors import wallet_balance
from apps.markets import hooks
from apps.markets.models import Claim, Market, Position
from apps.markets.pricing import implied_belief
from apps.markets.resolution import claim_void
from apps.markets.settlement import market_settle
from apps.reputation import maths, tasks
from apps.reputation.models import (
    Belief,
    Calibration,
    ClaimRecord,
    Consensus,
    ExtremizingFit,
    Reliability,
    Score,
)
from apps.reputation.selectors import as_decimal, consensus_compute
from apps.reputation.services import claim_score, claims_score_due, consensus_refresh, extremizing_refit
from tests import factories
from tests.factories import buy, close, new_claim, resolve, state, track
from tests.support import NOTHING_SCORED, race, reputation_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The claim ids whose consensus refresh was queued (the task is never really sent)."""
    calls: list[int] = []
    monkeypatch.setattr(tasks.consensus_refresh_task, "delay", calls.append)
    return calls


def expected_score(probability: Decimal, reference: Decimal, outcome: bool) -> dict:
    p, m = float(probability), float(reference)
    return {
        "probability": probability,
        "market_price": reference,
        "outcome": outcome,
        "brier": pytest.approx((p - (1.0 if outcome else 0.0)) ** 2, abs=1e-15),
        "log_score": pytest.approx(math.log(p if outcome else 1 - p), abs=1e-15),
        "relative_log_score": pytest.approx(
            math.log(p if outcome else 1 - p) - math.log(m if outcome else 1 - m), abs=1e-15
        ),
    }


def score_of(claim, identity) -> dict:
    return Score.objects.filter(claim=claim, identity=identity).values(
        "source", "probability", "market_price", "outcome", "brier", "log_score", "relative_log_score", "profit"
    )[0]


# --- exactly once ---------------------------------------------------------------------------------------


def test_settlement_scores_every_forecast_exactly_once(author, domain, resolver):
    # given four identities on one claim: a stated belief; a trade; a belief then a later trade; a trade
    # then a later belief
    claim = new_claim(author, domain)
    alice, bob, carol, dave = (factories.human() for _ in range(4))
    state(alice, claim, Decimal("0.8"))
    bob_trade = buy(bob, claim, "yes", credits=5, key="bob")
    state(carol, claim, Decimal("0.3"))
    carol_trade = buy(carol, claim, "no", credits=3, key="carol")
    dave_trade = buy(dave, claim, "yes", credits=2, key="dave")
    state(dave, claim, Decimal("0.65"))
    before_outcome = consensus_refresh(claim=claim)

    # when it resolves YES and settles (which scores)
    resolve(claim, "yes", resolver)

    # then each is scored once, from its latest forecast, against the price before its first one
    bob_trade.refresh_from_db()
    carol_trade.refresh_from_db()
    profit = {
        pk: yes - invested
        for pk, yes, invested in Position.objects.filter(market__claim=claim).values_list(
            "identity_id", "yes_shares", "net_invested"
        )
    }
    assert Score.objects.filter(claim=claim).count() == 4
    assert score_of(claim, alice) == {
        "source": "belief",
        "profit": 0,
        **expected_score(Decimal("0.8"), Decimal("0.5"), True),
    }
    assert score_of(claim, bob) == {
        "source": "trade",
        "profit": profit[bob.pk],
        **expected_score(implied_belief(None, bob_trade.price_after), bob_trade.price_before, True),
    }
    assert score_of(claim, carol) == {
        "source": "trade",
        "profit": profit[carol.pk],
        **expected_score(implied_belief(None, carol_trade.price_after), carol_trade.price_before, True),
    }
    assert score_of(claim, dave) == {
        "source": "belief",
        "profit": profit[dave.pk],
        # scored against the price before its first forecast (its trade), not before its last
        **expected_score(Decimal("0.65"), dave_trade.price_before, True),
    }
    assert profit[bob.pk] > 0 > profit[carol.pk]
    # the record is the marker: market at close and the consensus at close, with the weights from before
    # this outcome was known
    market = Market.objects.get(claim=claim)
    record = ClaimRecord.objects.get(claim=claim)
    assert (record.outcome, record.scored, record.market_price) == (True, 4, market.price_yes)
    assert (record.consensus, record.pooled_logit) == (before_outcome.probability, before_outcome.pooled_logit)
    for identity in (alice, bob, carol, dave):
        x = Score.objects.get(claim=claim, identity=identity).relative_log_score
        rows = Reliability.objects.filter(identity=identity).values_list("domain_id", "n", "total")
        assert sorted(rows, key=str) == sorted([(domain.pk, 1, x), (None, 1, x)], key=str)
    assert Event.objects.filter(kind="claim.scored", subject=f"claim:{claim.pk}").count() == 1

    # and settling again, scoring again, and the sweep change nothing at all
    rows, transfers, entries = reputation_rows(), Transfer.objects.count(), Entry.objects.count()
    market_settle(claim=claim)
    assert claim_score(claim=claim).pk == record.pk
    assert claim_score(claim=claim).pk == record.pk
    assert claims_score_due() == 0
    assert reputation_rows() == rows
    assert (Transfer.objects.count(), Entry.objects.count()) == (transfers, entries)
    assert Event.objects.filter(kind="claim.scored").count() == 1


def test_the_sweep_scores_a_settled_claim_that_the_hook_missed_once(author, domain, resolver, monkeypatch):
    # given a claim settled while nothing listened to settlement (a lost hook)
    claim = new_claim(author, domain)
    alice, bob = factories.human(), factories.human()
    state(alice, claim, Decimal("0.7"))
    state(bob, claim, Decimal("0.2"))
    monkeypatch.setattr(hooks.claim_settled, "listeners", [])
    resolve(claim, "no", resolver)
    assert reputation_rows() == NOTHING_SCORED

    # when the sweep runs, twice
    first = claims_score_due()
    rows = reputation_rows()
    second = claims_score_due()

    # then it scored the claim once
    assert (first, second) == (1, 0)
    assert reputation_rows() == rows
    assert Score.objects.filter(claim=claim).count() == 2
    assert ClaimRecord.objects.get(claim=claim).scored == 2
    assert list(Reliability.objects.filter(domain=None).order_by("identity_id").values_list("identity_id", "n")) == [
        (alice.pk, 1),
        (bob.pk, 1),
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_scorings_of_one_claim_write_it_once(author, domain, resolver, monkeypatch, queued):
    # given a resolved, settled claim that the hook did not score
    claim = new_claim(author, domain)
    people = [factories.human() for _ in range(3)]
    for i, person in enumerate(people):
        state(person, claim, Decimal("0.6") + Decimal(i) / 10)
    monkeypatch.setattr(hooks.claim_settled, "listeners", [])
    resolve(claim, "yes", resolver)

    # when four threads score it at once, two through claim_score and two through the sweep
    results = race(4, lambda i: claim_score(claim=claim).pk if i % 2 else claims_score_due())

    # then nobody failed, and it was scored exactly once
    assert [r for r in results if isinstance(r, Exception)] == []
    record = ClaimRecord.objects.get(claim=claim)
    assert [results[1], results[3]] == [record.pk, record.pk]
    # (a sweep that raced another may count the claim as done too: see the report, not asserted here)
    assert {results[0], results[2]} <= {0, 1}
    assert Score.objects.filter(claim=claim).count() == 3
    assert set(Reliability.objects.filter(domain=None).values_list("n", flat=True)) == {1}
    assert Event.objects.filter(kind="claim.scored").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_claims_scored_at_once_both_score_a_shared_newcomer(domain, monkeypatch, queued):
    # given a newcomer who stated beliefs on two claims of different authors, both resolved and settled
    # while the hook was lost, so both are due for the sweep
    newcomer = factories.human()
    monkeypatch.setattr(hooks.claim_settled, "listeners", [])
    claims = []
    for i in range(2):
        claim = new_claim(factories.human(), domain)
        state(newcomer, claim, Decimal("0.7"), key=f"n{i}")
        claims.append(resolve(claim, "yes", factories.human()))

    # when both are scored at the same moment (each thread past its Reliability read before either writes)
    barrier = threading.Barrier(2, timeout=5)
    real_bulk_create = Reliability.objects.bulk_create

    def bulk_create_together(rows, *args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):  # a fix that serialises the two: let it by
            barrier.wait()
        return real_bulk_create(rows, *args, **kwargs)

    monkeypatch.setattr(Reliability.objects, "bulk_create", bulk_create_together)
    results = race(2, lambda i: claim_score(claim=claims[i]).pk)

    # then both succeed and the newcomer has two observations (today: IntegrityError in one thread)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert Reliability.objects.get(identity=newcomer, domain=None).n == 2


@pytest.mark.django_db(transaction=True)
def test_two_claims_scored_at_once_by_two_agents_of_a_new_owner_both_fold_into_the_owners_record(
    domain, monkeypatch, queued
):
    # given a new owner whose two agents each stated a belief on a different claim, both due for the sweep
    owner = factories.verified_user()
    agents = [factories.agent(owner, handle=f"twin-bot-{i}") for i in range(2)]
    monkeypatch.setattr(hooks.claim_settled, "listeners", [])
    claims = []
    for i, agent in enumerate(agents):
        claim = new_claim(factories.human(), domain)
        state(agent, claim, Decimal("0.7"), key=f"a{i}")
        claims.append(resolve(claim, "yes", factories.human()))

    # when both are scored at the same moment, each inserting the owner's first calibration rows (no
    # identity lock orders them: the agents differ)
    barrier = threading.Barrier(2, timeout=5)
    real_bulk_create = Calibration.objects.bulk_create

    def bulk_create_together(rows, *args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return real_bulk_create(rows, *args, **kwargs)

    monkeypatch.setattr(Calibration.objects, "bulk_create", bulk_create_together)
    results = race(2, lambda i: claim_score(claim=claims[i]).pk)

    # then both succeed, and the owner's record holds both claims, once each
    assert [r for r in results if isinstance(r, Exception)] == []
    rows = {r.domain_id: r for r in Calibration.objects.filter(owner=owner)}
    assert {d: r.claims for d, r in rows.items()} == {domain.pk: 2, None: 2}
    one = maths.calibration_loglik(0.7, True)
    assert rows[None].loglik == pytest.approx([2 * x for x in one], rel=1e-12)


# --- VOID -----------------------------------------------------------------------------------------------


def test_a_void_claim_scores_nobody(author, domain, resolver):
    # given a claim with a stated belief and a trade, resolved VOID and settled
    claim = new_claim(author, domain)
    alice, bob = factories.human(), factories.human()
    state(alice, claim, Decimal("0.9"))
    buy(bob, claim, "yes", credits=4)
    resolve(claim, "void", resolver)
    assert claim.settled_at is not None

    # when scoring is asked for again, directly and through the sweep
    direct, swept = claim_score(claim=claim), claims_score_due()

    # then nobody was scored, no record, no reliability, no fit, no event
    assert (direct, swept) == (None, 0)
    assert reputation_rows() == NOTHING_SCORED
    assert not Event.objects.filter(kind="claim.scored").exists()


def test_a_claim_voided_by_staff_scores_nobody(author, domain):
    # given an open claim with a belief and a trade, voided by staff, then settled
    claim = new_claim(author, domain)
    state(factories.human(), claim, Decimal("0.4"))
    buy(factories.human(), claim, "no", credits=4)
    staff = factories.verified_user(is_staff=True)
    claim_void(claim=claim, user=staff, reason="The question was ambiguous.")
    market_settle(claim=claim)

    # then nothing is scored, now or by the sweep
    assert claims_score_due() == 0
    assert reputation_rows() == NOTHING_SCORED


# --- only forecasts before closes_at ---------------------------------------------------------------------


def test_a_belief_stated_after_closes_at_is_not_scored(author, domain, resolver):
    # given alice said 0.3 and carol 0.6, then alice said 0.9; closes_at then moved to alice's 0.9
    claim = new_claim(author, domain)
    alice, carol = factories.human(), factories.human()
    early = state(alice, claim, Decimal("0.3"), key="early")
    state(carol, claim, Decimal("0.6"))
    late = state(alice, claim, Decimal("0.9"), key="late")
    assert early.created_at < late.created_at
    Claim.objects.filter(pk=claim.pk).update(closes_at=late.created_at)

    # when it resolves YES
    resolve(claim, "yes", resolver, keep_closing_time=True)

    # then alice is scored on her 0.3, the consensus at close is 0.3 and 0.6 pooled with equal weights
    score = Score.objects.get(claim=claim, identity=alice)
    assert (score.probability, score.source, score.forecast_at) == (Decimal("0.3"), "belief", early.created_at)
    assert score.relative_log_score == pytest.approx(math.log(0.3 / 0.5), abs=1e-15)
    pooled = (math.log(0.3 / 0.7) + math.log(0.6 / 0.4)) / 2
    record = ClaimRecord.objects.get(claim=claim)
    assert record.pooled_logit == pytest.approx(pooled, abs=1e-12)
    assert record.consensus == as_decimal(maths.sigmoid(pooled))


def test_a_trade_after_closes_at_is_not_scored(author, domain, resolver):
    # given bob bought YES twice; closes_at then moved to his second trade
    claim = new_claim(author, domain)
    bob = factories.human()
    first = buy(bob, claim, "yes", credits=5, key="first")
    second = buy(bob, claim, "yes", credits=20, key="second")
    first.refresh_from_db()
    second.refresh_from_db()
    Claim.objects.filter(pk=claim.pk).update(closes_at=second.created_at)

    # when it resolves NO
    resolve(claim, "no", resolver, keep_closing_time=True)

    # then bob is scored on his first trade, against the price it moved from
    score = Score.objects.get(claim=claim, identity=bob)
    assert (score.source, score.forecast_at) == ("trade", first.created_at)
    assert (score.probability, score.market_price) == (implied_belief(None, first.price_after), first.price_before)


# --- a stated belief earns nothing ------------------------------------------------------------------------


def test_a_stated_belief_earns_no_credit_even_when_right(author, domain, resolver):
    # given alice's wallet
    alice = factories.human()
    balance, entries = wallet_balance(alice), Entry.objects.filter(account__identity=alice).count()
    claim = new_claim(author, domain)

    # when she states 0.95 and the claim resolves YES
    state(alice, claim, Decimal("0.95"))
    assert wallet_balance(alice) == balance
    resolve(claim, "yes", resolver)

    # then her wallet never moved: she is scored (reputation), with no profit
    assert wallet_balance(alice) == balance
    assert Entry.objects.filter(account__identity=alice).count() == entries
    assert Score.objects.get(claim=claim, identity=alice).profit == 0


# --- the extremizing fit --------------------------------------------------------------------------------


def test_extremizing_is_one_until_twenty_claims_then_fitted_on_them(author, domain, resolver):
    # given two sources who say 0.6 for the outcome they expect on each claim, right 14 times in 20
    a, b = factories.human(), factories.human()
    assert extremizing_refit().alpha == 1.0
    outcomes = ["yes"] * 7 + ["no"] * 3 + ["no"] * 7 + ["yes"] * 3  # expected YES on the first 10
    alphas = []
    for i, outcome in enumerate(outcomes):
        said = Decimal("0.6") if i < 10 else Decimal("0.4")
        track({a: said, b: said}, author, domain, resolver, outcome=outcome)
        alphas.append(ExtremizingFit.objects.get().alpha)

    # then alpha stays 1.0 for 19 claims; at the 20th it is the factor minimising the log loss of the
    # twenty pooled logits at close (found here by a plain search), within its bounds
    assert alphas[:19] == [1.0] * 19
    fit = ExtremizingFit.objects.get()
    assert fit.claims == 20
    rows = list(ClaimRecord.objects.order_by("claim_id").values_list("pooled_logit", "outcome"))
    assert [o for _, o in rows] == [o == "yes" for o in outcomes]

    def loss(alpha: float) -> float:
        return -sum(math.log(maths.sigmoid(alpha * x if yes else -alpha * x)) for x, yes in rows)

    best = min((1 + k / 10_000 for k in range(15_001)), key=loss)
    assert fit.alpha == pytest.approx(best, abs=1e-3)
    assert maths.EXTREMIZE_MIN < fit.alpha < maths.EXTREMIZE_MAX
    # and the calibration learned from the same record (0.6 that comes true 70% of the time is
    # under-confident) reads later forecasts as surer: the logits at close grow, and calibration and
    # extremizing together approach the factor that makes 0.6 read as 0.7, ln(0.7/0.3) / ln(0.6/0.4) ~ 2.09
    factors = [abs(x) / math.log(1.5) for x, _ in rows]
    assert factors[0] == pytest.approx(1.0, abs=1e-12)
    assert all(later > earlier for earlier, later in itertools.pairwise(factors[:7]))  # the first 7 came true
    assert 1.3 < factors[-1] * fit.alpha < 2.3

    # and the consensus of a new claim applies both
    claim = new_claim(author, domain)
    state(a, claim, Decimal("0.6"))
    view = consensus_compute(claim)
    (contributor,) = view.contributors
    assert view.alpha == fit.alpha
    assert contributor.calibration > 1
    assert view.probability == pytest.approx(
        maths.sigmoid(fit.alpha * contributor.calibration * math.log(1.5)), abs=1e-12
    )
    assert Consensus.objects.get(claim=claim).probability == as_decimal(view.probability)


def test_claims_with_a_single_source_do_not_count_toward_the_extremizing_fit(author, domain, resolver):
    # given twenty resolved claims, each with one source saying 0.6 for what it expects, right 14 times
    solo = factories.human()
    outcomes = ["yes"] * 14 + ["no"] * 6
    for outcome in outcomes:
        track({solo: Decimal("0.6")}, author, domain, resolver, outcome=outcome)

    # then there is no history of two or more sources: alpha stays 1.0
    assert ExtremizingFit.objects.get().alpha == 1.0


def test_an_unscored_closed_claim_is_not_due(author, domain):
    # given a closed claim not yet resolved
    claim = new_claim(author, domain)
    state(factories.human(), claim, Decimal("0.5"))
    close(claim)

    # then neither the sweep nor claim_score scores it
    assert claims_score_due() == 0
    assert claim_score(claim=claim) is None
    assert reputation_rows() == NOTHING_SCORED
    assert Belief.objects.count() == 1
