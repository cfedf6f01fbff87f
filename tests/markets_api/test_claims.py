"""Claims over the API: list, detail, create (and publish), publish, clarify, price history."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.ledger.selectors import wallet_balance
from apps.markets.models import Claim, ClaimStatus, Domain, Market
from apps.markets.pricing import Order
from apps.markets.resolution import effective_status
from apps.markets.services import claim_clarify, trade_place
from tests import factories
from tests.factories import GRANT, LIQUIDITY, SUBSIDY, closing_time_passes, new_claim
from tests.support import bearer, iso, snapshot

pytestmark = pytest.mark.django_db

PRICE_AFTER_10_CREDITS_OF_YES = "0.54713312806414115736"


def _claim_body(**overrides) -> dict:
    now = timezone.now()
    body = {
        "title": "Will the LHC report a new boson in 2027?",
        "criteria": "YES if CERN announces a 5-sigma discovery of a new boson before the close.",
        "domain": "science",
        "tags": ["Physics", "cern"],
        "closes_at": (now + timedelta(days=30)).isoformat(),
        "resolve_by": (now + timedelta(days=60)).isoformat(),
        "liquidity": LIQUIDITY,
    }
    return body | overrides


def _post(client, url, payload=None, **kwargs):
    return client.post(url, payload or {}, content_type="application/json", **kwargs)


# --- list -----------------------------------------------------------------------------------------------


def test_the_list_shows_published_claims_with_their_market(claim, author, domain):
    new_claim(author, domain, publish=False)  # a draft is never listed
    factories.buy(factories.human(), claim, "yes", credits=10, key="t")
    response = Client().get("/api/v1/claims")
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "id": claim.pk,
                "title": "Will the experiment replicate?",
                "status": "open",
                "domain": "science",
                "tags": ["psychology", "replication"],
                "author": author.handle,
                "closes_at": iso(claim.closes_at),
                "resolve_by": iso(claim.resolve_by),
                "price_yes": PRICE_AFTER_10_CREDITS_OF_YES,
                "volume": 9_900_990,
                "liquidity": LIQUIDITY,
                "trade_count": 1,
                "consensus": None,  # the trade's refresh runs after commit, on a worker
            }
        ],
        "next_cursor": None,
    }


def test_an_open_claim_past_its_close_is_listed_as_closed(claim, author, domain):
    still_open = new_claim(author, domain)
    closing_time_passes(claim)
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.OPEN  # the close task has not run
    items = Client().get("/api/v1/claims").json()["items"]
    assert [(c["id"], c["status"]) for c in items] == [(still_open.pk, "open"), (claim.pk, "closed")]
    assert [c["id"] for c in Client().get("/api/v1/claims", {"status": "closed"}).json()["items"]] == [claim.pk]
    assert [c["id"] for c in Client().get("/api/v1/claims", {"status": "open"}).json()["items"]] == [still_open.pk]


def test_a_proposal_past_its_window_reads_as_resolved(claim):
    closing_time_passes(claim)
    proposer = factories.human()
    factories.propose(claim, "no", proposer, evidence="The paper found p = 0.4.")
    assert Client().get("/api/v1/claims", {"status": "proposed"}).json()["items"][0]["id"] == claim.pk
    factories.challenge_window_passes(claim)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PROPOSED
    assert effective_status(claim, claim.resolution) == ClaimStatus.RESOLVED_NO  # the rule the API mirrors
    assert Client().get("/api/v1/claims", {"status": "proposed"}).json()["items"] == []
    items = Client().get("/api/v1/claims", {"status": "resolved_no"}).json()["items"]
    assert [(c["id"], c["status"]) for c in items] == [(claim.pk, "resolved_no")]
    assert Client().get(f"/api/v1/claims/{claim.pk}").json()["status"] == "resolved_no"


def test_filters_by_domain_tag_text_author_and_closing_time(author, domain):
    history = Domain.objects.create(slug="history", name="History")
    other = factories.human()
    soon = new_claim(author, domain, title="Will the probe land?", tags=["space"], closes_in=timedelta(hours=3))
    later = new_claim(author, history, title="Will the archive open?", tags=["archives", "space"])
    theirs = new_claim(other, domain, title="Will the probe launch?", tags=["Space"], liquidity=10 * CREDIT)
    past = new_claim(other, domain, title="Did the probe fly?", closes_in=timedelta(hours=1), liquidity=10 * CREDIT)
    closing_time_passes(past)

    def ids(**params):
        response = Client().get("/api/v1/claims", params)
        assert response.status_code == 200
        return [c["id"] for c in response.json()["items"]]

    assert ids() == [past.pk, theirs.pk, later.pk, soon.pk]
    assert ids(domain="history") == [later.pk]
    assert ids(domain="nowhere") == []
    assert ids(tag="SPACE") == [theirs.pk, later.pk, soon.pk]
    assert ids(tag="spa") == []  # a whole tag, not a part of one
    assert ids(q="PROBE") == [past.pk, theirs.pk, soon.pk]
    assert ids(author=other.handle.upper()) == [past.pk, theirs.pk]
    assert ids(closing_soon=24) == [soon.pk]  # open claims only: `past` has closed
    assert ids(closing_soon=24 * 30) == [theirs.pk, later.pk, soon.pk]
    assert ids(q="probe", author=other.handle, status="open") == [theirs.pk]


@pytest.mark.parametrize(
    "params",
    [{"status": "draft"}, {"status": "nope"}, {"closing_soon": 0}, {"limit": 0}, {"limit": 201}, {"cursor": "abc"}],
)
def test_bad_list_parameters_are_422(params):
    response = Client().get("/api/v1/claims", params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] in {"validation_failed", "invalid_cursor"}


def _many_claims(domain, count: int) -> list[Claim]:
    authors = [factories.human() for _ in range(-(-count // 10))]
    return [new_claim(authors[n // 10], domain, liquidity=10 * CREDIT) for n in range(count)]


def test_the_list_is_one_query_a_page_however_many_claims(domain, django_assert_num_queries):
    claims = _many_claims(domain, 3)
    with django_assert_num_queries(1):
        assert len(Client().get("/api/v1/claims").json()["items"]) == 3
    claims += _many_claims(domain, 27)
    with django_assert_num_queries(1):
        assert len(Client().get("/api/v1/claims", {"tag": "psychology", "status": "open"}).json()["items"]) == 30
    with django_assert_num_queries(1):
        page = Client().get("/api/v1/claims", {"limit": 20}).json()
    assert [c["id"] for c in page["items"]] == [c.pk for c in reversed(claims)][:20]
    rest = Client().get("/api/v1/claims", {"limit": 20, "cursor": page["next_cursor"]}).json()
    assert [c["id"] for c in rest["items"]] == [c.pk for c in reversed(claims)][20:]
    assert rest["next_cursor"] is None


def test_domains_are_listed_by_slug(domain, django_assert_num_queries):
    with django_assert_num_queries(1):
        body = Client().get("/api/v1/domains").json()
    assert [d["slug"] for d in body] == sorted(Domain.objects.values_list("slug", flat=True))
    assert {"slug": "science", "name": "Science", "description": domain.description} in body


# --- detail ---------------------------------------------------------------------------------------------


def test_the_detail_has_criteria_clarifications_and_market_state(claim, author, django_assert_num_queries):
    claim_clarify(claim=claim, actor=author, text="The replication must be preregistered.")
    claim_clarify(claim=claim, actor=author, text="Either lab counts.")
    factories.buy(factories.human(), claim, "yes", credits=10, key="t")
    # the claim with its domain, author and market; its clarifications; its consensus
    with django_assert_num_queries(3):
        response = Client().get(f"/api/v1/claims/{claim.pk}")
    assert response.status_code == 200
    body = response.json()
    clarifications = body.pop("clarifications")
    assert [c["text"] for c in clarifications] == ["The replication must be preregistered.", "Either lab counts."]
    assert clarifications[0]["id"] < clarifications[1]["id"]
    assert body == {
        "id": claim.pk,
        "title": "Will the experiment replicate?",
        "criteria": "Resolves YES if the replication paper reports p < 0.05 by the close.",
        "status": "open",
        "domain": "science",
        "tags": ["psychology", "replication"],
        "author": author.handle,
        "created_at": iso(claim.created_at),
        "opens_at": iso(claim.opens_at),
        "closes_at": iso(claim.closes_at),
        "resolve_by": iso(claim.resolve_by),
        "challenge_window_hours": 24,
        "market": {
            "price_yes": PRICE_AFTER_10_CREDITS_OF_YES,
            "price_no": str(1 - Decimal(PRICE_AFTER_10_CREDITS_OF_YES)),
            "q_yes": 18_909_395,
            "q_no": 0,
            "liquidity": LIQUIDITY,
            "volume": 9_900_990,
            "subsidy": SUBSIDY,
            "trade_count": 1,
        },
        "consensus": None,
        "unlisted": False,
        "unlisted_reason": "",
    }
    assert body["market"]["price_no"] == "0.45286687193585884264"


def test_a_draft_is_visible_to_its_author_only(author, author_client, domain, trader_client, bot, bot_token):
    draft = new_claim(author, domain, publish=False)
    url = f"/api/v1/claims/{draft.pk}"
    for client, headers in ((Client(), {}), (trader_client, {}), (Client(), bearer(bot_token))):
        response = client.get(url, headers=headers)
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "No such claim.", "detail": None}}
    mine = author_client.get(url).json()
    assert (mine["status"], mine["market"], mine["opens_at"]) == ("draft", None, None)
    # The author's own agent is another identity: it does not see its owner's drafts either.
    own_agent_token = factories.api_key(factories.agent(author.user, handle="author-bot"), scopes=["read"])
    assert Client().get(url, headers=bearer(own_agent_token)).status_code == 404


def test_credentials_on_a_public_read_are_checked(claim, bot):
    url = f"/api/v1/claims/{claim.pk}"
    assert Client().get(url, headers=bearer("cred_nope")).status_code == 401
    write_only = factories.api_key(bot, scopes=["trade"])
    refused = Client().get(url, headers=bearer(write_only))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    assert Client().get(url, headers=bearer(factories.api_key(bot, scopes=["read"]))).status_code == 200


def test_the_list_checks_sent_credentials_too(claim, bot, django_assert_num_queries):
    assert Client().get("/api/v1/claims", headers=bearer("cred_nope")).status_code == 401
    assert Client().get("/api/v1/claims", headers=bearer(factories.api_key(bot, scopes=["trade"]))).status_code == 403
    token = factories.api_key(bot, scopes=["read"])
    Client().get("/api/v1/claims", headers=bearer(token))  # writes the key's last_used_at
    with django_assert_num_queries(2):  # the key with its identity, one page
        assert [c["id"] for c in Client().get("/api/v1/claims", headers=bearer(token)).json()["items"]] == [claim.pk]


def test_an_unknown_claim_is_404():
    assert Client().get("/api/v1/claims/999999").status_code == 404
    assert Client().get("/api/v1/claims/nope").status_code == 422


# --- create and publish ---------------------------------------------------------------------------------


def test_creating_publishes_at_once_and_charges_the_subsidy(author, author_client, domain):
    response = _post(author_client, "/api/v1/claims", _claim_body(challenge_window_hours=48))
    assert response.status_code == 201
    body = response.json()
    claim = Claim.objects.get()
    assert body["id"] == claim.pk
    assert (body["status"], body["author"], body["tags"], body["challenge_window_hours"]) == (
        "open",
        author.handle,
        ["cern", "physics"],
        48,
    )
    assert body["market"] == {
        "price_yes": "0.5",
        "price_no": "0.5",
        "q_yes": 0,
        "q_no": 0,
        "liquidity": LIQUIDITY,
        "volume": 0,
        "subsidy": SUBSIDY,
        "trade_count": 0,
    }
    assert claim.challenge_window == timedelta(hours=48)
    assert wallet_balance(author) == GRANT - SUBSIDY
    assert Event.objects.filter(kind="claim.opened", subject=f"claim:{claim.pk}").count() == 1


def test_a_draft_is_created_then_published(author, author_client, domain):
    before = snapshot()
    response = _post(author_client, "/api/v1/claims", _claim_body(publish=False))
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["market"]) == ("draft", None)
    assert snapshot() == before | {"Claim": before["Claim"] + 1}  # no market, no credit moved
    assert wallet_balance(author) == GRANT

    published = _post(author_client, f"/api/v1/claims/{response.json()['id']}/publish")
    assert published.status_code == 200
    assert published.json()["status"] == "open"
    assert published.json()["market"]["subsidy"] == SUBSIDY
    assert wallet_balance(author) == GRANT - SUBSIDY
    again = _post(author_client, f"/api/v1/claims/{response.json()['id']}/publish")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "illegal_transition"


def test_an_agent_proposes_with_a_trade_key(bot, bot_token, domain):
    response = _post(Client(), "/api/v1/claims", _claim_body(), headers=bearer(bot_token))
    assert response.status_code == 201
    assert response.json()["author"] == "trader-bot"
    read_only = factories.api_key(bot, scopes=["read"])
    before = snapshot()
    refused = _post(Client(), "/api/v1/claims", _claim_body(), headers=bearer(read_only))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    assert snapshot() == before


def test_a_publication_refused_for_credit_leaves_no_draft(author, author_client, domain):
    before = snapshot()
    response = _post(author_client, "/api/v1/claims", _claim_body(liquidity=10_000 * CREDIT))  # ~6,931 credits
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_credit"
    assert snapshot() == before
    assert wallet_balance(author) == GRANT


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"closes_at": "2030-01-01T00:00:00"}, "closes_at"),  # no time zone
        ({"liquidity": 5 * CREDIT}, "liquidity"),
        ({"challenge_window_hours": 500}, "challenge_window"),
        ({"title": "   "}, "title"),
        ({"title": "nul \x00 byte"}, "title"),
        ({"tags": ["x"] * 11}, "tags"),
    ],
)
def test_invalid_claims_are_422_and_write_nothing(author_client, domain, overrides, field):
    before = snapshot()
    response = _post(author_client, "/api/v1/claims", _claim_body(**overrides))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert field in str(error["detail"])
    assert snapshot() == before


# A request the schema admits is never a 422: what JSON Schema cannot state (the clock, one date against
# another, which domains exist) is a conflict with the present (409) or a missing row (404).
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"closes_at": (timezone.now() - timedelta(hours=1)).isoformat()}, "closes_at"),
        ({"closes_at": (timezone.now() + timedelta(days=3651)).isoformat()}, "closes_at"),
        ({"resolve_by": (timezone.now() + timedelta(days=1)).isoformat()}, "resolve_by"),
    ],
)
def test_a_claim_whose_dates_conflict_with_the_present_is_409_and_writes_nothing(
    author_client, domain, overrides, field
):
    before = snapshot()
    response = _post(author_client, "/api/v1/claims", _claim_body(**overrides))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "date_conflict"
    assert response.json()["error"]["detail"] == {"field": field}
    assert snapshot() == before


def test_a_date_past_year_9999_in_utc_is_409_and_writes_nothing(author_client, domain):
    before = snapshot()
    response = _post(author_client, "/api/v1/claims", _claim_body(closes_at="9999-12-31T23:00:00-05:00"))
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "date_conflict",
        "message": "The date is past the year 9999 in UTC.",
        "detail": None,
    }
    assert snapshot() == before


def test_a_claim_in_an_unknown_domain_is_404_and_writes_nothing(author_client, domain):
    before = snapshot()
    response = _post(author_client, "/api/v1/claims", _claim_body(domain="nowhere"))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "No such domain.",
        "detail": {"field": "domain"},
    }
    assert snapshot() == before


def test_anonymous_callers_cannot_create(domain):
    response = _post(Client(), "/api/v1/claims", _claim_body())
    assert response.status_code == 401
    assert not Claim.objects.exists()


def test_only_the_author_publishes_and_others_drafts_are_404(author, domain, trader_client, trader):
    draft = new_claim(author, domain, publish=False)
    before = snapshot()
    response = _post(trader_client, f"/api/v1/claims/{draft.pk}/publish")
    assert response.status_code == 404
    assert snapshot() == before
    published = new_claim(author, domain)
    response = _post(trader_client, f"/api/v1/claims/{published.pk}/publish")
    assert response.status_code == 403
    assert snapshot()["Market"] == before["Market"] + 1


# --- clarifications -------------------------------------------------------------------------------------


def test_the_author_clarifies_an_open_claim(claim, author_client):
    response = _post(author_client, f"/api/v1/claims/{claim.pk}/clarifications", {"text": "Either lab counts."})
    assert response.status_code == 201
    body = response.json()
    assert (body["text"], body["id"]) == ("Either lab counts.", claim.clarifications.get().pk)
    assert Event.objects.filter(kind="claim.clarified", subject=f"claim:{claim.pk}").count() == 1


def test_clarifications_are_refused_to_others_and_on_drafts(claim, author, author_client, domain, trader_client):
    before = snapshot()
    refused = _post(trader_client, f"/api/v1/claims/{claim.pk}/clarifications", {"text": "Mine now."})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    draft = new_claim(author, domain, publish=False)
    before = snapshot()
    hidden = _post(trader_client, f"/api/v1/claims/{draft.pk}/clarifications", {"text": "Mine now."})
    assert hidden.status_code == 404
    on_draft = _post(author_client, f"/api/v1/claims/{draft.pk}/clarifications", {"text": "Too early."})
    assert (on_draft.status_code, on_draft.json()["error"]["code"]) == (409, "illegal_transition")
    empty = _post(author_client, f"/api/v1/claims/{claim.pk}/clarifications", {"text": ""})
    assert empty.status_code == 422
    assert snapshot() == before


# --- price history --------------------------------------------------------------------------------------


def test_price_history_is_oldest_first_and_paginated(claim, django_assert_num_queries):
    trader = factories.human()
    for n, side in enumerate(["yes", "no", "yes"]):
        trade_place(
            identity=trader,
            claim=claim,
            order=Order(kind="buy", side=side, amount=10 * CREDIT),
            idempotency_key=f"t{n}",
        )
    market = Market.objects.get(claim=claim)
    points = list(market.price_points.order_by("id"))
    with django_assert_num_queries(2):  # the claim, one page of points
        page = Client().get(f"/api/v1/claims/{claim.pk}/prices", {"limit": 2}).json()
    assert page["items"] == [
        {"id": points[0].pk, "price_yes": "0.5", "trade_id": None, "created_at": iso(points[0].created_at)},
        {
            "id": points[1].pk,
            "price_yes": PRICE_AFTER_10_CREDITS_OF_YES,
            "trade_id": points[1].trade_id,
            "created_at": iso(points[1].created_at),
        },
    ]
    rest = Client().get(f"/api/v1/claims/{claim.pk}/prices", {"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [p["id"] for p in rest["items"]] == [points[2].pk, points[3].pk]
    assert rest["items"][-1]["price_yes"] == str(market.price_yes.normalize())
    assert rest["next_cursor"] is None


def test_a_drafts_history_is_404_to_others(author, domain, author_client):
    draft = new_claim(author, domain, publish=False)
    assert Client().get(f"/api/v1/claims/{draft.pk}/prices").status_code == 404
    assert author_client.get(f"/api/v1/claims/{draft.pk}/prices").json() == {"items": [], "next_cursor": None}
