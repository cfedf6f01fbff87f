"""16 reviewers taking from one queue of 10,000 requests at once (`review_take_next`: SELECT ... FOR NO KEY UPDATE
SKIP LOCKED over the requests offered to each): claims per second, and zero double assignments.

Each request needs three distinct staff reviewers, so the queue is drained by 30,000 takes. The requests are
written in bulk (the bench measures taking, not opening); every take is a real lease through the service, in
its own transaction, from 16 threads with a connection each. Afterwards the database must hold exactly three
live leases per request, three distinct reviewers each, and no request with a negative seat count.

Knobs (environment): BENCH_QUEUE_REQUESTS (default 10000), BENCH_QUEUE_REVIEWERS (default 16).
"""

import os
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from apps.reviews import services
from apps.reviews.models import Agreement, Pool, ReviewAssignment, ReviewRequest, TimeoutAction
from tests import factories
from tests.bench.harness import env_number, print_table

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = int(env_number("BENCH_QUEUE_REQUESTS", 10_000))
REVIEWERS = int(env_number("BENCH_QUEUE_REVIEWERS", 16))
SEATS = 3


def test_sixteen_reviewers_drain_a_queue_of_ten_thousand_requests():
    asker = factories.funded_agent(handle="queue-bench-bot")
    staff = [factories.staff_member() for _ in range(REVIEWERS)]
    due = timezone.now() + timedelta(days=1)
    ReviewRequest.objects.bulk_create(
        ReviewRequest(
            checkpoint="explicit",
            requester=asker,
            subject=f"identity:{asker.pk}",
            question=f"Question {n}?",
            payload={"context": {"n": n}},
            decisions=["answer"],
            answer_schema={"type": "string"},
            reviewers_required=SEATS,
            agreement=Agreement.MAJORITY,
            pool=Pool.STAFF,
            pool_min_level="email_verified",
            seats_open=SEATS,
            due_at=due,
            on_timeout=TimeoutAction.ANSWER,
            idempotency_key=f"queue-bench-{n}",
            body_sha256="0" * 64,
        )
        for n in range(REQUESTS)
    )
    taken = [0] * REVIEWERS
    errors: list[BaseException] = []
    start = threading.Barrier(REVIEWERS)

    def reviewer(i: int) -> None:
        try:
            start.wait()
            while services.review_take_next(reviewer=staff[i]) is not None:
                taken[i] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(REVIEWERS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    assert errors == []

    total = sum(taken)
    per_request = ReviewAssignment.objects.values("request_id").annotate(
        leases=Count("id"), reviewers=Count("reviewer_id", distinct=True)
    )
    shapes = {(row["leases"], row["reviewers"]) for row in per_request}
    print_table(
        f"The review queue: {REVIEWERS} reviewers taking from {REQUESTS:,} requests of {SEATS} seats "
        f"(cpus: {os.cpu_count()})",
        ["takes", "seconds", "takes/s", "per reviewer (min / max)", "requests x (leases, distinct reviewers)"],
        [[f"{total:,}", f"{seconds:.1f}", f"{total / seconds:,.0f}", f"{min(taken):,} / {max(taken):,}", str(shapes)]],
    )
    print(f"  double assignments: {sum(1 for row in per_request if row['leases'] != row['reviewers'])}")
    # every request was taken by exactly three distinct reviewers, none twice, no seat below zero
    assert total == REQUESTS * SEATS
    assert shapes == {(SEATS, SEATS)}
    assert per_request.count() == REQUESTS
    assert not ReviewRequest.objects.filter(seats_open__lt=0).exists()
    assert set(ReviewRequest.objects.values_list("seats_open", flat=True)) == {0}
