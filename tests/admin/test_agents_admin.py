"""Staff look at hosted agents and their runs in the admin, and stop or start an agent through the services (the
staff kill switch). Secrets are never shown; runs are only read."""

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.agents import services
from apps.agents.errors import StoppedByStaff
from apps.agents.models import AgentRun, HostedAgent, StoppedBy
from apps.agents.services import run_execute
from apps.core.amounts import exact_credits
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_user():
    return User.objects.create_superuser(email="agents-staff@example.com", password=factories.PASSWORD)


@pytest.fixture
def staff(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def hosted(settings):
    settings.CREDENCE_AGENTS_LLM_ENABLED = True
    return factories.hosted(
        factories.funded_agent(handle="admin-hosted"),
        strategy="language_model",
        config={"endpoint_url": "https://models.example.com/v1", "model": "tiny-1"},
        secrets={"api_key": "sk-admin-never-shown"},
    )


@pytest.fixture
def ran():
    """A base-rate agent's run that bought YES on the one open claim (four resolved science claims, three YES)."""
    author, resolver, science = factories.human(), factories.human(), factories.domain()
    factories.history({}, author, science, resolver, outcome="yes", claims=3)
    factories.history({}, author, science, resolver, outcome="no", claims=1)
    factories.new_claim(author, science)
    agent = factories.hosted(factories.funded_agent(handle="admin-runner"), config={"min_history": 2})
    run = factories.manual_run(agent)
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_hosted_agents_are_listed_without_their_secrets(staff, hosted):
    listing = staff.get("/admin/agents/hostedagent/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "@admin-hosted" in html and hosted.identity.owner.email in html and "language_model" in html
    assert "sk-admin-never-shown" not in html

    detail = staff.get(f"/admin/agents/hostedagent/{hosted.pk}/change/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "api_key (set)" in html
    assert "sk-admin-never-shown" not in html


def test_hosted_agents_cannot_be_added_changed_or_deleted_in_the_admin(staff, hosted):
    assert staff.get("/admin/agents/hostedagent/add/").status_code == 403
    assert staff.get(f"/admin/agents/hostedagent/{hosted.pk}/delete/").status_code == 403
    changed = staff.post(f"/admin/agents/hostedagent/{hosted.pk}/change/", {"strategy": "base_rate"})
    assert changed.status_code == 403
    hosted.refresh_from_db()
    assert hosted.strategy == "language_model"


def test_the_staff_stop_asks_why_then_stops_through_the_service(staff, staff_user, hosted):
    action = {"action": "stop", "_selected_action": [hosted.pk]}
    asked = staff.post("/admin/agents/hostedagent/", action)
    assert asked.status_code == 200
    assert "@admin-hosted" in asked.content.decode()
    hosted.refresh_from_db()
    assert hosted.stopped_by == ""

    staff.post("/admin/agents/hostedagent/", {**action, "apply": "1", "reason": ""})  # a reason is required
    hosted.refresh_from_db()
    assert hosted.stopped_by == ""

    done = staff.post("/admin/agents/hostedagent/", {**action, "apply": "1", "reason": "Spending on a bug"})
    assert done.status_code == 302
    hosted.refresh_from_db()
    assert (hosted.stopped_by, hosted.stopped_reason, hosted.next_run_at) == (
        StoppedBy.STAFF,
        "Spending on a bug",
        None,
    )
    # the owner cannot lift it; staff can
    with pytest.raises(StoppedByStaff):
        services.hosted_agent_start(hosted=hosted, by=hosted.identity.owner)
    started = staff.post("/admin/agents/hostedagent/", {"action": "start", "_selected_action": [hosted.pk]})
    assert started.status_code == 302
    hosted.refresh_from_db()
    assert (hosted.stopped_by, hosted.stopped_reason, hosted.stopped_at) == ("", "", None)


def test_a_run_is_read_only_with_its_journal_and_orders(staff, ran):
    page = staff.get(f"/admin/agents/agentrun/{ran.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "succeeded" in html.lower() and "1 decision, 1 order placed" in html
    pretty = json.dumps(ran.journal, indent=2, ensure_ascii=False).replace('"', "&quot;")
    assert pretty in html  # the journal, pretty-printed
    order = ran.orders.get()
    cells = re.sub(r"\s+", "", html)
    assert f'<tdclass="field-step"><p>{order.step}</p></td>' in cells  # the orders inline
    assert f'<ahref="/admin/markets/trade/{order.trade_id}/change/">' in cells
    assert f'<tdclass="field-spent_credits"><p>{exact_credits(order.spent)}</p></td>' in cells
    assert staff.get("/admin/agents/agentrun/add/").status_code == 403
    assert staff.get(f"/admin/agents/agentrun/{ran.pk}/delete/").status_code == 403
    assert staff.post(f"/admin/agents/agentrun/{ran.pk}/change/", {"outcome": "edited"}).status_code == 403
    ran.refresh_from_db()
    assert ran.outcome == "1 decision, 1 order placed"


@pytest.mark.parametrize("url", ["/admin/agents/hostedagent/", "/admin/agents/agentrun/"])
def test_the_lists_make_no_query_per_row(staff, url, django_assert_num_queries):
    def hosted_with_a_run(n: int) -> None:
        agent = factories.hosted(factories.funded_agent(handle=f"listed-{n}"))
        factories.manual_run(agent, key=f"listed-{n}")

    for n in range(2):
        hosted_with_a_run(n)
    with CaptureQueriesContext(connection) as few:
        assert staff.get(url).status_code == 200
    for n in range(2, 12):
        hosted_with_a_run(n)
    with django_assert_num_queries(len(few.captured_queries)):
        assert staff.get(url).status_code == 200
    assert HostedAgent.objects.count() == AgentRun.objects.count() == 12
