from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.markets.models import Domain
from apps.markets.services import claim_create, claim_publish
from tests import factories

LIQUIDITY = 100 * CREDIT


@pytest.fixture
def domain(db):
    return Domain.objects.get_or_create(slug="science", defaults={"name": "Science"})[0]


def make_claim(author, domain, *, publish=True, liquidity=LIQUIDITY, closes_in=timedelta(days=7)):
    claim = claim_create(
        author=author,
        title="Will the experiment replicate?",
        criteria="Resolves YES if the replication paper reports p < 0.05 by the close.",
        domain=domain,
        closes_at=timezone.now() + closes_in,
        resolve_by=timezone.now() + closes_in + timedelta(days=7),
        liquidity=liquidity,
        tags=["Replication", "psychology"],
    )
    if publish:
        claim_publish(claim=claim, actor=author)
        claim.refresh_from_db()
    return claim


@pytest.fixture
def author(db):
    return factories.human()


@pytest.fixture
def claim(author, domain):
    return make_claim(author, domain)


@pytest.fixture
def trader(db):
    return factories.human()
