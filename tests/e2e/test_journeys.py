"""Journeys through the real pages in Chromium: a newcomer from signup to a position, a claim from close to
payout (time injected, never slept), and bad input that changes nothing. The ORM only arranges what a
journey starts from and checks the database afterwards."""

import email as email_parser
import re
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.core.amounts import CREDIT
from apps.core.templatetags.credence import credits
from apps.identities.models import Identity
from apps.ledger.selectors import wallet_balance
from apps.markets.models import Claim, Domain, Resolution, Trade
from apps.markets.resolution import claims_close_due, claims_settle_due, resolutions_finalize_due
from apps.markets.services import Order, trade_place
from apps.reputation.models import Belief
from tests import factories
from tests.e2e.conftest import allow_console
from tests.reputation.conftest import new_claim

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
WAIT = 15_000  # ms
GRANT = 1000 * CREDIT
SUBSIDY_100 = 69_314_719  # ceil(100 credits · ln 2)
PASSWORD = "a-long-and-unusual-passphrase-42"


@pytest.fixture
def domain(db):
    return Domain.objects.get_or_create(slug="science", defaults={"name": "Science"})[0]


def _credits(text: str) -> int:
    """'12.345678' (credits, as the pages print them) -> micro-credits."""
    return int(Decimal(text.replace(",", "")) * CREDIT)


def _confirmation_link(mail_dir: Path, email: str) -> str:
    """The link in the confirmation mail the server wrote to `mail_dir` (the file backend: messages as
    sent, quoted-printable, each followed by a line of dashes)."""
    for _ in range(50):
        for file in sorted(mail_dir.glob("*.log")):
            for block in file.read_text().split("\n" + "-" * 79 + "\n"):
                message = email_parser.message_from_string(block.strip())
                if message["To"] != email:
                    continue
                body = message.get_payload(decode=True).decode()
                if found := re.search(r"https?://\S+/accounts/confirm-email/[^\s/]+/", body):
                    return found.group(0)
        time.sleep(0.1)  # the server writes it as the signup answers: a moment at most
    raise AssertionError(f"no confirmation mail for {email} in {mail_dir}")


def _quote(ticket) -> tuple[str, str]:
    """What the ticket's quote says before confirming: (credits to pay, shares), as printed."""
    quote = ticket.locator("#ticket-quote")
    expect(quote).to_contain_text("You pay", timeout=WAIT)
    text = quote.inner_text()
    pay = re.search(r"You pay\s+([0-9.,]+) credits", text).group(1)
    shares = re.search(r"Shares\s+\+([0-9.,]+) YES", text).group(1)
    return pay, shares


def test_a_newcomer_signs_up_confirms_posts_a_claim_trades_and_sees_the_position(open_page, server, domain):
    email = "newcomer@example.com"
    page = open_page(None, "/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")

    # the emailed link confirms the address, signs in, and the signup grant is in the wallet
    page.goto(_confirmation_link(server.mail_dir, email))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("link", name="Wallet 1,000")).to_be_visible(timeout=WAIT)

    # post a claim: the form says what publishing costs and previews the claim as it is typed
    page.goto("/claims/new")
    title = "Will the newcomer's claim resolve YES?"
    page.get_by_label("Title").fill(title)
    page.get_by_label("Resolution criteria").fill("YES if the test says so; NO otherwise.")
    page.get_by_label("Domain").select_option(label="Science")
    page.get_by_label("Tags (optional)").fill("Journey, e2e")
    closes = timezone.now() + timedelta(days=10)
    page.get_by_label("Trading closes (UTC)").fill(closes.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Resolve by (UTC)").fill((closes + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Liquidity b (credits)").fill("100")
    expect(page.locator("#claim-live")).to_contain_text("69.314719", timeout=WAIT)  # b ln 2, the subsidy
    expect(page.locator("#claim-live")).to_contain_text(title, timeout=WAIT)  # the preview
    page.get_by_role("button", name="Publish claim").click()
    page.wait_for_url("**/claims/*/")
    claim = Claim.objects.get(title=title)
    identity = Identity.objects.get(user__email=email)
    assert (claim.author, claim.tags) == (identity, ["e2e", "journey"])

    # an amount on YES: the quote shows what it costs before it is placed, and that is what it costs
    ticket = page.locator("#ticket")
    ticket.get_by_label("Amount to spend (credits, fee included)").fill("10")
    paid_first, shares_first = _quote(ticket)
    ticket.get_by_role("button", name="Place order").click()
    expect(ticket).to_contain_text(f"Bought {shares_first} YES shares for {paid_first} credits", timeout=WAIT)

    # a belief order: a probability and a budget, quoted, then placed (keyboard only)
    ticket.get_by_role("radio", name="Belief order").check()
    ticket.get_by_label("Your probability of YES (%)").fill("70")
    ticket.get_by_label("Amount to spend (credits, fee included)").fill("20")
    paid_second, shares_second = _quote(ticket)
    ticket.get_by_role("button", name="Place order").focus()
    page.keyboard.press("Enter")
    expect(ticket).to_contain_text(f"Bought {shares_second} YES shares for {paid_second} credits", timeout=WAIT)

    trades = list(Trade.objects.filter(identity=identity, market__claim=claim).order_by("id"))
    assert [t.cost + t.fee for t in trades] == [_credits(paid_first), _credits(paid_second)]
    assert (trades[0].belief, trades[1].belief) == (None, Decimal("0.700000"))
    assert f"{Decimal(trades[0].shares) / CREDIT:f}".rstrip("0").rstrip(".") == shares_first.replace(",", "")
    assert wallet_balance(identity) == GRANT - SUBSIDY_100 - _credits(paid_first) - _credits(paid_second)

    # the position, on the claim page and in the portfolio
    held = sum(t.shares for t in trades)
    position = page.locator("#claim-position")
    expect(position).to_contain_text(f"{Decimal(held) / CREDIT:f}".rstrip("0").rstrip("."))
    page.goto("/portfolio/")
    expect(page.get_by_role("link", name=title)).to_be_visible()


def test_a_claim_is_proposed_in_the_browser_and_its_payout_reaches_the_wallet(open_page, domain):
    author, resolver = factories.human(), factories.verified_user()
    trader = factories.verified_user()
    claim = new_claim(author, domain)
    trade = trade_place(
        identity=Identity.objects.get(user=trader),
        claim=claim,
        order=Order(kind="buy", side="yes", amount=20 * CREDIT),
        idempotency_key="journey",
    )
    Claim.objects.filter(pk=claim.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    claims_close_due()

    # the resolver proposes YES on the claim page; the panel then counts down the challenge window
    page = open_page(resolver, f"/claims/{claim.pk}/")
    panel = page.locator("#claim-resolution")
    panel.get_by_label("Yes").check()
    panel.get_by_label("Evidence").fill("The replication paper reports p = 0.01.")
    panel.get_by_role("button", name=re.compile(r"^Propose and post")).click()
    expect(panel).to_contain_text("The challenge window closes", timeout=WAIT)
    expect(panel.locator("[data-countdown-text]")).to_contain_text("left", timeout=WAIT)

    # the window passes (injected), the beat's services finalize and settle
    Resolution.objects.filter(claim=claim).update(challenge_deadline=timezone.now() - timedelta(seconds=1))
    assert resolutions_finalize_due() == 1
    assert claims_settle_due() == 1

    before = GRANT - (trade.cost + trade.fee)
    payout = trade.shares  # one credit per YES share
    holder = open_page(trader, f"/claims/{claim.pk}/")
    expect(holder.locator("#claim-resolution")).to_contain_text("Outcome: YES")
    assert wallet_balance(Identity.objects.get(user=trader)) == before + payout
    expect(holder.locator("#nav-balance")).to_have_text(credits(before + payout))
    page.reload()
    expect(page.locator("#claim-resolution")).to_contain_text("Outcome: YES")


def test_bad_input_shows_field_errors_and_changes_nothing(open_page, domain):
    user = factories.verified_user()
    identity = Identity.objects.get(user=user)
    page = open_page(user, "/claims/new")
    # Refused input is answered 422 / 409, which Chromium logs as failed loads: expected here.
    allow_console(page, "status of 422")
    allow_console(page, "status of 409")

    # the post-a-claim form: each problem beside its field, what was typed kept, nothing written
    page.get_by_label("Title").fill("A claim without criteria?")
    page.get_by_label("Domain").select_option(label="Science")
    closes = timezone.now() + timedelta(days=10)
    page.get_by_label("Trading closes (UTC)").fill(closes.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Resolve by (UTC)").fill((closes - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Liquidity b (credits)").fill("1")
    page.get_by_role("button", name="Publish claim").click()
    expect(page.locator("#id_criteria_errors")).to_contain_text("Resolution criteria are required", timeout=WAIT)
    expect(page.locator("#id_resolve_by_errors")).to_contain_text("must not be before trading closes")
    expect(page.locator("#id_liquidity_errors")).to_contain_text("Liquidity must be between")
    expect(page.get_by_label("Title")).to_have_value("A claim without criteria?")
    assert not Claim.objects.exists()

    # the order ticket: more than the wallet holds is refused with a clear message; 150% is not a probability
    author = factories.human()
    claim = new_claim(author, domain)
    page.goto(f"/claims/{claim.pk}/")
    ticket = page.locator("#ticket")
    ticket.get_by_label("Amount to spend (credits, fee included)").fill("5000")
    ticket.get_by_role("button", name="Place order").click()
    expect(ticket).to_contain_text("credit", timeout=WAIT)
    expect(ticket.locator(".alert")).to_be_visible()
    ticket.get_by_role("radio", name="Belief order").check()
    ticket.get_by_label("Your probability of YES (%)").fill("150")
    ticket.get_by_label("Amount to spend (credits, fee included)").fill("5")
    ticket.get_by_role("button", name="Place order").click()
    expect(ticket).to_contain_text("Enter a percentage above 0 and below 100.", timeout=WAIT)
    assert not Trade.objects.filter(identity=identity).exists()
    assert wallet_balance(identity) == GRANT

    # the belief form: 0% is not a belief, and nothing is stored
    beliefs = page.locator("#belief-form")
    beliefs.get_by_label("Your probability of YES (%)").fill("0")
    beliefs.get_by_role("button", name="State belief").click()
    expect(beliefs).to_contain_text("Enter a percentage above 0 and below 100.", timeout=WAIT)
    assert not Belief.objects.filter(identity=identity).exists()
    assert User.objects.filter(pk=user.pk).exists()
