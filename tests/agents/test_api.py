"""Hosted agents over REST: the owner hosts, configures, stops and runs an agent with their session; the agent's
key reads its hosting and runs but cannot change them; bad settings are a 4xx that writes nothing; someone
else's agent is a 404; the run log costs the same queries however many runs it lists."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.agents.models import AgentRun, HostedAgent
from apps.agents.services import run_execute
from apps.core.amounts import CREDIT
from tests import factories
from tests.support import bearer, signed_in

pytestmark = pytest.mark.django_db

HOSTING = {
    "strategy": "base_rate",
    "config": {"edge": 0.1, "stake": 2 * CREDIT},
    "every_minutes": 30,
    "on_claim_opened": True,
    "domains": ["science"],
    "budget_per_run": 10 * CREDIT,
    "budget_per_day": 25 * CREDIT,
    "budget_per_position": 5 * CREDIT,
}


@pytest.fixture
def bot():
    factories.domain("science")
    return factories.funded_agent(handle="hosted-bot")


@pytest.fixture
def owner(bot):
    return signed_in(bot.owner)


def put(client, path, body):
    return client.put(path, body, content_type="application/json")


def test_the_owner_hosts_an_agent_and_reads_it_back(bot, owner):
    response = put(owner, f"/api/v1/agents/{bot.pk}/hosting", HOSTING)

    assert response.status_code == 201
    body = response.json()
    hosted = HostedAgent.objects.get(identity=bot)
    assert body["agent"] == bot.pk and body["strategy"] == "base_rate"
    defaults = {"max_claims": 20, "full_stake_gap": 0.25, "prior_strength": 10, "min_history": 5}
    assert body["config"] == {**defaults, "edge": 0.1, "stake": 2 * CREDIT}
    assert (body["every_minutes"], body["on_claim_opened"], body["domains"]) == (30, True, ["science"])
    assert (body["budget_per_run"], body["budget_per_day"], body["budget_per_position"]) == (
        10 * CREDIT, 25 * CREDIT, 5 * CREDIT
    )  # fmt: skip
    assert body["stopped_by"] == "" and body["secrets_set"] == [] and body["spent_today"] == 0
    assert hosted.next_run_at is not None  # scheduled: due at once
    assert owner.get(f"/api/v1/agents/{bot.pk}/hosting").json() == body
    # replacing the settings answers 200
    again = put(owner, f"/api/v1/agents/{bot.pk}/hosting", {**HOSTING, "every_minutes": None})
    assert again.status_code == 200 and again.json()["every_minutes"] is None
    assert HostedAgent.objects.get(identity=bot).next_run_at is None


def test_the_strategies_are_listed_with_their_schemas(owner):
    body = owner.get("/api/v1/strategies").json()

    keys = [s["key"] for s in body]
    assert keys[:3] == ["base_rate", "consensus_arbitrage", "extremizer"]
    assert "language_model" not in keys  # off unless the platform switches it on
    base_rate = body[0]
    assert base_rate["config_schema"]["properties"]["prior_strength"]["default"] == 10
    assert base_rate["secret_fields"] == []


def test_the_language_model_strategy_is_offered_once_switched_on_and_its_key_is_never_shown(bot, owner, settings):
    settings.CREDENCE_AGENTS_LLM_ENABLED = True
    hosting = {
        **HOSTING,
        "strategy": "language_model",
        "config": {"endpoint_url": "https://models.example.com/v1", "model": "m"},
        "secrets": {"api_key": "sk-secret-value"},
    }

    response = put(owner, f"/api/v1/agents/{bot.pk}/hosting", hosting)

    assert response.status_code == 201
    assert response.json()["secrets_set"] == ["api_key"]
    assert "sk-secret-value" not in response.content.decode()
    assert HostedAgent.objects.get(identity=bot).secrets == {"api_key": "sk-secret-value"}
    # a PUT without secrets keeps the one kept
    put(owner, f"/api/v1/agents/{bot.pk}/hosting", {**hosting, "secrets": {}})
    assert HostedAgent.objects.get(identity=bot).secrets == {"api_key": "sk-secret-value"}


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"config": {"edge": 2}}, 422, "validation_failed"),
        ({"config": {"unknown": 1}}, 422, "validation_failed"),
        ({"strategy": "martingale"}, 422, "validation_failed"),
        ({"budget_per_day": -1}, 422, "validation_failed"),
        ({"every_minutes": 0}, 422, "validation_failed"),
        ({"domains": ["astrology"]}, 404, "not_found"),
        ({"secrets": {"api_key": "x"}}, 422, "validation_failed"),
        ({"on_price_move": 1.5}, 422, "validation_failed"),
    ],
)
def test_bad_settings_are_refused_and_write_nothing(bot, owner, change, status, code):
    response = put(owner, f"/api/v1/agents/{bot.pk}/hosting", {**HOSTING, **change})

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert HostedAgent.objects.count() == 0


def test_someone_elses_agent_is_not_found(bot):
    stranger = signed_in(factories.verified_user())
    factories.hosted(bot)

    for response in (
        put(stranger, f"/api/v1/agents/{bot.pk}/hosting", HOSTING),
        stranger.get(f"/api/v1/agents/{bot.pk}/hosting"),
        stranger.get(f"/api/v1/agents/{bot.pk}/runs"),
        stranger.post(f"/api/v1/agents/{bot.pk}/hosting/stop", {}, content_type="application/json"),
        stranger.post(f"/api/v1/agents/{bot.pk}/runs", {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "not_found"
    assert HostedAgent.objects.get(identity=bot).stopped_by == "" and AgentRun.objects.count() == 0


def test_the_agents_own_key_reads_its_hosting_but_cannot_change_it(bot):
    factories.hosted(bot)
    agent = Client(headers=bearer(factories.api_key(bot, scopes=["read"])))
    other = factories.hosted()

    assert agent.get(f"/api/v1/agents/{bot.pk}/hosting").status_code == 200
    assert agent.get(f"/api/v1/agents/{bot.pk}/runs").status_code == 200
    assert agent.get(f"/api/v1/agents/{other.identity_id}/hosting").status_code == 404
    refused = put(agent, f"/api/v1/agents/{bot.pk}/hosting", {**HOSTING, "budget_per_day": 10**9})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "session_required"
    assert HostedAgent.objects.get(identity=bot).budget_per_day == 100 * CREDIT


def test_the_owner_stops_and_starts_an_agent_and_staffs_stop_is_staffs(bot, owner):
    hosted = factories.hosted(bot, every_minutes=5)

    stopped = owner.post(
        f"/api/v1/agents/{bot.pk}/hosting/stop", {"reason": "Holiday."}, content_type="application/json"
    )
    assert stopped.status_code == 200
    assert (stopped.json()["stopped_by"], stopped.json()["stopped_reason"]) == ("owner", "Holiday.")
    started = owner.post(f"/api/v1/agents/{bot.pk}/hosting/start")
    assert started.status_code == 200 and started.json()["stopped_by"] == ""

    from apps.agents.services import hosted_agent_stop

    hosted_agent_stop(hosted=hosted, by=factories.moderator(), reason="Wash trading.")
    refused = owner.post(f"/api/v1/agents/{bot.pk}/hosting/start")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "stopped_by_staff"
    assert HostedAgent.objects.get(pk=hosted.pk).stopped_by == "staff"


def test_run_now_is_idempotent_and_the_run_log_shows_it(bot, owner):
    factories.hosted(bot)

    first = owner.post(f"/api/v1/agents/{bot.pk}/runs", {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    again = owner.post(f"/api/v1/agents/{bot.pk}/runs", {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")

    assert first.status_code == 202 and again.status_code == 200
    run = AgentRun.objects.get()
    assert first.json()["id"] == again.json()["id"] == run.pk
    assert first["Location"] == f"/api/v1/agents/{bot.pk}/runs/{run.pk}"
    assert (first.json()["state"], first.json()["trigger"], again.json()["replayed"]) == ("queued", "manual", True)
    missing_key = owner.post(f"/api/v1/agents/{bot.pk}/runs", {}, content_type="application/json")
    assert missing_key.status_code == 422 and missing_key.json()["error"]["code"] == "idempotency_key_required"

    run_execute(run_id=run.pk)
    detail = owner.get(f"/api/v1/agents/{bot.pk}/runs/{run.pk}").json()
    assert detail["state"] == "succeeded"
    assert [entry["op"] for entry in detail["journal"]] == ["history", "decide"]
    assert detail["orders"] == [] and detail["error"] == "" and detail["traceback"] == ""
    assert owner.get(f"/api/v1/agents/{bot.pk}/runs/{run.pk + 1}").status_code == 404


def test_the_run_log_costs_the_same_queries_for_one_run_or_twenty(bot, owner):
    hosted = factories.hosted(bot)
    factories.manual_run(hosted, key="one")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner.get(f"/api/v1/agents/{bot.pk}/runs").status_code == 200
        return len(captured)

    one = queries()
    for n in range(19):
        factories.manual_run(hosted, key=f"more-{n}")
    assert queries() == one
    page = owner.get(f"/api/v1/agents/{bot.pk}/runs?limit=5").json()
    assert len(page["items"]) == 5 and page["next_cursor"] is not None


def test_a_change_to_the_config_that_its_strategy_refuses_conflicts_and_changes_nothing(bot, owner):
    factories.hosted(bot, config={"edge": 0.1})

    response = owner.patch(
        f"/api/v1/agents/{bot.pk}/hosting", {"config": {"edge": 0.9}}, content_type="application/json"
    )

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "config_invalid",
        "message": "config: 0.9 is greater than the maximum of 0.5",
        "detail": {"field": "config", "at": "edge"},
    }
    assert HostedAgent.objects.get(identity=bot).config["edge"] == 0.1


def test_the_language_model_strategy_switched_off_is_not_found(bot, owner):
    hosting = {
        **HOSTING,
        "strategy": "language_model",
        "config": {"endpoint_url": "https://m.example/v1", "model": "m"},
    }

    response = put(owner, f"/api/v1/agents/{bot.pk}/hosting", hosting)

    assert response.status_code == 404 and response.json()["error"]["code"] == "strategy_unknown"
    assert HostedAgent.objects.count() == 0


@pytest.mark.parametrize("claims", [[True], [1.5], ["7"], [0]])
def test_run_now_with_claims_that_are_not_ids_is_refused_and_runs_nothing(bot, owner, claims):
    factories.hosted(bot)

    response = owner.post(
        f"/api/v1/agents/{bot.pk}/runs", {"claims": claims}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_failed"
    assert AgentRun.objects.count() == 0


@pytest.mark.parametrize("change", [{"budget_per_run": True}, {"budget_per_run": 1.5}, {"every_minutes": "5"}])
def test_a_bool_float_or_string_for_a_whole_number_is_refused(bot, owner, change):
    response = put(owner, f"/api/v1/agents/{bot.pk}/hosting", {**HOSTING, **change})

    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_failed"
    assert HostedAgent.objects.count() == 0


def test_an_owner_a_moderator_suspended_cannot_host_or_run_their_agent_but_can_stop_it(bot, owner):
    from apps.identities.services import identity_suspend

    hosted = factories.hosted(bot)
    identity_suspend(identity=factories.human(bot.owner), moderator=factories.moderator(), reason="Abuse.")

    refused = put(owner, f"/api/v1/agents/{bot.pk}/hosting", {**HOSTING, "budget_per_day": 10**9})
    run = owner.post(f"/api/v1/agents/{bot.pk}/runs", {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    stopped = owner.post(f"/api/v1/agents/{bot.pk}/hosting/stop", {"reason": "Sorry."}, content_type="application/json")

    assert (refused.status_code, run.status_code, stopped.status_code) == (403, 403, 200)
    assert refused.json()["error"]["code"] == run.json()["error"]["code"] == "identity_suspended"
    assert HostedAgent.objects.get(pk=hosted.pk).budget_per_day == 100 * CREDIT
    assert AgentRun.objects.count() == 0
