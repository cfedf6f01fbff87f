"""The reputation admin: read-only pages whose query count does not grow with their rows."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.reputation.models import Belief, Calibration, ClaimRecord, Reliability, Score
from tests import factories
from tests.factories import new_claim, resolve, state

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/reputation/belief/",
    "/admin/reputation/score/",
    "/admin/reputation/reliability/",
    "/admin/reputation/calibration/",
    "/admin/reputation/agreement/",
    "/admin/reputation/consensus/",
    "/admin/reputation/claimrecord/",
    "/admin/reputation/extremizingfit/",
]


@pytest.fixture
def moderator_client():
    moderator = User.objects.create_superuser(email="mod@example.com", password=factories.PASSWORD)
    client = Client()
    client.force_login(moderator)
    return client


def _resolved_claims(n: int) -> None:
    domain = factories.domain()
    author, resolver = factories.human(), factories.human()
    for i in range(n):
        claim = new_claim(author, domain)
        for j in range(2):
            state(factories.human(), claim, Decimal("0.7"), key=f"admin-{i}-{j}")
        resolve(claim, "yes", resolver)


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_reputation_changelists_do_not_query_per_row(moderator_client):
    _resolved_claims(1)
    few = {url: _queries(moderator_client, url) for url in PAGES}
    _resolved_claims(3)
    assert (Score.objects.count(), ClaimRecord.objects.count(), Belief.objects.count()) == (8, 4, 8)
    assert {url: _queries(moderator_client, url) for url in PAGES} == few


def test_reputation_is_read_only_in_the_admin(moderator_client):
    _resolved_claims(1)
    row = Reliability.objects.first()
    assert moderator_client.get("/admin/reputation/belief/add/").status_code == 403
    response = moderator_client.post(f"/admin/reputation/reliability/{row.pk}/change/", {"n": 99})
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.n == 1
    calibration = Calibration.objects.first()
    before = (calibration.claims, calibration.factor, calibration.loglik)
    assert moderator_client.get(f"/admin/reputation/calibration/{calibration.pk}/change/").status_code == 200
    response = moderator_client.post(f"/admin/reputation/calibration/{calibration.pk}/change/", {"factor": 9})
    assert response.status_code == 403
    calibration.refresh_from_db()
    assert (calibration.claims, calibration.factor, calibration.loglik) == before
