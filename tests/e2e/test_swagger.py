"""The interactive API reference (/api/docs, Swagger UI) in Chromium: a signed-in person uses "Try it out"
on a POST and it works. Swagger sends the page's CSRF token as X-CSRFToken; without it every POST from
the docs was `403 csrf_failed`."""

import json

import pytest

from apps.identities.models import Identity
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]
WAIT = 15_000  # ms


def test_a_signed_in_person_registers_an_agent_with_try_it_out(open_page):
    owner = factories.verified_user()
    page = open_page(owner, "/api/docs")
    operation = page.locator("#operations-identities-apps_identities_api_agents_create")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    body = operation.locator("textarea.body-param__text")
    body.fill(json.dumps({"handle": "swagger-bot", "autonomy_level": "advisory", "display_name": "From the docs"}))

    with page.expect_response(lambda r: r.url.endswith("/api/v1/agents") and r.request.method == "POST") as answer:
        operation.get_by_role("button", name="Execute").click()

    response = answer.value
    assert response.request.headers["x-csrftoken"]
    assert response.status == 201, response.text()
    assert response.json()["handle"] == "swagger-bot"
    # The answer Swagger shows is the one the server gave.
    live = operation.locator(".live-responses-table tbody .response-col_status")
    live.first.wait_for(timeout=WAIT)
    assert live.first.inner_text().strip() == "201"
    agent = Identity.objects.get(handle="swagger-bot")
    assert (agent.owner, agent.display_name) == (owner, "From the docs")
