"""A hosted agent in Chromium, end to end: its owner hosts it through the form drawn from the strategy's schema
(switching strategy redraws the configuration), presses "Run now", and watches the run's decisions and order
appear on the run page by themselves, which stops polling once the run has finished.

There is no Celery worker here: "Run now" queues the run on a broker nobody reads, and the test executes it
with run_execute, as the worker would, while the page is open and polling.
"""

import re

import pytest
from playwright.sync_api import expect

from apps.agents.models import AgentRun, HostedAgent, RunState
from apps.agents.services import run_execute
from apps.markets.models import Trade
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
WAIT = 15_000  # ms: a 2-second poll on a loaded machine
TITLE = "Will the experiment replicate?"


def _no_reload_marker(page) -> None:
    page.evaluate("window.__sameDocument = true")


def _not_reloaded(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_an_owner_hosts_an_agent_runs_it_now_and_watches_its_decisions_arrive(open_page):
    # given an owner's funded agent, four resolved science claims (three YES) and an open one at 50%
    owner = factories.verified_user()
    bot = factories.funded_agent(owner, handle="hosted-e2e")
    science = factories.domain()
    author, resolver = factories.human(), factories.human()
    factories.history({}, author, science, resolver, outcome="yes", claims=3)
    factories.history({}, author, science, resolver, outcome="no", claims=1)
    claim = factories.new_claim(author, science, title=TITLE)

    # when the owner opens the hosting form from the agent's page
    page = open_page(owner, f"/me/agents/{bot.pk}/")
    page.get_by_role("link", name="Host this agent").click()
    expect(page).to_have_url(re.compile(rf"/me/agents/{bot.pk}/hosting/$"))

    # switching strategy redraws its configuration in place
    _no_reload_marker(page)
    page.locator("#strategy-consensus_arbitrage").check()
    expect(page.locator("#id_config_sources_for_half")).to_be_visible(timeout=WAIT)
    expect(page.locator("#id_config_prior_strength")).to_have_count(0)
    page.locator("#strategy-base_rate").check()
    expect(page.locator("#id_config_prior_strength")).to_be_visible(timeout=WAIT)
    expect(page.locator("#id_config_stake")).to_have_value("5")
    assert _not_reloaded(page)

    # and hosts it with the base-rate strategy, its stake and budgets in credits
    page.locator("#id_config_min_history").fill("2")
    page.locator("#id_config_stake").fill("2.5")
    page.locator("#id_budget_per_run").fill("20")
    page.locator("#id_budget_per_day").fill("50")
    page.locator("#id_budget_per_position").fill("10")
    page.locator("#hosting-save").click()

    expect(page).to_have_url(re.compile(rf"/me/agents/{bot.pk}/#hosting$"))
    expect(page.locator("#hosting")).to_contain_text("Domain base rate")
    hosted = HostedAgent.objects.get(identity=bot)
    assert (hosted.config["stake"], hosted.config["min_history"]) == (2_500_000, 2)
    assert (hosted.budget_per_run, hosted.budget_per_day, hosted.budget_per_position) == (
        20_000_000,
        50_000_000,
        10_000_000,
    )

    # then "Run now" opens the run's page, which waits for the run and polls
    page.locator("#run-now").click()
    expect(page).to_have_url(re.compile(rf"/me/agents/{bot.pk}/runs/\d+/$"))
    run = AgentRun.objects.get(agent=hosted)
    assert page.url.endswith(f"/runs/{run.pk}/")
    expect(page.locator("#run-state")).to_have_text("Queued")
    expect(page.locator("#run-live")).to_have_attribute("hx-trigger", "every 2s")
    _no_reload_marker(page)

    # when the run is executed (as the worker would), the page shows its decisions by itself
    assert run_execute(run_id=run.pk) == RunState.SUCCEEDED
    trade = Trade.objects.get(identity=bot)

    timeline = page.locator("#run-timeline")
    expect(page.locator("#run-state")).to_have_text("Succeeded", timeout=WAIT)
    expect(timeline).to_contain_text("Read 4 resolved claims (3 resolved YES)")
    expect(timeline).to_contain_text("Decided: trade on " + TITLE)
    expect(timeline).to_contain_text("Base rate 0.690 in science (3 of 4 YES; all domains 0.667)")
    expect(timeline).to_contain_text(f"Placed: trade #{trade.pk} bought")
    expect(timeline.get_by_role("link", name=TITLE).first).to_have_attribute("href", f"/claims/{claim.pk}/")
    expect(page.locator("#run-outcome")).to_have_text("1 decision, 1 order placed")
    # and it stops polling: the finished region has no trigger
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", "every 2s")
    assert _not_reloaded(page)
