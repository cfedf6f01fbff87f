"""Buying credit in Chromium: a person picks a package, goes to Stripe's Checkout (the local Stripe of
tests/billing/fake_stripe.py, its page stood in for by the browser's route), comes back before the payment is
confirmed and sees the purchase pending, then sees the credit arrive on the open page, without reloading, when
Stripe's signed `checkout.session.completed` reaches the webhook. The server is a real uvicorn (as in
tests/e2e/conftest.py) told, through its environment, to talk to the local Stripe."""

import json
import time
import urllib.request

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from apps.billing.models import CreditPackage, Purchase, PurchaseStatus
from apps.core.amounts import CREDIT
from apps.ledger.models import Transfer
from apps.ledger.selectors import wallet_balance
from tests import factories
from tests.billing.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, event, signed
from tests.factories import GRANT
from tests.realtime.servers import page_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
WAIT = 15_000  # ms
STARTER = 500 * CREDIT
# Stripe's Checkout page (the fake's URLs name a host that does not exist: the browser's route answers them).
CHECKOUT_PAGE = "<!doctype html><html lang=en><title>Checkout (test)</title><h1>Pay Credence $5.00</h1></html>"


@pytest.fixture(scope="module")
def fake_stripe():
    fake = FakeStripe()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def server(fake_stripe, tmp_path_factory, django_db_setup, django_db_blocker):
    """The e2e conftest's server, with Stripe configured: the server process reads STRIPE_* from its
    environment (config/settings/base.py), which it inherits from this one (tests/bench/harness.py,
    running_server). Replaces conftest's `server` for this module, so `open_page` opens pages on it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
        patch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        patch.setenv("STRIPE_API_BASE", fake_stripe.url)
        patch.setenv("STRIPE_PAGE_ORIGINS", "https://checkout.stripe.test,https://verify.stripe.test")
        with page_server(log_dir=tmp_path_factory.mktemp("pages")) as running:
            yield running


def _post_webhook(port: int, payload: dict) -> tuple[int, dict]:
    """What Stripe does: POST the signed event to the webhook endpoint."""
    body, header = signed(payload)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/billing/stripe/webhook",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def _me_socket_says_hello(page, seconds: float = 15) -> None:
    """Wait for the person's stream (/ws/me/) to be open and past its hello: from then on an event for
    them reaches the page live."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sockets = [ws for ws in page._sockets if "/ws/me/" in ws.url]
        if sockets and any('"hello"' in str(frame) for frame in page._frames):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the /ws/me/ socket did not open: {[ws.url for ws in page._sockets]}")


def test_a_person_buys_credit_sees_it_pending_then_credited_live(open_page, server, fake_stripe):
    user = factories.verified_user()
    # The default packages come from a data migration, which an earlier transactional test's flush removed.
    package = CreditPackage.objects.get_or_create(
        name="Starter", defaults={"credits": STARTER, "price": 500, "currency": "usd"}
    )[0]
    assert (package.credits, package.price, package.currency, package.active) == (STARTER, 500, "usd", True)
    base = f"http://127.0.0.1:{server.port}"

    page = open_page(user, "/billing/")
    expect(page.locator("#nav-balance")).to_have_text("1,000")
    expect(page.locator("#billing-off")).to_have_count(0)  # the server has Stripe's keys
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    away: list[str] = []  # Stripe's pages: off this origin, answered by the browser's route

    def stripe_page(route) -> None:
        away.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body=CHECKOUT_PAGE)

    page.route(lambda url: not url.startswith(f"{base}/"), stripe_page)

    # Buy: the server creates the Checkout Session and sends the browser to Stripe's page.
    starter = page.locator("form.package").filter(has=page.get_by_role("heading", name="Starter", exact=True))
    expect(starter).to_have_count(1)
    expect(starter).to_contain_text("500 credits")
    starter.get_by_role("button", name="Buy Starter").click()
    try:
        page.wait_for_url(lambda url: not url.startswith(f"{base}/"), timeout=WAIT)
    except PlaywrightTimeout:
        purchases = list(Purchase.objects.filter(user=user).values_list("status", "checkout_url"))
        raise AssertionError(
            f"Buy did not take the browser to Stripe's Checkout: it stayed on {page.url}. "
            f"Purchases: {purchases}. Console: {console}"
        ) from None
    expect(page.get_by_role("heading", name="Pay Credence")).to_be_visible()

    purchase = Purchase.objects.get(user=user)
    session_id = purchase.stripe_session_id
    assert purchase.status == PurchaseStatus.OPEN and purchase.package == package
    session = fake_stripe.sessions[session_id]
    assert page.url == purchase.checkout_url == session["url"]
    assert away == [purchase.checkout_url]
    assert session["amount_total"] == 500 and session["currency"] == "usd"
    assert session["success_url"] == f"{base}/billing/return?session_id={{CHECKOUT_SESSION_ID}}"

    # Back from Checkout before Stripe confirms (the success redirect, as Stripe fills it in): pending.
    page.goto(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
    page.wait_for_url(f"{base}/billing/purchases/{purchase.pk}/", timeout=WAIT)
    status = page.locator("#purchase-status")
    expect(status.locator('[data-status="pending"]')).to_contain_text("Pending: waiting for Stripe")
    expect(status.locator('[data-status="credited"]')).to_have_count(0)
    expect(page.locator("#nav-balance")).to_have_text("1,000")
    assert Transfer.objects.filter(idempotency_key=f"purchase:{purchase.pk}:credit").count() == 0
    _me_socket_says_hello(page)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # Stripe: the person paid, and the signed event reaches the webhook.
    paid = event("checkout.session.completed", fake_stripe.pay(session_id))
    assert _post_webhook(server.port, paid)[0] == 200

    # The open page shows the credit, told by the person's stream (the toast comes only from there).
    expect(status.locator('[data-status="credited"]')).to_have_text(
        "Credited: 500 credits are in your wallet.", timeout=WAIT
    )
    expect(status.locator('[data-status="pending"]')).to_have_count(0)
    expect(page.locator(".toast").filter(has_text="500 credits arrived in your wallet.")).to_be_visible(timeout=WAIT)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert any("notification.created" in str(frame) for frame in page._frames)

    # A reload: the nav's balance pill has the credit too.
    page.reload()
    expect(page.locator("#nav-balance")).to_have_text("1,500")
    expect(page.locator('#purchase-status [data-status="credited"]')).to_be_visible()

    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.CREDITED
    assert Transfer.objects.filter(idempotency_key=f"purchase:{purchase.pk}:credit").count() == 1
    assert wallet_balance(user.human_identity) == GRANT + STARTER
