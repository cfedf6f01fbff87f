"""Random lives of review requests — asked and paused, taken, let lapse, decided (every kind, allowed or not),
timed out, escalated, cancelled, resumed — against a model of what each should do, with every invariant
checked after every step: a request ends in one final state and stays there, a timeout is never a
rejection, its price is paid or returned exactly once, credit is conserved, a continuation runs at most once.

Every action goes through its service. Time passes on a simulated clock: the sweep is called with a `now`
past a lease or a due time (the services that take and decide read the real clock, which barely moves in an
example). Each example runs inside a savepoint rolled back at teardown, so examples cannot see each other.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from apps.core.amounts import CREDIT
from apps.core.errors import ApplicationError, NotFound
from apps.identities.models import Identity, IdentityKind
from apps.ledger.errors import IdempotencyConflict, InsufficientCredit
from apps.ledger.models import Account, AccountKind, Entry, Transfer
from apps.ledger.selectors import ledger_verify_report
from apps.reviews import checkpoints, services, tasks
from apps.reviews.errors import (
    AssignmentNotFound,
    DecisionInvalid,
    DecisionNotAllowed,
    LeaseExpired,
    NotAReviewer,
    ReviewClosed,
)
from apps.reviews.models import (
    ReviewAssignment,
    ReviewDecision,
    ReviewEvent,
    ReviewInvitation,
    ReviewRequest,
)
from tests import factories

pytestmark = pytest.mark.django_db

CHECKPOINT = "test.machine"
CONTINUATION = "test.machine.resume"
YES_NO = {"enum": ["yes", "no"]}
EDIT_SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "integer", "minimum": 1, "maximum": 100}},
    "required": ["amount"],
    "additionalProperties": False,
}
OPEN = ("pending", "assigned")
STATE_OF = {"approve": "approved", "edit": "edited", "reject": "rejected", "answer": "answered"}
LEASE = timedelta(seconds=django_settings.CREDENCE_REVIEW_LEASE_SECONDS)
GRACE = timedelta(seconds=django_settings.CREDENCE_REVIEW_RESUME_GRACE_SECONDS)
STAFF_TIMEOUT = timedelta(seconds=django_settings.CREDENCE_REVIEW_STAFF_TIMEOUT_SECONDS)

PICK = st.integers(0, 50)  # taken modulo the number of requests, leases or people in the example
# Mostly affordable; an odd amount splits with a remainder; 250 credits is more than a 200-credit bot holds.
PRICE = st.sampled_from([0, 1, CREDIT, CREDIT, 3 * CREDIT + 1, 3 * CREDIT + 1, 0, 250 * CREDIT])
HELD = st.sampled_from([0, 0, 5 * CREDIT])
ANY_ONE = st.sampled_from([False, False, False, True])  # now and then a rule picks outside its usual targets
TIMEOUT = st.sampled_from([600, 3600])  # shorter and longer than a lease (15 minutes)
POOL = st.sampled_from(["owner", "panel"])
AGREEMENT = st.sampled_from(["first", "majority", "unanimous"])
DECISIONS = st.sampled_from([["approve", "reject"], ["approve", "edit", "reject"], ["edit", "reject"], ["approve"]])
# A reason that strips to nothing is no reason; one over 2,000 characters is refused.
REASON = st.sampled_from(["", "  ", "The source says so.", "x" * (services.REASON_MAX + 1)])


@dataclass
class Lease:
    pk: int
    request: int
    reviewer: int
    expires_at: datetime
    state: str = "leased"


@dataclass
class Asked:
    """The model of one request: what it was asked with, and what the services should have made of it."""

    pk: int
    requester: int
    pool: str
    pool_user: int | None
    invited: set[int]
    required: int
    agreement: str
    decisions: list[str]
    on_timeout: str
    timeout_answer: object
    price: int
    held: int
    continuation: str
    due_at: datetime
    chain: int  # the first request of its escalation chain
    seats: int = 0
    state: str = "pending"
    outcome: dict | None = None
    verdicts: list[tuple[int, str, object, str]] = field(default_factory=list)  # reviewer, kind, value, reason
    timed_out: bool = False
    resumed: bool = False
    successor: int | None = None

    def __post_init__(self) -> None:
        self.seats = self.required

    @property
    def is_open(self) -> bool:
        return self.state in OPEN

    @property
    def settles(self) -> int:
        """How many transfers settle its escrow (pay, return or carry): one when anything was there to move."""
        if self.is_open:
            return 0
        if self.state == "escalated":
            return int(bool(self.price + self.held))
        return int(bool(self.price))

    @property
    def escrow(self) -> int:
        """What its escrow should hold: everything while open; what the paused work may spend until it resumes
        (an escalated request's successor carries both)."""
        if self.is_open:
            return self.price + self.held
        if self.state == "escalated" or self.resumed:
            return 0
        return self.held


def _verdict(kind: str, value) -> tuple[str, str]:
    """Two decisions agree when they are the same kind and, for an edit or an answer, the same value."""
    return kind, json.dumps(value, sort_keys=True) if kind in ("edit", "answer") else ""


class ReviewMachine(RuleBasedStateMachine):
    bot_pks: list[int]  # agents with 200 credits, each of another owner
    human_pks: list[int]  # the bots' owners, three reviewers and a staff member
    calls: list[tuple[int, str]]  # the test continuation's calls: (request, state it saw)
    queued: list[int]  # the continuations the sweep queued again

    def __init__(self) -> None:
        super().__init__()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        self.calls.clear()
        self.queued.clear()
        self.bots = list(Identity.objects.filter(pk__in=self.bot_pks).order_by("pk"))
        self.humans = list(Identity.objects.select_related("user").filter(pk__in=self.human_pks).order_by("pk"))
        people = [*self.bots, *self.humans]
        self.balances = {
            identity_pk: balance
            for identity_pk, balance in Account.objects.filter(
                kind=AccountKind.WALLET, identity__in=people
            ).values_list("identity_id", "balance")
        }
        self.requests: dict[int, Asked] = {}
        self.leases: list[Lease] = []
        self.finals: dict[int, str] = {}
        self.n = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    # --- helpers ---------------------------------------------------------------------------------

    def _key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def _human(self, index: int) -> Identity:
        return self.humans[index % len(self.humans)]

    def _request(self, index: int, prefer=None) -> Asked:
        """The index-th request among those `prefer` holds for, or among all if none does (or prefer is None)."""
        requests = list(self.requests.values())
        preferred = [r for r in requests if prefer(r)] if prefer else []
        requests = preferred or requests
        return requests[index % len(requests)]

    def _snapshot(self) -> tuple:
        return (
            {model.__name__: model.objects.count() for model in (ReviewRequest, ReviewAssignment, ReviewDecision)},
            {model.__name__: model.objects.count() for model in (ReviewEvent, ReviewInvitation, Transfer, Entry)},
            dict(Account.objects.values_list("pk", "balance")),
            list(ReviewRequest.objects.order_by("pk").values_list("state", "seats_open", "outcome", "resumed_at")),
            list(ReviewAssignment.objects.order_by("pk").values_list("state", "finished_at")),
        )

    def _refused(self, error: type[ApplicationError], action) -> None:
        """The service refuses with `error` and writes nothing at all."""
        before = self._snapshot()
        with pytest.raises(error):
            action()
        assert self._snapshot() == before

    def _open(
        self,
        requester: Identity,
        opened: ReviewRequest,
        *,
        pool,
        required,
        agreement,
        decisions,
        on_timeout,
        timeout_answer,
        price,
        held,
        continuation,
    ) -> None:
        assert opened.replayed is False
        owner = requester.controller_id
        expected_invited = {h.pk for h in self.humans if h.user_id != owner} if pool == "panel" else set()
        invited = set(ReviewInvitation.objects.filter(request=opened).values_list("reviewer_id", flat=True))
        assert invited == expected_invited  # every person but the requester's own
        self.requests[opened.pk] = Asked(
            pk=opened.pk,
            requester=requester.pk,
            pool=pool,
            pool_user=owner if pool == "owner" else None,
            invited=invited,
            required=required,
            agreement=agreement,
            decisions=decisions,
            on_timeout=on_timeout,
            timeout_answer=timeout_answer,
            price=price,
            held=held,
            continuation=continuation,
            due_at=opened.due_at,
            chain=opened.pk,
        )
        self.balances[requester.pk] -= price + held

    def _finish(self, request: Asked, state: str, outcome: dict) -> None:
        request.state, request.outcome, request.seats = state, outcome, 0
        for lease in self.leases:
            if lease.request == request.pk and lease.state == "leased":
                lease.state = "closed"

    def _return_price(self, request: Asked) -> None:
        self.balances[request.requester] += request.price

    def _escalate(self, request: Asked, why: str) -> None:
        self._finish(request, "escalated", {"escalated": why})
        successor = ReviewRequest.objects.get(escalated_from_id=request.pk)
        on_timeout = "reject" if request.on_timeout == "escalate" else request.on_timeout
        assert (successor.pool, successor.state, successor.reviewers_required, successor.agreement) == (
            "staff",
            "pending",
            1,
            "first",
        )
        assert (successor.price, successor.held, successor.on_timeout, successor.continuation) == (
            request.price,
            request.held,
            on_timeout,
            request.continuation,
        )
        request.successor = successor.pk
        self.requests[successor.pk] = Asked(
            pk=successor.pk,
            requester=request.requester,
            pool="staff",
            pool_user=None,
            invited=set(),
            required=1,
            agreement="first",
            decisions=request.decisions,
            on_timeout=on_timeout,
            timeout_answer=request.timeout_answer,
            price=request.price,
            held=request.held,
            continuation=request.continuation,
            due_at=successor.due_at,
            chain=request.chain,
        )

    def _tally(self, request: Asked) -> None:
        """What the panel's decisions so far make of the request (first answer, majority, unanimous)."""
        verdicts = [_verdict(kind, value) for _, kind, value, _ in request.verdicts]
        counts = Counter(verdicts)
        winner = None
        if request.agreement == "first":
            winner = verdicts[0]
        elif request.agreement == "majority":
            winner = next((v for v, n in counts.items() if n >= request.required // 2 + 1), None)
            if winner is None and len(verdicts) >= request.required:
                return self._escalate(request, "no majority")
        else:
            if len(counts) > 1:
                return self._escalate(request, "not unanimous")
            if len(verdicts) >= request.required:
                winner = verdicts[0]
        if winner is None:
            return None
        agreeing = [d for d, v in zip(request.verdicts, verdicts, strict=True) if v == winner]
        _, kind, value, reason = agreeing[0]
        deciders = [d[0] for d in request.verdicts]
        self._finish(
            request,
            STATE_OF[kind],
            {
                "decision": kind,
                "value": value,
                "reason": reason,
                "reviewers": [d[0] for d in agreeing],
                "decided_by": deciders,
            },
        )
        share, rest = divmod(request.price, len(deciders))
        for i, pk in enumerate(deciders):
            self.balances[pk] += share + (rest if i == 0 else 0)
        return None

    def _offered(self, reviewer: Identity) -> Asked | None:
        """The request `reviewer` should be given next: open with a seat, offered to them (their agent's, a
        panel they are invited to, staff's if they are staff), not taken by them already; soonest due first."""
        now = timezone.now()
        mine = {lease.request for lease in self.leases if lease.reviewer == reviewer.pk and lease.state != "expired"}
        offered = [
            r
            for r in self.requests.values()
            if r.is_open
            and r.seats > 0
            and r.due_at > now
            and r.pk not in mine
            and (
                (r.pool == "owner" and r.pool_user == reviewer.user_id)
                or (r.pool == "panel" and reviewer.pk in r.invited)
                or (r.pool == "staff" and reviewer.user.is_staff)
            )
        ]
        return min(offered, key=lambda r: (r.due_at, r.pk), default=None)

    def _sweep(self, now: datetime) -> None:
        """Sweep at `now` and check its report against the model: leases past their time expire (their seats
        back to the queue), requests past due time out, finished requests never resumed are queued again."""
        stale = now - GRACE
        unresumed = {
            pk
            for pk, finished_at in ReviewRequest.objects.filter(
                pk__in=[r.pk for r in self.requests.values() if not r.is_open and not r.resumed]
            ).values_list("pk", "finished_at")
            if finished_at <= stale
        }
        self.queued.clear()
        report = services.reviews_sweep(now=now)
        expired = 0
        for lease in self.leases:
            if lease.state == "leased" and lease.expires_at <= now:
                lease.state = "expired"
                expired += 1
                self.requests[lease.request].seats += 1
        for request in self.requests.values():
            if request.is_open:
                live = any(lease.request == request.pk and lease.state != "expired" for lease in self.leases)
                request.state = "assigned" if live else "pending"
        due = [r for r in self.requests.values() if r.is_open and r.due_at <= now]
        for request in due:
            request.timed_out = True
            if request.on_timeout == "escalate":
                self._escalate(request, "timed out")
                continue
            outcome = {"timed_out": True, "applied": request.on_timeout, "value": request.timeout_answer}
            self._finish(request, "timed_out", outcome)
            self._return_price(request)
        assert report == {"leases_expired": expired, "timed_out": len(due), "resumes_queued": len(unresumed)}
        assert sorted(self.queued) == sorted(unresumed)
        for request in due:
            if request.successor is not None:  # its successor is due a week after the sweep's now
                assert self.requests[request.successor].due_at == now + STAFF_TIMEOUT

    # --- opening ---------------------------------------------------------------------------------

    @precondition(lambda self: len(self.requests) < 8)
    @rule(
        bot=st.integers(0, 1),
        pool=POOL,
        required=st.integers(1, 3),
        agreement=AGREEMENT,
        timeout=TIMEOUT,
        timeout_answer=st.sampled_from([None, "yes", "no"]),
        price=PRICE,
        retry=st.booleans(),
    )
    def an_agent_asks(self, bot, pool, required, agreement, timeout, timeout_answer, price, retry):
        """An agent asks people a question (review_ask): its owner alone, or a panel of 1 to 3."""
        requester = self.bots[bot % len(self.bots)]
        required = 1 if pool == "owner" else required
        key = self._key()

        def ask():
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
                timeout_answer=timeout_answer,
                price=price,
            )

        if self.balances[requester.pk] < price:
            self._refused(InsufficientCredit, ask)
            return
        opened = ask()
        self._open(
            requester,
            opened,
            pool=pool,
            required=required,
            agreement=agreement,
            decisions=["answer"],
            on_timeout="answer",
            timeout_answer=timeout_answer,
            price=price,
            held=0,
            continuation="",
        )
        if retry:  # the same call again answers the same request and holds nothing more
            before = self._snapshot()
            again = ask()
            assert (again.pk, again.replayed) == (opened.pk, True)
            assert self._snapshot() == before

    @precondition(lambda self: len(self.requests) < 8)
    @rule(
        bot=st.integers(0, 1),
        pool=POOL,
        required=st.integers(1, 3),
        agreement=AGREEMENT,
        decisions=DECISIONS,
        on_timeout=st.sampled_from(["approve", "reject", "escalate"]),
        timeout=TIMEOUT,
        price=PRICE,
        held=HELD,
        retry=st.sampled_from([None, "same", "other"]),
    )
    def a_checkpoint_pauses(self, bot, pool, required, agreement, decisions, on_timeout, timeout, price, held, retry):
        """A service hits the test checkpoint and pauses (review_request_open) with a continuation to resume."""
        requester = self.bots[bot % len(self.bots)]
        required = 1 if pool == "owner" else required
        key = self._key()

        def pause(payload=None):
            return services.review_request_open(
                checkpoint=CHECKPOINT,
                requester=requester,
                subject=f"test:{key}",
                payload=payload or {"amount": 10},
                idempotency_key=key,
                continuation=CONTINUATION,
                decisions=decisions,
                edit_schema=EDIT_SCHEMA,
                reviewers_required=required,
                agreement=agreement,
                pool=pool,
                timeout_seconds=timeout,
                on_timeout=on_timeout,
                price=price,
                held=held,
            )

        if self.balances[requester.pk] < price + held:
            self._refused(InsufficientCredit, pause)
            return
        opened = pause()
        self._open(
            requester,
            opened,
            pool=pool,
            required=required,
            agreement=agreement,
            decisions=decisions,
            on_timeout=on_timeout,
            timeout_answer=None,
            price=price,
            held=held,
            continuation=CONTINUATION,
        )
        if retry == "same":
            before = self._snapshot()
            assert pause().pk == opened.pk
            assert self._snapshot() == before
        elif retry == "other":  # the same key for another body
            self._refused(IdempotencyConflict, lambda: pause({"amount": 11}))

    # --- taking and deciding ---------------------------------------------------------------------

    @precondition(lambda self: self.requests)
    @rule(
        who=PICK,
        anyone=ANY_ONE,
        agent=st.sampled_from([False] * 9 + [True]),
        decides=st.one_of(st.none(), st.integers(0, 3)),
    )
    def a_person_takes_the_next_one(self, who, anyone, agent, decides):
        """Mostly someone with a request waiting for them; now and then anyone (who may find nothing), or an
        agent (refused: deciding is for people). Who takes one may decide it at once, as the request allows."""
        if agent:
            self._refused(NotAReviewer, lambda: services.review_take_next(reviewer=self.bots[who % len(self.bots)]))
            return
        waited_on = [h for h in self.humans if self._offered(h) is not None]
        reviewer = waited_on[who % len(waited_on)] if waited_on and not anyone else self._human(who)
        expected = self._offered(reviewer)
        if expected is None:
            before = self._snapshot()
            assert services.review_take_next(reviewer=reviewer) is None
            assert self._snapshot() == before
            return
        before = timezone.now()
        assignment = services.review_take_next(reviewer=reviewer)
        assert assignment is not None and (assignment.request_id, assignment.reviewer_id) == (expected.pk, reviewer.pk)
        assert before + LEASE <= assignment.lease_expires_at <= timezone.now() + LEASE
        self.leases.append(Lease(assignment.pk, expected.pk, reviewer.pk, assignment.lease_expires_at))
        expected.seats -= 1
        expected.state = "assigned"
        if decides is not None:
            self._decide(self.leases[-1], "holder", expected.decisions[decides % len(expected.decisions)], decides)

    @precondition(lambda self: any(lease.state == "leased" for lease in self.leases))
    @rule(lease=PICK, choice=st.integers(0, 3))
    def a_reviewer_decides(self, lease, choice):
        """The holder of a live lease decides as the request allows, with a reason: it counts."""
        leased = [lease for lease in self.leases if lease.state == "leased"]
        lease = leased[lease % len(leased)]
        request = self.requests[lease.request]
        self._decide(lease, "holder", request.decisions[choice % len(request.decisions)], choice)

    @precondition(lambda self: self.leases)
    @rule(
        lease=PICK,
        who=st.sampled_from(["holder", "holder", "someone else", "an agent"]),
        kind=st.sampled_from(["allowed", "approve", "edit", "reject", "answer"]),
        choice=st.integers(0, 3),
        valid=st.booleans(),
        reason=REASON,
    )
    def a_doubtful_decision(self, lease, who, kind, choice, valid, reason):
        """Any decision on any lease, live or not, by its holder or not, allowed or not, valid or not."""
        lease = self.leases[lease % len(self.leases)]
        if kind == "allowed":
            decisions = self.requests[lease.request].decisions
            kind = decisions[choice % len(decisions)]
        self._decide(lease, who, kind, choice, valid, reason)

    def _decide(
        self, lease: Lease, who: str, kind: str, choice: int, valid: bool = True, reason: str = "Checked."
    ) -> None:
        request = self.requests[lease.request]
        value = None
        if kind == "edit":
            value = {"amount": 1 + choice % 2} if valid else {"amount": 0}
        elif kind == "answer":
            value = ["yes", "no"][choice % 2] if valid else "maybe"
        if who == "holder":
            reviewer = Identity.objects.select_related("user").get(pk=lease.reviewer)
        elif who == "someone else":
            reviewer = next(h for h in self.humans[choice:] + self.humans if h.pk != lease.reviewer)
        else:
            reviewer = self.bots[choice % len(self.bots)]

        def decide():
            return services.review_decide(
                assignment_id=lease.pk, reviewer=reviewer, kind=kind, value=value, reason=reason
            )

        said = reason.strip()
        unsaid = kind in ("edit", "reject") and not said  # an edit or a rejection says why
        misfit = kind in ("edit", "answer") and not valid  # the edited payload or answer breaks the schema
        if reviewer.kind == IdentityKind.AGENT:
            refusal = NotAReviewer
        elif reviewer.pk != lease.reviewer:
            refusal = AssignmentNotFound
        elif not request.is_open:
            refusal = ReviewClosed
        elif lease.state != "leased":
            refusal = LeaseExpired
        elif kind not in request.decisions:
            refusal = DecisionNotAllowed
        elif unsaid or len(said) > services.REASON_MAX or misfit:
            refusal = DecisionInvalid
        else:
            refusal = None
        if refusal is not None:
            self._refused(refusal, decide)
            return
        decided = decide()
        lease.state = "decided"
        request.verdicts.append((reviewer.pk, kind, value, said))
        self._tally(request)
        assert decided.state == request.state
        assert ReviewDecision.objects.get(assignment_id=lease.pk).kind == kind

    # --- the clock -------------------------------------------------------------------------------

    @precondition(lambda self: self.requests)
    @rule(until=st.sampled_from(["a lease runs out", "a request falls due", "3 minutes", "now"]), pick=PICK)
    def time_passes(self, until, pick):
        """The sweep runs on the simulated clock: just past a live lease's end, or a request's due time, or
        a few minutes on (time enough for a finished request's continuation to be queued again)."""
        leased = [lease for lease in self.leases if lease.state == "leased"]
        due = [request.due_at for request in self.requests.values() if request.is_open]
        if until == "a lease runs out" and leased:
            now = leased[pick % len(leased)].expires_at + timedelta(seconds=1)
        elif until == "a request falls due" and due:
            now = due[pick % len(due)] + timedelta(seconds=1)
        else:
            now = timezone.now() + timedelta(minutes=3 if until == "3 minutes" else 0)
        self._sweep(now)

    # --- cancelling and resuming -----------------------------------------------------------------

    @precondition(lambda self: self.requests)
    @rule(request=PICK, by=st.sampled_from(["requester", "its owner", "a stranger"]), any_one=ANY_ONE)
    def a_cancel(self, request, by, any_one):
        """Mostly an open request is withdrawn by its requester or the requester's person."""
        request = self._request(request, None if any_one else lambda r: r.is_open)
        requester = Identity.objects.get(pk=request.requester)
        if by == "requester":
            who = requester
        elif by == "its owner":
            who = Identity.objects.get(user_id=requester.controller_id)
        else:
            who = next(h for h in self.humans if h.user_id != requester.controller_id)

        def cancel():
            return services.review_cancel(request_id=request.pk, by=who)

        if by == "a stranger":
            self._refused(NotFound, cancel)
        elif not request.is_open:
            self._refused(ReviewClosed, cancel)
        else:
            assert cancel().state == "cancelled"
            self._finish(request, "cancelled", {"cancelled_by": who.pk})
            self._return_price(request)

    @precondition(lambda self: self.requests)
    @rule(request=PICK, twice=st.booleans(), any_one=ANY_ONE)
    def the_continuation_is_resumed(self, request, twice, any_one):
        """The task that resumes a request runs (once, or delivered twice): mostly on a finished request that
        has not resumed yet, sometimes on any (an open one, or one resumed already: nothing happens)."""
        request = self._request(request, None if any_one else lambda r: not r.is_open and not r.resumed)
        if request.is_open or request.resumed:
            expected = None
        elif request.state == "escalated" or not request.continuation:
            expected = {"continued": False}  # an escalated request's successor carries the work on
        else:
            expected = {"continued": True, "saw": request.state}
        for _ in range(2 if twice else 1):
            before = self._snapshot()
            result = services.review_resume(request_id=request.pk)
            if expected is None:
                assert result is None
                assert self._snapshot() == before
                continue
            assert result == expected
            assert ReviewRequest.objects.get(pk=request.pk).resume_result == expected
            request.resumed = True
            if request.state != "escalated":
                self.balances[request.requester] += request.held
            expected = None

    # --- invariants, after every step ------------------------------------------------------------

    @invariant()
    def every_request_is_as_the_model_says(self):
        rows = {
            row["pk"]: row
            for row in ReviewRequest.objects.values("pk", "state", "outcome", "seats_open", "resumed_at", "finished_at")
        }
        assert set(rows) == set(self.requests)
        for pk, request in self.requests.items():
            row = rows[pk]
            assert (row["state"], row["outcome"], row["seats_open"]) == (request.state, request.outcome, request.seats)
            assert (row["resumed_at"] is not None) == request.resumed
            assert (row["finished_at"] is None) == request.is_open

    @invariant()
    def a_final_state_is_never_left(self):
        for pk, request in self.requests.items():
            if not request.is_open:
                self.finals.setdefault(pk, request.state)
        states = dict(ReviewRequest.objects.filter(pk__in=self.finals).values_list("pk", "state"))
        assert states == self.finals

    @invariant()
    def a_timeout_is_recorded_as_a_timeout(self):
        for pk, state, outcome in ReviewRequest.objects.values_list("pk", "state", "outcome"):
            request = self.requests[pk]
            if state == "timed_out":
                assert request.timed_out and outcome["timed_out"] is True
            if request.timed_out:
                assert state in ("timed_out", "escalated") and state != "rejected"
                assert outcome.get("timed_out") is True or outcome == {"escalated": "timed out"}

    @invariant()
    def each_price_is_held_once_and_settled_at_most_once(self):
        keys = Transfer.objects.filter(idempotency_key__startswith="review:").values_list("idempotency_key", flat=True)
        transfers = Counter(keys)
        escrows = dict(ReviewRequest.objects.values_list("pk", "escrow__balance"))
        for pk, request in self.requests.items():
            assert transfers[f"review:{pk}:hold"] == int(bool(request.price + request.held) and request.chain == pk)
            assert transfers[f"review:{pk}:settle"] == request.settles
            released = request.resumed and request.held and request.state != "escalated"
            assert transfers[f"review:{pk}:release"] == int(bool(released))
            assert (escrows[pk] or 0) == request.escrow

    @invariant()
    def credit_is_conserved(self):
        wallets = dict(
            Account.objects.filter(kind=AccountKind.WALLET, identity__in=self.balances).values_list(
                "identity_id", "balance"
            )
        )
        assert wallets == self.balances
        assert Account.objects.aggregate(total=Sum("balance", default=0))["total"] == 0
        report = ledger_verify_report()
        assert report.ok, report.problems

    @invariant()
    def a_continuation_runs_at_most_once(self):
        per_request = Counter(pk for pk, _ in self.calls)
        assert all(n == 1 for n in per_request.values())
        per_chain = Counter(self.requests[pk].chain for pk in per_request)
        assert all(n == 1 for n in per_chain.values())  # an escalation chain resumes its work once
        for pk, state in self.calls:
            assert self.requests[pk].resumed and state == self.requests[pk].state

    @invariant()
    def no_reviewer_holds_two_live_assignments_on_one_request(self):
        live = (
            ReviewAssignment.objects.filter(state__in=["leased", "decided"])
            .values("request", "reviewer")
            .annotate(n=Count("id"))
        )
        assert [row for row in live if row["n"] > 1] == []
        seated = Counter(
            ReviewAssignment.objects.filter(state__in=["leased", "decided"]).values_list("request_id", flat=True)
        )
        for pk, request in self.requests.items():
            if request.is_open:  # every seat is open, leased or decided: never more taken than the panel has
                assert request.seats + seated[pk] == request.required


@pytest.fixture
def test_checkpoint():
    """The checkpoint the machine pauses at, and a continuation that records each call."""
    calls: list[tuple[int, str]] = []
    checkpoints.register(checkpoints.Checkpoint(name=CHECKPOINT, label="A pause the state machine opens"))

    @checkpoints.continuation(CONTINUATION)
    def resume(request):
        calls.append((request.pk, request.state))
        return {"saw": request.state}

    yield calls
    checkpoints.CHECKPOINTS.pop(CHECKPOINT)
    checkpoints.CONTINUATIONS.pop(CONTINUATION)


def test_random_review_lives_keep_every_invariant(test_checkpoint, monkeypatch):
    queued: list[int] = []
    # The sweep queues continuations that never ran; the machine resumes them itself and counts what was queued.
    monkeypatch.setattr(tasks, "review_resume_soon", queued.append)
    bots = [factories.funded_agent(), factories.funded_agent()]
    reviewers = [factories.human(), factories.human(), factories.human()]
    staff = factories.human(factories.verified_user(is_staff=True))
    owners = [factories.human(bot.owner) for bot in bots]
    machine = type(
        "Machine",
        (ReviewMachine,),
        {
            "bot_pks": [bot.pk for bot in bots],
            "human_pks": [h.pk for h in [*owners, *reviewers, staff]],
            "calls": test_checkpoint,
            "queued": queued,
        },
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
