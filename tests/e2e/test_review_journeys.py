"""Reviews in Chromium, end to end: a supervised agent's order waits for its owner, who approves it in the queue
while the claim page shows the trade without a reload; a dispute answered by two of a panel of three, whose
answer stands once the overrule window has passed, and who are then paid from the loser's bond; and an owner
rejecting an order with the keyboard alone, on pages that pass the contrast check the other pages pass.

There is no Celery worker here: the server queues each decided review's continuation on a broker nobody
reads, and the test runs it with review_resume, as the worker would (tests/reviews/test_worker.py covers the
worker itself). The ORM arranges what a journey starts from and checks the database afterwards; every
decision under test is taken through the pages.
"""

import importlib
import json
import urllib.request

import pytest
from playwright.sync_api import expect

from apps.accounts.models import VerificationLevel
from apps.core.amounts import CREDIT, format_credits
from apps.identities.models import AutonomyLevel
from apps.ledger.selectors import wallet_balance
from apps.markets.models import ClaimStatus, Market, Resolution, Trade
from apps.markets.pricing import Order
from apps.markets.resolution import resolution_challenge, resolutions_finalize_due
from apps.markets.services import trade_place
from apps.realtime.models import Notification
from apps.reviews import services as reviews
from apps.reviews.models import CheckpointPolicy, ReviewDecision, ReviewRequest
from apps.web.templatetags.markets import percent
from tests import factories
from tests.e2e.test_accessibility import DESKTOP, PHONE, _contrast
from tests.e2e.test_journeys import _facts, _tab_to
from tests.e2e.test_live_pages import _hears_its_person, _no_reload_marker, _not_reloaded
from tests.factories import BOT_FUNDS, GRANT, new_claim
from tests.support import iso

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
WAIT = 15_000  # ms: a poll of the relay, a debounced htmx refresh, and a loaded machine
TAKE_NEXT = "#review-waiting > form > button"  # "Take the next one" (the table's "Take one" buttons are per kind)

# Counts, across the pages of one tab, every event a pointing device makes (a click the keyboard makes on a
# button is a `click` of detail 0, and is not one). sessionStorage keeps the count over the form's navigation.
COUNT_MOUSE = """
for (const type of ["mousedown", "mouseup", "mousemove", "pointerdown", "pointerup", "pointermove", "wheel",
                    "contextmenu", "dblclick", "click"]) {
  window.addEventListener(type, (event) => {
    if (type === "click" && event.detail === 0) return;
    sessionStorage.setItem("mouse", `${sessionStorage.getItem("mouse") || ""} ${type}`.trim());
  }, true);
}
"""


@pytest.fixture
def domain(db):
    return factories.domain()


@pytest.fixture
def dispute_policy(db) -> CheckpointPolicy:
    """The default policy that sends disputes to a panel. Its migration seeds it, and the flush that ends each
    transactional test takes it away: made again here from the migration's own values when missing."""
    seeded = importlib.import_module("apps.reviews.migrations.0003_default_policies").DEFAULTS
    values = dict(next(v for v in seeded if v["checkpoint"] == "resolution.dispute"))
    current = CheckpointPolicy.objects.filter(key=values["key"], is_current=True).first()
    return current or reviews.policy_create(key=values.pop("key"), created_by=None, **values)


def _verified_human():
    person = factories.human()
    person.user.verification_level = VerificationLevel.VERIFIED_HUMAN
    person.user.save(update_fields=["verification_level"])
    return person


def _price(claim) -> str:
    return percent(Market.objects.get(claim=claim).price_yes)


def _api(server, method: str, path: str, token: str, body: dict | None = None, key: str = ""):
    """An agent's call with its API key: (status, headers, JSON body)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
        method=method,
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        return response.status, response.headers, json.loads(response.read())


def _focused(page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")


# --- A supervised agent's order ---------------------------------------------------------------------------------


def test_a_supervised_agents_order_waits_for_its_owner_who_approves_it_and_the_claim_page_shows_the_trade(
    open_page, server, domain
):
    # given an agent its owner supervises (every order it places waits for them), and its owner's queue, open
    owner = factories.verified_user()
    bot = factories.funded_agent(owner, handle="careful-bot", autonomy_level=AutonomyLevel.SUPERVISED)
    token = factories.api_key(bot)
    claim = new_claim(factories.human(), domain)
    queue = open_page(owner, "/reviews/")
    expect(queue.locator("#review-waiting-count")).to_have_text("0")
    expect(queue.locator("#nav-reviews")).to_have_count(0)
    _no_reload_marker(queue)
    _hears_its_person(queue)

    # when the agent buys YES for 10 credits through the API
    order = {"kind": "buy", "side": "yes", "amount": 10 * CREDIT}
    status, headers, paused = _api(server, "POST", f"/api/v1/claims/{claim.pk}/trades", token, order, key="careful-1")

    # then the order waits (202), holding what it may spend, and nothing is traded
    review = ReviewRequest.objects.get(requester=bot)
    assert (status, headers["Location"]) == (202, f"/api/v1/reviews/{review.pk}")
    assert paused == {
        "review_id": review.pk,
        "state": "pending",
        "due_at": iso(review.due_at),
        "held": 10 * CREDIT,
        "replayed": False,
    }
    assert (review.pool, review.pool_user_id) == ("owner", owner.pk)
    assert wallet_balance(bot) == BOT_FUNDS - 10 * CREDIT
    assert not Trade.objects.exists()
    # and the owner's queue counts it without a reload
    expect(queue.locator("#review-waiting-count")).to_have_text("1", timeout=WAIT)
    assert _not_reloaded(queue)
    # and the claim page, opened in another tab now, counts it in the navigation and shows no trade
    claim_page = open_page(owner, f"/claims/{claim.pk}/")
    expect(claim_page.locator("#nav-reviews")).to_have_text("1 waiting")
    expect(claim_page.locator("#claim-trades")).to_contain_text("No trades yet.")
    expect(claim_page.locator("#claim-price")).to_have_text("50%")
    _no_reload_marker(claim_page)

    # when the owner takes it from the queue: the order reads as a trade ticket
    queue.get_by_role("button", name="Take the next one").click()
    queue.wait_for_url("**/reviews/assignments/*/")
    expect(queue.get_by_role("heading", level=1)).to_have_text(f"An order: {claim.title}")
    ticket = queue.locator(".review-ticket .facts")
    assert _facts(ticket) == {
        "Claim": claim.title,
        "Order": "Buy YES",
        "Amount": "10 credits",
        "Limit": "none: any price",
        "Agent": f"@careful-bot owned by @{factories.human(owner).handle}",
        "Price of YES when asked": "50%",
        "Held for it": "10 credits",
    }
    expect(queue.locator(".review-why")).to_contain_text("@careful-bot is supervised: its owner reviews every order")

    # and approves it
    queue.get_by_role("button", name="Approve", exact=True).click()
    expect(queue.locator("#review-decision .message-success")).to_have_text(
        f"You approved review #{review.pk}. Approved.", timeout=WAIT
    )
    review.refresh_from_db()
    assert (review.state, review.resumed_at) == ("approved", None)
    assert not Trade.objects.exists()  # the order waits for the continuation

    # when the continuation runs: the server queued it on a broker, and no worker reads it in these tests, so
    # the test runs it as the worker would
    result = reviews.review_resume(request_id=review.pk)

    # then the order is placed as asked, paid from what it held
    trade = Trade.objects.get(identity=bot)
    assert result == {
        "continued": True,
        "traded": True,
        "trade": trade.pk,
        "shares": trade.shares,
        "cost": trade.cost,
        "fee": trade.fee,
    }
    assert (trade.side, trade.cost + trade.fee) == ("yes", 10 * CREDIT)
    assert wallet_balance(bot) == BOT_FUNDS - 10 * CREDIT
    # and the claim page, open all along, shows the agent's trade and the new price without a reload
    rows = claim_page.locator("#claim-trades tbody tr")
    expect(rows).to_have_count(1, timeout=WAIT)
    expect(rows.first).to_contain_text("@careful-bot")
    expect(rows.first).to_contain_text("Bought YES")
    expect(claim_page.locator("#claim-price")).to_have_text(_price(claim), timeout=WAIT)
    assert _price(claim) == "54.7%"
    assert _not_reloaded(claim_page)
    # and the agent reads the outcome with its key
    status, _, read = _api(server, "GET", f"/api/v1/reviews/{review.pk}", token)
    assert (status, read["state"], read["resume_result"]) == (200, "approved", result)


# --- A dispute before a panel ---------------------------------------------------------------------------------


def test_a_dispute_goes_to_a_panel_of_three_two_answer_alike_the_claim_resolves_and_they_are_paid(
    open_page, domain, dispute_policy
):
    # given three verified humans, none a party, and a claim closed, proposed YES and then challenged
    panel = [_verified_human() for _ in range(3)]
    claim = new_claim(factories.human(), domain)
    factories.close(claim)
    proposer, challenger = factories.human(), factories.human()
    factories.propose(claim, "yes", proposer, evidence="The replication reports p = 0.01.")
    resolution_challenge(claim=claim, challenger=challenger, evidence="The replication was withdrawn.")
    review = ReviewRequest.objects.get(checkpoint="resolution.dispute", subject=f"claim:{claim.pk}")
    assert (review.policy_id, review.reviewers_required, review.agreement) == (dispute_policy.pk, 3, "majority")
    assert set(review.invitations.values_list("reviewer_id", flat=True)) == {p.pk for p in panel}
    bond = Resolution.objects.get(claim=claim).bond
    before = {p.pk: wallet_balance(p) for p in (*panel, proposer, challenger)}
    claim_page = open_page(None, f"/claims/{claim.pk}/")
    expect(claim_page.locator("#claim-resolution")).to_contain_text("Disputed")
    _no_reload_marker(claim_page)

    # and the third of the panel has their queue open, counting it
    first, second, third = panel
    idle = open_page(third.user, "/reviews/")
    expect(idle.locator("#review-waiting-count")).to_have_text("1")
    _hears_its_person(idle)
    _no_reload_marker(idle)

    # when two of the panel, each in their own browser, take it from their queue and answer YES
    pages = {}
    for n, person in enumerate((first, second)):
        page = pages[person.pk] = open_page(person.user, "/reviews/")
        expect(page.locator("#review-waiting-count")).to_have_text("1")
        expect(page.locator("#nav-reviews")).to_have_text("1 waiting")
        page.get_by_role("button", name="Take the next one").click()
        page.wait_for_url("**/reviews/assignments/*/")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"A disputed resolution: {claim.title}")
        expect(page.get_by_role("main")).to_contain_text("The replication was withdrawn.")
        page.get_by_role("radio", name="yes", exact=True).check()
        page.get_by_role("button", name="Send the answer").click()
        # the first answer waits for the panel's majority; the second makes it
        done = "; it waits for the rest of its panel." if n == 0 else ". Answered: yes."
        expect(page.locator("#review-decision .message-success")).to_have_text(
            f"You answered review #{review.pk}{done}", timeout=WAIT
        )
    # then the third's queue, open all along, no longer counts it (the majority decided it), without a reload
    expect(idle.locator("#review-waiting-count")).to_have_text("0", timeout=WAIT)
    assert _not_reloaded(idle)
    review.refresh_from_db()
    assert (review.state, review.outcome["value"], review.outcome["decided_by"]) == (
        "answered",
        "yes",
        [first.pk, second.pk],
    )
    assert list(ReviewDecision.objects.values_list("reviewer_id", "value")) == [(first.pk, "yes"), (second.pk, "yes")]

    # and its continuation runs (as the worker would: none runs in these tests)
    resumed = reviews.review_resume(request_id=review.pk)
    assert (resumed["resolved"], resumed["outcome"]) == (False, "yes")

    # then the claim page, open all along, shows the panel's answer and when it stands, without a reload
    expect(claim_page.locator("#claim-resolution")).to_contain_text("The review panel answered YES", timeout=WAIT)
    assert _not_reloaded(claim_page)

    # and when the overrule window has passed, the beat's sweep (run here) makes it the outcome
    stands_at = Resolution.objects.get(claim=claim).overrule_deadline
    assert resolutions_finalize_due(now=stands_at) == 1

    # then the claim page, open all along, shows the outcome without a reload
    expect(claim_page.locator("#claim-resolution")).to_contain_text("Outcome: YES", timeout=WAIT)
    assert _not_reloaded(claim_page)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.RESOLVED_YES
    # and the loser's half bond pays the two who decided, the rest of it (a micro-credit at most) to fees;
    # the proposer gets their bond back and half the challenger's; the third, who did nothing, nothing
    half = bond // 2
    share = (bond - half) // 2
    assert wallet_balance(first) - before[first.pk] == share
    assert wallet_balance(second) - before[second.pk] == share
    assert wallet_balance(third) == before[third.pk]
    assert wallet_balance(proposer) - before[proposer.pk] == bond + half
    assert wallet_balance(challenger) == before[challenger.pk]
    # and each of the two sees the payment in their wallet
    for person in (first, second):
        page = pages[person.pk]
        page.goto("/wallet/")
        newest = page.locator("table tbody tr").first
        expect(newest).to_contain_text(f"Dispute on claim #{claim.pk} decided YES by review #{review.pk}")
        expect(newest.locator("td.num").first).to_have_text(f"+{format_credits(share)}")
        expect(page.locator("#nav-balance")).to_have_text(format_credits(GRANT + share))


# --- The keyboard alone -----------------------------------------------------------------------------------------


def test_an_owner_rejects_an_order_with_the_keyboard_alone_on_pages_with_enough_contrast(open_page, domain):
    # given a supervised agent's order waiting for its owner
    owner = factories.verified_user()
    bot = factories.funded_agent(owner, handle="hasty-bot", autonomy_level=AutonomyLevel.SUPERVISED)
    claim = new_claim(factories.human(), domain)
    paused = trade_place(
        identity=bot, claim=claim, order=Order(kind="buy", side="no", amount=25 * CREDIT), idempotency_key="hasty-1"
    )
    review = paused.review
    page = open_page(owner, None)
    page.add_init_script(COUNT_MOUSE)
    page.set_viewport_size(DESKTOP)
    page.goto("/reviews/")
    checked, failures, skipped = {}, [], []

    def contrast(label: str) -> None:
        for viewport in (DESKTOP, PHONE):
            page.set_viewport_size(viewport)
            where = f"{label} ({viewport['width']} px)"
            checked[where], failed, set_aside = _contrast(page, where)
            failures.extend(failed)
            skipped.extend(set_aside)
        page.set_viewport_size(DESKTOP)

    # the queue: Tab from the top of the page reaches "Take the next one", Enter takes it
    expect(page.locator("#review-waiting-count")).to_have_text("1")
    contrast("queue")
    _tab_to(page, TAKE_NEXT)
    assert _focused(page) == "Take the next one"
    page.keyboard.press("Enter")
    page.wait_for_url("**/reviews/assignments/*/")
    expect(page.locator(".review-ticket")).to_contain_text("25 credits")
    contrast("assignment")

    # the decision: Tab to the rejection's reason, type it, Tab to its button and back (the reason is kept),
    # then Space on the button
    _tab_to(page, "#id_reject-reason")
    page.keyboard.type("Not before the replication is out.")
    page.keyboard.press("Tab")
    assert _focused(page) == "Reject"
    page.keyboard.press("Shift+Tab")
    assert _focused(page) == "id_reject-reason"
    expect(page.locator("#id_reject-reason")).to_have_value("Not before the replication is out.")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(page.locator("#review-decision .message-success")).to_have_text(
        f"You rejected review #{review.pk}. Rejected: “Not before the replication is out.”", timeout=WAIT
    )
    # and told so at once, in a toast (checked with the page once it has faded in)
    told = Notification.objects.get(user=owner, kind="review_finished")
    expect(page.locator("#notifications .toast")).to_contain_text(told.text, timeout=WAIT)
    page.evaluate("Promise.all(document.getAnimations().map((animation) => animation.finished))")
    contrast("decided")

    # then the review is rejected with the reason typed, and nothing a mouse does happened on the way
    assert page.evaluate("sessionStorage.getItem('mouse')") is None
    review.refresh_from_db()
    assert (review.state, review.outcome["decision"], review.outcome["reason"]) == (
        "rejected",
        "reject",
        "Not before the replication is out.",
    )
    # and its continuation (run as the worker would) places nothing and gives back what the order held
    assert reviews.review_resume(request_id=review.pk) == {"continued": True, "traded": False, "state": "rejected"}
    assert not Trade.objects.exists()
    assert wallet_balance(bot) == BOT_FUNDS
    # and every page on the way had the contrast WCAG AA asks for
    assert all(count > 10 for count in checked.values()), checked
    assert failures == [], "\n".join([*failures, "set aside (on a background image):", *skipped])
    assert skipped == []


def test_on_a_phone_the_review_pages_do_not_scroll_sideways(open_page, domain):
    owner = factories.verified_user()
    bot = factories.funded_agent(owner, handle="hasty-bot", autonomy_level=AutonomyLevel.SUPERVISED)
    order = Order(kind="buy", side="no", amount=25 * CREDIT)
    trade_place(identity=bot, claim=new_claim(factories.human(), domain), order=order, idempotency_key="hasty-1")
    page = open_page(owner, None)
    page.set_viewport_size(PHONE)
    widths = {}
    for name in ("queue", "assignment"):
        if name == "queue":
            page.goto("/reviews/")
            expect(page.locator("#review-waiting-count")).to_have_text("1")
        else:
            page.get_by_role("button", name="Take the next one").click()
            page.wait_for_url("**/reviews/assignments/*/")
        assert page.evaluate("window.innerWidth") == PHONE["width"]
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
    assert widths == {"queue": PHONE["width"], "assignment": PHONE["width"]}
