"""Flags and appeals over REST: who may, the error shape of each refusal, nothing written on a refusal; what a
hidden clarification and rationale look like in the API."""

import pytest
from django.test import Client, override_settings

from apps.moderation import services
from apps.moderation.models import Appeal, Flag
from apps.reviews.models import ReviewRequest
from tests import factories
from tests.support import bearer, signed_in

pytestmark = pytest.mark.django_db


def flag(client, body: dict, **headers):
    return client.post("/api/v1/moderation/flags", body, content_type="application/json", headers=headers)


@pytest.fixture
def claim(db):
    return factories.new_claim(factories.human())


def test_a_person_flags_and_reads_their_flags(claim):
    person = factories.human()
    browser = signed_in(person.user)
    answer = flag(browser, {"target_type": "claim", "target_id": claim.pk, "reason": "misleading", "note": "Dates"})
    assert answer.status_code == 201
    body = answer.json()
    stored = Flag.objects.get()
    assert body == {
        "id": stored.pk,
        "target_type": "claim",
        "target_id": claim.pk,
        "reason": "misleading",
        "note": "Dates",
        "status": "open",
        "decision_reason": "",
        "created_at": body["created_at"],
        "decided_at": None,
    }
    again = flag(browser, {"target_type": "claim", "target_id": claim.pk, "reason": "spam"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_flagged"
    mine = browser.get("/api/v1/me/flags").json()
    assert [item["id"] for item in mine["items"]] == [stored.pk] and mine["next_cursor"] is None


def test_an_agent_flags_with_its_key(claim):
    bot = factories.agent()
    token = factories.api_key(bot, scopes=["read"])
    answer = flag(
        Client(), {"target_type": "identity", "target_id": claim.author_id, "reason": "spam"}, **bearer(token)
    )
    assert answer.status_code == 201
    assert Flag.objects.get().flagger == bot


def test_refusals_have_the_error_shape_and_write_nothing(claim):
    author = signed_in(claim.author.user)
    own = flag(author, {"target_type": "claim", "target_id": claim.pk, "reason": "spam"})
    assert (own.status_code, own.json()["error"]["code"]) == (403, "permission_denied")
    missing = flag(signed_in(factories.verified_user()), {"target_type": "claim", "target_id": 10**9, "reason": "spam"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    unknown = flag(signed_in(factories.verified_user()), {"target_type": "market", "target_id": 1, "reason": "spam"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "validation_failed")
    anonymous = flag(Client(), {"target_type": "claim", "target_id": claim.pk, "reason": "spam"})
    assert anonymous.status_code == 401
    assert Flag.objects.count() == 0 and ReviewRequest.objects.count() == 0


@override_settings(CREDENCE_FLAGS_PER_DAY=1)
def test_the_flag_limit_answers_429(claim):
    browser = signed_in(factories.verified_user())
    assert flag(browser, {"target_type": "claim", "target_id": claim.pk, "reason": "spam"}).status_code == 201
    limited = flag(browser, {"target_type": "identity", "target_id": claim.author_id, "reason": "spam"})
    assert (limited.status_code, limited.json()["error"]["code"]) == (429, "flag_rate_limited")
    assert Flag.objects.count() == 1


def test_the_person_affected_reads_the_action_and_appeals_once(claim):
    moderator = factories.moderator()
    action = services.moderation_act(
        moderator=moderator, kind="hide", target_type="claim", target_id=claim.pk, reason="Off-topic"
    )
    author = signed_in(claim.author.user)
    shown = author.get(f"/api/v1/moderation/actions/{action.pk}").json()
    assert shown == {
        "id": action.pk,
        "kind": "hide",
        "target_type": "claim",
        "target_id": claim.pk,
        "reason": "Off-topic",
        "appealable": True,
        "appeal": None,
        "undone": False,
        "created_at": shown["created_at"],
    }
    assert [a["id"] for a in author.get("/api/v1/me/moderation").json()] == [action.pk]
    stranger = signed_in(factories.verified_user())
    assert stranger.get(f"/api/v1/moderation/actions/{action.pk}").status_code == 404
    refused = stranger.post(
        f"/api/v1/moderation/actions/{action.pk}/appeal",
        {"statement": "Not mine, but still."},
        content_type="application/json",
    )
    assert refused.status_code == 404
    appealed = author.post(
        f"/api/v1/moderation/actions/{action.pk}/appeal",
        {"statement": "It is on topic: see the domain."},
        content_type="application/json",
    )
    assert appealed.status_code == 201 and appealed.json()["status"] == "open"
    twice = author.post(
        f"/api/v1/moderation/actions/{action.pk}/appeal",
        {"statement": "Once more, please."},
        content_type="application/json",
    )
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "already_appealed")
    assert Appeal.objects.count() == 1
    after = author.get(f"/api/v1/moderation/actions/{action.pk}").json()
    assert after["appealable"] is False and after["appeal"]["statement"] == "It is on topic: see the domain."


def test_an_agent_key_does_not_reach_a_persons_actions(claim):
    token = factories.api_key(factories.agent(claim.author.user), scopes=["read"])
    refused = Client().get("/api/v1/me/moderation", headers=bearer(token))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "session_required")


def test_hidden_words_in_the_api(claim):
    moderator = factories.moderator()
    services.moderation_act(
        moderator=moderator, kind="clarify", target_type="claim", target_id=claim.pk, reason="Ambiguous",
        text="June means 30 June.",
    )  # fmt: skip
    from apps.markets.services import claim_clarify

    own = claim_clarify(claim=claim, actor=claim.author, text="Buy my course at example.com")
    services.moderation_act(
        moderator=moderator, kind="hide", target_type="clarification", target_id=own.pk, reason="Advertising"
    )
    detail = Client().get(f"/api/v1/claims/{claim.pk}").json()
    assert [(c["text"], c["by_moderators"], c["hidden"], c["hidden_reason"]) for c in detail["clarifications"]] == [
        ("June means 30 June.", True, False, ""),
        ("", False, True, "Advertising"),
    ]
    assert (detail["unlisted"], detail["unlisted_reason"]) == (False, "")
    believer = factories.human()
    belief = factories.state(believer, claim, "0.3", rationale="Pills at example.com")
    services.moderation_act(moderator=moderator, kind="hide", target_type="belief", target_id=belief.pk, reason="Spam")
    mine = signed_in(believer.user).get("/api/v1/me/beliefs").json()["items"][0]
    assert (mine["rationale"], mine["rationale_hidden"], mine["rationale_hidden_reason"]) == (
        "Pills at example.com", True, "Spam",
    )  # fmt: skip


@pytest.mark.parametrize("target_id", [1.5, True, "1", -1, 0, 2**63])
def test_a_target_id_that_is_not_a_positive_integer_is_refused(claim, target_id):
    answer = flag(
        signed_in(factories.verified_user()), {"target_type": "claim", "target_id": target_id, "reason": "spam"}
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "validation_failed")
    assert Flag.objects.count() == 0


def test_a_person_and_their_agents_are_one_party_when_flagging(claim):
    """An agent cannot flag its owner's claim, nor its owner the agent: the same party either way."""
    author = claim.author
    bot = factories.agent(author.user)
    token = factories.api_key(bot, scopes=["read"])
    by_agent = flag(Client(), {"target_type": "claim", "target_id": claim.pk, "reason": "spam"}, **bearer(token))
    by_owner = flag(signed_in(author.user), {"target_type": "identity", "target_id": bot.pk, "reason": "spam"})
    assert [(r.status_code, r.json()["error"]["code"]) for r in (by_agent, by_owner)] == [
        (403, "permission_denied"),
        (403, "permission_denied"),
    ]
    assert Flag.objects.count() == 0
