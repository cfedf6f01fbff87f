"""Stating beliefs over the API, and reading mine back."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.core.models import Event
from apps.reputation.models import Belief, Consensus
from tests import factories
from tests.factories import closing_time_passes, new_claim, state
from tests.support import bearer, belief_snapshot, iso

pytestmark = pytest.mark.django_db


def _state(client, claim, body, key="belief-1", headers=None):
    headers = (headers or {}) | ({"Idempotency-Key": key} if key is not None else {})
    claim_id = claim if isinstance(claim, int) else claim.pk
    return client.post(f"/api/v1/claims/{claim_id}/beliefs", body, content_type="application/json", headers=headers)


# --- stating --------------------------------------------------------------------------------------------


def test_a_belief_returns_itself_and_the_claims_consensus_now(claim, alice, alice_client):
    response = _state(alice_client, claim, {"probability": "0.7", "rationale": "  The original effect was large. "})
    assert response.status_code == 201
    belief = Belief.objects.get()
    consensus = Consensus.objects.get(claim=claim)
    assert response.json() == {
        "id": belief.pk,
        "claim_id": claim.pk,
        "claim_title": "Will the experiment replicate?",
        "probability": "0.7",
        "rationale": "The original effect was large.",
        "rationale_hidden": False,
        "rationale_hidden_reason": "",
        "market_price": "0.5",
        "idempotency_key": "belief-1",
        "created_at": iso(belief.created_at),
        "replayed": False,
        "consensus": {
            "probability": "0.7",  # one voice: the consensus is its belief
            "contributors": 1,
            "owners": 1,
            "humans": 1,
            "agents": 0,
            "updated_at": iso(consensus.updated_at),
        },
    }
    assert (belief.identity, str(belief.probability), belief.market_price) == (alice, "0.700000", 0.5)
    event = Event.objects.get(kind="belief.stated")
    assert (event.subject, event.actor_identity_id) == (f"claim:{claim.pk}", alice.pk)


def test_an_agent_states_a_belief_with_a_trade_key(claim, alice, bot, bot_token):
    state(alice, claim, "0.3")
    response = _state(Client(), claim, {"probability": 0.9}, headers=bearer(bot_token))
    assert response.status_code == 201
    body = response.json()
    assert (body["probability"], body["rationale"]) == ("0.9", "")
    # Alice and her agent are one owner: two contributors, one independent voice.
    assert body["consensus"] | {"updated_at": None} == {
        "probability": "0.662614",  # equal weights: sigmoid((logit(0.3) + logit(0.9)) / 2)
        "contributors": 2,
        "owners": 1,
        "humans": 1,
        "agents": 1,
        "updated_at": None,
    }
    assert Belief.objects.get(pk=body["id"]).identity == bot


def test_a_belief_needs_the_trade_scope_and_credentials(claim, bot):
    read_only = factories.api_key(bot, scopes=["read"])
    before = belief_snapshot()
    refused = _state(Client(), claim, {"probability": "0.6"}, headers=bearer(read_only))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    anonymous = _state(Client(), claim, {"probability": "0.6"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert belief_snapshot() == before


def test_a_retry_replays_the_first_belief_and_a_changed_one_conflicts(author, domain, claim, alice_client):
    first = _state(alice_client, claim, {"probability": "0.70"}, key="same")
    before = belief_snapshot()
    again = _state(alice_client, claim, {"probability": 0.7}, key="same")  # the same number, spelt otherwise
    assert again.status_code == 200
    assert again.json() == first.json() | {"replayed": True}
    assert belief_snapshot() == before
    changed = _state(alice_client, claim, {"probability": "0.71"}, key="same")
    assert changed.status_code == 409
    assert changed.json()["error"] == {
        "code": "idempotency_conflict",
        "message": "This Idempotency-Key was already used with a different request.",
        "detail": {"idempotency_key": "same"},
    }
    assert _state(alice_client, claim, {"probability": "0.7", "rationale": "Why not"}, key="same").status_code == 409
    assert belief_snapshot() == before
    elsewhere = new_claim(author, domain)
    before = belief_snapshot()
    assert _state(alice_client, elsewhere, {"probability": "0.7"}, key="same").status_code == 409
    assert belief_snapshot() == before
    assert Belief.objects.count() == 1


def test_a_retry_after_the_close_still_replays(claim, alice_client):
    first = _state(alice_client, claim, {"probability": "0.4"}, key="k")
    closing_time_passes(claim)
    again = _state(alice_client, claim, {"probability": "0.4"}, key="k")
    assert (again.status_code, again.json()["id"], again.json()["replayed"]) == (200, first.json()["id"], True)


BAD_BODIES = [
    ("zero", {"probability": 0}),
    ("zero string", {"probability": "0"}),
    ("one", {"probability": 1}),
    ("one string", {"probability": "1.0"}),
    ("negative", {"probability": -0.1}),
    ("above one", {"probability": 1.5}),
    ("not a number", {"probability": "abc"}),
    ("seven decimals", {"probability": "0.1234567"}),
    ("seven decimals as a number", {"probability": 0.1234567}),
    ("missing", {}),
    ("null", {"probability": None}),
    ("nan", {"probability": "NaN"}),
    ("rationale too long", {"probability": "0.6", "rationale": "x" * 2001}),
    ("rationale with NUL", {"probability": "0.6", "rationale": "a\x00b"}),
]


@pytest.mark.parametrize(("name", "body"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_bad_belief_is_422_and_writes_nothing(claim, alice_client, name, body):
    before = belief_snapshot()
    response = _state(alice_client, claim, body)
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("validation_failed", "The request is not valid.")
    assert error["detail"][0]["loc"][:2] == ["body", "payload"]
    assert belief_snapshot() == before
    assert not Consensus.objects.filter(claim=claim).exists()


def test_an_unparseable_body_is_400_and_writes_nothing(claim, alice_client):
    before = belief_snapshot()
    response = alice_client.post(
        f"/api/v1/claims/{claim.pk}/beliefs", "{nope", content_type="application/json", headers={"Idempotency-Key": "k"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_body"
    assert belief_snapshot() == before


def test_a_missing_idempotency_key_is_refused(claim, alice_client):
    before = belief_snapshot()
    response = _state(alice_client, claim, {"probability": "0.6"}, key=None)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert _state(alice_client, claim, {"probability": "0.6"}, key="k" * 121).status_code == 422
    assert belief_snapshot() == before


def test_an_unknown_claim_is_404(alice_client):
    before = belief_snapshot()
    response = _state(alice_client, 999_999, {"probability": "0.6"})
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such claim.", "detail": None}}
    assert belief_snapshot() == before


def test_someone_elses_draft_is_404_and_my_own_draft_is_not_open(author, domain, alice, alice_client):
    draft = new_claim(author, domain, publish=False)
    before = belief_snapshot()
    response = _state(alice_client, draft, {"probability": "0.6"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    mine = new_claim(alice, domain, publish=False)
    refused = _state(alice_client, mine, {"probability": "0.6"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "claim_not_open"
    assert belief_snapshot() == before


def test_a_closed_claim_is_409_and_nothing_is_stored(claim, alice_client):
    closing_time_passes(claim)
    before = belief_snapshot()
    response = _state(alice_client, claim, {"probability": "0.6"})
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "claim_not_open",
        "message": "Beliefs can be stated only while the claim is open.",
        "detail": None,
    }
    assert belief_snapshot() == before


# --- mine -----------------------------------------------------------------------------------------------


def test_my_beliefs_are_mine_newest_first_and_filtered_by_claim(author, domain, claim, alice, bot, bot_token):
    other = new_claim(author, domain)
    first = state(bot, claim, "0.6", key="a")
    second = state(bot, other, "0.2", key="b")
    third = state(bot, claim, "0.65", key="c")
    state(alice, claim, "0.1", key="not-the-bots")
    body = Client().get("/api/v1/me/beliefs", headers=bearer(bot_token)).json()
    assert [b["id"] for b in body["items"]] == [third.pk, second.pk, first.pk]
    assert body["items"][0] == {
        "id": third.pk,
        "claim_id": claim.pk,
        "claim_title": "Will the experiment replicate?",
        "probability": "0.65",
        "rationale": "",
        "rationale_hidden": False,
        "rationale_hidden_reason": "",
        "market_price": "0.5",
        "idempotency_key": "c",
        "created_at": iso(third.created_at),
    }
    assert body["next_cursor"] is None
    only = Client().get("/api/v1/me/beliefs", {"claim_id": claim.pk}, headers=bearer(bot_token)).json()
    assert [b["id"] for b in only["items"]] == [third.pk, first.pk]
    page = Client().get("/api/v1/me/beliefs", {"limit": 2}, headers=bearer(bot_token)).json()
    assert ([b["id"] for b in page["items"]], page["next_cursor"]) == ([third.pk, second.pk], str(second.pk))
    rest = Client().get("/api/v1/me/beliefs", {"limit": 2, "cursor": page["next_cursor"]}, headers=bearer(bot_token))
    assert ([b["id"] for b in rest.json()["items"]], rest.json()["next_cursor"]) == ([first.pk], None)


def test_my_beliefs_need_credentials_with_read_and_a_good_cursor(bot):
    assert Client().get("/api/v1/me/beliefs").status_code == 401
    refused = Client().get("/api/v1/me/beliefs", headers=bearer(factories.api_key(bot, scopes=["trade"])))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "missing_scope")
    bad = Client().get("/api/v1/me/beliefs", {"cursor": "x"}, headers=bearer(factories.api_key(bot, scopes=["read"])))
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_cursor")


def test_my_beliefs_are_one_query_a_page_however_many(author, domain, bot, bot_token):
    claims = [new_claim(author, domain) for _ in range(3)]
    state(bot, claims[0], "0.6", key="first")
    Client().get("/api/v1/me/beliefs", headers=bearer(bot_token))  # writes the key's last_used_at

    def read() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            items = Client().get("/api/v1/me/beliefs", headers=bearer(bot_token)).json()["items"]
        return len(items), len(queries)

    assert read() == (1, 2)  # the key with its identity, one page with each belief's claim
    for n in range(24):
        state(bot, claims[n % 3], f"0.{n + 10}", key=f"more-{n}")
    assert read() == (25, 2)
