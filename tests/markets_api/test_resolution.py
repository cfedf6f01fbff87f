import pytest
from django.test import Client

from apps.core.amounts import CREDIT
from apps.ledger.selectors import wallet_balance
from apps.markets.models import ClaimStatus, Resolution
from apps.markets.resolution import bond_for, resolution_challenge, resolutions_finalize_due
from apps.reviews import services as reviews
from apps.reviews.models import ReviewRequest
from tests import factories
from tests.factories import GRANT, closing_time_passes
from tests.support import bearer, iso, signed_in, snapshot

pytestmark = pytest.mark.django_db
EVIDENCE = {"outcome": "yes", "evidence": "The paper reports p = 0.03."}


def _post(client, path, body, **headers):
    return client.post(path, body, content_type="application/json", headers=headers)


@pytest.fixture
def closed_claim(claim, trader):
    factories.buy(trader, claim, "yes", credits=5, key="t")
    closing_time_passes(claim)
    return claim


def test_a_proposal_by_api_key_posts_the_bond(closed_claim):
    bot = factories.funded_agent(amount=100 * CREDIT)
    token = factories.api_key(bot, scopes=["read", "propose"])
    response = _post(Client(), f"/api/v1/claims/{closed_claim.pk}/resolution", EVIDENCE, **bearer(token))
    assert response.status_code == 201
    body = response.json()
    bond = bond_for(closed_claim.market)
    assert body | {"proposed_at": None, "challenge_deadline": None} == {
        "claim_id": closed_claim.pk,
        "state": "proposed",
        "proposed_outcome": "yes",
        "proposer_handle": bot.handle,
        "evidence": "The paper reports p = 0.03.",
        "bond": bond,
        "proposed_at": None,
        "challenge_deadline": None,
        "challenger_handle": None,
        "challenge_evidence": "",
        "challenged_at": None,
        "outcome": None,
        "decision_reason": "",
        "review_id": None,
        "review_outcome": None,
        "stands_at": None,
    }
    assert wallet_balance(bot) == 100 * CREDIT - bond
    status = Client().get(f"/api/v1/claims/{closed_claim.pk}/resolution").json()
    assert status["state"] == "proposed"


def test_a_key_without_the_propose_scope_is_403(closed_claim):
    token = factories.api_key(factories.agent(), scopes=["read", "trade"])
    before = snapshot()
    response = _post(Client(), f"/api/v1/claims/{closed_claim.pk}/resolution", EVIDENCE, **bearer(token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"
    assert snapshot() == before


def test_a_position_holder_cannot_propose(closed_claim, trader_client):
    before = snapshot()
    response = _post(trader_client, f"/api/v1/claims/{closed_claim.pk}/resolution", EVIDENCE)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "conflict_of_interest"
    assert snapshot() == before
    assert not Resolution.objects.exists()


def test_proposing_an_open_claim_is_409(claim):
    response = _post(signed_in(factories.verified_user()), f"/api/v1/claims/{claim.pk}/resolution", EVIDENCE)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"


def test_challenge_then_status_is_disputed(closed_claim):
    proposer, challenger = factories.verified_user(), factories.verified_user()
    assert _post(signed_in(proposer), f"/api/v1/claims/{closed_claim.pk}/resolution", EVIDENCE).status_code == 201
    own = _post(signed_in(proposer), f"/api/v1/claims/{closed_claim.pk}/resolution/challenge", {"evidence": "x"})
    assert own.status_code == 403
    response = _post(
        signed_in(challenger), f"/api/v1/claims/{closed_claim.pk}/resolution/challenge", {"evidence": "No."}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["challenger_handle"], body["outcome"]) == (
        "disputed",
        factories.human(challenger).handle,
        None,
    )
    closed_claim.refresh_from_db()
    assert closed_claim.status == ClaimStatus.DISPUTED
    assert wallet_balance(factories.human(challenger)) == GRANT - body["bond"]


def test_a_panels_answer_reads_with_when_it_stands_and_then_as_the_outcome(closed_claim):
    # given a disputed claim (the default policy sends it to a panel) that two of its panel answer NO
    panel = [factories.verified_human() for _ in range(3)]  # verified people with no stake, to invite
    factories.propose(closed_claim, "yes", factories.human())
    resolution_challenge(claim=closed_claim, challenger=factories.human(), evidence="It was retracted.")
    review = ReviewRequest.objects.get(checkpoint="resolution.dispute", subject=f"claim:{closed_claim.pk}")
    for person in panel[:2]:
        assignment = reviews.review_take_next(reviewer=person)
        reviews.review_decide(assignment_id=assignment.pk, reviewer=person, kind="answer", value="no")
    reviews.review_resume(request_id=review.pk)

    # then the resolution says what the panel answered and when it stands, the dispute still open
    body = Client().get(f"/api/v1/claims/{closed_claim.pk}/resolution").json()
    stands_at = Resolution.objects.get(claim=closed_claim).overrule_deadline
    assert (body["state"], body["outcome"], body["review_id"], body["review_outcome"]) == (
        "disputed",
        None,
        review.pk,
        "no",
    )
    assert body["stands_at"] == iso(stands_at)

    # and once it stands, it is the outcome
    resolutions_finalize_due(now=stands_at)
    body = Client().get(f"/api/v1/claims/{closed_claim.pk}/resolution").json()
    assert (body["state"], body["outcome"], body["review_outcome"]) == ("final", "no", "no")


def test_an_unchallenged_proposal_reads_final_once_its_window_passes(closed_claim):
    _post(signed_in(factories.verified_user()), f"/api/v1/claims/{closed_claim.pk}/resolution", EVIDENCE)
    factories.challenge_window_passes(closed_claim)
    body = Client().get(f"/api/v1/claims/{closed_claim.pk}/resolution").json()
    assert (body["state"], body["outcome"]) == ("final", "yes")
    late = _post(
        signed_in(factories.verified_user()),
        f"/api/v1/claims/{closed_claim.pk}/resolution/challenge",
        {"evidence": "x"},
    )
    assert late.status_code == 409


def test_no_resolution_yet_is_404(claim):
    response = Client().get(f"/api/v1/claims/{claim.pk}/resolution")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
