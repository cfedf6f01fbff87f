from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.ledger.models import Account, Entry, Transfer
from apps.ledger.services import wallet_fund_agent
from apps.markets.models import Claim, Clarification, Domain, Market, Position, PricePoint, Trade
from apps.markets.services import claim_create, claim_publish
from tests import factories

GRANT = 1000 * CREDIT
LIQUIDITY = 100 * CREDIT
SUBSIDY = 69_314_719  # ceil(100 credits * ln 2)
BOT_FUNDS = 200 * CREDIT


def iso(moment) -> str:
    """A datetime as the API writes it."""
    return DjangoJSONEncoder().default(moment)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def new_claim(
    author,
    domain,
    *,
    title="Will the experiment replicate?",
    tags=("Replication", "psychology"),
    liquidity=LIQUIDITY,
    closes_in=timedelta(days=7),
    publish=True,
) -> Claim:
    claim = claim_create(
        author=author,
        title=title,
        criteria="Resolves YES if the replication paper reports p < 0.05 by the close.",
        domain=domain,
        closes_at=timezone.now() + closes_in,
        resolve_by=timezone.now() + closes_in + timedelta(days=7),
        liquidity=liquidity,
        tags=list(tags),
    )
    if publish:
        claim_publish(claim=claim, actor=author)
    return Claim.objects.get(pk=claim.pk)


def close(claim) -> None:
    """Time passes: the claim's closing time is behind us (the close task has not run yet)."""
    Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now() - timedelta(seconds=1))


def snapshot() -> dict:
    """Row counts of everything a claim or a trade can write."""
    models = (Claim, Market, Clarification, Trade, Position, PricePoint, Transfer, Entry, Account, Event)
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def domain(db):
    return Domain.objects.get(slug="science")  # one of the default domains (created by a migration)


@pytest.fixture
def author_user(owner):
    return owner


@pytest.fixture
def author(author_user):
    return factories.human(author_user)


@pytest.fixture
def author_client(owner_client):
    return owner_client


@pytest.fixture
def claim(author, domain):
    return new_claim(author, domain)


@pytest.fixture
def trader_user(db):
    return factories.verified_user()


@pytest.fixture
def trader(trader_user):
    return factories.human(trader_user)


@pytest.fixture
def trader_client(trader_user):
    return signed_in(trader_user)


@pytest.fixture
def bot(trader_user):
    """The trader's agent, funded with 200 credits."""
    agent = factories.agent(trader_user, handle="trader-bot")
    wallet_fund_agent(owner=trader_user, agent=agent, amount=BOT_FUNDS, idempotency_key="fund-bot")
    return agent


@pytest.fixture
def bot_token(bot):
    return factories.api_key(bot, scopes=["read", "trade"])
