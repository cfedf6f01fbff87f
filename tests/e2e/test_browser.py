"""The browser harness itself, on pages that exist today: they render in Chromium under the strict
Content-Security-Policy without a console error, and a sign-in form works by keyboard. And the filter forms
when a choice overtakes the request in flight (held here, as a slow server would): the last one wins."""

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.factories import buy, fund, new_claim, resolve

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 15_000  # ms


def test_the_home_page_renders_without_a_console_error(page):
    response = page.goto("/")
    assert response.status == 200
    assert "Credence" in page.title()
    assert "script-src" in response.headers["content-security-policy"]


def test_a_person_signs_in_with_the_keyboard(page):
    user = factories.verified_user()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/")
    # signed in: the navigation shows the wallet with the signup grant
    assert page.get_by_role("link", name="Wallet 1,000").is_visible()


# --- Filters that overtake a request in flight --------------------------------------------------------


def _poll(page, expression: str, seconds: float = 15) -> None:
    """Poll a JavaScript expression (page.wait_for_function would eval it, which the page's CSP forbids)."""
    for _ in range(int(seconds * 10)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"still false after {seconds}s: {expression}")


def _held(page, held: list) -> None:
    """Wait until the first request is on its way, held."""
    for _ in range(150):
        if held:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the first request never came")


def _hold_the_first(page, path: str) -> tuple[list, list]:
    """Hold the first htmx request for `path` (as a slow server would) and let the later ones through;
    count, in the page, the requests its filter form asks for (htmx:confirm fires as one is asked for,
    before its sync strategy queues it or aborts the one in flight)."""
    held, seen = [], []

    def handle(route) -> None:
        if route.request.headers.get("hx-request") != "true":
            route.continue_()
            return
        seen.append(route.request.url)
        if len(seen) == 1:
            held.append(route)
        else:
            route.continue_()

    page.route(lambda url: urlsplit(url).path == path, handle)
    page.evaluate(
        "window.__asked = 0;"
        "document.body.addEventListener('htmx:confirm', (e) => {"
        "  if (e.detail.elt.tagName === 'FORM' && e.detail.verb === 'get') window.__asked += 1; });"
    )
    return held, seen


def test_a_search_typed_while_the_last_is_in_flight_waits_for_it_and_shows_the_last_query(open_page):
    """Typing on after a search has been sent: the next search must neither abort it (htmx logs
    `htmx:sendAbort` as a console error, which fails the test) nor be lost; the list ends showing the
    claims of the last query, and the address says so."""
    author = factories.human()
    titles = ["Will solar output rise?", "Will solar storms hit the grid?", "Will solarpunk fiction outsell noir?"]
    for title in titles:
        new_claim(author, title=title)
    page = open_page(None, "/")
    held, seen = _hold_the_first(page, "/")
    search = page.get_by_role("searchbox", name="Search titles")

    search.press_sequentially("solar", delay=20)
    _held(page, held)  # the first search is on its way
    assert len(held) == 1 and parse_qs(urlsplit(held[0].request.url).query)["q"] == ["solar"]
    search.press_sequentially("punk", delay=20)
    _poll(page, "window.__asked === 2")  # the second search is asked for while the first is in flight
    held[0].continue_()

    rows = page.locator("#claim-results .claim-row-title")
    expect(rows).to_have_text(["Will solarpunk fiction outsell noir?"], timeout=WAIT)
    expect(page.locator("#claim-results-summary")).to_have_text("1 claim")
    expect(search).to_have_value("solarpunk")
    assert parse_qs(urlsplit(page.url).query)["q"] == ["solarpunk"]
    assert [parse_qs(urlsplit(url).query)["q"] for url in seen] == [["solar"], ["solarpunk"]]


@pytest.fixture
def scored_in_two_domains():
    """Resolved claims in two domains, forecast by two people and an agent: the leaderboards rank them
    and the track record scores the platform, per domain."""
    science = factories.domain()
    economics = factories.domain("economics")
    author, resolver, alice, carol = (factories.human() for _ in range(4))
    bot = factories.agent(alice.user, handle="alice-bot")
    fund(bot, 100)
    for n, domain in enumerate([science, science, economics]):
        claim = new_claim(author, domain)
        buy(alice, claim, "yes", credits=10, key=f"two:{n}:alice")
        buy(carol, claim, "no", credits=5, key=f"two:{n}:carol")
        buy(bot, claim, "yes", credits=3, key=f"two:{n}:bot")
        resolve(claim, "yes", resolver)
    return {"alice": alice, "carol": carol, "bot": bot}


def test_a_leaderboard_filter_chosen_while_the_last_is_in_flight_shows_the_last_choice(
    open_page, scored_in_two_domains
):
    page = open_page(None, "/leaderboards/")
    held, seen = _hold_the_first(page, "/leaderboards/")
    page.get_by_label("Domain", exact=True).select_option(label="Science")
    _held(page, held)  # the first choice is on its way
    assert len(held) == 1
    page.get_by_label("Who").select_option(label="Agents")
    _poll(page, "window.__asked === 2")  # the second choice is asked for while the first is in flight
    held[0].continue_()

    expect(page.locator("#board-heading")).to_have_text("Science · agents", timeout=WAIT)
    expect(page.locator("#leaderboard tbody tr td:nth-child(2) > a")).to_have_text(["@alice-bot"])
    expect(page.get_by_label("Domain", exact=True)).to_have_value("science")
    expect(page.get_by_label("Who")).to_have_value("agent")
    assert parse_qs(urlsplit(page.url).query) == {"domain": ["science"], "kind": ["agent"]}
    assert [parse_qs(urlsplit(url).query).get("kind") for url in seen] == [None, ["agent"]]


def test_a_track_record_domain_chosen_while_the_last_is_in_flight_shows_the_last_choice(
    open_page, scored_in_two_domains
):
    page = open_page(None, "/track-record/")
    held, seen = _hold_the_first(page, "/track-record/")
    page.get_by_label("Domain", exact=True).select_option(label="Science")
    _held(page, held)
    assert len(held) == 1
    page.get_by_label("Domain", exact=True).select_option(label="Economics")
    _poll(page, "window.__asked === 2")
    held[0].continue_()

    expect(page.locator("#record-heading")).to_have_text("Economics: 1 resolved claim", timeout=WAIT)
    expect(page.get_by_label("Domain", exact=True)).to_have_value("economics")
    assert parse_qs(urlsplit(page.url).query) == {"domain": ["economics"]}
    assert [parse_qs(urlsplit(url).query)["domain"] for url in seen] == [["science"], ["economics"]]


# --- The header ---------------------------------------------------------------------------------------

HEADER_ITEMS = ".topbar-inner > .brand, .topbar-inner .nav > a, .topbar-inner .nav > details > summary"


def _header_rows(page) -> list[dict]:
    """Each link of the header with its box (what the eye sees as the rows of the header)."""
    return page.evaluate(
        f"Array.from(document.querySelectorAll({HEADER_ITEMS!r})).map((e) => {{"
        "  const r = e.getBoundingClientRect();"
        "  return {text: e.textContent.trim().replace(/\\s+/g, ' '), top: r.top, bottom: r.bottom, right: r.right};"
        "})"
    )


@pytest.mark.parametrize("signed_in", [True, False])
def test_the_header_is_one_row_at_1280_pixels(open_page, signed_in):
    # a person with a long (but ordinary) email address and a five-digit wallet: the widest header there is
    user = None
    if signed_in:
        user = factories.verified_user("margaret.hamilton-whitfield@university.example.org")
        fund(factories.human(user), 11_345)
    page = open_page(user, None)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/")
    items = _header_rows(page)
    assert len(items) == (12 if signed_in else 7)
    first = items[0]
    assert [(i["text"], i["top"] < first["bottom"] and i["bottom"] > first["top"]) for i in items] == [
        (i["text"], True) for i in items
    ]
    assert max(i["right"] for i in items) <= 1280  # and nothing hangs off the side
    if not signed_in:
        return

    # the account's pages and signing out are one click away, in the menu under "Account"
    expect(page.get_by_role("link", name="Wallet 12,345")).to_be_visible()
    page.get_by_text("Account", exact=True).click()
    menu = page.locator(".account-menu-panel")
    expect(menu).to_contain_text("Signed in as margaret.hamilton-whitfield@university.example.org")
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 1280
    expect(menu.get_by_role("link", name="Email addresses")).to_be_visible()
    expect(menu.get_by_role("link", name="Security")).to_be_visible()
    menu.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/")
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name="Sign in")).to_be_visible()
