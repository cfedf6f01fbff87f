import pytest

from apps.markets.models import ClaimStatus
from apps.markets.tasks import close_due, finalize_due
from config.celery import app
from tests import factories

pytestmark = pytest.mark.django_db


def test_beat_schedules_registered_tasks():
    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks


def test_the_sweeps_close_finalize_and_settle(author, domain):
    claim = factories.new_claim(author, domain)
    factories.closing_time_passes(claim)
    assert close_due() == 1
    factories.propose(claim, "yes", evidence="It happened.")
    assert finalize_due() == {"finalized": 0, "settled": 0}  # the window is open
    factories.challenge_window_passes(claim)
    assert finalize_due() == {"finalized": 1, "settled": 1}
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_YES and claim.settled_at is not None
    assert finalize_due() == {"finalized": 0, "settled": 0}  # idempotent
