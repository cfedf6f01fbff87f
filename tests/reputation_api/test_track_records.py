"""Track records over the API: an identity's, the leaderboards, and the platform's own."""

import math

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.identities.services import identity_suspend
from apps.reputation import maths
from apps.reputation.models import ClaimRecord, Reliability
from tests import factories
from tests.factories import history
from tests.support import bearer, iso

pytestmark = pytest.mark.django_db

EMPTY_BUCKETS = [
    {"low": i / 10, "high": (i + 1) / 10, "count": 0, "mean_forecast": None, "observed": None} for i in range(10)
]


def _buckets(**filled) -> list[dict]:
    """The calibration table with some buckets filled: bucket_8=(count, mean_forecast, observed)."""
    table = [dict(bucket) for bucket in EMPTY_BUCKETS]
    for name, (count, mean, observed) in filled.items():
        table[int(name.removeprefix("bucket_"))] |= {
            "count": count,
            "mean_forecast": pytest.approx(mean, rel=1e-12),
            "observed": pytest.approx(observed, rel=1e-12),
        }
    return table


def _calibration(forecasts: list[float], outcome: bool = True) -> list[dict]:
    """The calibration table of forecasts on claims that all resolved `outcome`."""
    by_bucket: dict[int, list[float]] = {}
    for p in forecasts:
        by_bucket.setdefault(min(int(p * 10), 9), []).append(p)
    return _buckets(
        **{f"bucket_{i}": (len(ps), sum(ps) / len(ps), 1.0 if outcome else 0.0) for i, ps in by_bucket.items()}
    )


def _queries(url: str, params: dict | None = None) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        response = Client().get(url, params or {})
    assert response.status_code == 200, response.json()
    return response.json(), len(queries)


# --- an identity's track record -------------------------------------------------------------------------


def test_a_track_record_has_scores_by_domain_calibration_and_reliability(author, domain, other_domain, resolver, alice):
    history({alice: "0.8"}, author, domain, resolver, outcome="yes", claims=2)
    history({alice: "0.8"}, author, other_domain, resolver, outcome="no")
    response = Client().get(f"/api/v1/identities/{alice.handle.upper()}/track-record")
    assert response.status_code == 200
    right, wrong = (0.8, 0.04, math.log(0.8), math.log(1.6)), (0.8, 0.64, math.log(0.2), math.log(0.4))
    science = maths.Stats(2, 2 * right[3], 2 * right[3] ** 2)
    economics = maths.Stats(1, wrong[3], wrong[3] ** 2)
    overall = maths.Stats(3, 2 * right[3] + wrong[3], 2 * right[3] ** 2 + wrong[3] ** 2)
    assert response.json() == {
        "handle": alice.handle,
        "kind": "human",
        "owner": None,
        "overall": {
            "n": 3,
            "brier": pytest.approx((2 * right[1] + wrong[1]) / 3, rel=1e-12),
            "log_score": pytest.approx((2 * right[2] + wrong[2]) / 3, rel=1e-12),
            "relative_log_score": pytest.approx((2 * right[3] + wrong[3]) / 3, rel=1e-12),
            "profit": 0,  # beliefs alone: nothing staked
        },
        "domains": [
            {
                "domain": "economics",
                "name": "Economics",
                "n": 1,
                "brier": pytest.approx(wrong[1], rel=1e-12),
                "log_score": pytest.approx(wrong[2], rel=1e-12),
                "relative_log_score": pytest.approx(wrong[3], rel=1e-12),
                "profit": 0,
            },
            {
                "domain": "science",
                "name": "Science",
                "n": 2,
                "brier": pytest.approx(right[1], rel=1e-12),
                "log_score": pytest.approx(right[2], rel=1e-12),
                "relative_log_score": pytest.approx(right[3], rel=1e-12),
                "profit": 0,
            },
        ],
        "model_versions": [],
        "calibration": _buckets(bucket_8=(3, 0.8, 2 / 3)),
        "reliability": [
            {
                "domain": slug,
                "n": stats.n,
                "weight": pytest.approx(maths.Record(stats).weight, rel=1e-9),
                "skill_mean": pytest.approx(maths.home_posterior(stats).mean, rel=1e-9),
                "skill_sd": pytest.approx(maths.home_posterior(stats).sd, rel=1e-9),
            }
            for slug, stats in (("economics", economics), ("science", science))
        ],
        "overall_reliability": {
            "n": overall.n,
            "weight": pytest.approx(maths.Record(overall).weight, rel=1e-9),
            "skill_mean": pytest.approx(maths.global_posterior(overall).mean, rel=1e-9),
            "skill_sd": pytest.approx(maths.global_posterior(overall).sd, rel=1e-9),
        },
        "counted_with": [],
    }
    assert Reliability.objects.get(identity=alice, domain=None).n == 3  # the overall row ranks the overall board


def test_an_agents_track_record_is_by_model_version_with_its_owner(author, domain, resolver, alice, bot):
    history({bot: "0.9"}, author, domain, resolver, outcome="yes")
    bot.model_version = "v2"
    bot.save(update_fields=["model_version"])
    history({bot: "0.6"}, author, domain, resolver, outcome="no")
    body = Client().get(f"/api/v1/identities/{bot.handle}/track-record").json()
    assert (body["handle"], body["kind"], body["owner"]) == ("alice-bot", "agent", alice.handle)
    assert body["model_versions"] == [
        {
            "model_version": "v1",
            "n": 1,
            "brier": pytest.approx(0.01, rel=1e-9),
            "relative_log_score": pytest.approx(math.log(1.8), rel=1e-12),
        },
        {
            "model_version": "v2",
            "n": 1,
            "brier": pytest.approx(0.36, rel=1e-9),
            "relative_log_score": pytest.approx(math.log(0.8), rel=1e-12),
        },
    ]
    assert body["calibration"] == _buckets(bucket_6=(1, 0.6, 0.0), bucket_9=(1, 0.9, 1.0))


def test_an_identity_without_forecasts_has_an_empty_record(alice):
    body = Client().get(f"/api/v1/identities/{alice.handle}/track-record").json()
    assert body == {
        "handle": alice.handle,
        "kind": "human",
        "owner": None,
        "overall": {"n": 0, "brier": None, "log_score": None, "relative_log_score": None, "profit": 0},
        "domains": [],
        "model_versions": [],
        "calibration": EMPTY_BUCKETS,
        "reliability": [],
        "overall_reliability": None,
        "counted_with": [],
    }


def test_an_unknown_identity_is_404_and_credentials_are_checked(bot):
    response = Client().get("/api/v1/identities/nobody-here/track-record")
    assert response.json() == {"error": {"code": "not_found", "message": "No such identity.", "detail": None}}
    assert response.status_code == 404
    url = f"/api/v1/identities/{bot.handle}/track-record"
    assert Client().get(url, headers=bearer("cred_nope")).status_code == 401
    assert Client().get(url, headers=bearer(factories.api_key(bot, scopes=["trade"]))).status_code == 403
    assert Client().get(url, headers=bearer(factories.api_key(bot, scopes=["read"]))).status_code == 200


def test_a_track_record_is_a_fixed_number_of_queries_however_long(author, domain, other_domain, resolver, alice, bot):
    history({bot: "0.9"}, author, domain, resolver)
    url = f"/api/v1/identities/{bot.handle}/track-record"
    body, few = _queries(url)
    # the identity; overall, domains, versions, calibration, overall reliability, reliability per domain,
    # the owners counted with its owner
    assert (body["overall"]["n"], few) == (1, 8)
    history({bot: "0.7", alice: "0.4"}, author, domain, resolver, claims=3)
    bot.model_version = "v2"
    bot.save(update_fields=["model_version"])
    history({bot: "0.3"}, author, other_domain, resolver, outcome="no", claims=3)
    body, many = _queries(url)
    assert (body["overall"]["n"], len(body["domains"]), len(body["model_versions"]), many) == (7, 2, 2, 8)


def test_a_track_record_names_the_owners_counted_as_one_source_with_its_owner(author, domain, resolver, alice, bot):
    # given a person whose every stated belief alice's agent has repeated, on four resolved claims
    original = factories.human()
    claims = history({original: "0.65", bot: "0.65"}, author, domain, resolver, claims=4)
    since = iso(ClaimRecord.objects.get(claim=claims[0]).scored_at)

    # then each side's record names the other: for the agent, the owner it speaks for is the one counted
    expected = {"claims": 4, "agreed": 4, "since": since}
    mine = Client().get(f"/api/v1/identities/{original.handle}/track-record").json()["counted_with"]
    assert mine == [{"handle": alice.handle, **expected}]
    for who in (bot, alice):
        theirs = Client().get(f"/api/v1/identities/{who.handle}/track-record").json()["counted_with"]
        assert theirs == [{"handle": original.handle, **expected}]
    # and an identity nobody copies has none
    assert Client().get(f"/api/v1/identities/{author.handle}/track-record").json()["counted_with"] == []


# --- leaderboards ---------------------------------------------------------------------------------------


RANKED = 20  # claims in the ranked fixture


@pytest.fixture
def ranked(author, domain, resolver, alice, bot):
    """RANKED resolved claims (factories.ranked_history): alice's agent the sharpest, alice fair, carol poor
    (created in that order), beside four others who are then suspended."""
    carol = factories.human()
    factories.ranked_history(bot, alice, carol, author, domain, resolver, claims=RANKED)
    return {"alice": alice, "bot": bot, "carol": carol}


@pytest.fixture
def steady(author, domain, resolver, alice, bot):
    """RANKED resolved YES claims: alice's agent said 0.9, alice 0.7, carol 0.2 every time."""
    carol = factories.human()
    history({alice: "0.7", bot: "0.9", carol: "0.2"}, author, domain, resolver, claims=RANKED)
    return {"alice": alice, "bot": bot, "carol": carol}


def _leader(identity, rank: int, domain=None, owner=None) -> dict:
    row = Reliability.objects.get(identity=identity, domain=domain)
    return {
        "rank": rank,
        "handle": identity.handle,
        "kind": identity.kind,
        "owner": owner,
        "n": row.n,
        "weight": row.weight,
        "skill_mean": row.skill_mean,
        "skill_sd": row.skill_sd,
    }


def test_the_leaderboard_ranks_by_reliability_weight(ranked, domain):
    alice, bot, carol = ranked["alice"], ranked["bot"], ranked["carol"]
    body = Client().get("/api/v1/leaderboards").json()
    assert body == {
        "domain": None,
        "items": [_leader(bot, 1, owner=alice.handle), _leader(alice, 2), _leader(carol, 3)],
        "next_cursor": None,
    }
    weights = [item["weight"] for item in body["items"]]
    assert weights[0] > weights[1] > weights[2] > 0  # the agent was created after alice: not by id
    science = Client().get("/api/v1/leaderboards", {"domain": "science"}).json()
    assert science["domain"] == "science"
    assert science["items"] == [
        _leader(bot, 1, domain, owner=alice.handle),
        _leader(alice, 2, domain),
        _leader(carol, 3, domain),
    ]


def test_the_leaderboard_filters_by_kind_domain_and_record_length(ranked):
    alice, bot, carol = ranked["alice"], ranked["bot"], ranked["carol"]

    def handles(**params) -> list[str]:
        return [item["handle"] for item in Client().get("/api/v1/leaderboards", params).json()["items"]]

    assert handles(kind="agent") == [bot.handle]
    assert handles(kind="human") == [alice.handle, carol.handle]
    assert handles(domain="economics") == []
    assert handles(min_forecasts=RANKED) == [bot.handle, alice.handle, carol.handle]
    assert handles(min_forecasts=RANKED + 1) == []
    identity_suspend(identity=carol, reason="Testing.", moderator=factories.moderator())
    assert handles() == [bot.handle, alice.handle]


def test_the_leaderboard_pages_by_rank(ranked):
    first = Client().get("/api/v1/leaderboards", {"limit": 2}).json()
    assert ([(i["rank"], i["handle"]) for i in first["items"]], first["next_cursor"]) == (
        [(1, "alice-bot"), (2, ranked["alice"].handle)],
        "2",
    )
    rest = Client().get("/api/v1/leaderboards", {"limit": 2, "cursor": "2"}).json()
    assert ([(i["rank"], i["handle"]) for i in rest["items"]], rest["next_cursor"]) == (
        [(3, ranked["carol"].handle)],
        None,
    )


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"kind": "robot"}, "validation_failed"),
        ({"min_forecasts": 0}, "validation_failed"),
        ({"limit": 201}, "validation_failed"),
        ({"cursor": "x"}, "invalid_cursor"),
        ({"cursor": "-2"}, "invalid_cursor"),
        ({"cursor": "99999999999999999999"}, "invalid_cursor"),  # past PostgreSQL's OFFSET
    ],
)
def test_bad_leaderboard_parameters_are_422(db, params, code):
    response = Client().get("/api/v1/leaderboards", params)
    assert (response.status_code, response.json()["error"]["code"]) == (422, code)


def test_a_leaderboard_of_an_unknown_domain_is_404(db):
    """Domains are rows: a slug the schema admits that names none is a missing row, not a bad request."""
    response = Client().get("/api/v1/leaderboards", {"domain": "astrology"})
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "No such domain.",
        "detail": {"field": "domain"},
    }


def test_the_leaderboard_is_one_query_a_page_however_many(author, domain, resolver, alice, bot):
    history({bot: "0.9"}, author, domain, resolver)
    body, few = _queries("/api/v1/leaderboards", {"domain": "science"})
    assert (len(body["items"]), few) == (1, 2)  # the domain; one page with identities and owners
    owner = factories.verified_user()
    crowd = {factories.agent(owner, handle=f"crowd-{n}"): f"0.{n + 1}" for n in range(6)}
    history(crowd | {alice: "0.6", factories.human(): "0.8"}, author, domain, resolver, claims=2)
    body, many = _queries("/api/v1/leaderboards", {"domain": "science"})
    assert (len(body["items"]), many) == (9, 2)
    assert {item["owner"] for item in body["items"] if item["kind"] == "agent"} == {
        alice.handle,
        factories.human(owner).handle,
    }


# --- the platform's track record ------------------------------------------------------------------------


def test_the_platform_record_compares_market_consensus_and_the_best_source(steady, domain):
    body = Client().get("/api/v1/track-record").json()
    records = list(ClaimRecord.objects.order_by("id"))
    consensus = [float(r.consensus) for r in records]
    assert body == {
        "domain": None,
        "claims": RANKED,
        "market": {
            "n": RANKED,  # nobody traded: the price at close was 0.5 every time
            "brier": pytest.approx(0.25, rel=1e-12),
            "log_score": pytest.approx(math.log(0.5), rel=1e-12),
            "calibration": _buckets(bucket_5=(RANKED, 0.5, 1.0)),
        },
        "consensus": {
            "n": RANKED,
            "brier": pytest.approx(sum((c - 1) ** 2 for c in consensus) / RANKED, rel=1e-12),
            "log_score": pytest.approx(sum(math.log(c) for c in consensus) / RANKED, rel=1e-12),
            "calibration": _calibration(consensus),
        },
        "best_source": {
            "handle": "alice-bot",  # 0.9 on every YES claim: the lowest Brier
            "kind": "agent",
            "n": RANKED,
            "brier": pytest.approx(0.01, rel=1e-9),
            "log_score": pytest.approx(math.log(0.9), rel=1e-12),
            "calibration": _buckets(bucket_9=(RANKED, 0.9, 1.0)),
        },
    }


def test_the_platform_record_by_domain(steady):
    body = Client().get("/api/v1/track-record", {"domain": "economics"}).json()
    empty = {"n": 0, "brier": None, "log_score": None, "calibration": EMPTY_BUCKETS}
    assert body == {
        "domain": "economics",
        "claims": 0,
        "market": empty,
        "consensus": empty,
        "best_source": empty | {"handle": None, "kind": None},
    }
    assert Client().get("/api/v1/track-record", {"domain": "science"}).json()["claims"] == RANKED
    refused = Client().get("/api/v1/track-record", {"domain": "astrology"})
    assert refused.status_code == 404
    assert refused.json()["error"] == {
        "code": "not_found",
        "message": "No such domain.",
        "detail": {"field": "domain"},
    }


def test_the_platform_record_is_a_fixed_number_of_queries_however_many_claims(author, domain, resolver, alice):
    forecasters = {alice: "0.8", factories.human(): "0.6"}
    history(forecasters, author, domain, resolver, claims=5)
    body, few = _queries("/api/v1/track-record", {"domain": "science"})
    # the domain; the records; the best source; its identity; its forecasts
    assert (body["claims"], body["best_source"]["handle"], few) == (5, alice.handle, 5)
    history(forecasters | {factories.human(): "0.9"}, author, domain, resolver, claims=6)
    body, many = _queries("/api/v1/track-record", {"domain": "science"})
    assert (body["claims"], many) == (11, 5)
