"""Helpers for the reputation API tests: claims driven through the real services (state, trade, close,
resolve, settle), and the rows a refused request must not write."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.markets.models import Claim, Domain
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from apps.reputation.models import Belief, ClaimRecord, Consensus, Reliability, Score
from tests import factories
from tests.markets_api.conftest import bearer, iso, new_claim, signed_in
from tests.reputation.conftest import resolve, state

__all__ = ["bearer", "buy", "close", "history", "iso", "new_claim", "resolve", "signed_in", "snapshot", "state"]


def buy(identity, claim, side, credits=1, belief=None, key=None):
    order = Order(kind="buy", side=side, amount=credits * CREDIT, belief=belief)
    return trade_place(identity=identity, claim=claim, order=order, idempotency_key=key or f"t:{claim.pk}:{side}")


def close(claim: Claim) -> None:
    """Time passes: the claim's closing time is behind us (the close task has not run yet)."""
    Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now() - timedelta(seconds=1))


def snapshot() -> dict:
    """Row counts of everything stating a belief can write."""
    return {
        model.__name__: model.objects.count() for model in (Belief, Consensus, Event, Score, Reliability, ClaimRecord)
    }


@pytest.fixture
def domain(db):
    return Domain.objects.get(slug="science")  # one of the default domains (created by a migration)


@pytest.fixture
def other_domain(db):
    return Domain.objects.get(slug="economics")


@pytest.fixture
def author(db):
    return factories.human()


@pytest.fixture
def resolver(db):
    """A verified identity that never forecasts: it proposes outcomes."""
    return factories.human()


@pytest.fixture
def claim(author, domain):
    return new_claim(author, domain)


@pytest.fixture
def alice_user(db):
    return factories.verified_user()


@pytest.fixture
def alice(alice_user):
    return factories.human(alice_user)


@pytest.fixture
def alice_client(alice_user) -> Client:
    return signed_in(alice_user)


@pytest.fixture
def bot(alice_user):
    """Alice's agent (unfunded: it states beliefs, which cost nothing)."""
    return factories.agent(alice_user, handle="alice-bot", model_version="v1")


@pytest.fixture
def bot_token(bot):
    return factories.api_key(bot, scopes=["read", "trade"])


def history(
    forecasts: dict, author, domain, resolver, *, outcome: str = "yes", claims: int = 1, title: str | None = None
) -> list[Claim]:
    """`claims` new claims in `domain` ("Will science claim 1 hold?", … or all `title`), on each of which
    every identity in `forecasts` ({identity: probability}) states its probability while the price is 0.5;
    each then resolves `outcome` through the real path (close, propose, finalize, settle, score). The web
    pages' tests (tests/web/test_reputation_pages.py) build their histories with this too."""
    done = []
    for n in range(claims):
        # b = 10 credits (6.93 to open): the author's signup grant opens every claim a test builds.
        claim = new_claim(
            author, domain, title=title or f"Will {domain.slug} claim {n + 1} hold?", liquidity=10 * CREDIT
        )
        for identity, probability in forecasts.items():
            state(identity, claim, probability, key=f"history:{claim.pk}:{identity.pk}")
        done.append(resolve(claim, outcome, resolver))
    return done
