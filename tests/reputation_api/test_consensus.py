"""A claim's consensus over the API, explained; and the consensus beside the price in the claim pages."""

import math

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.markets.models import Position
from apps.reputation import maths
from apps.reputation.models import ClaimRecord, Consensus
from apps.reputation.selectors import as_decimal, calibration_factors
from tests import factories
from tests.factories import buy, new_claim, resolve, state
from tests.support import bearer, iso, signed_in

pytestmark = pytest.mark.django_db


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _pooled(voices: list[tuple[float, float]]) -> float:
    """sigmoid of the weighted mean log-odds of (weight, probability) pairs (alpha = 1: no history yet)."""
    total = sum(w for w, _ in voices)
    return _sigmoid(sum(w * _logit(p) for w, p in voices) / total)


def _consensus(claim, **params):
    return Client().get(f"/api/v1/claims/{claim.pk}/consensus", params)


def test_the_consensus_explains_each_contributors_weight_and_pull(claim, alice, bot):
    first, second = factories.human(), factories.human()
    beliefs = [state(first, claim, "0.8"), state(second, claim, "0.6"), state(alice, claim, "0.3")]
    beliefs.append(state(bot, claim, "0.9"))
    response = _consensus(claim)
    assert response.status_code == 200
    body = response.json()
    # Everyone is new, so every raw weight is a newcomer's (maths.NEWCOMER_WEIGHT). Alice and her agent are
    # one owner: together they weigh what one of them weighs alone, half each.
    probability = _pooled([(2, 0.8), (2, 0.6), (1, 0.3), (1, 0.9)])
    without = {
        first: _pooled([(2, 0.6), (1, 0.3), (1, 0.9)]),
        second: _pooled([(2, 0.8), (1, 0.3), (1, 0.9)]),
        alice: _pooled([(2, 0.8), (2, 0.6), (2, 0.9)]),  # the agent alone: its owner's full weight
        bot: _pooled([(2, 0.8), (2, 0.6), (2, 0.3)]),
    }
    assert str(round(probability, 6)) == "0.694712"
    expected_pooled_logit = (2 * _logit(0.8) + 2 * _logit(0.6) + _logit(0.3) + _logit(0.9)) / 6
    assert body.pop("pooled_logit") == pytest.approx(expected_pooled_logit, rel=1e-12)
    contributors = body.pop("top_contributors")
    assert body == {
        "claim_id": claim.pk,
        "probability": "0.694712",
        "alpha": 1.0,
        "price_yes": "0.5",
        "contributors": 4,
        "owners": 3,
        "independent_groups": 3,
        "humans": {"count": 3, "weight": pytest.approx(5 / 6, rel=1e-12)},
        "agents": {"count": 1, "weight": pytest.approx(1 / 6, rel=1e-12)},
        "at_close": False,
    }
    rows = [
        (first, "human", None, "0.8", 1 / 3, beliefs[0]),
        (second, "human", None, "0.6", 1 / 3, beliefs[1]),
        (alice, "human", None, "0.3", 1 / 6, beliefs[2]),
        (bot, "agent", alice.handle, "0.9", 1 / 6, beliefs[3]),
    ]
    assert contributors == [
        {
            "handle": identity.handle,
            "kind": kind,
            "owner": owner,
            "belief": belief,
            "source": "belief",
            "at": iso(stated.created_at),
            "weight": pytest.approx(share, rel=1e-12),
            "raw_weight": pytest.approx(maths.NEWCOMER_WEIGHT, rel=1e-12),
            "calibration": 1.0,  # no resolved record yet
            "read_as": belief,
            "counted_with": [],
            "pull": pytest.approx(probability - without[identity], rel=1e-9),
            "capped_unverified": False,  # every one of them is (or is the agent of) a verified human
            "forecasts_in_domain": 0,
            "beat_market_in_domain": 0,
        }
        for identity, kind, owner, belief, share, stated in rows
    ]


def test_each_contributors_weight_says_what_record_earned_it(author, domain, resolver):
    # given a source with six resolved forecasts in the domain, four of them ahead of the market, one in
    # another domain, and a newcomer
    veteran, newcomer = factories.human(), factories.human()
    for outcome in ("yes", "yes", "no", "yes", "no", "yes"):
        claim = new_claim(author, domain)
        state(veteran, claim, "0.7")
        resolve(claim, outcome, resolver)

    # when a claim with both is explained
    claim = new_claim(author, domain)
    state(veteran, claim, "0.6")
    state(newcomer, claim, "0.4")
    body = _consensus(claim).json()

    # then each says how many resolved forecasts in the domain its weight was earned by, and how many of
    # those beat the market
    earned = {c["handle"]: (c["forecasts_in_domain"], c["beat_market_in_domain"]) for c in body["top_contributors"]}
    assert earned == {veteran.handle: (6, 4), newcomer.handle: (0, 0)}


def test_a_contributor_with_an_overconfident_record_is_read_as_less_sure(author, domain, resolver):
    # given a person who said 0.9 on four resolved claims, of which two came true
    person = factories.human()
    for n, outcome in enumerate(["yes", "no", "yes", "no"]):
        earlier = new_claim(author, domain)
        state(person, earlier, "0.9", key=f"earlier-{n}")
        resolve(earlier, outcome, resolver)
    claim = new_claim(author, domain)
    state(person, claim, "0.9")

    (contributor,) = _consensus(claim).json()["top_contributors"]

    factor = calibration_factors([person.user_id], domain.pk)[person.user_id]
    assert factor < 0.8
    assert contributor["calibration"] == pytest.approx(factor, rel=1e-12)
    assert contributor["read_as"] == str(as_decimal(maths.recalibrated(0.9, factor)))
    assert float(contributor["read_as"]) < 0.85


def test_owners_found_to_copy_each_other_are_named_and_counted_as_one(author, domain, resolver):
    # given a person whose agent has stated exactly what another person stated on four resolved claims
    original, owner = factories.human(), factories.verified_user()
    owner_self, copier = factories.human(owner), factories.agent(owner=owner, handle="copy-bot")
    for n in range(4):
        earlier = new_claim(author, domain)
        state(original, earlier, "0.75", key=f"o{n}")
        state(copier, earlier, "0.75", key=f"c{n}")
        resolve(earlier, "yes", resolver)
    claim = new_claim(author, domain)
    for who, probability in ((original, "0.75"), (copier, "0.75"), (owner_self, "0.4"), (factories.human(), "0.5")):
        state(who, claim, probability)

    body = _consensus(claim).json()

    # then the two owners are named on each other's rows, and count as one independent source
    assert (body["contributors"], body["owners"], body["independent_groups"]) == (4, 3, 2)
    counted = {c["handle"]: c["counted_with"] for c in body["top_contributors"]}
    assert counted == {
        original.handle: [owner_self.handle],
        copier.handle: [original.handle],
        owner_self.handle: [original.handle],
        next(h for h in counted if h not in (original.handle, copier.handle, owner_self.handle)): [],
    }


def test_top_limits_the_explanation_not_the_counts(claim, alice, bot):
    for probability in ("0.2", "0.4", "0.6"):
        state(factories.human(), claim, probability)
    body = _consensus(claim, top=2).json()
    assert (body["contributors"], len(body["top_contributors"])) == (3, 2)
    for top in (0, 101, "x"):
        refused = _consensus(claim, top=top)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "validation_failed")


def test_a_trade_counts_as_its_traders_belief(claim):
    trader = factories.human()
    buy(trader, claim, "yes", credits=10)
    body = _consensus(claim).json()
    position = Position.objects.get(identity=trader)
    assert str(position.last_belief) == "0.547133"  # no stated belief: the price the trade moved to
    assert body["price_yes"] == "0.54713312806414115736"
    assert body["probability"] == "0.547133"
    assert body["top_contributors"] == [
        {
            "handle": trader.handle,
            "kind": "human",
            "owner": None,
            "belief": "0.547133",
            "source": "trade",
            "at": iso(position.updated_at),
            "weight": 1.0,
            "raw_weight": pytest.approx(maths.NEWCOMER_WEIGHT, rel=1e-12),
            "calibration": 1.0,
            "read_as": "0.547133",
            "counted_with": [],
            "pull": pytest.approx(0.047133, abs=1e-9),  # alone, against nobody's 0.5
            "capped_unverified": False,
            "forecasts_in_domain": 0,
            "beat_market_in_domain": 0,
        }
    ]


def test_a_claim_without_forecasts_has_no_consensus(claim):
    assert _consensus(claim).json() == {
        "claim_id": claim.pk,
        "probability": None,
        "pooled_logit": None,
        "alpha": 1.0,
        "price_yes": "0.5",
        "contributors": 0,
        "owners": 0,
        "independent_groups": 0,
        "humans": {"count": 0, "weight": 0},
        "agents": {"count": 0, "weight": 0},
        "top_contributors": [],
        "at_close": False,
    }


def test_a_draft_is_404_except_to_its_author(author, domain, alice_user, bot_token):
    draft = new_claim(author, domain, publish=False)
    for client, headers in ((Client(), {}), (signed_in(alice_user), {}), (Client(), bearer(bot_token))):
        response = client.get(f"/api/v1/claims/{draft.pk}/consensus", headers=headers)
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "No such claim.", "detail": None}}
    mine = signed_in(author.user).get(f"/api/v1/claims/{draft.pk}/consensus")
    assert (mine.status_code, mine.json()["price_yes"], mine.json()["probability"]) == (200, None, None)
    assert Client().get("/api/v1/claims/999999/consensus").status_code == 404


def test_sent_credentials_are_checked(claim, bot):
    url = f"/api/v1/claims/{claim.pk}/consensus"
    assert Client().get(url, headers=bearer("cred_nope")).status_code == 401
    refused = Client().get(url, headers=bearer(factories.api_key(bot, scopes=["trade"])))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "missing_scope")
    assert Client().get(url, headers=bearer(factories.api_key(bot, scopes=["read"]))).status_code == 200


def test_the_consensus_is_a_fixed_number_of_queries_however_many_contributors(claim, alice_user):
    def read() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            body = _consensus(claim, top=100).json()
        return len(body["top_contributors"]), len(queries)

    state(factories.agent(alice_user, handle="first-bot"), claim, "0.6")
    # the claim; its record (none: not scored); latest beliefs, positions; the extremizing fit; the weights;
    # the domain's population; the owners' calibration; the copy groups among the owners; the explained
    # contributors' forecasts that beat the market; the agents' owners
    assert read() == (1, 11)
    owner = factories.verified_user()
    for n in range(8):
        state(factories.human(), claim, f"0.{n + 1}")
        state(factories.agent(owner, handle=f"bot-{n}"), claim, f"0.{n + 1}5")
    for n in range(3):
        buy(factories.human(), claim, "no" if n % 2 else "yes", credits=2, key=f"trade-{n}")
    assert read() == (20, 11)


# --- beside the price -----------------------------------------------------------------------------------


def test_the_claim_list_and_detail_show_the_consensus_beside_the_price(author, domain, claim, alice):
    quiet = new_claim(author, domain)
    state(alice, claim, "0.7")
    stored = Consensus.objects.get(claim=claim)
    assert str(stored.probability) == "0.700000"
    items = Client().get("/api/v1/claims").json()["items"]
    assert [(c["id"], c["price_yes"], c["consensus"]) for c in items] == [
        (quiet.pk, "0.5", None),
        (claim.pk, "0.5", "0.7"),
    ]
    detail = Client().get(f"/api/v1/claims/{claim.pk}").json()
    assert (detail["market"]["price_yes"], detail["consensus"]) == ("0.5", "0.7")
    assert Client().get(f"/api/v1/claims/{quiet.pk}").json()["consensus"] is None


def test_the_claim_list_stays_one_query_with_the_consensus(author, domain, django_assert_num_queries):
    claims = [new_claim(author, domain, liquidity=10_000_000) for _ in range(2)]
    state(factories.human(), claims[0], "0.3")
    with django_assert_num_queries(1):
        assert len(Client().get("/api/v1/claims").json()["items"]) == 2
    more = [new_claim(author, domain, liquidity=10_000_000) for _ in range(10)]
    for n, claim in enumerate(more):
        state(factories.human(), claim, f"0.{n}5")
    with django_assert_num_queries(1):
        items = Client().get("/api/v1/claims").json()["items"]
    assert [c["consensus"] for c in items[:3]] == ["0.95", "0.85", "0.75"]
    assert len(items) == 12


def test_a_scored_claim_shows_its_consensus_as_it_stood_at_close(claim, alice, bot):
    # given two voices, then the claim resolves (its scores now move both voices' weights)
    state(alice, claim, "0.8")
    state(bot, claim, "0.6")
    before = _consensus(claim).json()
    resolve(claim, "yes", factories.human())

    # when the consensus is read after scoring
    after = _consensus(claim).json()

    # then it is the record's consensus at close, the same figure the claim list shows, and says so
    record = ClaimRecord.objects.get(claim=claim)
    assert (after["at_close"], after["probability"], before["probability"]) == (
        True,
        before["probability"],
        str(record.consensus.normalize()),
    )
    assert Consensus.objects.get(claim=claim).probability == record.consensus
    assert after["pooled_logit"] == pytest.approx(before["pooled_logit"], abs=1e-12)
    assert after["contributors"] == 2
