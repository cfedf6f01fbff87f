"""Journeys through the real pages in Chromium: a newcomer from signup to a position, a claim from close to
payout (time injected, never slept), bad input that changes nothing, the keyboard alone, a phone-sized
screen, and an order placed while its quote is on the way. The ORM only arranges what a journey starts
from and checks the database afterwards; every action under test goes through the pages."""

import email as email_parser
import re
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.core.amounts import CREDIT, exact_credits, format_credits
from apps.identities.models import Identity
from apps.ledger.selectors import wallet_balance
from apps.markets import selectors
from apps.markets.models import Claim, ClaimStatus, Market, Position, Resolution, Trade
from apps.markets.resolution import bond_for, claims_close_due, resolutions_finalize_due
from apps.markets.services import liquidity_bounds
from apps.markets.settlement import claims_settle_due
from apps.reputation.models import Belief
from apps.web.templatetags.markets import percent
from tests import factories
from tests.e2e.conftest import allow_console
from tests.factories import GRANT, SUBSIDY, buy, new_claim, state

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
WAIT = 15_000  # ms
PASSWORD = "a-long-and-unusual-passphrase-42"
AMOUNT_LABEL = "Amount to spend (credits, fee included)"
PROBABILITY_LABEL = "Your probability of YES (%)"
PERCENTAGE_ERROR = "Enter a percentage above 0 and below 100."


@pytest.fixture
def domain(db):
    return factories.domain()


def _facts(locator) -> dict[str, str]:
    """A <dl> as the page shows it: {term: definition}."""
    terms = [t.strip() for t in locator.locator("dt").all_inner_texts()]
    definitions = [d.strip() for d in locator.locator("dd").all_inner_texts()]
    assert len(terms) == len(definitions), (terms, definitions)
    return dict(zip(terms, definitions, strict=True))


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


def _quote(ticket) -> dict[str, str]:
    """The ticket's quote, once it shows a price: {Shares, Cost, Fee, You pay, YES price}."""
    expect(ticket.locator("#ticket-quote")).to_contain_text("You pay", timeout=WAIT)
    return _facts(ticket.locator("#ticket-quote .quote-facts"))


def _quoted(trade: Trade, price_before) -> dict[str, str]:
    """What the quote of `trade` said, if it told the truth: the trade as placed, in the quote's words."""
    return {
        "Shares": f"+{exact_credits(trade.shares)} {trade.side.upper()}",
        "Cost": f"{format_credits(trade.cost)} credits",
        "Fee": f"{format_credits(trade.fee)} credits",
        "You pay": f"{format_credits(trade.cost + trade.fee)} credits",
        "YES price": f"{percent(price_before)} → {percent(trade.price_after)}",
    }


def _bought(trade: Trade) -> str:
    """The ticket's notice after a buy (views/claims.py: _trade_notice)."""
    return (
        f"Bought {exact_credits(trade.shares)} {trade.side.upper()} shares for "
        f"{format_credits(trade.cost + trade.fee)} credits (fee {format_credits(trade.fee)}). "
        f"YES is now at {percent(trade.price_after)}."
    )


def _signed(micro: int) -> str:
    """A profit or loss as the pages read it (`|signed_credits`): `+2.60`, `-0.35`."""
    return ("+" if micro > 0 else "") + format_credits(micro)


def _count_quotes(page) -> None:
    """Count, in the page, the quote requests that have completed (while their form is on the page)."""
    page.evaluate(
        "window.__quotes = 0;"
        "document.body.addEventListener('htmx:afterRequest', (e) => {"
        "  if (e.detail.pathInfo.requestPath.endsWith('/quote/')) window.__quotes += 1; });"
    )


def _wait_in_page(page, expression: str, seconds: float = 15) -> None:
    """Poll a JavaScript expression (page.wait_for_function would eval it, which the page's CSP forbids)."""
    for _ in range(int(seconds * 10)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"still false after {seconds}s: {expression}")


def _trade_number(n: int, identity: Identity) -> Trade:
    """The identity's n-th trade, once the page has placed it."""
    for _ in range(150):
        trades = list(Trade.objects.filter(identity=identity).order_by("id"))
        if len(trades) >= n:
            assert len(trades) == n, trades
            return trades[-1]
        time.sleep(0.1)
    raise AssertionError(f"trade {n} of @{identity.handle} never came")


def _position_facts(claim: Claim, identity: Identity) -> dict[str, str]:
    """The claim page's "My position" as it must read, from the database."""
    market = Market.objects.get(claim=claim)
    position = Position.objects.get(market=market, identity=identity)
    position.market = market
    fees = sum(Trade.objects.filter(market=market, identity=identity).values_list("fee", flat=True))
    value = selectors.position_value(position, ClaimStatus.OPEN)
    return {
        "YES shares": exact_credits(position.yes_shares),
        "NO shares": exact_credits(position.no_shares),
        "Average price": f"{percent(Decimal(position.net_invested) / position.yes_shares)} a YES share",
        "Net invested": f"{format_credits(position.net_invested)} credits",
        "Fees paid": f"{format_credits(fees)} credits",
        "Value now": f"{format_credits(value)} credits",
        "Profit / loss": f"{_signed(value - position.net_invested - fees)} credits",
    }


# --- A newcomer ---------------------------------------------------------------------------------------


def test_a_newcomer_signs_up_confirms_posts_a_claim_trades_and_sees_the_position(open_page, server, domain):
    email = "newcomer@example.com"
    page = open_page(None, "/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    assert not Identity.objects.filter(user__email=email).exists()  # nothing to trade with before confirming

    # the emailed link confirms the address, signs in, and the signup grant is in the wallet
    page.goto(_confirmation_link(server.mail_dir, email))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/")
    expect(page.get_by_role("link", name="Wallet 1,000")).to_be_visible(timeout=WAIT)
    expect(page.locator("#nav-balance")).to_have_text("1,000")
    identity = Identity.objects.get(user__email=email)
    assert wallet_balance(identity) == GRANT

    # post a claim: every field by its label; the cost and the preview follow what is typed
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Post a claim").click()
    page.wait_for_url("**/claims/new")
    live = page.locator("#claim-live")
    preview = page.locator("#claim-preview")
    expect(page.locator("#claim-subsidy")).to_have_text("69.31 credits")  # the default liquidity, 100
    title = "Will the newcomer's claim resolve YES?"
    page.get_by_label("Title").press_sequentially(title, delay=5)
    expect(preview.locator(".claim-preview-title")).to_have_text(title, timeout=WAIT)
    criteria = "YES if the replication reports p < 0.05 by the close; NO otherwise."
    page.get_by_label("Resolution criteria").fill(criteria)
    expect(preview.locator(".claim-preview-criteria")).to_have_text(criteria, timeout=WAIT)
    page.get_by_label("Domain").select_option(label="Science")
    expect(preview.locator(".badge-domain")).to_have_text("Science", timeout=WAIT)
    page.get_by_label("Tags (optional)").fill("Journey, e2e")
    expect(preview.locator(".claim-tag")).to_have_text(["#e2e", "#journey"], timeout=WAIT)
    closes = (timezone.now() + timedelta(days=10)).replace(second=0, microsecond=0)
    page.get_by_label("Trading closes (UTC)").fill(closes.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Resolve by (UTC)").fill((closes + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"))
    liquidity = page.get_by_label("Liquidity b (credits)")
    liquidity.fill("250")
    expect(page.locator("#claim-subsidy")).to_have_text("173.29 credits", timeout=WAIT)  # ceil(250 ln 2)
    expect(page.locator("#claim-balance-after")).to_have_text("826.71 credits")
    liquidity.fill("100")
    expect(page.locator("#claim-subsidy")).to_have_text("69.31 credits", timeout=WAIT)
    expect(page.locator("#claim-balance-after")).to_have_text("930.69 credits")
    expect(live.locator(".errors li")).to_have_count(0)
    assert _facts(preview.locator(".facts")) == {
        "Market price": "50% YES at opening",
        "Trading closes": f"{closes:%Y-%m-%d %H:%M} UTC",
        "Resolve by": f"{closes + timedelta(days=5):%Y-%m-%d %H:%M} UTC",
        "Liquidity (b)": "100 credits",
        "Posted by": f"@{identity.handle}",
    }
    page.get_by_role("button", name="Publish claim").click()
    page.wait_for_url("**/claims/*/")
    claim = Claim.objects.get(title=title)
    assert (claim.author, claim.criteria, claim.domain, claim.tags) == (identity, criteria, domain, ["e2e", "journey"])
    assert (claim.status, claim.closes_at, claim.liquidity) == (ClaimStatus.OPEN, closes, 100 * CREDIT)
    assert page.url.endswith(f"/claims/{claim.pk}/")
    expect(page.locator(".messages")).to_contain_text(
        "Your claim is open for trading. The subsidy of 69.31 credits was paid."
    )
    expect(page.locator("#nav-balance")).to_have_text("930.69")

    # an amount on YES: typed, the quote shows its cost, shares and the new price before it is placed
    ticket = page.locator("#ticket")
    ticket.get_by_label(AMOUNT_LABEL).press_sequentially("10", delay=50)
    first_quote = _quote(ticket)
    ticket.get_by_role("button", name="Place order").click()
    expect(ticket.locator(".message-success")).to_contain_text("Bought", timeout=WAIT)
    first = Trade.objects.get(identity=identity, market__claim=claim)
    assert first_quote == _quoted(first, Decimal("0.5"))  # what was quoted is what was charged
    assert first.cost + first.fee == 10 * CREDIT
    expect(ticket.locator(".message-success")).to_have_text(_bought(first))
    expect(page.locator("#nav-balance")).to_have_text(format_credits(GRANT - SUBSIDY - 10 * CREDIT))

    # a belief order: a probability and a budget, quoted, then placed
    ticket.get_by_role("radio", name="Belief order").check()
    ticket.get_by_label(PROBABILITY_LABEL).fill("70")
    ticket.get_by_label(AMOUNT_LABEL).fill("20")
    second_quote = _quote(ticket)
    ticket.get_by_role("button", name="Place order").click()
    second = _trade_number(2, identity)
    assert second_quote == _quoted(second, first.price_after)
    assert (second.belief, second.side) == (Decimal("0.7"), "yes")
    expect(ticket.locator(".message-success")).to_have_text(_bought(second))

    # the wallet: the grant, less the subsidy, less what both trades cost with their fees
    spent = first.cost + first.fee + second.cost + second.fee
    assert wallet_balance(identity) == GRANT - SUBSIDY - spent
    expect(page.locator("#nav-balance")).to_have_text(format_credits(GRANT - SUBSIDY - spent))

    # the position on the claim page: shares, value at the market price, profit and loss
    position = page.locator("#claim-position")
    expect(position.locator(".facts")).to_contain_text(exact_credits(first.shares + second.shares), timeout=WAIT)
    assert _facts(position.locator(".facts")) == _position_facts(claim, identity)
    expect(position).to_contain_text(f"Wallet: {format_credits(GRANT - SUBSIDY - spent)} credits available.")

    # and in the portfolio
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Portfolio").click()
    page.wait_for_url("**/portfolio/")
    held = Position.objects.get(market__claim=claim, identity=identity)
    held.market = Market.objects.get(claim=claim)
    value = selectors.position_value(held, ClaimStatus.OPEN)
    fees = sum(Trade.objects.filter(market=held.market, identity=identity).values_list("fee", flat=True))
    row = page.locator(f"#position-row-{claim.pk}")
    expect(row.get_by_role("link", name=title)).to_be_visible()
    cells = {cell.get_attribute("data-label"): cell.inner_text() for cell in row.locator("td[data-label]").all()}
    assert cells == {
        "YES shares": exact_credits(held.yes_shares),
        "NO shares": "0",
        "Price of YES": f"{(held.market.price_yes * 100).quantize(Decimal('0.1'))}%",
        "Value": format_credits(value),
        "Net invested": format_credits(held.net_invested),
        "Fees paid": format_credits(fees),
        # the profit the claim page shows, to the micro-credit (fees counted on both pages)
        "Profit / loss": _signed(value - held.net_invested - fees),
    }
    assert cells["Profit / loss"] + " credits" == _position_facts(claim, identity)["Profit / loss"]
    expect(page.locator("#portfolio-cash")).to_have_text(format_credits(GRANT - SUBSIDY - spent))
    expect(page.locator("#portfolio-positions-value")).to_have_text(format_credits(value))


# --- Resolution ---------------------------------------------------------------------------------------


def test_a_claim_is_proposed_in_the_browser_and_its_payout_reaches_the_wallet(open_page, domain):
    # given a claim a trader holds YES shares in, closed (its closing time moved to the past, then the
    # beat's closing sweep)
    author, resolver, trader = factories.human(), factories.human(), factories.human()
    claim = new_claim(author, domain)
    trade = factories.buy(trader, claim, "yes", credits=20, key="journey")
    factories.closing_time_passes(claim)
    assert claims_close_due() == 1
    bond = bond_for(Market.objects.get(claim=claim))

    # when the resolver proposes YES in the claim page's resolution panel
    page = open_page(resolver.user, f"/claims/{claim.pk}/")
    panel = page.locator("#claim-resolution")
    panel.get_by_role("radio", name="Yes").check()
    panel.get_by_label("Evidence").fill("The replication paper reports p = 0.01.")
    panel.get_by_role("button", name=f"Propose and post {format_credits(bond)} credits").click()

    # then the panel shows the proposal and counts down the challenge window (24 hours, less the moment since)
    expect(panel).to_contain_text("The challenge window closes", timeout=WAIT)
    expect(panel.locator("[data-countdown-text]")).to_have_text("(23 hours 59 minutes left)", timeout=WAIT)
    expect(page.locator("#resolution-notice")).to_have_text(
        f"You proposed YES and posted a bond of {format_credits(bond)} credits. "
        "It comes back if nobody challenges the proposal before the window closes."
    )
    expect(page.locator("#nav-balance")).to_have_text(format_credits(GRANT - bond))
    resolution = Resolution.objects.get(claim=claim)
    assert (resolution.proposer, resolution.proposed_outcome, resolution.bond) == (resolver, "yes", bond)

    # when the window passes (injected) and the beat's sweeps finalize and settle
    factories.challenge_window_passes(claim)
    assert resolutions_finalize_due() == 1
    assert claims_settle_due() == 1

    # then the resolver's open page shows the outcome without a reload, and the bond is back
    expect(panel).to_contain_text("Outcome: YES", timeout=WAIT)
    assert wallet_balance(resolver) == GRANT

    # and the holder sees the outcome and the payout, one credit per YES share, in the nav and the portfolio
    paid = GRANT - (trade.cost + trade.fee) + trade.shares
    assert wallet_balance(trader) == paid
    holder = open_page(trader.user, f"/claims/{claim.pk}/")
    verdict = holder.locator("#claim-resolution")
    expect(verdict.locator(".final-outcome")).to_have_text("Outcome: YES")
    expect(verdict.locator(".payout")).to_have_text(f"Your payout: {format_credits(trade.shares)} credits.")
    expect(verdict).to_contain_text(f"{format_credits(trade.shares)} credits paid to 1 holder;")
    assert _facts(holder.locator("#claim-position .facts"))["Payout"] == f"{format_credits(trade.shares)} credits"
    expect(holder.locator("#nav-balance")).to_have_text(format_credits(paid))
    holder.get_by_role("navigation", name="Main").get_by_role("link", name="Portfolio").click()
    holder.wait_for_url("**/portfolio/")
    row = holder.locator(f"#resolved-row-{claim.pk}")
    expect(row.locator("td[data-label='Payout']")).to_have_text(format_credits(trade.shares))
    expect(row.locator("td[data-label='Settlement']")).to_contain_text("Paid ")
    expect(holder.locator("#portfolio-cash")).to_have_text(format_credits(paid))
    expect(holder.locator("#open-positions")).to_contain_text("No open positions.")


# --- Bad input ----------------------------------------------------------------------------------------


def test_the_post_claim_form_shows_each_error_beside_its_field_keeps_the_input_and_writes_nothing(open_page, domain):
    identity = factories.human()
    page = open_page(identity.user, "/claims/new")
    allow_console(page, "status of 422")  # the refused form's answer: Chromium logs it as a failed load
    low, high = liquidity_bounds()
    bounds = f"Liquidity must be between {format_credits(low)} and {format_credits(high)} credits."

    page.get_by_label("Title").fill("A claim without criteria?")
    page.get_by_label("Domain").select_option(label="Science")
    closes = timezone.now() + timedelta(days=10)
    typed = {
        "Trading closes (UTC)": closes.strftime("%Y-%m-%dT%H:%M"),
        "Resolve by (UTC)": (closes - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    for label, value in typed.items():
        page.get_by_label(label).fill(value)
    liquidity = page.get_by_label("Liquidity b (credits)")
    liquidity.fill(str(high // CREDIT + 1))

    # as it is typed: the liquidity's error shows beside it, and there is no cost to show
    field_errors = page.locator("#id_liquidity_errors")
    expect(field_errors).to_have_text(bounds, timeout=WAIT)
    expect(page.locator("#claim-subsidy")).to_have_text("enter a liquidity within bounds")
    assert low > CREDIT
    liquidity.fill("1")  # below the least
    expect(field_errors).to_have_text(bounds, timeout=WAIT)

    # submitted: every problem beside its own field
    page.get_by_role("button", name="Publish claim").click()
    expect(page.locator("#id_criteria_errors")).to_have_text(
        "Resolution criteria are required: say exactly what makes this claim YES or NO.", timeout=WAIT
    )
    expect(page.locator("#id_resolve_by_errors")).to_have_text("The resolution date must not be before trading closes.")
    expect(field_errors).to_have_text(bounds)
    for name in ("criteria", "resolve_by", "liquidity"):  # each error sits in its field's block, under its input
        block = page.locator(".field", has=page.locator(f"#id_{name}"))
        expect(block.locator(f"#id_{name}_errors li")).to_have_count(1)
        assert page.locator(f"#id_{name}").get_attribute("aria-describedby").startswith(f"id_{name}_errors")
    expect(page.locator("#id_title_errors li")).to_have_count(0)
    # what was typed is still there
    expect(page.get_by_label("Title")).to_have_value("A claim without criteria?")
    expect(page.get_by_label("Domain")).to_have_value("science")
    for label, value in typed.items():
        expect(page.get_by_label(label)).to_have_value(value)
    expect(liquidity).to_have_value("1")
    # and nothing was written or charged
    assert not Claim.objects.exists()
    assert wallet_balance(identity) == GRANT


def test_the_order_ticket_refuses_more_than_the_wallet_and_a_probability_of_150(open_page, domain):
    claim = new_claim(factories.human(), domain)
    identity = factories.human()
    page = open_page(identity.user, f"/claims/{claim.pk}/")
    allow_console(page, "status of 422")  # refused input is answered 4xx, which Chromium logs as failed loads
    allow_console(page, "status of 409")
    ticket = page.locator("#ticket")

    # an amount above the wallet: the quote warns before, and placing it is refused with a clear message
    ticket.get_by_label(AMOUNT_LABEL).fill("5000")
    expect(ticket.locator(".quote-warning")).to_have_text(
        "That is more than the 1,000 credits in your wallet: the order would be refused.", timeout=WAIT
    )
    ticket.get_by_role("button", name="Place order").click()
    expect(ticket.locator(".alert-error")).to_have_text(
        "This order needs 5,000 credits (cost 4,950.50 + fee 49.50); your wallet holds 1,000.", timeout=WAIT
    )
    expect(ticket.get_by_label(AMOUNT_LABEL)).to_have_value("5000")  # kept, to correct

    # a belief order at 150%: the error shows on the probability field
    ticket.get_by_role("radio", name="Belief order").check()
    ticket.get_by_label(PROBABILITY_LABEL).fill("150")
    ticket.get_by_label(AMOUNT_LABEL).fill("5")
    ticket.get_by_role("button", name="Place order").click()
    expect(ticket.locator(".field-belief .errors")).to_have_text(PERCENTAGE_ERROR, timeout=WAIT)
    expect(ticket.get_by_label(PROBABILITY_LABEL)).to_have_value("150")
    expect(ticket.locator(".message-success")).to_have_count(0)

    # nothing traded, nothing charged, the price unmoved
    assert not Trade.objects.filter(identity=identity).exists()
    assert wallet_balance(identity) == GRANT
    assert Market.objects.get(claim=claim).price_yes == Decimal("0.5")
    expect(page.locator("#claim-price")).to_have_text("50%")


def test_the_ticket_says_nothing_is_wrong_before_anything_is_typed(open_page, domain):
    claim = new_claim(factories.human(), domain)
    page = open_page(factories.human().user, f"/claims/{claim.pk}/")  # fails on any console error, a 4xx too
    _count_quotes(page)
    ticket = page.locator("#ticket")

    # picking the side and the kind of order before typing an amount or a number of shares
    ticket.get_by_role("radio", name="NO").check()
    ticket.get_by_role("radio", name="Sell").check()
    ticket.get_by_role("radio", name="Buy").check()
    page.wait_for_timeout(600)  # past the ticket's 250 ms debounce

    # asks for no price and shows no error: an empty field is unfinished, not wrong
    assert page.evaluate("window.__quotes") == 0
    expect(ticket.locator("#ticket-quote")).to_have_text(
        "As you type, the price of the order shows here before you place it."
    )
    expect(ticket.locator(".errors")).to_have_count(0)

    # typing prices the order; emptying the amount again says only what the price waits for
    ticket.get_by_label(AMOUNT_LABEL).fill("10")
    expect(ticket.locator("#ticket-quote")).to_contain_text("You pay", timeout=WAIT)
    ticket.get_by_label(AMOUNT_LABEL).fill("")
    expect(ticket.locator("#ticket-quote")).to_have_text("Complete the order to see its price.", timeout=WAIT)
    expect(ticket.locator(".errors")).to_have_count(0)
    assert page.evaluate("window.__quotes") == 2


@pytest.mark.parametrize("probability", ["0", "100"])
def test_the_belief_form_refuses_a_certainty(open_page, domain, probability):
    claim = new_claim(factories.human(), domain)
    identity = factories.human()
    page = open_page(identity.user, f"/claims/{claim.pk}/")
    allow_console(page, "status of 422")
    form = page.locator("#belief-form")
    form.get_by_label(PROBABILITY_LABEL).fill(probability)
    form.get_by_label("Rationale (optional, public: shown with your belief)").fill("Certain.")
    form.get_by_role("button", name="State belief").click()
    expect(form.locator(".field-invalid .errors")).to_have_text(PERCENTAGE_ERROR, timeout=WAIT)
    expect(form.get_by_label(PROBABILITY_LABEL)).to_have_value(probability)
    expect(form.get_by_label("Rationale (optional, public: shown with your belief)")).to_have_value("Certain.")
    assert not Belief.objects.filter(identity=identity).exists()
    expect(page.locator("#claim-beliefs")).to_contain_text("Nobody has stated a belief yet.")


# --- Keyboard and phone -------------------------------------------------------------------------------


def _tab_to(page, selector: str, limit: int = 80) -> int:
    """Press Tab until the focus is on `selector`; the number of presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement && document.activeElement.matches({selector!r})"):
            return presses
    raise AssertionError(f"{selector} never took the focus in {limit} presses of Tab")


def test_an_order_and_a_belief_are_placed_with_the_keyboard_alone(open_page, domain):
    claim = new_claim(factories.human(), domain)
    identity = factories.human()
    page = open_page(identity.user, f"/claims/{claim.pk}/")

    # from the top of the page, Tab reaches the ticket; arrows pick a belief order
    _tab_to(page, "#ticket input[name='order-kind']")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#ticket").get_by_role("radio", name="Belief order")).to_be_checked()
    page.keyboard.press("Tab")  # the fields a belief order does not use are hidden: the next is the amount
    page.keyboard.type("10")
    page.keyboard.press("Tab")
    page.keyboard.type("80")
    quote = _quote(page.locator("#ticket"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Place order"
    page.keyboard.press("Enter")
    expect(page.locator("#ticket .message-success")).to_contain_text("Bought", timeout=WAIT)
    trade = Trade.objects.get(identity=identity)
    assert (trade.belief, trade.cost + trade.fee) == (Decimal("0.8"), 10 * CREDIT)
    assert quote == _quoted(trade, Decimal("0.5"))

    # then a belief: Tab to the belief form, type, Space on its button
    _tab_to(page, "#belief-form input[name='belief-probability']")
    page.keyboard.type("75")
    page.keyboard.press("Tab")
    page.keyboard.type("The protocol is the original authors'.")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "State belief"
    page.keyboard.press("Space")
    expect(page.locator("#belief-form .message-success")).to_have_text(
        "Your belief of 75% is recorded; the consensus now includes it.", timeout=WAIT
    )
    belief = Belief.objects.get(identity=identity)
    assert (belief.probability, belief.rationale) == (Decimal("0.75"), "The protocol is the original authors'.")
    expect(page.locator("#claim-beliefs")).to_contain_text("The protocol is the original authors'.", timeout=WAIT)


PHONE = {"width": 390, "height": 844}


def test_on_a_phone_the_claim_page_and_the_list_do_not_scroll_sideways(open_page, domain):
    # given a claim with trades, beliefs and rationales, and a list of claims with long titles
    author = factories.human()
    long_title = "Will the registered replication of the ego-depletion effect report p < 0.05 before the deadline?"
    claim = new_claim(author, domain, title=long_title)
    for n, side in enumerate(["yes", "no", "yes"]):
        buy(factories.human(), claim, side, credits=5 + n, key=f"phone:{n}")
    thinker = factories.human()
    rationale = "Preregistered: https://osf.io/registered-reports/replication-of-ego-depletion-2026/protocol-v3.pdf"
    state(thinker, claim, "0.35", rationale=rationale)
    for _ in range(4):
        new_claim(author, domain)
    trader = factories.human()
    buy(trader, claim, "yes", credits=3, key="phone:mine")

    page = open_page(trader.user, None)
    page.set_viewport_size(PHONE)
    for path in (f"/claims/{claim.pk}/", "/", "/portfolio/", "/claims/new"):
        response = page.goto(path)
        assert response.status == 200, path
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1] == PHONE["width"], (path, width)
    # and the ticket fits the screen, its quote included
    page.goto(f"/claims/{claim.pk}/")
    page.locator("#ticket").get_by_label(AMOUNT_LABEL).fill("2")
    _quote(page.locator("#ticket"))
    box = page.locator("#ticket").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


# --- An order placed while its quote is on the way ----------------------------------------------------


def test_an_order_placed_right_after_typing_is_not_aborted_by_the_quote_its_click_asks_for(open_page, domain):
    """Typing an amount and clicking "Place order" at once: the click's change event asks for a quote
    250 ms later, while the order is still on its way (held here, as a slow server would). The quote must
    neither abort the order (htmx logs `htmx:sendAbort` as a console error, and the order's answer is lost)
    nor be aborted by it."""
    claim = new_claim(factories.human(), domain)
    identity = factories.human()
    page = open_page(identity.user, f"/claims/{claim.pk}/")
    _count_quotes(page)
    held = []
    page.route("**/trade/", lambda route: held.append(route))

    ticket = page.locator("#ticket")
    ticket.get_by_label(AMOUNT_LABEL).fill("10")
    ticket.get_by_role("button", name="Place order").click()
    _wait_in_page(page, "window.__quotes === 1")  # the quote came and went while the order waited
    assert len(held) == 1
    held[0].continue_()

    expect(ticket.locator(".message-success")).to_contain_text("Bought", timeout=WAIT)
    trade = Trade.objects.get(identity=identity)
    expect(ticket.locator(".message-success")).to_have_text(_bought(trade))
    assert trade.cost + trade.fee == 10 * CREDIT


def test_an_order_placed_while_its_quote_is_on_the_way_does_not_abort_the_quote(open_page, domain):
    claim = new_claim(factories.human(), domain)
    identity = factories.human()
    page = open_page(identity.user, f"/claims/{claim.pk}/")
    held = []
    page.route("**/quote/", lambda route: held.append(route))

    ticket = page.locator("#ticket")
    ticket.get_by_label(AMOUNT_LABEL).fill("10")
    for _ in range(150):  # the typed amount's quote is on its way (held)
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    ticket.get_by_role("button", name="Place order").click()
    expect(ticket.locator(".message-success")).to_contain_text("Bought", timeout=WAIT)
    trade = Trade.objects.get(identity=identity)

    # the late quote arrives after the ticket was replaced: it lands nowhere and changes nothing (the quote
    # the click's change event asked for queued behind it, and found its form gone)
    assert len(held) == 1
    with page.expect_response(lambda response: response.url.endswith("/quote/"), timeout=WAIT) as late:
        held[0].continue_()
    assert late.value.status == 200
    late.value.finished()
    page.evaluate("new Promise((done) => setTimeout(done, 50))")  # htmx handles it in a task of its own
    expect(ticket.locator(".message-success")).to_have_text(_bought(trade))
    assert Trade.objects.filter(identity=identity).count() == 1
