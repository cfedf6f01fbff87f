from decimal import Decimal

import pytest

from apps.reputation.models import ClaimRecord, Consensus, Reliability, Score
from apps.reputation.selectors import consensus_compute
from apps.reputation.services import consensus_refresh
from tests import factories
from tests.factories import buy, new_claim, resolve, state


@pytest.mark.django_db
def test_a_claim_from_beliefs_to_scores(author, domain, resolver):
    claim = new_claim(author, domain)
    alice, bob = factories.human(), factories.human()
    state(alice, claim, Decimal("0.8"))
    buy(bob, claim, "yes", credits=5)
    consensus = consensus_refresh(claim=claim)
    assert consensus.contributors == 2
    resolve(claim, "yes", resolver)
    assert Score.objects.filter(claim=claim).count() == 2
    assert ClaimRecord.objects.get(claim=claim).scored == 2
    assert Reliability.objects.filter(identity=alice).count() == 2
    view = consensus_compute(claim, explain=True)
    assert len(view.contributors) == 2
    assert Consensus.objects.get(claim=claim).probability == consensus.probability == Decimal("0.67732")
