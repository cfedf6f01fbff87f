"""Helpers for reputation tests: claims driven through the real services to a resolved, settled outcome."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.ledger.services import EXTERNAL_WORLD, ledger_transfer, system_account, wallet_for
from apps.markets.models import Claim, Domain, Resolution
from apps.markets.pricing import Order
from apps.markets.resolution import claims_close_due, resolution_finalize, resolution_propose
from apps.markets.services import trade_place
from apps.markets.settlement import market_settle
from apps.reputation.services import belief_state
from tests import factories
from tests.markets.conftest import make_claim


@pytest.fixture
def domain(db):
    return Domain.objects.get_or_create(slug="science", defaults={"name": "Science"})[0]


@pytest.fixture
def other_domain(db):
    return Domain.objects.get_or_create(slug="economics", defaults={"name": "Economics"})[0]


@pytest.fixture
def author(db):
    return factories.human()


@pytest.fixture
def resolver(db):
    """A verified identity that never trades: it proposes outcomes."""
    return factories.human()


def fund(identity, credits: int) -> None:
    ledger_transfer(
        lines=[(system_account(EXTERNAL_WORLD), -credits * CREDIT), (wallet_for(identity), credits * CREDIT)],
        kind="test_funding",
        idempotency_key=f"test-fund:{identity.pk}:{credits}:{timezone.now().timestamp()}",
    )


def state(identity, claim, probability, key=None):
    return belief_state(
        identity=identity, claim=claim, probability=probability, idempotency_key=key or f"b:{identity.pk}:{probability}"
    )


def buy(identity, claim, side, credits=1, belief=None, key=None):
    order = Order(kind="buy", side=side, amount=credits * CREDIT, belief=belief)
    return trade_place(
        identity=identity, claim=claim, order=order, idempotency_key=key or f"t:{timezone.now().timestamp()}"
    )


def close(claim: Claim) -> None:
    Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now())  # after every forecast so far
    claims_close_due()
    claim.refresh_from_db()


def resolve(claim: Claim, outcome: str, resolver) -> Claim:
    """Close, propose, let the window pass, finalize and settle (which scores): the real path."""
    close(claim)
    resolution_propose(claim=claim, proposer=resolver, outcome=outcome, evidence="The record says so.")
    Resolution.objects.filter(claim=claim).update(challenge_deadline=timezone.now() - timedelta(seconds=1))
    resolution_finalize(claim=claim)
    claim.refresh_from_db()
    market_settle(claim=claim)
    claim.refresh_from_db()
    return claim


def new_claim(author, domain, **kwargs) -> Claim:
    return make_claim(author, domain, **kwargs)


# --- Added for the reliability, scoring and consensus tests ---------------------------------------------


def settle_as_is(claim: Claim, outcome: str, resolver) -> Claim:
    """Like resolve(), for a claim whose closes_at a test has already put in the past: it is left where
    the test put it (resolve() would move it to now, after every forecast)."""
    claims_close_due()
    claim.refresh_from_db()
    resolution_propose(claim=claim, proposer=resolver, outcome=outcome, evidence="The record says so.")
    Resolution.objects.filter(claim=claim).update(challenge_deadline=timezone.now() - timedelta(seconds=1))
    resolution_finalize(claim=claim)
    claim.refresh_from_db()
    market_settle(claim=claim)
    claim.refresh_from_db()
    return claim


def track(forecasts: dict, author, domain, resolver, *, outcome: str, claims: int = 1) -> list[Claim]:
    """`claims` new claims, on each of which every identity in `forecasts` ({identity: probability})
    states its probability while the price is still 0.5; each then resolves `outcome` through the real
    path. Identities given the same probability get exactly the same record."""
    done = []
    for _ in range(claims):
        claim = new_claim(author, domain)
        for identity, probability in forecasts.items():
            state(identity, claim, probability, key=f"track:{claim.pk}:{identity.pk}")
        done.append(resolve(claim, outcome, resolver))
    return done


NOTHING_SCORED = {"scores": [], "reliability": [], "calibration": [], "agreements": [], "records": [], "fits": []}


def reputation_rows() -> dict:
    """Every row scoring writes, as plain values: compare before and after to prove nothing changed."""
    from apps.reputation.models import Agreement, Calibration, ClaimRecord, ExtremizingFit, Reliability, Score

    return {
        "scores": list(Score.objects.order_by("id").values()),
        "reliability": list(Reliability.objects.order_by("id").values()),
        "calibration": list(Calibration.objects.order_by("id").values()),
        "agreements": list(Agreement.objects.order_by("id").values()),
        "records": list(ClaimRecord.objects.order_by("id").values()),
        "fits": list(ExtremizingFit.objects.order_by("id").values()),
    }
