"""A claim's title is the question traders answer: at least ten characters, a rule of the service
(markets.services.claim_problems) that the post-a-claim form and the REST API both apply."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.markets.models import Claim
from apps.markets.services import ValidationFailed, claim_create, claim_problems
from config.api import api
from tests import factories
from tests.support import hidden_value

pytestmark = pytest.mark.django_db
MESSAGE = "A title is at least 10 characters: the question traders answer YES or NO."


def _form(client, title: str) -> dict:
    now = timezone.now()
    return {
        "form_token": hidden_value(client.get(reverse("claim-new")).content.decode(), "form_token"),
        "title": title,
        "criteria": "YES if it rains at the station before five; NO otherwise.",
        "domain": "science",
        "tags": "",
        "closes_at": (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        "resolve_by": (now + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M"),
        "liquidity": "100",
        "action": "publish",
    }


def _api_body(title: str) -> dict:
    now = timezone.now()
    return {
        "title": title,
        "criteria": "YES if it rains at the station before five; NO otherwise.",
        "domain": "science",
        "closes_at": (now + timedelta(days=7)).isoformat(),
        "resolve_by": (now + timedelta(days=14)).isoformat(),
        "liquidity": 100 * CREDIT,
    }


@pytest.mark.parametrize("title", ["AI", "Rain by 5", "   Rain?      "])
def test_a_title_under_ten_characters_is_refused_by_the_service_the_form_and_the_api(owner, owner_client, title):
    assert [(p.field, p.code) for p in claim_problems(title=title)] == [("title", "title_length")]
    with pytest.raises(ValidationFailed):
        claim_create(
            author=factories.human(owner),
            title=title,
            criteria="Criteria.",
            domain=factories.domain(),
            closes_at=timezone.now() + timedelta(days=7),
            resolve_by=timezone.now() + timedelta(days=14),
            liquidity=100 * CREDIT,
        )

    response = owner_client.post(reverse("claim-new"), _form(owner_client, title))
    assert response.status_code == 422
    html = response.content.decode()
    start = html.index('<ul class="errors" id="id_title_errors">')
    assert (
        html[start : html.index("</ul>", start) + 5]
        == f'<ul class="errors" id="id_title_errors"><li>{MESSAGE}</li></ul>'
    )

    response = owner_client.post("/api/v1/claims", _api_body(title), content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"
    assert "title" in str(response.json()["error"]["detail"])
    assert not Claim.objects.exists()


def test_a_ten_character_title_is_a_claim_and_the_schema_says_the_bounds(owner_client):
    response = owner_client.post("/api/v1/claims", _api_body("Rain by 5?"), content_type="application/json")
    assert response.status_code == 201
    assert Claim.objects.get().title == "Rain by 5?"
    title = api.get_openapi_schema()["components"]["schemas"]["ClaimIn"]["properties"]["title"]
    assert (title["minLength"], title["maxLength"]) == (10, 200)
