"""A policy can hold a new author's claim for a reviewer before it opens (checkpoint `claim.publish`): the claim
stays a draft, its subsidy held; approved, it opens with that subsidy; rejected, the subsidy comes back and the
author may publish again."""

import pytest
from django.test import Client

from apps.ledger.selectors import wallet_balance
from apps.markets.checkpoints import PublishPaused
from apps.markets.models import Claim, ClaimStatus, Market
from apps.markets.services import claim_publish
from apps.reviews import services as reviews
from tests import factories
from tests.support import bearer

pytestmark = pytest.mark.django_db


def hold_new_authors():
    return factories.policy("claim.publish", "actor.settled_claims < 1 && actor.claims_opened < 3", key="new-authors")


@pytest.fixture
def new_authors_policy():
    return hold_new_authors()


@pytest.fixture
def staff():
    return factories.staff_member()


def decide(staff, kind, **decision):
    assignment = reviews.review_take_next(reviewer=staff)
    return reviews.review_decide(assignment_id=assignment.pk, reviewer=staff, kind=kind, **decision)


def test_a_new_authors_claim_waits_as_a_draft_with_its_subsidy_held(new_authors_policy):
    author = factories.human()
    draft = factories.new_claim(author, factories.domain(), publish=False)
    paused = claim_publish(claim=draft, actor=author)
    assert isinstance(paused, PublishPaused)
    review = paused.review
    assert (review.checkpoint, review.pool, review.held) == ("claim.publish", "staff", factories.SUBSIDY)
    assert review.why["clauses"] == [
        {"clause": "actor.settled_claims < 1", "value": True},
        {"clause": "actor.claims_opened < 3", "value": True},
    ]
    assert Claim.objects.get(pk=draft.pk).status == ClaimStatus.DRAFT
    assert not Market.objects.filter(claim=draft).exists()
    assert wallet_balance(author) == factories.GRANT - factories.SUBSIDY
    # publishing again while it waits answers the same review
    again = claim_publish(claim=draft, actor=author)
    assert (again.review.pk, again.replayed) == (review.pk, True)


def test_approved_the_claim_opens_with_the_subsidy_it_held(new_authors_policy, staff):
    author = factories.human()
    draft = factories.new_claim(author, factories.domain(), publish=False)
    review = claim_publish(claim=draft, actor=author).review
    decide(staff, "approve")
    result = reviews.review_resume(request_id=review.pk)
    market = Market.objects.get(claim=draft)
    assert result == {"continued": True, "published": True, "market": market.pk}
    assert Claim.objects.get(pk=draft.pk).status == ClaimStatus.OPEN
    assert wallet_balance(author) == factories.GRANT - factories.SUBSIDY


def test_rejected_the_claim_stays_a_draft_and_the_subsidy_comes_back(new_authors_policy, staff):
    author = factories.human()
    draft = factories.new_claim(author, factories.domain(), publish=False)
    review = claim_publish(claim=draft, actor=author).review
    decide(staff, "reject", reason="The criteria name no source.")
    assert reviews.review_resume(request_id=review.pk) == {"continued": True, "published": False, "state": "rejected"}
    assert Claim.objects.get(pk=draft.pk).status == ClaimStatus.DRAFT
    assert wallet_balance(author) == factories.GRANT
    # edited and published again, it is a new review
    second = claim_publish(claim=draft, actor=author)
    assert second.review.pk != review.pk and second.replayed is False


def test_an_author_with_a_track_record_publishes_at_once():
    author = factories.human()
    traded = factories.new_claim(factories.human(), factories.domain())
    factories.buy(author, traded, "yes", credits=1)
    factories.resolve(traded, "yes")
    hold_new_authors()
    claim = factories.new_claim(author, factories.domain())
    assert claim.status == ClaimStatus.OPEN


def test_through_the_api_a_held_publication_answers_202(new_authors_policy):
    bot = factories.funded_agent(handle="new-author-bot")
    client = Client(headers=bearer(factories.api_key(bot, scopes=["read", "trade"])))
    body = {
        "title": "Will the bridge reopen by June?",
        "criteria": "Resolves YES if the city's notice says it reopened by 30 June.",
        "domain": "science",
        "closes_at": "2027-06-01T00:00:00Z",
        "resolve_by": "2027-07-01T00:00:00Z",
        "liquidity": factories.LIQUIDITY,
        "publish": True,
    }
    answer = client.post("/api/v1/claims", body, content_type="application/json")
    assert answer.status_code == 202, answer.content
    held = answer.json()
    assert answer["Location"] == f"/api/v1/reviews/{held['review_id']}"
    assert Claim.objects.get(pk=held["claim_id"]).status == ClaimStatus.DRAFT
    again = client.post(f"/api/v1/claims/{held['claim_id']}/publish")
    assert (again.status_code, again.json()["review_id"], again.json()["replayed"]) == (202, held["review_id"], True)
