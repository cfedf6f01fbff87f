"""A hosted agent's pages, as its owner uses them: hosting it through a form drawn from the strategy's schema,
the kill switch and "run now", the run log and one run's timeline, which follows the run while it is live."""

import html as html_lib
import re
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.agents import services
from apps.agents.errors import ConfigInvalid
from apps.agents.models import AgentOrder, AgentRun, HostedAgent, RunState, StoppedBy
from apps.agents.runtime import ModelReply
from apps.agents.strategies import REGISTRY, Strategy
from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.identities.models import AutonomyLevel
from apps.markets.models import Trade
from apps.reviews import services as reviews
from tests import factories
from tests.support import HTMX, signed_in

pytestmark = pytest.mark.django_db

FORM = {
    "strategy": "base_rate",
    "config_max_claims": "10",
    "config_edge": "0.07",
    "config_stake": "2.5",
    "config_full_stake_gap": "0.25",
    "config_prior_strength": "10",
    "config_min_history": "3",
    "every_minutes": "30",
    "on_claim_opened": "on",
    "on_price_move": "5",
    "on_closing_minutes": "",
    "domains": ["science"],
    "budget_per_run": "12.5",
    "budget_per_day": "40",
    "budget_per_position": "7.25",
}
POLLING = 'hx-trigger="every 2s"'


def _url(name: str, agent, **kwargs) -> str:
    return reverse(name, kwargs={"agent_id": agent.pk, **kwargs})


def _text(response) -> str:
    """A page's text with its markup and runs of whitespace collapsed, to assert on sentences."""
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())).strip())


@pytest.fixture
def science():
    return factories.domain("science")


@pytest.fixture
def funded_bot(owner):
    return factories.funded_agent(owner, handle="hosted-bot")


@pytest.fixture
def market(science):
    """Four resolved science claims (three YES) and one open: the base-rate strategy estimates 0.690 and buys YES."""
    author, resolver = factories.human(), factories.human()
    factories.history({}, author, science, resolver, outcome="yes", claims=3)
    factories.history({}, author, science, resolver, outcome="no", claims=1)
    return factories.new_claim(author, science, title="Will the experiment replicate?")


@pytest.fixture
def hosted(funded_bot):
    return factories.hosted(funded_bot, config={"min_history": 2})


class Scripted(Strategy):
    """A strategy for these tests: asks a model (a canned reply), decides, then fails or asks its owner."""

    key = "scripted"
    label = "Scripted"
    description = "A test strategy."
    properties = {
        "fail": {"type": "boolean", "default": False, "title": "Fail"},
        "ask": {"type": "boolean", "default": False, "title": "Ask"},
    }

    def run(self, ctx, config: dict) -> None:
        request = {"model": "tiny-1", "messages": [{"role": "user", "content": "How likely is rain?"}]}
        reply = ctx.model_call(
            request,
            lambda body: ModelReply(text='{"probability": 0.7}', tokens_in=12, tokens_out=5, cost=Decimal("0.000034")),
        )
        ctx.decide(None, "hold", f"The model said {reply.text}")
        if config["ask"]:
            ctx.ask_human("Trade on rain?", schema={"type": "string", "enum": ["yes", "no"]}, timeout=600)
        if config["fail"]:
            raise RuntimeError("the scripted strategy broke")


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(REGISTRY, Scripted.key, Scripted)
    return Scripted


# --- The agent page's Hosting section ---------------------------------------------------------------------------


def test_an_agent_not_hosted_offers_to_host_it(owner_client, bot):
    page = owner_client.get(_url("agent-detail", bot))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{_url("agent-hosting", bot)}">Host this agent</a>' in html
    assert "Run now" not in html


def test_a_hosted_agent_shows_its_strategy_schedule_budgets_state_and_latest_runs(owner_client, hosted, market):
    run = factories.manual_run(hosted)
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    services.hosted_agent_update(owner=hosted.identity.owner, hosted=hosted, every_minutes=15, on_price_move="0.05")

    text = _text(owner_client.get(_url("agent-detail", hosted.identity)))

    assert "Running" in text
    assert "Strategy Domain base rate" in text
    assert "Schedule every 15 minutes" in text
    assert "Triggers a price moves by more than 5 points" in text
    assert "Domains all" in text
    assert f"Spent today {run.spent / CREDIT:.2f} of 100 credits" in text
    assert "Budgets 50 credits a run, 30 credits a claim" in text
    assert f"#{run.pk}" in text and "1 decision, 1 order placed" in text
    assert "Run now" in text and "Stop" in text


# --- The hosting form ------------------------------------------------------------------------------------------


def test_the_form_draws_the_strategys_configuration_from_its_schema(owner_client, funded_bot):
    page = owner_client.get(_url("agent-hosting", funded_bot))
    assert page.status_code == 200
    form = page.context["form"]
    assert [choice["key"] for choice in form.strategy_choices] == ["base_rate", "consensus_arbitrage", "extremizer"]
    assert list(form.config_fields) == [
        "config_max_claims",
        "config_edge",
        "config_stake",
        "config_full_stake_gap",
        "config_prior_strength",
        "config_min_history",
    ]
    html = page.content.decode()
    # the title is the label, the default the initial value, the bounds the browser's; the stake is in credits
    assert 'for="id_config_edge">Smallest gap between estimate and price worth trading</label>' in html
    assert re.search(r'name="config_edge" value="0.05"[^>]* min="0.005" max="0.5"', html)
    assert 'for="id_config_stake">Most credits one order may spend</label>' in html
    assert re.search(r'name="config_stake" value="5" step="0.000001"[^>]* min="0.000001" max="1000"', html)
    assert REGISTRY["base_rate"].description in html


def test_choosing_another_strategy_redraws_only_its_configuration(owner_client, funded_bot):
    answer = owner_client.get(
        _url("agent-hosting", funded_bot),
        {"strategy": "consensus_arbitrage"},
        **HTMX,
        HTTP_HX_TARGET="config-fields",
    )
    assert answer.status_code == 200
    html = answer.content.decode()
    assert html.lstrip().startswith('<div id="config-fields">')
    assert "<html" not in html
    assert 'name="config_sources_for_half" value="3"' in html
    assert 'name="config_edge" value="0.08"' in html  # this strategy's default
    assert "config_prior_strength" not in html


def test_the_host_form_creates_the_hosted_agent_with_converted_amounts(owner_client, funded_bot, science):
    response = owner_client.post(_url("agent-hosting", funded_bot), FORM)

    assert response.status_code == 302
    assert response["Location"] == _url("agent-detail", funded_bot) + "#hosting"
    hosted = HostedAgent.objects.get(identity=funded_bot)
    assert hosted.strategy == "base_rate"
    assert hosted.config == {
        "max_claims": 10,
        "edge": 0.07,
        "stake": 2_500_000,
        "full_stake_gap": 0.25,
        "prior_strength": 10,
        "min_history": 3,
    }
    assert (hosted.budget_per_run, hosted.budget_per_day, hosted.budget_per_position) == (
        12_500_000,
        40_000_000,
        7_250_000,
    )
    assert (hosted.every_minutes, hosted.on_claim_opened, hosted.on_price_move, hosted.on_closing_minutes) == (
        30,
        True,
        Decimal("0.050"),
        None,
    )
    assert hosted.domains == ["science"]
    assert hosted.secrets == {}
    assert hosted.next_run_at is not None and hosted.stopped_by == ""
    assert "@hosted-bot is hosted." in _text(owner_client.get(response["Location"]))


def test_empty_optional_settings_take_the_strategys_defaults(owner_client, funded_bot):
    form = {key: value for key, value in FORM.items() if not key.startswith("config_")}
    form.update(every_minutes="", on_price_move="", domains=[], on_claim_opened="")
    assert owner_client.post(_url("agent-hosting", funded_bot), form).status_code == 302
    hosted = HostedAgent.objects.get(identity=funded_bot)
    assert hosted.config == REGISTRY["base_rate"].defaults()
    assert (hosted.every_minutes, hosted.on_claim_opened, hosted.on_price_move, hosted.domains) == (
        None,
        False,
        None,
        [],
    )
    assert hosted.next_run_at is None  # only on events


def test_a_configuration_outside_the_schema_is_refused_beside_its_field_and_nothing_is_written(
    owner_client, funded_bot
):
    events = Event.objects.count()
    response = owner_client.post(_url("agent-hosting", funded_bot), {**FORM, "config_edge": "0.9"})
    assert response.status_code == ConfigInvalid.status
    assert response.context["form"].errors == {"config_edge": ["config: 0.9 is greater than the maximum of 0.5"]}
    assert "config: 0.9 is greater than the maximum of 0.5" in response.content.decode()
    assert 'name="config_edge" value="0.9"' in response.content.decode()  # what was typed stays
    assert HostedAgent.objects.count() == 0
    assert Event.objects.count() == events


def test_a_budget_below_zero_is_refused_and_nothing_is_written(owner_client, funded_bot):
    response = owner_client.post(_url("agent-hosting", funded_bot), {**FORM, "budget_per_day": "-1"})
    assert response.status_code == 422
    assert response.context["form"].errors == {"budget_per_day": ["A budget is 0 credits or more."]}
    assert "A budget is 0 credits or more." in response.content.decode()
    assert HostedAgent.objects.count() == 0


@pytest.mark.parametrize("strategy", ["martingale", "language_model"])  # unknown, and not switched on
def test_an_unknown_strategy_is_refused_and_nothing_is_written(owner_client, funded_bot, strategy, settings):
    settings.CREDENCE_AGENTS_LLM_ENABLED = False
    response = owner_client.post(_url("agent-hosting", funded_bot), {**FORM, "strategy": strategy})
    assert response.status_code == 422
    assert response.context["form"].errors == {"strategy": ["No such strategy: choose one of those listed."]}
    assert "No such strategy: choose one of those listed." in response.content.decode()
    assert HostedAgent.objects.count() == 0


def test_the_form_on_a_hosted_agent_changes_its_settings(owner_client, hosted):
    form = {**FORM, "strategy": "extremizer", "config_min_history": "20"}
    form = {k: v for k, v in form.items() if k != "config_prior_strength"}
    response = owner_client.post(_url("agent-hosting", hosted.identity), form)
    assert response.status_code == 302
    hosted.refresh_from_db()
    assert hosted.strategy == "extremizer"
    assert hosted.config == {**REGISTRY["extremizer"].defaults(), "edge": 0.07, "stake": 2_500_000, "max_claims": 10}


def test_the_edit_form_starts_from_the_current_settings(owner_client, hosted, science):
    services.hosted_agent_update(
        owner=hosted.identity.owner,
        hosted=hosted,
        config={"min_history": 2, "stake": 3_250_000},
        every_minutes=45,
        on_price_move=Decimal("0.125"),
        budget_per_run=1_500_000,
        domains=["science"],
    )
    page = owner_client.get(_url("agent-hosting", hosted.identity))
    html = page.content.decode()
    assert 'name="config_stake" value="3.25"' in html
    assert 'name="config_min_history" value="2"' in html
    assert 'name="every_minutes" value="45"' in html
    assert 'name="on_price_move" value="12.5"' in html
    assert 'name="budget_per_run" value="1.5"' in html
    assert 'id="strategy-base_rate" checked' in html
    assert re.search(r'name="domains" value="science"[^>]* checked', html)
    assert not re.search(r'name="domains" value="politics"[^>]* checked', html)


def test_a_secret_is_a_password_never_echoed_and_empty_keeps_the_stored_one(owner_client, funded_bot, settings):
    settings.CREDENCE_AGENTS_LLM_ENABLED = True
    form = {
        **{k: v for k, v in FORM.items() if not k.startswith("config_")},
        "strategy": "language_model",
        "config_endpoint_url": "https://models.example.com/v1",
        "config_model": "tiny-1",
        "secret_api_key": "sk-very-secret",
    }
    drawn = owner_client.get(_url("agent-hosting", funded_bot), {"strategy": "language_model"}).content.decode()
    assert '<input type="password" name="secret_api_key"' in drawn

    assert owner_client.post(_url("agent-hosting", funded_bot), form).status_code == 302
    hosted = HostedAgent.objects.get(identity=funded_bot)
    assert hosted.secrets == {"api_key": "sk-very-secret"}

    page = owner_client.get(_url("agent-hosting", funded_bot)).content.decode()
    assert "sk-very-secret" not in page
    assert "Stored: leave empty to keep it." in page

    assert owner_client.post(_url("agent-hosting", funded_bot), {**form, "secret_api_key": ""}).status_code == 302
    hosted.refresh_from_db()
    assert hosted.secrets == {"api_key": "sk-very-secret"}
    assert owner_client.post(_url("agent-hosting", funded_bot), {**form, "secret_api_key": "sk-2"}).status_code == 302
    hosted.refresh_from_db()
    assert hosted.secrets == {"api_key": "sk-2"}
    # a refused save does not echo the typed secret back
    retyped = {**form, "secret_api_key": "sk-3", "config_model": ""}
    refused = owner_client.post(_url("agent-hosting", funded_bot), retyped)
    assert refused.status_code == 422
    assert "sk-3" not in refused.content.decode()
    hosted.refresh_from_db()
    assert hosted.secrets == {"api_key": "sk-2"}


# --- Someone else's agent ---------------------------------------------------------------------------------------


def test_someone_elses_agent_and_runs_are_not_found(stranger_client, hosted):
    agent = hosted.identity
    run = factories.manual_run(hosted)
    gets = [
        _url("agent-hosting", agent),
        _url("agent-runs", agent),
        _url("agent-run", agent, run_id=run.pk),
    ]
    posts = [
        (_url("agent-hosting", agent), FORM),
        (_url("agent-hosting-stop", agent), {"reason": "mine now"}),
        (_url("agent-hosting-start", agent), {}),
        (_url("agent-run-now", agent), {"key": str(uuid.uuid4())}),
    ]
    assert [stranger_client.get(url).status_code for url in gets] == [404, 404, 404]
    assert [stranger_client.post(url, data).status_code for url, data in posts] == [404, 404, 404, 404]
    hosted.refresh_from_db()
    assert (hosted.stopped_by, hosted.strategy, AgentRun.objects.count()) == ("", "base_rate", 1)


def test_a_run_of_another_agent_is_not_found_under_mine(owner, owner_client, hosted):
    other = factories.hosted(factories.funded_agent(owner, handle="other-bot"))
    run = factories.manual_run(other)
    assert owner_client.get(_url("agent-run", hosted.identity, run_id=run.pk)).status_code == 404
    assert owner_client.get(_url("agent-run", other.identity, run_id=run.pk)).status_code == 200


def test_the_runs_of_an_agent_not_hosted_are_not_found(owner_client, bot):
    assert owner_client.get(_url("agent-runs", bot)).status_code == 404
    assert owner_client.post(_url("agent-run-now", bot), {"key": str(uuid.uuid4())}).status_code == 404


# --- Stop, start, run now ---------------------------------------------------------------------------------------


def test_the_owner_stops_and_starts_the_agent(owner_client, hosted):
    stopped = owner_client.post(_url("agent-hosting-stop", hosted.identity), {"reason": "Too eager"})
    assert stopped.status_code == 302
    hosted.refresh_from_db()
    assert (hosted.stopped_by, hosted.stopped_reason, hosted.next_run_at) == (StoppedBy.OWNER, "Too eager", None)
    text = _text(owner_client.get(stopped["Location"]))
    assert "Stopped by you since" in text and ": Too eager." in text
    assert "Run now" not in text and "Start" in text

    started = owner_client.post(_url("agent-hosting-start", hosted.identity))
    assert started.status_code == 302
    hosted.refresh_from_db()
    assert (hosted.stopped_by, hosted.stopped_reason, hosted.stopped_at) == ("", "", None)
    assert "is running again." in _text(owner_client.get(started["Location"]))


def test_a_staff_stop_is_not_lifted_by_the_owner(owner_client, hosted):
    services.hosted_agent_stop(hosted=hosted, by=factories.moderator(), reason="Trading on a bug")

    page = _text(owner_client.get(_url("agent-detail", hosted.identity)))
    assert "Stopped by staff since" in page and ": Trading on a bug. Only staff can start it again." in page

    refused = owner_client.post(_url("agent-hosting-start", hosted.identity))
    assert refused.status_code == 409
    assert "Staff stopped this agent; only staff can start it again." in refused.content.decode()
    hosted.refresh_from_db()
    assert (hosted.stopped_by, hosted.stopped_reason) == (StoppedBy.STAFF, "Trading on a bug")


def test_run_now_queues_one_run_per_rendered_form(owner_client, hosted):
    page = owner_client.get(_url("agent-detail", hosted.identity))
    key = page.context["hosting"]["run_form"].initial["key"]
    assert f'name="key" value="{key}"' in page.content.decode()

    first = owner_client.post(_url("agent-run-now", hosted.identity), {"key": str(key)})
    again = owner_client.post(_url("agent-run-now", hosted.identity), {"key": str(key)})  # a double submit

    run = AgentRun.objects.get()
    assert (run.agent_id, run.trigger, run.key, run.state) == (hosted.pk, "manual", f"manual:{key}", RunState.QUEUED)
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"] == _url("agent-run", hosted.identity, run_id=run.pk)
    fresh = owner_client.get(_url("agent-detail", hosted.identity)).context["hosting"]["run_form"].initial["key"]
    assert fresh != key


def test_run_now_on_a_stopped_agent_is_refused_and_queues_nothing(owner_client, hosted):
    services.hosted_agent_stop(hosted=hosted, by=hosted.identity.owner)
    refused = owner_client.post(_url("agent-run-now", hosted.identity), {"key": str(uuid.uuid4())})
    assert refused.status_code == 409
    assert "This hosted agent is stopped: start it again first." in refused.content.decode()
    assert AgentRun.objects.count() == 0


def test_run_now_without_its_key_is_refused(owner_client, hosted):
    assert owner_client.post(_url("agent-run-now", hosted.identity), {}).status_code == 422
    assert AgentRun.objects.count() == 0


# --- One run ----------------------------------------------------------------------------------------------------


def test_the_run_page_polls_while_the_run_is_live_and_stops_once_it_finished(owner_client, hosted, market):
    run = factories.manual_run(hosted)
    url = _url("agent-run", hosted.identity, run_id=run.pk)

    queued = owner_client.get(url)
    assert queued.status_code == 200
    assert POLLING in queued.content.decode()
    assert "Nothing yet: it is waiting for a worker" in _text(queued)
    fragment = owner_client.get(url, **HTMX, HTTP_HX_TARGET="run-live").content.decode()
    assert fragment.lstrip().startswith('<div id="run-live"') and POLLING in fragment and "<html" not in fragment

    services.run_execute(run_id=run.pk)

    finished = owner_client.get(url, **HTMX, HTTP_HX_TARGET="run-live").content.decode()
    assert finished.lstrip().startswith('<div id="run-live"')
    assert "hx-trigger" not in finished and "hx-get" not in finished
    assert "Succeeded" in finished
    assert POLLING not in owner_client.get(url).content.decode()


def test_the_run_page_shows_what_it_read_decided_and_ordered(owner_client, hosted, market):
    run = factories.manual_run(hosted)
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    trade = Trade.objects.get(identity=hosted.identity)

    page = owner_client.get(_url("agent-run", hosted.identity, run_id=run.pk))
    text, html = _text(page), page.content.decode()

    assert "Succeeded 1 decision, 1 order placed" in text
    assert "Trigger manual" in text
    assert "Read 4 resolved claims (3 resolved YES) in every domain" in text
    assert "Looked at 1 open claim" in text
    assert "Will the experiment replicate? science 50% none" in text  # the claim with its price and consensus
    assert (
        "Decided: trade on Will the experiment replicate? Base rate 0.690 in science (3 of 4 YES; all domains 0.667);"
        " the price 0.500 is 0.190 off: buy YES" in text
    )
    assert "Ordered on Will the experiment replicate? : trade toward 69.05%, spending at most 3.81 credits" in text
    assert f"Placed: trade #{trade.pk} bought" in text and "YES shares for 3.77 credits and a fee of 0.04" in text
    assert f'href="{reverse("claim-detail", args=[market.pk])}"' in html
    assert f"Spent {run.spent / CREDIT:.2f} credits" in text
    assert f"Duration {run.duration_ms} ms" in text
    assert "Traceback" not in text


def test_a_refused_order_shows_its_message(owner_client, funded_bot, market):
    hosted = factories.hosted(funded_bot, config={"min_history": 2}, budget_per_run=0)
    run = factories.manual_run(hosted)
    services.run_execute(run_id=run.pk)

    text = _text(owner_client.get(_url("agent-run", hosted.identity, run_id=run.pk)))

    assert "Refused (budget): Its budgets leave nothing to spend." in text
    assert "Succeeded 1 decision, 0 orders placed" in text


def test_an_order_waiting_on_its_owners_review_links_to_it(owner, owner_client, market):
    careful = factories.funded_agent(owner, handle="careful-bot", autonomy_level=AutonomyLevel.SUPERVISED)
    hosted = factories.hosted(careful, config={"min_history": 2})
    run = factories.manual_run(hosted)
    services.run_execute(run_id=run.pk)
    order = AgentOrder.objects.get(run=run)
    assert order.review_id is not None and order.trade_id is None

    page = owner_client.get(_url("agent-run", hosted.identity, run_id=run.pk))

    assert f'<a href="/me/reviews/{order.review_id}/">review #{order.review_id}</a>' in page.content.decode()
    assert f"Waits on review #{order.review_id} : 3.81 credits held until it is decided." in _text(page)


def test_a_failed_run_shows_its_error_and_traceback_to_its_owner(owner, owner_client, funded_bot, scripted):
    hosted = services.hosted_agent_create(
        owner=owner,
        agent=funded_bot,
        strategy="scripted",
        config={"fail": True},
        budget_per_run=CREDIT,
        budget_per_day=CREDIT,
        budget_per_position=CREDIT,
    )
    run = factories.manual_run(hosted)
    assert services.run_execute(run_id=run.pk) == RunState.FAILED

    page = owner_client.get(_url("agent-run", hosted.identity, run_id=run.pk))
    text, html = _text(page), page.content.decode()

    assert "Failed RuntimeError: the scripted strategy broke" in text
    assert "Traceback (shown to you only)" in text
    assert re.search(r'<pre class="review-json" id="run-traceback">Traceback \(most recent call last\):', html)
    assert "raise RuntimeError(&quot;the scripted strategy broke&quot;)" in html
    # the model call: its prompt, answer, tokens and cost
    assert "Asked the model tiny-1: 12 tokens in, 5 out, cost 0.000034" in text
    assert "[user] How likely is rain?" in text
    assert "{&quot;probability&quot;: 0.7}" in html
    assert 'Decided: hold The model said {"probability": 0.7}' in text
    assert "Model tokens 12 in, 5 out" in text and "Model cost 0.000034" in text
    assert POLLING not in html


def test_a_question_to_the_owner_shows_while_it_waits_and_with_its_answer(owner, owner_client, funded_bot, scripted):
    hosted = services.hosted_agent_create(
        owner=owner,
        agent=funded_bot,
        strategy="scripted",
        config={"ask": True},
        budget_per_run=CREDIT,
        budget_per_day=CREDIT,
        budget_per_position=CREDIT,
    )
    run = factories.manual_run(hosted)
    assert services.run_execute(run_id=run.pk) == RunState.PAUSED
    run.refresh_from_db()
    url = _url("agent-run", hosted.identity, run_id=run.pk)

    waiting = owner_client.get(url)
    text = _text(waiting)
    assert "Waiting for a person" in text and "Waiting for the answer." in text
    assert f'<a href="/me/reviews/{run.waiting_on_id}/">review #{run.waiting_on_id}</a>' in waiting.content.decode()
    assert POLLING in waiting.content.decode()

    me = factories.human(owner)
    assignment = reviews.review_take_next(reviewer=me)
    assert assignment.request_id == run.waiting_on_id
    reviews.review_decide(assignment_id=assignment.pk, reviewer=me, kind="answer", value="no")
    services.run_execute(run_id=run.pk)

    answered = _text(owner_client.get(url))
    assert "Answer: no (answered)" in answered
    assert "Succeeded" in answered


# --- The run log ------------------------------------------------------------------------------------------------


def test_the_run_log_lists_runs_newest_first_a_page_at_a_time(owner_client, hosted, market):
    runs = [factories.manual_run(hosted, key=f"run-{n}") for n in range(27)]
    services.run_execute(run_id=runs[-1].pk)

    first = owner_client.get(_url("agent-runs", hosted.identity))
    assert first.status_code == 200
    assert [run.pk for run in first.context["runs"]] == [run.pk for run in reversed(runs)][:25]
    assert first.context["next_cursor"] == str(runs[2].pk)
    text = _text(first)
    newest = AgentRun.objects.get(pk=runs[-1].pk)
    assert (
        f"#{newest.pk} {newest.created_at:%Y-%m-%d %H:%M:%S} manual Succeeded 1 decision, 1 order placed 1 "
        f"{newest.spent / CREDIT:.2f} {newest.duration_ms} ms" in text
    )
    assert f"#{runs[-2].pk} {runs[-2].created_at:%Y-%m-%d %H:%M:%S} manual Queued 0 0" in text

    second = owner_client.get(_url("agent-runs", hosted.identity), {"cursor": first.context["next_cursor"]})
    assert [run.pk for run in second.context["runs"]] == [runs[1].pk, runs[0].pk]
    assert second.context["next_cursor"] is None


def test_the_run_log_makes_no_query_per_row(owner_client, hosted, django_assert_num_queries):
    for n in range(3):
        factories.manual_run(hosted, key=f"few-{n}")
    # the session, the user, the agent, its hosting, one page of runs; the navigation's identity, reviews, wallet
    with django_assert_num_queries(8) as few:
        assert owner_client.get(_url("agent-runs", hosted.identity)).status_code == 200
    for n in range(20):
        factories.manual_run(hosted, key=f"many-{n}")
    with django_assert_num_queries(len(few.captured_queries)):
        page = owner_client.get(_url("agent-runs", hosted.identity))
    assert len(page.context["runs"]) == 23
    journal_read = [q["sql"] for q in few.captured_queries if "agents_agentstep" in q["sql"]]
    assert journal_read == []  # the log never loads the journals (their steps)


def test_the_navigation_marks_my_agents_on_every_page_of_an_agent():
    hosted = factories.hosted()
    run = factories.manual_run(hosted)
    client = signed_in(hosted.identity.owner)
    mine = '<a href="/me/agents/" aria-current="page">My agents</a>'
    for path in (
        "/me/agents/",
        f"/me/agents/{hosted.identity_id}/",
        f"/me/agents/{hosted.identity_id}/hosting/",
        f"/me/agents/{hosted.identity_id}/runs/",
        f"/me/agents/{hosted.identity_id}/runs/{run.pk}/",
        f"/me/agents/{hosted.identity_id}/webhooks/",
    ):
        assert mine in client.get(path).content.decode(), path
    assert mine not in client.get("/portfolio/").content.decode()
