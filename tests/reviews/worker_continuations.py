"""A checkpoint and its continuation for tests/reviews/test_worker.py, registered both in the test process and
in the Celery worker that test starts (`celery worker -I tests.reviews.worker_continuations`).

The continuation notes each attempt in the file the request's payload names (outside the database: an attempt
killed midway still shows), waits while the gate file exists, then writes its effect, an event on the
request, inside the transaction that marks the request resumed: an attempt killed midway leaves no effect."""

import os
import time
from pathlib import Path

from apps.reviews import checkpoints

CHECKPOINT = "test.worker"
CONTINUATION = "test.worker.resume"
EFFECT = "test.worker.effect"
GATE_WAIT_SECONDS = 60  # a bound, so a test that forgets its gate cannot hang a worker for long


def resume(request) -> dict:
    from apps.reviews.models import ReviewEvent

    with Path(request.payload["attempts"]).open("a") as attempts:
        attempts.write(f"{os.getpid()}\n")
    gate = Path(request.payload["gate"])
    deadline = time.monotonic() + GATE_WAIT_SECONDS
    while gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    ReviewEvent.objects.create(request=request, kind=EFFECT, detail={"pid": os.getpid()})
    return {"pid": os.getpid()}


def register() -> None:
    checkpoints.register(checkpoints.Checkpoint(name=CHECKPOINT, label="A pause a test's Celery worker resumes"))
    checkpoints.continuation(CONTINUATION)(resume)


def unregister() -> None:
    checkpoints.CHECKPOINTS.pop(CHECKPOINT, None)
    checkpoints.CONTINUATIONS.pop(CONTINUATION, None)


# In the worker (started with -I this module and CREDENCE_TEST_WORKER=1) at import; in the test process only
# while test_worker.py's tests run, so other tests see the registries as the apps leave them.
if os.environ.get("CREDENCE_TEST_WORKER") == "1":
    register()
