"""A real Celery worker resumes decided reviews: the continuation runs once after a decision (delivered twice,
it still acts once), and once when the worker's pool process is killed in the middle of it and the task is
delivered again (acks_late, reject_on_worker_lost). The worker reads the test database, so the test commits
its rows (transaction=True); the continuation it runs is tests/reviews/worker_continuations.py."""

import os
import re
import signal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

from apps.reviews import services, tasks
from apps.reviews.models import ReviewEvent, ReviewRequest
from tests import factories
from tests.reviews import worker_continuations as continuations
from tests.support import celery_worker, routed, worker_result, worker_wait

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]


def _test_database_url() -> str:
    """DATABASE_URL naming the database this test writes to (pytest-django's test_<name>), for the worker."""
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/credence"))
    return url._replace(path=f"/{connection.settings_dict['NAME']}").geturl()


@pytest.fixture(autouse=True)
def _registered():
    continuations.register()
    yield
    continuations.unregister()


@pytest.fixture
def worker(tmp_path, transactional_db):
    """A worker (tests/support.py) with the test continuation included, reading this test's database;
    `reviews.resume` is routed to its queue, so the decision's own enqueue goes there."""
    log_path = tmp_path / "worker.log"
    env = {"DATABASE_URL": _test_database_url(), "CREDENCE_TEST_WORKER": "1"}
    with (
        celery_worker(log_path, include=(continuations.__name__,), env=env) as (proc, queue),
        routed("reviews.resume", queue),
    ):
        yield proc, queue, log_path


def paused_and_decided(tmp_path: Path) -> tuple[ReviewRequest, Path, Path]:
    """An agent's action paused at the test checkpoint, approved by its owner: committed, so the decision's
    continuation is queued (to the worker) as it commits. Returns the request, its attempts file and gate."""
    attempts, gate = tmp_path / "attempts", tmp_path / "gate"
    bot = factories.agent(handle="paused-bot")
    review = factories.paused(
        bot,
        checkpoint=continuations.CHECKPOINT,
        subject="test:worker",
        payload={"attempts": str(attempts), "gate": str(gate)},
        key="worker-1",
        continuation=continuations.CONTINUATION,
    )
    owner = factories.human(bot.owner)
    assignment = services.review_take_next(reviewer=owner)
    services.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="approve")
    return review, attempts, gate


def deliveries(log_path: Path) -> list[str]:
    """The ids of the reviews.resume tasks the worker received, in order."""
    return re.findall(r"Task reviews\.resume\[([0-9a-f-]+)\] received", log_path.read_text())


def attempts_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def resumed(review: ReviewRequest) -> ReviewRequest | None:
    return ReviewRequest.objects.filter(pk=review.pk, resumed_at__isnull=False).first()


def effects(review: ReviewRequest) -> list[dict]:
    return list(ReviewEvent.objects.filter(request=review, kind=continuations.EFFECT).values_list("detail", flat=True))


def test_a_decided_requests_continuation_runs_once_in_the_worker_even_delivered_twice(worker, tmp_path):
    proc, queue, log_path = worker
    # given a paused action approved by its owner (the decision queued its continuation as it committed)
    review, attempts, _ = paused_and_decided(tmp_path)

    # when the continuation is delivered a second time, and the worker has run both deliveries
    again = tasks.resume.apply_async(args=[review.pk], queue=queue)
    worker_result(again, proc, log_path)
    done = worker_wait(lambda: resumed(review), proc, log_path, "the request resumed")

    # then the continuation ran once, in the worker's pool process, and its effect is there once
    [pid] = attempts_in(attempts)
    assert pid != proc.pid
    assert effects(review) == [{"pid": pid}]
    assert done.resume_result == {"continued": True, "pid": pid}
    assert done.state == "approved"
    assert list(ReviewEvent.objects.filter(request=review, kind="resumed").values_list("detail", flat=True)) == [
        {"result": {"continued": True, "pid": pid}}
    ]
    # both deliveries came to this worker: the decision's own, routed to its queue, and the second one
    first, second = deliveries(log_path)
    assert first != again.id and second == again.id


def test_a_continuation_killed_midway_is_delivered_again_and_acts_once(worker, tmp_path):
    proc, _, log_path = worker
    # given a slow continuation (it waits while the gate file exists), started by the worker's pool process
    (tmp_path / "gate").touch()
    review, attempts, gate = paused_and_decided(tmp_path)
    [first] = worker_wait(lambda: attempts_in(attempts), proc, log_path, "the continuation started")
    assert first != proc.pid

    # when the pool process is killed in the middle of it
    os.kill(first, signal.SIGKILL)

    # then the worker starts another pool process and the task is delivered to it again (the lost one was
    # rejected back to the queue): it starts over, and nothing of the killed attempt was kept
    first_again, second = worker_wait(
        lambda: attempts_in(attempts)[:2] if len(attempts_in(attempts)) >= 2 else None,
        proc,
        log_path,
        "the continuation delivered again",
    )
    assert first_again == first and second not in (first, proc.pid)
    assert effects(review) == [] and resumed(review) is None
    gate.unlink()
    done = worker_wait(lambda: resumed(review), proc, log_path, "the request resumed")
    assert attempts_in(attempts) == [first, second]
    assert effects(review) == [{"pid": second}]
    assert done.resume_result == {"continued": True, "pid": second}
    assert "WorkerLostError" in log_path.read_text()
    delivered, delivered_again = deliveries(log_path)
    assert delivered == delivered_again  # the same task, rejected back to the queue when its process was lost
