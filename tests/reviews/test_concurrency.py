"""Reviews under real concurrency on PostgreSQL: 16 people taking from one queue at once, one person deciding
twice at once, two sweeps at once. Each thread has its own connection and its own transactions, so the row
locks (FOR NO KEY UPDATE, SKIP LOCKED) are what keeps each change applied exactly once."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Count, F, Q
from django.utils import timezone

from apps.accounts.models import VerificationLevel
from apps.core.amounts import CREDIT
from apps.ledger.models import Account, Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance
from apps.reviews import services, tasks
from apps.reviews.errors import LeaseExpired, ReviewClosed
from apps.reviews.models import ReviewAssignment, ReviewDecision, ReviewEvent, ReviewRequest
from tests import factories
from tests.support import race

pytestmark = pytest.mark.django_db(transaction=True)

REVIEWERS = 16
REQUESTS = 40
PANEL = 3
PRICE = 3 * CREDIT  # one credit to each of the three who decide
YES_NO = {"enum": ["yes", "no"]}


@pytest.fixture
def queued(monkeypatch):
    """The continuations queued after commit (one per finished request), recorded instead of sent to a broker."""
    calls: list[int] = []
    lock = threading.Lock()

    def record(request_id: int) -> None:
        with lock:
            calls.append(request_id)

    monkeypatch.setattr(tasks, "review_resume_soon", record)
    return calls


def ask(requester, key: str, *, pool="panel", required=PANEL, agreement="unanimous", timeout=3600, on_time=None):
    return factories.question(
        requester,
        key=key,
        question="Is the source reliable?",
        context={"key": key},
        answer_schema=YES_NO,
        pool=pool,
        reviewers_required=required,
        agreement=agreement,
        timeout_seconds=timeout,
        timeout_answer=on_time,
        price=PRICE,
    )


def verified_humans(n: int):
    people = [factories.human() for _ in range(n)]
    for person in people:
        person.user.verification_level = VerificationLevel.VERIFIED_HUMAN
        person.user.save(update_fields=["verification_level"])
    return people


def test_sixteen_reviewers_fill_every_panel_with_three_distinct_people(settings, queued):
    # given 40 questions, each to a panel of 3 that must agree, and 16 people invited to every panel
    settings.CREDENCE_REVIEW_PANEL_INVITED = REVIEWERS
    bot = factories.funded_agent(handle="asking-bot")
    reviewers = verified_humans(REVIEWERS)
    requests = [ask(bot, f"q-{n}") for n in range(REQUESTS)]
    assert all(r.invitations.count() == REVIEWERS for r in requests)

    # when all 16 take the next one and answer it, at once, until nothing is left for them; a taker can find
    # nothing while the rest are locked by others (SKIP LOCKED), so rounds go on while a round took something.
    # Meanwhile a 17th thread reads the books: in every committed state, each request's open seats and its
    # live assignments (leased or decided) add up to the panel, never more.
    def work(i: int) -> int:
        taken = 0
        while (assignment := services.review_take_next(reviewer=reviewers[i])) is not None:
            services.review_decide(assignment_id=assignment.pk, reviewer=reviewers[i], kind="answer", value="yes")
            taken += 1
        return taken

    live = Count("assignments", filter=Q(assignments__state__in=["leased", "decided"]))
    books = ReviewRequest.objects.annotate(live=live).exclude(seats_open=F("reviewers_required") - F("live"))

    def watch(working: list[int]) -> list[tuple]:
        wrong: list[tuple] = []
        while working:
            wrong += books.values_list("pk", "seats_open", "live")  # one statement: one committed state
        return wrong

    rounds = []
    while not rounds or (rounds[-1] and ReviewRequest.objects.filter(seats_open__gt=0).exists()):
        working = list(range(REVIEWERS))

        def take_or_watch(i: int, working=working):
            if i == REVIEWERS:
                return watch(working)
            try:
                return work(i)
            finally:
                working.remove(i)

        *results, wrong = race(REVIEWERS + 1, take_or_watch)
        assert [r for r in [*results, wrong] if isinstance(r, Exception)] == []
        assert wrong == []
        rounds.append(sum(results))
    assert sum(rounds) == REQUESTS * PANEL

    # then every request was answered by exactly three distinct people, and none was ever over-assigned
    assert not ReviewRequest.objects.filter(seats_open__gt=0).exists()
    assert sorted(ReviewRequest.objects.values_list("state", flat=True)) == ["answered"] * REQUESTS
    assert not ReviewAssignment.objects.exclude(state="decided").exists()
    seated = ReviewAssignment.objects.values("request").annotate(n=Count("id"), people=Count("reviewer", distinct=True))
    assert sorted((row["n"], row["people"]) for row in seated) == [(PANEL, PANEL)] * REQUESTS
    for review in ReviewRequest.objects.all():
        assert len(review.outcome["decided_by"]) == len(set(review.outcome["decided_by"])) == PANEL
    assert ReviewDecision.objects.count() == REQUESTS * PANEL
    # each decision paid its reviewer one credit, each price once; each continuation was queued once
    decided = Counter(ReviewDecision.objects.values_list("reviewer_id", flat=True))
    assert {p.pk: wallet_balance(p) for p in reviewers} == {
        p.pk: factories.GRANT + decided[p.pk] * CREDIT for p in reviewers
    }
    assert Transfer.objects.filter(kind="review_price_paid").count() == REQUESTS
    assert sorted(queued) == sorted(r.pk for r in requests)
    assert ledger_verify_report().ok


@pytest.mark.parametrize(
    ("pool", "required", "agreement", "loser", "state"),
    [
        # the owner answers alone: the first decision ends the request, the second finds it closed
        ("owner", 1, "first", ReviewClosed, "answered"),
        # one of a panel of three: the request stays open, the second finds the lease already decided
        ("panel", PANEL, "majority", LeaseExpired, "assigned"),
    ],
)
def test_two_decisions_racing_on_one_assignment_record_one(queued, pool, required, agreement, loser, state):
    bot = factories.funded_agent(handle="asking-bot")
    owner = factories.human(bot.owner)
    reviewer = owner if pool == "owner" else verified_humans(1)[0]
    for attempt in range(5):  # a few times over: each race is another chance for the two to overlap
        review = ask(bot, f"twice-{attempt}", pool=pool, required=required, agreement=agreement)
        assignment = services.review_take_next(reviewer=reviewer)
        assert assignment.request_id == review.pk

        # when the same person submits the same answer twice, from two threads at once
        results = race(
            2,
            lambda i, pk=assignment.pk: services.review_decide(
                assignment_id=pk, reviewer=reviewer, kind="answer", value="yes"
            ),
        )

        # then one decision is recorded and the other is refused
        assert sorted(type(r).__name__ for r in results) == sorted(["ReviewRequest", loser.__name__])
        assert ReviewDecision.objects.filter(assignment=assignment).count() == 1
        assert ReviewEvent.objects.filter(request=review, kind="decided").count() == 1
        review.refresh_from_db()
        assert review.state == state
        assert ReviewAssignment.objects.get(pk=assignment.pk).state == "decided"
        if state == "answered":  # the price paid once, to the owner
            assert Transfer.objects.filter(idempotency_key=f"review:{review.pk}:settle").count() == 1
            assert Account.objects.get(pk=review.escrow_id).balance == 0
        else:
            assert (review.seats_open, Account.objects.get(pk=review.escrow_id).balance) == (PANEL - 1, PRICE)
    if pool == "owner":
        assert wallet_balance(owner) == factories.GRANT - factories.BOT_FUNDS + 5 * PRICE
        assert len(queued) == 5
    assert ledger_verify_report().ok


def _lapsed_and_due(bot, owner):
    """10 questions due in an hour and 10 due in ten minutes (4 of which escalate on timeout), each priced 3
    credits; the owner took all 10 soon due and 6 of the others. Returns them and the requests' taken leases."""
    lapsed = [ask(bot, f"lapsed-{n}", pool="owner", required=1, agreement="first") for n in range(10)]
    due = [
        ask(bot, f"due-{n}", pool="owner", required=1, agreement="first", timeout=600, on_time="no") for n in range(6)
    ]
    escalating = [
        services.review_request_open(
            checkpoint="explicit",
            requester=bot,
            subject=f"identity:{bot.pk}",
            payload={"n": n},
            idempotency_key=f"escalating-{n}",
            decisions=["approve", "reject"],
            reviewers_required=1,
            agreement="first",
            pool="owner",
            timeout_seconds=600,
            on_timeout="escalate",
            price=PRICE,
        )
        for n in range(4)
    ]
    taken = [services.review_take_next(reviewer=owner) for _ in range(16)]  # soonest due first
    assert all(taken) and len({a.request_id for a in taken}) == 16
    return lapsed, due, escalating, taken


def _timed_out_once(bot, before: int, lapsed, due, escalating, queued) -> None:
    """Each request past due finished once (timed out or escalated), each price went back (or on) once, each
    continuation was queued once; the others wait again."""
    due_pks = {r.pk for r in [*due, *escalating]}
    timeouts = ReviewEvent.objects.filter(Q(kind="timed_out") | Q(kind="escalated"))
    assert Counter(timeouts.values_list("request_id", flat=True)) == {pk: 1 for pk in due_pks}
    assert sorted(ReviewRequest.objects.filter(pk__in=due_pks).values_list("state", flat=True)) == (
        ["escalated"] * 4 + ["timed_out"] * 6
    )
    assert set(ReviewRequest.objects.filter(pk__in=[r.pk for r in lapsed]).values_list("state", flat=True)) == {
        "pending"
    }
    returned = Transfer.objects.filter(kind="review_price_returned")
    assert Counter(returned.values_list("idempotency_key", flat=True)) == {f"review:{r.pk}:settle": 1 for r in due}
    assert wallet_balance(bot) == before + 6 * PRICE
    successors = ReviewRequest.objects.filter(escalated_from__in=escalating)
    assert sorted(successors.values_list("escalated_from_id", flat=True)) == sorted(r.pk for r in escalating)
    assert [Account.objects.get(pk=s.escrow_id).balance for s in successors] == [PRICE] * 4
    assert sorted(queued) == sorted(due_pks)
    assert ledger_verify_report().ok


def test_two_sweeps_racing_never_apply_an_expiry_or_a_timeout_twice(queued):
    # given leases that lapsed and requests past due (see _lapsed_and_due)
    bot = factories.funded_agent(handle="asking-bot")
    lapsed, due, escalating, _ = _lapsed_and_due(bot, factories.human(bot.owner))
    before = wallet_balance(bot)
    later = timezone.now() + timedelta(seconds=services.settings.CREDENCE_REVIEW_LEASE_SECONDS + 1)

    # when two sweeps run at once, past every lease and every due time, and one more sweep after them
    reports = race(2, lambda i: services.reviews_sweep(now=later))
    assert [r for r in reports if isinstance(r, Exception)] == []
    reports.append(services.reviews_sweep(now=later))

    # then no lease expired twice and none is left leased; no request timed out twice and none is left due
    assert sum(r["timed_out"] for r in reports) == 10
    expiries = Counter(ReviewEvent.objects.filter(kind="lease_expired").values_list("detail__assignment", flat=True))
    assert set(expiries.values()) <= {1} and sum(r["leases_expired"] for r in reports) == sum(expiries.values())
    assert not ReviewAssignment.objects.filter(state="leased").exists()
    _timed_out_once(bot, before, lapsed, due, escalating, queued)


def test_two_sweeps_racing_apply_each_expiry_and_each_timeout_once(queued):
    # given leases that lapsed and requests past due (see _lapsed_and_due)
    bot = factories.funded_agent(handle="asking-bot")
    lapsed, due, escalating, taken = _lapsed_and_due(bot, factories.human(bot.owner))
    before = wallet_balance(bot)
    later = timezone.now() + timedelta(seconds=services.settings.CREDENCE_REVIEW_LEASE_SECONDS + 1)

    # when two sweeps run at once, past every lease and every due time
    reports = race(2, lambda i: services.reviews_sweep(now=later))

    # then between them they expired each lease once and timed out each request once: none was left over
    assert [r for r in reports if isinstance(r, Exception)] == []
    assert sum(r["leases_expired"] for r in reports) == 16
    assert sum(r["timed_out"] for r in reports) == 10
    assert sorted(ReviewAssignment.objects.values_list("state", flat=True)) == ["expired"] * 16
    expiries = Counter(ReviewEvent.objects.filter(kind="lease_expired").values_list("detail__assignment", flat=True))
    assert expiries == {a.pk: 1 for a in taken}
    _timed_out_once(bot, before, lapsed, due, escalating, queued)
