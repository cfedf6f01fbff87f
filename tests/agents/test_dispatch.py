"""The beat's dispatch: due agents get one run each (two ticks racing dispatch each once), schedules move on,
and events make agents due: a claim opened in their domains, a price moved past their threshold, a claim
about to close (once)."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from apps.agents import services
from apps.agents.models import AgentRun, HostedAgent
from apps.core.amounts import CREDIT
from apps.identities.services import agent_suspend
from tests import factories

NOW = timezone.now()


def due_now(agent: HostedAgent, at=None) -> None:
    HostedAgent.objects.filter(pk=agent.pk).update(next_run_at=at or timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_a_due_agent_gets_one_run_and_its_schedule_moves_on(django_capture_on_commit_callbacks):
    scheduled = factories.hosted(every_minutes=15)
    on_events = factories.hosted()
    due_at = timezone.now() - timedelta(seconds=5)
    due_now(scheduled, due_at)
    HostedAgent.objects.filter(pk=on_events.pk).update(next_run_at=due_at, due_reason={"claims": [7], "events": [3]})
    now = timezone.now()

    with django_capture_on_commit_callbacks() as queued:
        run_ids = services.agents_dispatch(now=now)

    runs = {run.agent_id: run for run in AgentRun.objects.filter(pk__in=run_ids)}
    assert set(runs) == {scheduled.pk, on_events.pk} and len(queued) == 1
    micros = (due_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert (runs[scheduled.pk].trigger, runs[scheduled.pk].key) == ("schedule", f"due:{micros}")
    assert runs[scheduled.pk].trigger_detail == {
        "due_at": due_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    }
    assert runs[on_events.pk].trigger == "event"
    assert runs[on_events.pk].trigger_detail == {
        "claims": [7], "events": [3], "due_at": runs[scheduled.pk].trigger_detail["due_at"]
    }  # fmt: skip
    assert runs[scheduled.pk].state == "queued" and runs[scheduled.pk].journal == []
    scheduled.refresh_from_db(), on_events.refresh_from_db()
    assert scheduled.next_run_at == now + timedelta(minutes=15)
    assert (on_events.next_run_at, on_events.due_reason) == (None, {})
    # a second tick finds nothing due
    assert services.agents_dispatch(now=now) == []


@pytest.mark.django_db
def test_stopped_suspended_and_busy_agents_are_not_given_a_run():
    stopped, suspended, busy = (
        factories.hosted(every_minutes=5),
        factories.hosted(every_minutes=5),
        factories.hosted(every_minutes=5),
    )
    services.hosted_agent_stop(hosted=stopped, by=stopped.identity.owner)
    agent_suspend(owner=suspended.identity.owner, agent=suspended.identity)
    factories.manual_run(busy)  # still queued
    for agent in (stopped, suspended, busy):
        due_now(agent)

    assert services.agents_dispatch() == []

    # the busy agent's slot was skipped (its schedule moved on); the suspended one stays due for when it is back
    busy.refresh_from_db(), suspended.refresh_from_db()
    assert busy.next_run_at > timezone.now()
    assert suspended.next_run_at < timezone.now()
    assert AgentRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_ticks_racing_dispatch_each_due_agent_once():
    agents = [factories.hosted(every_minutes=10) for _ in range(40)]
    for agent in agents:
        due_now(agent)
    barrier, dispatched, failures = threading.Barrier(2), [], []

    def tick():
        try:
            barrier.wait()
            dispatched.extend(services.agents_dispatch(limit=25))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    runs = AgentRun.objects.filter(pk__in=dispatched)
    assert sorted(runs.values_list("agent_id", flat=True)) == sorted(a.pk for a in agents)
    assert len(dispatched) == 40


# --- Triggers ------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_claim_opened_in_its_domains_makes_an_agent_due_with_that_claim():
    science, economics = factories.domain("science"), factories.domain("economics")
    watcher = factories.hosted(on_claim_opened=True, domains=["science"])
    elsewhere = factories.hosted(on_claim_opened=True, domains=["economics"])
    deaf = factories.hosted(domains=["science"])
    services.agents_triggers()  # the cursor starts after everything so far

    claim = factories.new_claim(domain=science)
    assert services.agents_triggers() == 1

    watcher.refresh_from_db(), elsewhere.refresh_from_db(), deaf.refresh_from_db()
    assert watcher.due_reason["claims"] == [claim.pk] and watcher.next_run_at <= timezone.now()
    assert elsewhere.next_run_at is None and deaf.next_run_at is None
    # read once: the next pass has nothing new
    assert services.agents_triggers() == 0
    [run_id] = services.agents_dispatch()
    assert AgentRun.objects.get(pk=run_id).trigger_detail["claims"] == [claim.pk]
    assert economics.slug == "economics"


@pytest.mark.django_db(transaction=True)
def test_a_price_move_past_the_threshold_from_what_its_runs_saw_makes_an_agent_due():
    claim = factories.new_claim()
    mover = factories.hosted(on_price_move=Decimal("0.05"))
    calm = factories.hosted(on_price_move=Decimal("0.4"))
    services.agents_triggers()

    factories.buy(factories.human(), claim, "yes", credits=20)  # the price goes from 0.5 to about 0.6

    assert services.agents_triggers() == 1
    mover.refresh_from_db(), calm.refresh_from_db()
    assert mover.due_reason["claims"] == [claim.pk] and calm.next_run_at is None


@pytest.mark.django_db(transaction=True)
def test_an_agents_own_trade_does_not_set_off_its_price_trigger():
    claim = factories.new_claim()
    agent = factories.hosted(
        strategy="scripted",
        on_price_move=Decimal("0.01"),
        config={"steps": [{"do": "order", "claim": claim.pk, "amount": 20 * CREDIT, "belief": "0.9"}]},
    )
    services.agents_triggers()
    run = factories.manual_run(agent)
    services.run_execute(run_id=run.pk)

    assert services.agents_triggers() == 0
    agent.refresh_from_db()
    assert agent.next_run_at is None


@pytest.mark.django_db(transaction=True)
def test_a_claim_about_to_close_runs_an_agent_once():
    soon = factories.new_claim(closes_in=timedelta(minutes=20))
    factories.new_claim(closes_in=timedelta(days=3))
    agent = factories.hosted(on_closing_minutes=30)

    assert services.agents_triggers() == 1
    assert services.agents_triggers() == 0  # once per claim

    agent.refresh_from_db()
    assert agent.due_reason["claims"] == [soon.pk]


@pytest.mark.django_db
def test_a_run_left_queued_long_after_its_task_was_sent_is_queued_again(django_capture_on_commit_callbacks):
    run = factories.manual_run(factories.hosted())
    now = timezone.now()
    assert services.agents_requeue(now=now) == []  # just sent

    later = now + timedelta(seconds=301)
    with django_capture_on_commit_callbacks() as queued:
        assert services.agents_requeue(now=later) == [run.pk]

    assert len(queued) == 1
    assert AgentRun.objects.get(pk=run.pk).queued_at == later
    assert services.agents_requeue(now=later) == []
