"""Live pages in Chromium: a change made anywhere (another browser, the REST API, a Celery worker) reaches
open pages without a reload, over the WebSocket that static/js/live.js opens; a page whose server goes
away catches up, once, when it comes back; and a person sees their notifications as they happen.

pytest-django's live server speaks WSGI only, so these pages are served by a real uvicorn on the test
database (tests/realtime/servers.py). Every process shares only the database and Redis, as in production.
"""

import json
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from apps.core.amounts import CREDIT
from apps.core.models import Event
from apps.markets.models import Market, Trade
from apps.markets.tasks import finalize_due
from apps.realtime.models import Notification
from apps.web.templatetags.markets import percent
from tests import factories
from tests.e2e.conftest import allow_console
from tests.e2e.tasks import agent_buys
from tests.factories import buy, close, fund, new_claim, resolve, state
from tests.realtime.servers import celery_worker, page_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
TITLE = "Will the experiment replicate?"  # tests.markets.conftest.make_claim's
WAIT = 15_000  # ms: a poll of the relay, a debounced htmx refresh, and a loaded machine


@pytest.fixture
def domain(db):
    return factories.domain()


@pytest.fixture
def claim(domain):
    return new_claim(factories.human(), domain)


def _price(claim) -> str:
    return percent(Market.objects.get(claim=claim).price_yes)


def _wait_for(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _api_buy(server, claim, token: str, *, credits: int, key: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/v1/claims/{claim.pk}/trades",
        data=json.dumps({"kind": "buy", "side": "no", "amount": credits * CREDIT}).encode(),
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        assert response.status == 201
        return json.loads(response.read())


def _hears_its_person(page) -> None:
    """Wait until the page's own socket (/ws/me/) has said hello: it is open and following."""
    for _ in range(150):
        if any('"kind": "hello"' in str(frame) for frame in page._frames):
            return
        page.wait_for_timeout(100)  # lets Playwright deliver the page's events meanwhile
    raise AssertionError("the person's socket never said hello")


def _wait_in_page(page, expression: str, seconds: float = 15) -> None:
    """Poll a JavaScript expression (page.wait_for_function would eval it, which the page's CSP forbids)."""
    for _ in range(int(seconds * 10)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"still false after {seconds}s: {expression}")


def _no_reload_marker(page) -> None:
    page.evaluate("window.__sameDocument = true")


def _not_reloaded(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_a_trade_in_one_browser_appears_in_another_without_reload(open_page, claim):
    alice, bob = factories.human(), factories.human()
    alices = open_page(alice.user, f"/claims/{claim.pk}/")
    bobs = open_page(bob.user, f"/claims/{claim.pk}/")
    _no_reload_marker(bobs)
    expect(bobs.locator("#claim-price")).to_have_text("50%")
    expect(bobs.locator("#claim-trades")).to_contain_text("No trades yet.")

    # when alice buys YES for 10 credits on her page
    amount = alices.get_by_label("Amount to spend (credits, fee included)")
    amount.fill("10")
    amount.press("Tab")
    expect(alices.locator("#ticket-quote")).to_contain_text("You pay", timeout=WAIT)  # she reads the quote first
    alices.wait_for_timeout(500)  # the quote the Tab's change event asked for has come back too
    alices.get_by_role("button", name="Place order").click()
    _wait_for(lambda: Trade.objects.filter(identity=alice).exists())

    # then bob's page shows the new price and her trade, without a reload
    expect(bobs.locator("#claim-price")).to_have_text(_price(claim), timeout=WAIT)
    assert _price(claim) == "54.7%"
    expect(bobs.locator("#claim-trades tbody tr")).to_have_count(1, timeout=WAIT)
    expect(bobs.locator("#claim-trades tbody tr").first).to_contain_text(f"@{alice.handle}")
    expect(bobs.locator("#claim-trades tbody tr").first).to_contain_text("Bought YES")
    expect(bobs.locator("#claim-trades tbody tr").first).to_contain_text("50% → 54.7%")
    assert _not_reloaded(bobs)


def test_a_trade_through_the_rest_api_appears(open_page, server, claim):
    owner = factories.verified_user()
    bot = factories.agent(owner=owner, handle="api-bot")
    fund(bot, 100)
    token = factories.api_key(bot)
    page = open_page(None, f"/claims/{claim.pk}/")
    _no_reload_marker(page)

    # when an agent buys NO over HTTP with its API key
    trade = _api_buy(server, claim, token, credits=10, key="api-1")

    # then the open page shows the new price and the agent's trade
    assert trade["price_after"] == str(Market.objects.get(claim=claim).price_yes)
    expect(page.locator("#claim-price")).to_have_text(_price(claim), timeout=WAIT)
    assert _price(claim) == "45.3%"
    expect(page.locator("#claim-trades tbody tr").first).to_contain_text("@api-bot", timeout=WAIT)
    expect(page.locator("#claim-trades tbody tr").first).to_contain_text("Bought NO")
    assert _not_reloaded(page)


def test_a_trade_made_by_a_celery_worker_appears(open_page, tmp_path, claim):
    owner = factories.verified_user()
    bot = factories.agent(owner=owner, handle="hosted-bot")
    fund(bot, 100)
    page = open_page(None, f"/claims/{claim.pk}/")
    _no_reload_marker(page)

    # when a task in a real worker process places the agent's trade
    with celery_worker(log_dir=tmp_path, include=["tests.e2e.tasks"]) as worker:
        result = agent_buys.apply_async(args=[bot.pk, claim.pk, "yes", 10, "worker-1"], queue=worker.queue)
        trade_id = worker.wait(result)

    # then the page, attached to the web process, shows it
    assert Trade.objects.get(pk=trade_id).identity == bot
    expect(page.locator("#claim-price")).to_have_text("54.7%", timeout=WAIT)
    expect(page.locator("#claim-trades tbody tr").first).to_contain_text("@hosted-bot", timeout=WAIT)
    assert _not_reloaded(page)


def test_the_claim_list_follows_every_claim_it_shows_on_one_socket(open_page, server, domain):
    author = factories.human()
    first, second = new_claim(author, domain), new_claim(author, domain)
    page = open_page(None, "/")
    _no_reload_marker(page)
    expect(page.locator(f"#claim-row-{second.pk} .figure-market")).to_have_text("50%")
    after = page.locator("[data-live-claims]").get_attribute("data-live-after")

    # when someone trades on the second claim
    buy(factories.human(), second, "yes", credits=30, key="list-1")

    # then that row shows its new price and the other row stays as it was
    expect(page.locator(f"#claim-row-{second.pk} .figure-market")).to_have_text(_price(second), timeout=WAIT)
    expect(page.locator(f"#claim-row-{first.pk} .figure-market")).to_have_text("50%")
    assert _not_reloaded(page)
    # over one socket for both claims
    open_sockets = [ws.url for ws in page._sockets if not ws.is_closed()]
    assert open_sockets == [f"ws://127.0.0.1:{server.port}/ws/claims/?ids={first.pk}%2C{second.pk}&after={after}"]


def test_a_page_whose_server_restarts_catches_up_once(open_page, tmp_path, claim):
    trader, thinker = factories.human(), factories.human()
    with page_server(log_dir=tmp_path) as first_run:
        port = first_run.port
        page = open_page(None, f"/claims/{claim.pk}/", port=port)
        allow_console(page, "WebSocket connection to")  # the reconnection attempts while it is down
        page.evaluate(
            "window.__events = [];"
            "document.body.addEventListener('credence:event', (e) => window.__events.push(e.detail.id));"
        )
        buy(trader, claim, "yes", credits=5, key="restart-1")
        _wait_in_page(page, "window.__events.length === 2")
        expect(page.locator("#claim-price")).to_have_text(_price(claim), timeout=WAIT)  # its refresh is done

    # while the server is down, the claim moves
    state(thinker, claim, "0.8")
    buy(trader, claim, "no", credits=2, key="restart-2")

    with page_server(log_dir=tmp_path, port=port):
        # then the page reconnects, resumes after what it saw, and hears each missed event exactly once
        events = Event.objects.filter(subject=f"claim:{claim.pk}", kind__in=EVENT_KINDS).order_by("id")
        expected = list(events.values_list("id", flat=True))
        assert len(expected) == 6  # 2 trades x (trade.placed, market.price_changed), belief.stated, consensus.updated
        _wait_in_page(page, f"window.__events.length >= {len(expected)}", seconds=30)
        time.sleep(1)  # and nothing more arrives
        assert page.evaluate("window.__events") == sorted(expected)
        expect(page.locator("#claim-price")).to_have_text(_price(claim), timeout=WAIT)
        expect(page.locator("#claim-beliefs")).to_contain_text(f"@{thinker.handle}", timeout=WAIT)


EVENT_KINDS = ["trade.placed", "market.price_changed", "belief.stated", "consensus.updated"]


def test_a_person_sees_their_notifications_as_settlement_pays_them(open_page, tmp_path, domain):
    # given alice's claim, closed with a YES proposal whose challenge window has passed
    alice, bob = factories.human(), factories.human()
    claim = new_claim(alice, domain)
    buy(bob, claim, "yes", credits=5, key="n-1")
    close(claim)
    factories.propose(claim, "yes", factories.human(), evidence="The paper is out.")
    factories.challenge_window_passes(claim)
    # alice has the claim open in one tab and her notifications in another; bob has the claim open
    claim_page = open_page(alice.user, f"/claims/{claim.pk}/")
    inbox = open_page(alice.user, "/notifications/")
    bobs = open_page(bob.user, f"/claims/{claim.pk}/")
    expect(inbox.locator("#notification-list")).to_contain_text("No notifications yet.")
    expect(inbox.locator("#unread-count")).to_have_text("0")
    for page in (claim_page, inbox, bobs):
        _no_reload_marker(page)
        _hears_its_person(page)  # a first connection has no cursor: it hears what happens from then on

    # when the beat sweep's task finalizes and settles it in a worker process
    with celery_worker(log_dir=tmp_path) as worker:
        assert worker.wait(finalize_due.apply_async(queue=worker.queue)) == {"finalized": 1, "settled": 1}

    # then alice's claim page shows the outcome and her two notifications as toasts
    mine = list(Notification.objects.filter(user=alice.user).order_by("id"))
    assert [n.kind for n in mine] == ["claim_resolved", "payout"]
    toasts = claim_page.locator("#notifications .toast")
    expect(toasts).to_have_count(2, timeout=WAIT)
    expect(toasts.nth(0)).to_contain_text(f"Your claim “{TITLE}” resolved YES.")
    expect(toasts.nth(1)).to_contain_text(mine[1].text)
    expect(toasts.nth(0).get_by_role("link", name="View the claim")).to_have_attribute("href", f"/claims/{claim.pk}/")
    expect(claim_page.locator("#claim-resolution")).to_contain_text("Outcome: YES", timeout=WAIT)
    # and bob his own, and nobody else's
    expect(bobs.locator("#notifications .toast")).to_have_count(1, timeout=WAIT)
    expect(bobs.locator("#notifications .toast")).to_contain_text(Notification.objects.get(user=bob.user).text)

    # and her notifications tab lists both, unread, without a reload
    expect(inbox.locator("#unread-count")).to_have_text("2", timeout=WAIT)
    expect(inbox.locator(".notification-unread")).to_have_count(2, timeout=WAIT)
    expect(inbox.locator("#notifications .toast")).to_have_count(0)  # the list says it: no toast there

    # when she dismisses the toasts with the keyboard: Escape on one, Enter on the other's button
    claim_page.locator("#notifications .toast").nth(0).get_by_role("button", name="Dismiss this notification").focus()
    claim_page.keyboard.press("Escape")
    expect(toasts).to_have_count(1)
    # focus moved to the remaining toast's button
    claim_page.keyboard.press("Enter")
    expect(toasts).to_have_count(0)

    # when she marks one read in the notifications tab, the count drops there at once
    inbox.locator(f"#notification-{mine[0].pk}").get_by_role("button", name="Mark as read").click()
    expect(inbox.locator("#unread-count")).to_have_text("1", timeout=WAIT)
    expect(inbox.locator(".notification-unread")).to_have_count(1, timeout=WAIT)
    _wait_for(lambda: Notification.objects.get(pk=mine[0].pk).read_at is not None)
    for page in (claim_page, inbox, bobs):
        assert _not_reloaded(page)


def test_on_a_phone_toasts_fit_the_screen_and_the_page_does_not_scroll_sideways(open_page, domain):
    author = factories.human()
    claim = new_claim(author, domain)
    buy(factories.human(), claim, "no", credits=5, key="phone-1")
    page = open_page(author.user, "/notifications/")
    page.set_viewport_size({"width": 390, "height": 800})
    expect(page.get_by_role("heading", name="Notifications", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page._frames.clear()  # the notifications page's socket said hello too: wait for the claim page's own
    page.goto(f"/claims/{claim.pk}/")
    _hears_its_person(page)

    # when her claim settles (in this process: another one, as far as the server can tell)
    resolve(claim, "no", factories.human())

    # then both toasts show whole, inside the screen, and the page still does not scroll sideways
    toasts = page.locator("#notifications .toast")
    expect(toasts).to_have_count(2, timeout=WAIT)
    for i in range(2):
        box = toasts.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


LIVE_SECTIONS = ("summary", "chart", "trades", "beliefs", "position", "resolution")


@pytest.mark.parametrize("first", ["the order's answer", "the socket's event"])
def test_your_own_trade_refreshes_each_live_region_once(open_page, claim, first):
    me = factories.human()
    page = open_page(me.user, f"/claims/{claim.pk}/")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if "/live/" in request.url else None)
    answers = []
    if first == "the socket's event":
        # the order's answer is held back (as a slow network would) until the socket has told of the trade
        page.route("**/trade/", lambda route: answers.append((route, route.fetch())))
    _wait_in_page(page, "document.querySelector('#claim-summary') !== null")
    for _ in range(150):  # the claim's socket is open
        if any("/ws/claims/" in socket.url for socket in page._sockets):
            break
        page.wait_for_timeout(100)

    # when I place an order on the page
    page.get_by_label("Amount to spend (credits, fee included)").fill("10")
    expect(page.locator("#ticket-quote")).to_contain_text("You pay", timeout=WAIT)
    page.get_by_role("button", name="Place order").click()
    _wait_for(lambda: Trade.objects.filter(identity=me).exists())
    for _ in range(150):  # the socket has told of it
        if any("trade.placed" in str(frame) for frame in page._frames):
            break
        page.wait_for_timeout(100)
    if answers:
        page.wait_for_timeout(1500)  # the regions the socket's event refreshed are back
        route, response = answers[0]
        route.fulfill(response=response)
    expect(page.locator("#ticket .message-success")).to_contain_text("Bought", timeout=WAIT)
    page.wait_for_timeout(1500)  # past every region's 300 ms debounce and its request

    # then each live region of the page fetched itself once: the order's answer and the socket's event
    # name the same events, and each event refreshes the page once
    sections = sorted(url.split("/live/")[1].strip("/") for url in fetched)
    assert sections == sorted(LIVE_SECTIONS)
    expect(page.locator("#claim-price")).to_have_text(_price(claim))
    expect(page.locator("#claim-trades tbody tr")).to_have_count(1)
