from datetime import timedelta

import pytest
from django.utils import timezone

from apps.markets.models import Claim, ClaimStatus, Resolution
from apps.markets.resolution import resolution_propose
from apps.markets.tasks import close_due, finalize_due
from config.celery import app
from tests import factories
from tests.markets.conftest import make_claim

pytestmark = pytest.mark.django_db


def test_beat_schedules_registered_tasks():
    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks


def test_the_sweeps_close_finalize_and_settle(author, domain):
    claim = make_claim(author, domain)
    Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    assert close_due() == 1
    resolution_propose(claim=claim, proposer=factories.human(), outcome="yes", evidence="It happened.")
    assert finalize_due() == {"finalized": 0, "settled": 0}  # the window is open
    Resolution.objects.filter(claim=claim).update(challenge_deadline=timezone.now() - timedelta(seconds=1))
    assert finalize_due() == {"finalized": 1, "settled": 1}
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_YES and claim.settled_at is not None
    assert finalize_due() == {"finalized": 0, "settled": 0}  # idempotent
