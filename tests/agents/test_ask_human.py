"""ctx.ask_human: a run asks its owner, pauses with its state saved, and the answer (or the default, on timeout)
resumes it at that step, once. In-process here; tests/agents/test_worker.py does it with a real worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.agents.models import AgentRun
from apps.agents.selectors import journal_of
from apps.agents.services import run_execute
from apps.core.amounts import CREDIT
from apps.markets.models import Trade
from apps.reviews import services as reviews
from apps.reviews.models import ReviewRequest
from tests import factories

pytestmark = pytest.mark.django_db

SCHEMA = {"type": "string", "enum": ["go", "hold"]}


def asking_agent(claim, *, default="hold", timeout=600):
    steps = [
        {"do": "read"},
        {"do": "ask", "question": "Trade it?", "schema": SCHEMA, "timeout": timeout, "default": default},
        {"do": "order", "claim": claim.pk, "amount": CREDIT, "belief": "0.7"},
    ]
    return factories.hosted(strategy="scripted", config={"steps": steps})


def answer(review: ReviewRequest, value: str) -> None:
    owner = factories.human(review.requester.owner)
    assignment = reviews.review_take_next(reviewer=owner)
    assert assignment.request_id == review.pk
    reviews.review_decide(assignment_id=assignment.pk, reviewer=owner, kind="answer", value=value)


def test_a_run_that_asks_pauses_with_its_journal_saved_and_a_request_to_its_owner():
    claim = factories.new_claim()
    agent = asking_agent(claim)
    run = factories.manual_run(agent)

    assert run_execute(run_id=run.pk) == "paused"

    run.refresh_from_db()
    review = ReviewRequest.objects.get(requester=agent.identity)
    assert (run.state, run.waiting_on_id) == ("paused", review.pk)
    journal = journal_of(run)
    assert [e["op"] for e in journal] == ["claims", "ask"]
    assert journal[1] == {"step": 2, "op": "ask", "question": "Trade it?", "review": review.pk}
    assert (review.checkpoint, review.continuation, review.pool, review.pool_user_id) == (
        "explicit", "agents.run", "owner", agent.identity.owner_id
    )  # fmt: skip
    assert (review.answer_schema, review.timeout_answer) == (SCHEMA, "hold")
    assert review.payload == {"context": {"run": run.pk, "step": 2, "agent": agent.identity.handle}}
    assert Trade.objects.count() == 0
    # executing it again while nobody answered changes nothing
    assert run_execute(run_id=run.pk) == "paused"
    assert ReviewRequest.objects.filter(requester=agent.identity).count() == 1


def test_the_owners_answer_resumes_the_run_at_its_step_once(django_capture_on_commit_callbacks):
    claim = factories.new_claim()
    agent = asking_agent(claim)
    run = factories.manual_run(agent)
    run_execute(run_id=run.pk)
    review = ReviewRequest.objects.get(requester=agent.identity)

    # when the owner answers and the review's continuation runs
    answer(review, "go")
    with django_capture_on_commit_callbacks() as queued:
        result = reviews.review_resume(request_id=review.pk)

    # then the run is queued again (its task is queued as that commits)
    assert result == {"continued": True, "run": run.pk, "queued": True}
    assert AgentRun.objects.get(pk=run.pk).state == "queued"
    assert len(queued) == 1
    # and executed, it goes on from the question with the answer, reading nothing twice
    assert run_execute(run_id=run.pk) == "succeeded"
    run.refresh_from_db()
    assert [e["op"] for e in run.journal] == ["claims", "ask", "decide", "order"]
    assert run.journal[1]["answer"] == "go" and run.journal[1]["how"] == "answered"
    assert run.journal[2]["reason"] == "The owner said 'go'"
    assert run.attempts == 2 and run.waiting_on_id is None
    assert Trade.objects.filter(identity=agent.identity).count() == 1
    # the continuation does not run twice
    assert reviews.review_resume(request_id=review.pk) is None


def test_a_question_nobody_answers_in_time_resumes_the_run_with_the_default():
    claim = factories.new_claim()
    agent = asking_agent(claim, default="hold", timeout=60)
    run = factories.manual_run(agent)
    run_execute(run_id=run.pk)
    review = ReviewRequest.objects.get(requester=agent.identity)

    reviews.reviews_sweep(now=timezone.now() + timedelta(seconds=61))
    reviews.review_resume(request_id=review.pk)

    assert run_execute(run_id=run.pk) == "succeeded"
    run.refresh_from_db()
    assert (run.journal[1]["answer"], run.journal[1]["how"]) == ("hold", "timed_out")
    assert run.journal[2]["answer"] == "hold"


def test_a_run_stopped_while_it_waits_ends_before_its_order():
    from apps.agents.services import hosted_agent_stop

    claim = factories.new_claim()
    agent = asking_agent(claim)
    run = factories.manual_run(agent)
    run_execute(run_id=run.pk)
    review = ReviewRequest.objects.get(requester=agent.identity)
    hosted_agent_stop(hosted=agent, by=agent.identity.owner)
    answer(review, "go")
    reviews.review_resume(request_id=review.pk)

    assert run_execute(run_id=run.pk) == "stopped"
    assert Trade.objects.count() == 0


def test_an_ask_with_a_default_the_schema_refuses_fails_the_run_and_asks_nobody():
    claim = factories.new_claim()
    agent = asking_agent(claim, default="maybe")
    run = factories.manual_run(agent)

    assert run_execute(run_id=run.pk) == "failed"

    run.refresh_from_db()
    assert run.outcome.startswith("AnswerConflict: ")
    assert ReviewRequest.objects.count() == 0
