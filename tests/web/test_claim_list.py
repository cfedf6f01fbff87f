"""The claim list (the home page): search, filters, sorts and pages give exact results; each row shows
the market price beside the consensus; htmx gets the results region alone; the query count does not
grow with the rows; the row partial re-renders one row and hides what the visitor may not see."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Max
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.markets.models import Claim
from apps.markets.services import TITLE_MIN
from tests import factories
from tests.factories import buy, closing_time_passes, state
from tests.support import HTMX

pytestmark = pytest.mark.django_db

SMALL = 10 * CREDIT  # the least liquidity: a subsidy of 6.93 credits, so one author can post dozens


def post(author, title, *, domain="science", tags=(), closes_in=timedelta(days=7), publish=True) -> Claim:
    """A claim through the real services (published unless told otherwise). A short name the tests use
    ("Soon", "A") is made a title long enough to publish by a suffix."""
    if len(title) < TITLE_MIN:
        title = f"{title}: a claim for the tests"
    return factories.new_claim(
        author,
        factories.domain(domain),
        title=title,
        criteria=f"Resolves YES if {title.lower()}",
        tags=tags,
        liquidity=SMALL,
        closes_in=closes_in,
        resolves_in=timedelta(days=1),
        publish=publish,
    )


def listed(response) -> list[int]:
    """The claim ids on the page, in order, as the results region announces them for live updates."""
    match = re.search(r'data-live-claims="([^"]*)"', response.content.decode())
    assert match, "no results region"
    return [int(pk) for pk in match.group(1).split()]


def ids(*claims) -> list[int]:
    return [claim.pk for claim in claims]


@pytest.fixture
def author(owner):
    return factories.human(owner)


@pytest.fixture
def trader(stranger):
    return factories.human(stranger)


def test_each_row_shows_title_domain_tags_status_close_price_consensus_and_volume(client, author, trader):
    claim = post(author, "Will the experiment replicate?", tags=["Replication", "psychology"])
    buy(trader, claim, credits=10)
    state(trader, claim, "0.7")
    html = client.get(reverse("home")).content.decode()
    row = html[html.index(f'<li class="claim-row" id="claim-row-{claim.pk}"') :]
    row = row[: row.index("</li>")]
    assert f'<a class="claim-row-title" href="/claims/{claim.pk}/">Will the experiment replicate?</a>' in row
    assert '<span class="badge status-open">Open</span>' in row
    assert '<a class="claim-domain" href="/?domain=science">Science</a>' in row
    assert (
        '<a class="tag" href="/?tag=psychology">#psychology</a><a class="tag" href="/?tag=replication">#replication</a>'
        in row
    )
    assert "Closes in <time" in row
    # 10 credits on YES at b = 10 credits: 9.90099 credits traded after the fee, the price from 50% to 81.4%.
    assert '<dd class="figure-market">81.4%</dd>' in row
    assert '<dd class="figure-consensus">70%</dd>' in row
    assert '<dd><span class="amount" title="9.90099 credits">9.90</span><span class="unit"> credits</span></dd>' in row
    assert f'hx-get="/claims/{claim.pk}/row/" hx-trigger="credence:claim-{claim.pk} from:body delay:300ms"' in row
    assert 'hx-target="this" hx-swap="outerHTML"' in row


def test_a_claim_without_a_consensus_shows_a_dash(client, author):
    claim = post(author, "Quiet claim")
    html = client.get(reverse("home")).content.decode()
    assert '<dd class="figure-market">50%</dd>' in html
    assert '<span class="muted" title="Nobody has stated a belief or traded yet">—</span>' in html
    assert listed(client.get(reverse("home"))) == [claim.pk]


def test_drafts_are_not_listed_even_to_their_author(owner_client, author):
    published = post(author, "Published")
    post(author, "Draft", publish=False)
    assert listed(owner_client.get(reverse("home"))) == [published.pk]


def test_search_matches_part_of_the_title_case_insensitively(client, author):
    rain = post(author, "Will it rain in Paris?")
    post(author, "Will the index rise?")
    snow = post(author, "Rain or snow in Oslo?")
    assert listed(client.get(reverse("home"), {"q": "RAIN"})) == ids(snow, rain)
    assert listed(client.get(reverse("home"), {"q": "  paris "})) == ids(rain)


def test_domain_and_tag_filters(client, author):
    science = post(author, "A", tags=["physics"])
    economics = post(author, "B", domain="economics", tags=["rates", "physics"])
    post(author, "C", domain="economics", tags=["rates"])
    assert listed(client.get(reverse("home"), {"domain": "science"})) == ids(science)
    assert listed(client.get(reverse("home"), {"tag": "Physics"})) == ids(economics, science)
    assert listed(client.get(reverse("home"), {"domain": "economics", "tag": "physics"})) == ids(economics)


def test_status_filter_uses_the_effective_status(client, author, stranger):
    opened = post(author, "Still open")
    closed = post(author, "Past its close")
    resolved = post(author, "Proposed and past its window")
    closing_time_passes(closed)
    closing_time_passes(resolved)
    factories.propose(resolved, "yes", factories.human(stranger), evidence="The record.")
    factories.challenge_window_passes(resolved)
    assert listed(client.get(reverse("home"), {"status": "open"})) == ids(opened)
    assert listed(client.get(reverse("home"), {"status": "closed"})) == ids(closed)
    assert listed(client.get(reverse("home"), {"status": "resolved_yes"})) == ids(resolved)
    assert listed(client.get(reverse("home"), {"status": "proposed"})) == []
    html = client.get(reverse("home")).content.decode()
    assert '<span class="badge status-resolved_yes">Resolved YES</span>' in html
    assert '<span class="badge status-closed">Closed</span>' in html


def test_closing_soon_keeps_open_claims_closing_within_the_window(client, author):
    hours = post(author, "In two hours", closes_in=timedelta(hours=2))
    days = post(author, "In three days", closes_in=timedelta(days=3))
    post(author, "In twenty days", closes_in=timedelta(days=20))
    past = post(author, "Already closed", closes_in=timedelta(hours=1))
    closing_time_passes(past)
    assert listed(client.get(reverse("home"), {"closing": "24"})) == ids(hours)
    assert listed(client.get(reverse("home"), {"closing": "168"})) == ids(days, hours)


def test_mine_lists_what_i_posted_or_traded(owner_client, client, author, trader):
    others = factories.human()
    posted = post(author, "Mine: I posted it")
    traded = post(others, "Mine: I traded on it")
    post(others, "Not mine")
    buy(author, traded)
    assert listed(owner_client.get(reverse("home"), {"mine": "on"})) == ids(traded, posted)
    # A visitor who is not signed in has no "mine": the parameter is ignored and everything is listed.
    response = client.get(reverse("home"), {"mine": "on"})
    assert len(listed(response)) == 3
    assert 'name="mine"' not in response.content.decode()


def test_sort_by_closing_puts_open_claims_soonest_first_then_the_closed(client, author):
    late = post(author, "Late", closes_in=timedelta(days=9))
    soon = post(author, "Soon", closes_in=timedelta(days=1))
    mid = post(author, "Mid", closes_in=timedelta(days=4))
    closed_long_ago = post(author, "Closed first")
    closed_recently = post(author, "Closed second")
    Claim.objects.filter(pk=closed_long_ago.pk).update(closes_at=timezone.now() - timedelta(days=2))
    Claim.objects.filter(pk=closed_recently.pk).update(closes_at=timezone.now() - timedelta(hours=1))
    assert listed(client.get(reverse("home"), {"sort": "closing"})) == ids(
        soon, mid, late, closed_recently, closed_long_ago
    )


def test_the_home_page_lists_open_claims_first_and_the_resolved_history_by_filter(client, author, stranger):
    older_open = post(author, "Open, older")
    resolved = post(author, "Resolved, newer than one open claim")
    newer_open = post(author, "Open, newer")
    closed = post(author, "Closed, newest")
    closing_time_passes(resolved)
    factories.propose(resolved, "no", factories.human(stranger), evidence="The record.")
    factories.challenge_window_passes(resolved)
    closing_time_passes(closed)

    # Open claims first (newest first), then the rest, newest first; "new" is the same order.
    assert listed(client.get(reverse("home"))) == ids(newer_open, older_open, closed, resolved)
    assert listed(client.get(reverse("home"), {"sort": "new"})) == ids(newer_open, older_open, closed, resolved)
    assert listed(client.get(reverse("home"), {"status": "resolved_no"})) == ids(resolved)


def test_sort_by_volume(client, author, trader):
    small, big, none, medium = (post(author, title) for title in ("Small", "Big", "None", "Medium"))
    buy(trader, small, credits=1)
    buy(trader, big, credits=5)
    buy(trader, medium, credits=2)
    assert listed(client.get(reverse("home"), {"sort": "volume"})) == ids(big, medium, small, none)


def test_sort_by_disagreement_between_market_and_consensus(client, author, trader):
    agree = post(author, "Agrees")  # price 50%, consensus 52%: 2 points apart
    far = post(author, "Far apart")  # price 50%, consensus 90%: 40 points
    unknown = post(author, "No consensus")
    below = post(author, "Consensus below")  # price 50%, consensus 25%: 25 points
    state(trader, agree, "0.52")
    state(trader, far, "0.9")
    state(trader, below, "0.25")
    assert listed(client.get(reverse("home"), {"sort": "disagreement"})) == ids(far, below, agree, unknown)


def test_pages_of_twenty_with_the_total_and_the_filters_kept(client, author, settings):
    settings.CREDENCE_MAX_OPEN_CLAIMS = 100
    claims = [post(author, f"Claim number {i}", tags=["bulk"]) for i in range(45)]
    newest_first = ids(*reversed(claims))
    first = client.get(reverse("home"), {"tag": "bulk"})
    assert listed(first) == newest_first[:20]
    html = first.content.decode()
    assert "45 claims · showing 1\N{EN DASH}20" in html
    assert "Page 1 of 3" in html
    assert 'href="?tag=bulk&amp;page=2" rel="next"' in html
    assert 'rel="prev"' not in html

    second = client.get(reverse("home"), {"tag": "bulk", "page": "2"})
    assert listed(second) == newest_first[20:40]
    html = second.content.decode()
    assert "45 claims · showing 21\N{EN DASH}40" in html
    assert 'href="?tag=bulk&amp;page=1" rel="prev"' in html
    assert 'href="?tag=bulk&amp;page=3" rel="next"' in html

    last = client.get(reverse("home"), {"tag": "bulk", "page": "3"})
    assert listed(last) == newest_first[40:]
    assert 'rel="next"' not in last.content.decode()
    # Out of range or not a number: the last page, or the first.
    assert listed(client.get(reverse("home"), {"tag": "bulk", "page": "99"})) == newest_first[40:]
    assert listed(client.get(reverse("home"), {"tag": "bulk", "page": "abc"})) == newest_first[:20]


def test_a_single_page_has_no_pager(client, author):
    post(author, "Only one")
    html = client.get(reverse("home")).content.decode()
    assert "1 claim\n" in html
    assert '<nav class="pager"' not in html


def test_an_invalid_filter_is_reported_next_to_its_field_and_ignored(client, author):
    claim = post(author, "Anything")
    response = client.get(reverse("home"), {"status": "bogus", "sort": "sideways"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Select a valid choice. bogus is not one of the available choices." in html
    assert "Select a valid choice. sideways is not one of the available choices." in html
    assert listed(response) == [claim.pk]


def test_empty_states(client, owner_client, author):
    html = client.get(reverse("home")).content.decode()
    assert '<p class="empty">No claims yet.</p>' in html
    assert "Create an account" in html  # the introduction for visitors who are not signed in
    html = owner_client.get(reverse("home")).content.decode()
    assert "Create an account" not in html
    post(author, "Something")
    html = client.get(reverse("home"), {"q": "nothing like it"}).content.decode()
    assert 'No claim matches these filters. <a href="/">Show every claim</a>.' in html
    assert listed(client.get(reverse("home"), {"q": "nothing like it"})) == []


def test_the_empty_list_invites_signed_in_people_to_post_even_through_htmx(owner_client):
    headers = {**HTMX, "HTTP_HX_TARGET": "claim-results"}
    for response in (owner_client.get(reverse("home")), owner_client.get(reverse("home"), **headers)):
        html = response.content.decode()
        assert f'<p class="empty">No claims yet. <a href="{reverse("claim-new")}">Post the first one</a>.</p>' in html


def test_htmx_gets_the_results_region_alone_and_history_restores_get_the_page(client, author):
    claim = post(author, "Anything")
    headers = {**HTMX, "HTTP_HX_TARGET": "claim-results"}
    response = client.get(reverse("home"), {"q": "any"}, **headers)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="claim-results" class="claim-results"')
    assert "<html" not in html
    assert listed(response) == [claim.pk]
    assert "HX-Request" in response["Vary"]
    restore = client.get(reverse("home"), {"q": "any"}, **headers, HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert restore.content.decode().startswith("<!doctype html>")


def test_the_filter_form_works_with_and_without_htmx(client):
    html = client.get(reverse("home")).content.decode()
    assert '<form method="get" action="/" class="claim-filters" role="search"' in html
    assert 'hx-get="/" hx-target="#claim-results" hx-swap="outerHTML" hx-push-url="true"' in html
    for name in ("q", "domain", "tag", "status", "closing", "sort"):
        assert f'<label for="id_{name}">' in html


def test_the_results_carry_the_live_cursor(client, author):
    post(author, "Anything")
    html = client.get(reverse("home")).content.decode()
    last = Event.objects.aggregate(last=Max("id"))["last"]
    assert f'data-live-after="{last}"' in html


def _list_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"), params)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("signed_in", [False, True])
def test_the_query_count_does_not_grow_with_the_rows(client, owner_client, author, trader, signed_in):
    viewer = owner_client if signed_in else client
    params = {"sort": "disagreement", **({"mine": "on"} if signed_in else {})}

    def add(n: int) -> None:
        for i in range(n):
            claim = post(author, f"Claim {Claim.objects.count()}", tags=["a", "b"])
            buy(trader, claim, credits=1 + i % 3)
            state(trader, claim, "0.8")

    add(2)
    few = _list_queries(viewer, **params)
    add(13)
    assert len(listed(viewer.get(reverse("home"), params))) == 15
    many = _list_queries(viewer, **params)
    assert few == many
    # domains, count, page, live cursor; signed in: session, user, identity, wallet balance, reviews waiting
    # (navigation).
    assert many == (9 if signed_in else 4)


def test_the_row_partial_renders_one_row_as_it_stands(client, author, trader):
    claim = post(author, "Row")
    buy(trader, claim, credits=10)
    response = client.get(reverse("claim-row", args=[claim.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<li class="claim-row" id="claim-row-{claim.pk}"')
    assert '<dd class="figure-market">81.4%</dd>' in html


def test_the_row_partial_hides_drafts_and_missing_claims(client, owner_client, author):
    draft = post(author, "Draft", publish=False)
    assert client.get(reverse("claim-row", args=[draft.pk])).status_code == 404
    assert owner_client.get(reverse("claim-row", args=[draft.pk])).status_code == 404  # drafts are not listed
    assert client.get(reverse("claim-row", args=[draft.pk + 1000])).status_code == 404


def test_the_navigation_offers_posting_and_the_portfolio_to_signed_in_people(client, owner_client):
    html = owner_client.get(reverse("home")).content.decode()
    assert f'<a href="{reverse("claim-new")}">Post a claim</a>' in html
    assert f'<a href="{reverse("portfolio")}">Portfolio</a>' in html
    assert '<a href="/" aria-current="page">Claims</a>' in html
    html = client.get(reverse("home")).content.decode()
    assert "Post a claim" not in html
    assert "Portfolio" not in html
