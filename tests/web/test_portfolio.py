"""The portfolio: open positions at their exact current value, resolved positions with their payouts,
the wallet's history, totals, live row partials that only ever show the viewer's own position, and a
query count that does not grow with the number of positions."""

from decimal import ROUND_FLOOR, Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.amounts import CREDIT, exact_credits
from apps.core.models import Event
from apps.ledger.selectors import wallet_balance
from apps.markets.models import Claim, Market, Position
from apps.markets.pricing import Order
from apps.markets.services import trade_place
from apps.markets.settlement import market_settle
from apps.web.views import portfolio as portfolio_views
from tests import factories
from tests.factories import GRANT
from tests.support import amount, shown

pytestmark = pytest.mark.django_db


@pytest.fixture
def me(owner):
    return factories.human(owner)


@pytest.fixture
def author(db):
    return factories.human()


def _value(position: Position) -> int:
    """Shares marked at the market price, rounded down (computed here from the rows, not by the selector)."""
    price = Market.objects.get(pk=position.market_id).price_yes
    return int((position.yes_shares * price + position.no_shares * (1 - price)).to_integral_value(ROUND_FLOOR))


def _cell(label: str, text: str, extra_class: str = "") -> str:
    return f'<td data-label="{label}" class="num{extra_class}">{text}</td>'


def _row(html: str, row_id: str) -> str:
    start = html.index(f'<tr id="{row_id}"')
    return html[start : html.index("</tr>", start)]


def test_open_positions_show_their_exact_value_and_the_totals(owner_client, me, author):
    first = factories.new_claim(author, title="First question?")
    second = factories.new_claim(author, title="Second question?")
    mine = [factories.buy(me, first, "yes", credits=10, key="a")]
    factories.buy(factories.human(), first, "yes", credits=20, key="b")  # someone else moves the price up after me
    mine.append(factories.buy(me, second, "no", credits=5, key="c"))

    response = owner_client.get(reverse("portfolio"))
    assert response.status_code == 200
    html = response.content.decode()
    mine_first = Position.objects.get(identity=me, market__claim=first)
    mine_second = Position.objects.get(identity=me, market__claim=second)
    value_first, value_second = _value(mine_first), _value(mine_second)

    row = _row(html, f"position-row-{first.pk}")
    price = Market.objects.get(claim=first).price_yes
    assert f'<a href="{reverse("claim-detail", args=[first.pk])}">First question?</a>' in row
    assert _cell("YES shares", exact_credits(mine_first.yes_shares)) in row
    assert _cell("NO shares", "0") in row
    assert _cell("Price of YES", f"{(price * 100).quantize(Decimal('0.1'))}%") in row
    assert _cell("Value", shown(value_first)) in row
    assert _cell("Net invested", shown(mine_first.net_invested)) in row
    assert _cell("Fees paid", shown(mine[0].fee)) in row
    pnl = value_first - mine_first.net_invested - mine[0].fee  # profit counts the fee paid (issue 12, item 13)
    assert _cell("Profit / loss", shown(pnl, signed=True), " credit-in") in row

    row = _row(html, f"position-row-{second.pk}")
    assert _cell("YES shares", "0") + "\n  " + _cell("NO shares", exact_credits(mine_second.no_shares)) in row
    assert _cell("Value", shown(value_second)) in row

    cash = wallet_balance(me)
    assert cash == GRANT - sum(trade.cost + trade.fee for trade in mine)
    assert f'<dd id="portfolio-cash">{shown(cash)}</dd>' in html
    assert f'<dd id="portfolio-positions-value">{shown(value_first + value_second)}</dd>' in html
    assert f'<dd id="portfolio-total">{shown(cash + value_first + value_second)}</dd>' in html
    assert "No resolved positions yet." in html


def test_the_open_positions_carry_what_live_updates_need(owner_client, me, author):
    first = factories.new_claim(author, title="The first question?")
    second = factories.new_claim(author, title="The second question?")
    factories.buy(me, first, "yes", credits=3, key="a")
    factories.buy(me, second, "no", credits=3, key="b")
    latest = Event.objects.order_by("-id").values_list("id", flat=True).first()

    html = owner_client.get(reverse("portfolio")).content.decode()
    # Newest position first.
    assert f'data-live-claims="{second.pk} {first.pk}" data-live-after="{latest}"' in html
    row_url = reverse("portfolio-position-row", args=[first.pk])
    assert (
        f'<tr id="position-row-{first.pk}" hx-get="{row_url}" '
        f'hx-trigger="credence:claim-{first.pk} from:body delay:250ms" hx-target="this" hx-swap="outerHTML">'
    ) in html
    triggers = f"credence:claim-{second.pk} from:body delay:250ms, credence:claim-{first.pk} from:body delay:250ms"
    assert f'hx-get="{reverse("portfolio-totals")}" hx-trigger="{triggers}"' in html


def test_the_row_partial_shows_the_viewers_position_now(owner_client, me, author):
    claim = factories.new_claim(author, title="A question?")
    factories.buy(me, claim, "yes", credits=10, key="a")
    url = reverse("portfolio-position-row", args=[claim.pk])
    before = owner_client.get(url).content.decode()

    factories.buy(me, claim, "yes", credits=4, key="b")  # the event the page would hear about
    response = owner_client.get(url)
    html = response.content.decode()
    position = Position.objects.get(identity=me, market__claim=claim)
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="position-row-{claim.pk}"')
    assert _cell("YES shares", exact_credits(position.yes_shares)) in html
    assert _cell("Value", shown(_value(position))) in html
    assert html != before


def test_the_row_partial_never_shows_someone_elses_position(owner_client, me, author, stranger):
    theirs = factories.new_claim(author, title="Their question?")
    other = factories.human(stranger)
    factories.buy(other, theirs, "yes", credits=7, key="s")
    response = owner_client.get(reverse("portfolio-position-row", args=[theirs.pk]))
    assert response.status_code == 200
    assert response.content == b""

    # On a claim where both of us hold shares, the row is mine alone.
    shared = factories.new_claim(author, title="Shared question?")
    factories.buy(other, shared, "yes", credits=40, key="s2")
    factories.buy(me, shared, "no", credits=2, key="m2")
    html = owner_client.get(reverse("portfolio-position-row", args=[shared.pk])).content.decode()
    mine = Position.objects.get(identity=me, market__claim=shared)
    theirs_position = Position.objects.get(identity=other, market__claim=shared)
    assert _cell("YES shares", "0") + "\n  " + _cell("NO shares", exact_credits(mine.no_shares)) in html
    assert exact_credits(theirs_position.yes_shares) not in html
    assert exact_credits(theirs_position.net_invested) not in html


def test_a_resolved_position_shows_its_payout_before_and_after_settlement(owner_client, me, author):
    claim = factories.new_claim(author, title="Will it happen?")
    bought = factories.buy(me, claim, "yes", credits=10, key="a")
    factories.buy(factories.human(), claim, "no", credits=10, key="b")
    factories.resolve(claim, "yes", settled=False)
    position = Position.objects.get(identity=me, market__claim=claim)
    payout = position.yes_shares
    cash_before = wallet_balance(me)

    # Resolved, not yet settled: the payout is still a position, not cash.
    html = owner_client.get(reverse("portfolio")).content.decode()
    row = _row(html, f"resolved-row-{claim.pk}")
    assert "Resolved YES" in row
    assert _cell("Payout", shown(payout)) in row
    assert '<span class="muted">Awaiting settlement</span>' in row
    assert f'<dd id="portfolio-positions-value">{shown(payout)}</dd>' in html
    assert f'<dd id="portfolio-total">{shown(cash_before + payout)}</dd>' in html
    assert "No open positions." in html

    market_settle(claim=Claim.objects.get(pk=claim.pk))
    settled = Claim.objects.get(pk=claim.pk).settled_at
    assert wallet_balance(me) == cash_before + payout
    html = owner_client.get(reverse("portfolio")).content.decode()
    row = _row(html, f"resolved-row-{claim.pk}")
    assert _cell("Payout", shown(payout)) in row
    # Profit counts the fee the buy paid (issue 12, item 13).
    assert _cell("Profit / loss", shown(payout - position.net_invested - bought.fee, signed=True), " credit-in") in row
    assert f"Paid {settled:%Y-%m-%d %H:%M}" in row
    assert f'<dd id="portfolio-cash">{shown(cash_before + payout)}</dd>' in html
    assert '<dd id="portfolio-positions-value">0</dd>' in html
    assert f"Settlement of claim #{claim.pk}: YES" in html
    assert f'<td class="num credit-in">{shown(payout, signed=True)}</td>' in html


def test_wallet_history_rows_and_pages(owner_client, me, author, monkeypatch):
    claim = factories.new_claim(author, title="A paged question?")
    trades = [factories.buy(me, claim, "yes", credits=1 + n, key=f"t{n}") for n in range(3)]
    html = owner_client.get(reverse("portfolio")).content.decode()
    for trade in trades:
        assert f"Buy YES on claim #{claim.pk}" in html
        assert f'<td class="num credit-out">{shown(-(trade.cost + trade.fee))}</td>' in html
    assert "Welcome grant" in html
    assert f'<td class="num">{shown(wallet_balance(me))}</td>' in html  # balance after the last entry

    monkeypatch.setattr(portfolio_views, "HISTORY_PAGE_SIZE", 2)
    first = owner_client.get(reverse("portfolio"))
    entries = first.context["history"]
    assert [e.amount for e in entries] == [-(t.cost + t.fee) for t in reversed(trades[1:])]
    cursor = first.context["history_next"]
    assert cursor == str(entries[-1].pk)
    assert f'href="?history={cursor}#history" rel="next"' in first.content.decode()

    second = owner_client.get(reverse("portfolio"), {"history": cursor})
    assert [e.amount for e in second.context["history"]] == [-(trades[0].cost + trades[0].fee), GRANT]
    assert second.context["history_next"] is None
    assert '<a href="?#history">← Newest</a>' in second.content.decode()


def test_resolved_positions_page_too(owner_client, me, author, monkeypatch):
    claims = [factories.new_claim(author, title=f"Resolved {n}?", liquidity=10 * CREDIT) for n in range(3)]
    for n, claim in enumerate(claims):
        factories.buy(me, claim, "yes", credits=1, key=f"r{n}")
        factories.resolve(claim, "yes", settled=False)
    monkeypatch.setattr(portfolio_views, "RESOLVED_PAGE_SIZE", 2)
    first = owner_client.get(reverse("portfolio"))
    assert [p.market.claim_id for p in first.context["resolved"]] == [claims[2].pk, claims[1].pk]
    cursor = first.context["resolved_next"]
    second = owner_client.get(reverse("portfolio"), {"resolved": cursor, "history": "999999999"})
    assert [p.market.claim_id for p in second.context["resolved"]] == [claims[0].pk]
    # Paging one list keeps the other's place.
    assert '<a href="?history=999999999#resolved">← Most recent</a>' in second.content.decode()


def test_a_bad_cursor_is_a_message_not_an_error(owner_client, me):
    response = owner_client.get(reverse("portfolio"), {"history": "nope"}, follow=True)
    assert response.redirect_chain == [(reverse("portfolio"), 302)]
    assert "cursor is not valid." in response.content.decode()


def _portfolio_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("portfolio"))
    assert response.status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_positions(owner_client, me, author):
    claims = [factories.new_claim(author, title=f"Question {n}?", liquidity=10 * CREDIT) for n in range(12)]
    for n, claim in enumerate(claims[:2]):
        factories.buy(me, claim, "yes", credits=1, key=f"q{n}")
    factories.resolve(claims[0], "yes", settled=False)
    market_settle(claim=Claim.objects.get(pk=claims[0].pk))
    with_two = _portfolio_queries(owner_client)

    for n, claim in enumerate(claims[2:], start=2):
        factories.buy(me, claim, "no", credits=1, key=f"q{n}")
    for claim in claims[2:5]:
        factories.resolve(claim, "yes", settled=False)  # resolved, two of them settled, one awaiting settlement
    for claim in claims[2:4]:
        market_settle(claim=Claim.objects.get(pk=claim.pk))
    with_twelve = _portfolio_queries(owner_client)

    # session, user, identity, wallet entries, resolved positions, unsettled positions, balance, latest
    # event id, the navigation's balance and reviews waiting
    assert with_two == with_twelve == 10


def test_totals_partial_and_anonymous_visitors(client, owner_client, me, author):
    claim = factories.new_claim(author, title="A question of totals?")
    factories.buy(me, claim, "yes", credits=10, key="a")
    html = owner_client.get(reverse("portfolio-totals")).content.decode()
    value = _value(Position.objects.get(identity=me, market__claim=claim))
    assert html.lstrip().startswith('<section class="card portfolio-totals" id="portfolio-totals"')
    assert f'<dd id="portfolio-positions-value">{shown(value)}</dd>' in html
    for url in (
        reverse("portfolio"),
        reverse("portfolio-totals"),
        reverse("portfolio-position-row", args=[claim.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('account_login')}?next={url}"


def test_a_person_without_a_verified_email_has_no_portfolio_yet(client):
    client.force_login(factories.UserFactory())
    response = client.get(reverse("portfolio"))
    assert response.status_code == 200
    assert "You have no portfolio yet: verify your email address first." in response.content.decode()


def test_the_claim_page_the_portfolio_and_the_api_show_one_value_and_one_profit_fees_counted(owner_client, me, author):
    # given a position that paid fees on a buy and on a sale, with someone else moving the price after it
    claim = factories.new_claim(author, title="Fees and profit?")
    trades = [factories.buy(me, claim, "yes", credits=10, key="a")]
    factories.buy(factories.human(), claim, "yes", credits=20, key="b")
    sale = Order(kind="sell", side="yes", shares=5 * CREDIT)
    trades.append(trade_place(identity=me, claim=claim, order=sale, idempotency_key="s"))
    position = Position.objects.get(identity=me, market__claim=claim)
    fees = sum(trade.fee for trade in trades)
    value = _value(position)
    assert (value, position.net_invested, fees) == (8_578_500, 6_787_854, 130_142)
    # the profit is what the wallet would have gained cashing the position at its value: the fees are money out
    pnl = value - position.net_invested - fees
    assert pnl == 1_660_504

    # when each of the three reads it
    api = owner_client.get("/api/v1/me/positions").json()["items"]
    claim_page = owner_client.get(reverse("claim-section", args=[claim.pk, "position"])).content.decode()
    row = _row(owner_client.get(reverse("portfolio")).content.decode(), f"position-row-{claim.pk}")

    # then all three say the same, to the micro-credit
    assert [(i["claim_id"], i["value"], i["net_invested"], i["fees_paid"], i["pnl"]) for i in api] == [
        (claim.pk, 8_578_500, 6_787_854, 130_142, 1_660_504)
    ]
    assert f"<dt>Value now</dt><dd>{amount('8.58', '8.5785')} credits</dd>" in claim_page
    assert f"<dt>Fees paid</dt><dd>{amount('0.13', '0.130142')} credits</dd>" in claim_page
    assert f'<dt>Profit / loss</dt><dd class="credit-in">{amount("+1.66", "+1.660504")} credits</dd>' in claim_page
    assert _cell("Value", amount("8.58", "8.5785")) in row
    assert _cell("Fees paid", amount("0.13", "0.130142")) in row
    assert _cell("Profit / loss", amount("+1.66", "+1.660504"), " credit-in") in row
