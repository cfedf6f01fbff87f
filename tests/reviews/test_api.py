"""Reviews over REST: an agent asks its owner (202 and a Location), the owner takes and answers it with their
session, the agent reads the answer. Deciding needs a person's session; every id is checked against the caller."""

import pytest
from django.test import Client

from apps.core.amounts import CREDIT
from apps.ledger.selectors import wallet_balance
from apps.reviews.models import ReviewRequest
from tests import factories
from tests.support import bearer, signed_in

pytestmark = pytest.mark.django_db

ASK = {
    "question": "Should I buy YES at 40%?",
    "context": {"claim": 7, "price": "0.4"},
    "answer": {"type": "string", "enum": ["buy", "wait"]},
    "timeout_seconds": 600,
    "timeout_answer": "wait",
    "price": 2 * CREDIT,
}


@pytest.fixture
def bot():
    return factories.funded_agent(handle="asking-bot")


@pytest.fixture
def agent_client(bot):
    return Client(headers=bearer(factories.api_key(bot, scopes=["read", "review:request"])))


def post(client, path, body=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(path, body or {}, content_type="application/json", **headers)


def test_an_agent_asks_its_owner_who_answers_and_the_agent_reads_the_answer(bot, agent_client):
    # when the agent asks
    asked = post(agent_client, "/api/v1/reviews", ASK, key="q-1")
    assert asked.status_code == 202, asked.content
    review = asked.json()
    assert asked["Location"] == f"/api/v1/reviews/{review['id']}"
    assert (review["state"], review["pool"], review["answer_schema"]) == (
        "pending",
        "owner",
        {"type": "string", "enum": ["buy", "wait"]},
    )
    assert wallet_balance(bot) == factories.BOT_FUNDS - 2 * CREDIT
    # then the owner sees it waiting, takes it and answers
    owner = signed_in(bot.owner)
    queue = owner.get("/api/v1/reviews/queue").json()
    assert queue["waiting"] == 1 and [item["id"] for item in queue["items"]] == [review["id"]]
    taken = post(owner, "/api/v1/reviews/queue/take")
    assert taken.status_code == 200, taken.content
    decided = post(
        owner, f"/api/v1/reviews/assignments/{taken.json()['id']}/decision", {"decision": "answer", "value": "buy"}
    )
    assert decided.status_code == 200, decided.content
    # and the agent reads the answer
    answer = agent_client.get(f"/api/v1/reviews/{review['id']}").json()
    assert answer["state"] == "answered"
    assert answer["outcome"]["value"] == "buy"
    assert post(owner, "/api/v1/reviews/queue/take").status_code == 204


def test_a_retry_answers_200_with_the_first_request(agent_client):
    first = post(agent_client, "/api/v1/reviews", ASK, key="q-1")
    again = post(agent_client, "/api/v1/reviews", ASK, key="q-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    assert ReviewRequest.objects.count() == 1


def test_without_an_idempotency_key_nothing_is_asked(agent_client):
    answer = post(agent_client, "/api/v1/reviews", ASK)
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "idempotency_key_required")
    assert ReviewRequest.objects.count() == 0


def test_an_answer_schema_outside_the_subset_is_refused(agent_client):
    answer = post(agent_client, "/api/v1/reviews", {**ASK, "answer": {"type": "array"}}, key="q-2")
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "validation_failed")
    assert ReviewRequest.objects.count() == 0


def test_a_timeout_answer_outside_the_options_is_refused(agent_client):
    answer = post(agent_client, "/api/v1/reviews", {**ASK, "timeout_answer": "sell"}, key="q-3")
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "answer_conflict")
    assert ReviewRequest.objects.count() == 0


def test_an_agent_key_cannot_take_or_decide_reviews(agent_client):
    post(agent_client, "/api/v1/reviews", ASK, key="q-1")
    for path in ("/api/v1/reviews/queue/take", "/api/v1/reviews/assignments/1/decision"):
        answer = post(agent_client, path, {"decision": "answer", "value": "buy"})
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "session_required")


def test_another_party_cannot_read_or_cancel_a_review(agent_client):
    review_id = post(agent_client, "/api/v1/reviews", ASK, key="q-1").json()["id"]
    stranger = factories.funded_agent(handle="stranger-bot")
    other = Client(headers=bearer(factories.api_key(stranger, scopes=["read", "review:request"])))
    assert other.get(f"/api/v1/reviews/{review_id}").status_code == 404
    assert post(other, f"/api/v1/reviews/{review_id}/cancel").status_code == 404
    assert ReviewRequest.objects.get(pk=review_id).state == "pending"


def test_the_owner_sees_their_agents_requests_and_can_cancel_one(bot, agent_client):
    review_id = post(agent_client, "/api/v1/reviews", ASK, key="q-1").json()["id"]
    owner = signed_in(bot.owner)
    assert [r["id"] for r in owner.get("/api/v1/reviews").json()["items"]] == [review_id]
    cancelled = post(owner, f"/api/v1/reviews/{review_id}/cancel")
    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "cancelled")
    assert wallet_balance(bot) == factories.BOT_FUNDS
    again = post(owner, f"/api/v1/reviews/{review_id}/cancel")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "review_closed")


def test_a_person_cannot_ask_themselves(bot):
    person = signed_in(bot.owner)
    answer = post(person, "/api/v1/reviews", ASK, key="q-1")
    assert (answer.status_code, answer.json()["error"]["detail"]) == (403, {"field": "reviewers"})


def test_a_panel_in_a_domain_that_does_not_exist_is_not_found(agent_client):
    body = {**ASK, "reviewers": {"kind": "panel", "domain": "nowhere", "count": 3, "agreement": "majority"}}
    answer = post(agent_client, "/api/v1/reviews", body, key="q-9")
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")
    assert ReviewRequest.objects.count() == 0
