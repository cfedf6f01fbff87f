"""The claim page: what it shows (criteria, price beside consensus and its explanation, chart, trades,
beliefs, my position, resolution), the order ticket (quotes that match the charge to the micro-credit,
one trade per rendered form, refusals that change nothing), beliefs, proposals and challenges, live
regions, visibility, CSRF, and a query count that does not grow with trades, beliefs or contributors."""

import dataclasses
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Max
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.core.amounts import CREDIT, exact_credits
from apps.core.models import Event
from apps.ledger.models import Entry, Transfer
from apps.ledger.selectors import wallet_balance
from apps.ledger.services import EXTERNAL_WORLD, ledger_transfer, system_account, wallet_for, wallet_fund_agent
from apps.markets import selectors
from apps.markets.models import Claim, ClaimStatus, Position, Resolution, Trade
from apps.markets.pricing import Order
from apps.markets.resolution import resolution_finalize
from apps.markets.services import claim_clarify
from apps.markets.settlement import market_settle
from apps.reputation.maths import recalibrated
from apps.reputation.models import Belief
from apps.reputation.selectors import calibration_factors
from apps.reputation.services import belief_state
from tests import factories
from tests.factories import GRANT, SUBSIDY, closing_time_passes, new_claim, track
from tests.support import HTMX, amount, hidden_value, signed_in

pytestmark = pytest.mark.django_db

# Spending 10 credits on YES in a fresh market of b = 100 credits (the numbers of docs/api.md):
SHARES, COST, FEE = 18_909_395, 9_900_990, 99_010
SECTIONS = ["summary", "chart", "position", "trades", "beliefs", "resolution"]


def url(name: str, claim, *args) -> str:
    return reverse(name, args=[claim.pk, *args])


def ticket(client, claim, **fields) -> dict:
    """The order ticket as the page renders it (its idempotency key), filled in."""
    html = client.get(url("claim-detail", claim)).content.decode()
    data = {
        "order-idempotency_key": hidden_value(html, "order-idempotency_key"),
        "order-kind": "buy",
        "order-side": "yes",
    }
    data.update({f"order-{name}": value for name, value in fields.items()})
    return data


def _last_event() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _announced(claim, before: int, kinds: list[str]) -> str:
    """The HX-Trigger a change made from the claim's page answers with: the claim's events since `before`,
    which must be exactly these kinds."""
    events = list(Event.objects.filter(subject=f"claim:{claim.pk}", id__gt=before).order_by("id"))
    assert [event.kind for event in events] == kinds
    ids = ", ".join(str(event.pk) for event in events)
    return f'{{"credence:announce": {{"claim": {claim.pk}, "events": [{ids}]}}}}'


def belief_form(client, claim, **fields) -> dict:
    html = client.get(url("claim-detail", claim)).content.decode()
    data = {"belief-idempotency_key": hidden_value(html, "belief-idempotency_key")}
    data.update({f"belief-{name}": value for name, value in fields.items()})
    return data


def written() -> dict:
    """Row counts of everything an order, a belief or a resolution can write."""
    return {
        model.__name__: model.objects.count() for model in (Trade, Position, Belief, Resolution, Transfer, Entry, Event)
    }


@pytest.fixture
def author(owner):
    return factories.human(owner)


@pytest.fixture
def claim(author):
    return new_claim(author)


@pytest.fixture
def trader(stranger):
    return factories.human(stranger)


@pytest.fixture
def trader_client(stranger_client):
    return stranger_client


@pytest.fixture
def resolver_client(db):
    user = factories.verified_user()
    client = signed_in(user)
    client.identity = factories.human(user)
    return client


# --- What the page shows ---------------------------------------------------------------------------


def test_the_page_shows_title_status_criteria_and_clarifications(client, claim, author):
    claim_clarify(claim=claim, actor=author, text="A preprint counts if it reports the same test.")
    response = client.get(url("claim-detail", claim))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 id="claim-title">Will the experiment replicate?</h1>' in html
    assert '<span class="badge status-open">Open</span>' in html
    assert "<p>Resolves YES if the replication paper reports p &lt; 0.05 by the close.</p>" in html
    assert "<h3>Clarifications</h3>" in html
    assert "<p>A preprint counts if it reports the same test.</p>" in html
    assert (
        f'Posted by <a class="handle" href="{reverse("identity-detail", args=[author.handle])}">@{author.handle}</a>'
        in html
    )
    assert "<dt>Liquidity</dt><dd>100 credits</dd>" in html


def test_price_and_consensus_side_by_side_with_who_pulls_it(client, claim, trader, stranger):
    owner_of_bot = factories.verified_user()
    bot = factories.agent(owner_of_bot, handle="oracle-bot")
    # Two new sources with equal (prior) weight and opposite beliefs: the consensus is exactly 50%.
    belief_state(identity=trader, claim=claim, probability="0.8", idempotency_key="b1")
    belief_state(identity=bot, claim=claim, probability="0.2", idempotency_key="b2")
    html = client.get(url("claim-detail", claim)).content.decode()
    assert '<span class="figure-value figure-market" id="claim-price">50%</span>' in html
    assert '<span class="figure-value figure-consensus" id="claim-consensus">50%</span>' in html
    assert "The market agrees with the consensus." in html
    assert re.search(
        r"2 contributors from\s+2 independent owners:\s+1 human \(50% of the weight\),\s+1 agent \(50%\)\.", html
    )
    owner_handle = factories.human(owner_of_bot).handle
    bot_link = f'<a class="handle" href="{reverse("identity-detail", args=["oracle-bot"])}">@oracle-bot</a>'
    assert (
        f'{bot_link}\n                    <span class="badge">agent</span> '
        f'<span class="muted small">of @{owner_handle}</span>' in html
    )
    rows = re.findall(
        r'<td class="num">([^<]*)</td>\s*<td class="num">([^<]*)</td>\s*<td class="num">([^<]*)</td>', html
    )
    # Belief, weight, pull: each pulls the consensus 30 points toward itself.
    assert sorted(rows) == [("20%", "50%", "\N{MINUS SIGN}30.0 pts"), ("80%", "50%", "+30.0 pts")]
    assert f'href="{reverse("identity-detail", args=[trader.handle])}">@{trader.handle}</a>' in html
    # Both are new in the claim's domain, and say so where their weight is shown.
    domain = claim.domain.name
    assert (
        html.count(
            f'<div class="muted small earned">new in {domain}: a newcomer\N{RIGHT SINGLE QUOTATION MARK}s weight</div>'
        )
        == 2
    )


def test_a_contributors_weight_says_what_record_earned_it(client, claim, trader):
    # given a trader with three resolved forecasts of 0.7 in the claim's domain, two of them ahead of the market
    author, resolver = factories.human(), factories.human()
    for outcome in ("yes", "no", "yes"):
        earlier = factories.new_claim(author, claim.domain)
        belief_state(identity=trader, claim=earlier, probability="0.7", idempotency_key=f"e{earlier.pk}")
        factories.resolve(earlier, outcome, resolver)
    belief_state(identity=trader, claim=claim, probability="0.6", idempotency_key="now")

    # when the claim page is read, then the contributor's row says so
    html = client.get(url("claim-detail", claim)).content.decode()
    domain = claim.domain.name
    expected = f"weight earned by 3 resolved forecasts in {domain}, 2 ahead of the market"
    assert f'<div class="muted small earned">{expected}</div>' in html


def test_a_source_with_an_overconfident_record_is_shown_as_the_consensus_reads_it(client, claim, trader):
    # given a person who said 0.9 on four resolved claims in the claim's domain, two of which came true
    seer = factories.human()
    author, resolver = factories.human(), factories.human()
    for outcome in ["yes", "no", "yes", "no"]:
        track({seer: Decimal("0.9")}, author, claim.domain, resolver, outcome=outcome)
    belief_state(identity=seer, claim=claim, probability="0.9", idempotency_key="seer")
    belief_state(identity=trader, claim=claim, probability="0.3", idempotency_key="fresh")

    html = client.get(url("claim-detail", claim)).content.decode()

    # then the seer's 90% shows what the consensus reads it as, through the owner's calibration; the
    # newcomer's belief (no record: factor 1) shows alone
    factor = calibration_factors([seer.user_id], claim.domain_id)[seer.user_id]
    read = recalibrated(0.9, factor)
    assert factor < 0.8 and read < 0.85
    table = re.search(r'<table class="table contributors">.*?</table>', html, re.S).group(0)
    notes = re.findall(
        r'<td class="num">([\d.]+%)(?:<div class="muted small read-as">read as ([\d.]+%)</div>)?</td>', table
    )
    beliefs = [note for n, note in enumerate(notes) if n % 2 == 0]  # belief, then weight, in each row
    assert sorted(beliefs) == [("30%", ""), ("90%", f"{Decimal(str(read)) * 100:.1f}%")]


def test_owners_found_to_copy_each_other_are_shown_as_one_source(client, claim, trader):
    # given a person whose beliefs another person has repeated on four resolved claims
    original, copier = factories.human(), factories.human()
    author, resolver = factories.human(), factories.human()
    track({original: Decimal("0.7"), copier: Decimal("0.7")}, author, claim.domain, resolver, outcome="yes", claims=4)
    for who, key in ((original, "o"), (copier, "c"), (trader, "t")):
        belief_state(identity=who, claim=claim, probability="0.7" if who != trader else "0.2", idempotency_key=key)

    html = client.get(url("claim-detail", claim)).content.decode()

    # then the page counts them as one independent source, and says so on each of their rows
    assert re.search(r"3 contributors from\s+3 owners, 2 independent:", html)
    notes = re.findall(r'<div class="muted small counted-with">counted as one source with @([\w-]+): ', html)
    assert sorted(notes) == sorted([original.handle, copier.handle])
    assert "Agents of one owner count as one voice, and so do owners whose forecasts keep coinciding." in html


def test_the_gap_between_market_and_consensus_is_stated(client, claim, trader):
    belief_state(identity=trader, claim=claim, probability="0.9", idempotency_key="b1")
    html = client.get(url("claim-detail", claim)).content.decode()
    assert "The market is <strong>40.0 points</strong> below the consensus." in html
    assert '<line class="gauge-consensus" x1="90.00" x2="90.00"' in html


def test_the_price_history_is_an_inline_svg_chart(client, claim, trader):
    factories.buy(trader, claim, "yes", credits=10, key="k")
    html = client.get(url("claim-detail", claim)).content.decode()
    assert f'<figure class="chart chart-line" id="claim-{claim.pk}-prices"><svg class="chart-svg"' in html
    assert re.search(r"Market price of YES: 50% at [^,]+, 55% at [^;]+; lowest 50%, highest 55%, 2 points\.", html)
    assert "<style" not in html
    assert ' style="' not in html


def test_a_long_price_history_is_thinned_to_a_readable_chart_ending_at_the_last_price(client, claim, monkeypatch):
    from apps.web.views import claim_page as views

    monkeypatch.setattr(views, "CHART_POINTS", 3)
    for i in range(5):  # the opening price and five trades: six points, drawn as four (every second, and the last)
        factories.buy(factories.human(), claim, "yes", key=f"t{i}")
    html = client.get(url("claim-section", claim, "chart")).content.decode()
    assert re.search(r"Market price of YES: 50% at [^;]+; lowest 50%, highest [0-9]+%, 4 points\.", html)
    monkeypatch.setattr(views, "CHART_POINTS", 500)
    html = client.get(url("claim-section", claim, "chart")).content.decode()
    assert re.search(r"Market price of YES: 50% at [^;]+; lowest 50%, highest [0-9]+%, 6 points\.", html)


def test_recent_trades_and_beliefs_show_who_what_and_when(client, claim, trader, stranger_client):
    factories.buy(trader, claim, "yes", credits=10, key="k")
    belief_state(identity=trader, claim=claim, probability="0.7", rationale="Twice the sample.", idempotency_key="b")
    html = client.get(url("claim-detail", claim)).content.decode()
    assert '<td>Bought <span class="side side-yes">YES</span></td>' in html
    assert '<td class="num">18.909395</td>' in html
    assert '<td class="num">50% → 54.7%</td>' in html
    assert '<strong class="belief-probability">70%</strong>' in html
    assert "when the market said 54.7%" in html
    # A belief's rationale is public (docs/api.md): everyone sees the reason with the belief, escaped.
    assert '<blockquote class="belief-rationale"><p>Twice the sample.</p></blockquote>' in html
    belief_state(identity=trader, claim=claim, probability="0.6", rationale="<script>x()</script>", idempotency_key="c")
    html = stranger_client.get(url("claim-detail", claim)).content.decode()
    assert "<p>&lt;script&gt;x()&lt;/script&gt;</p>" in html and "<script>x()" not in html


def test_my_position_shows_shares_average_price_value_and_profit(trader_client, claim, trader):
    factories.buy(trader, claim, "yes", credits=10, key="k")
    html = trader_client.get(url("claim-section", claim, "position")).content.decode()
    assert '<dt>YES shares</dt><dd class="num-text">18.909395</dd>' in html
    assert '<dt>NO shares</dt><dd class="num-text">0</dd>' in html
    assert "<dt>Average price</dt><dd>52.4% a YES share</dd>" in html  # 9.90099 / 18.909395
    assert f"<dt>Net invested</dt><dd>{amount('9.90', '9.90099')} credits</dd>" in html
    assert f"<dt>Fees paid</dt><dd>{amount('0.10', '0.09901')} credits</dd>" in html
    # 18.909395 shares at 54.713312806...%, rounded down; minus the 10 credits paid with the fee.
    assert f"<dt>Value now</dt><dd>{amount('10.35', '10.345956')} credits</dd>" in html
    assert f'<dd class="credit-in">{amount("+0.35", "+0.345956")} credits</dd>' in html
    assert "Wallet: <strong>990</strong> credits available." in html


def test_anonymous_visitors_read_everything_and_are_asked_to_sign_in_to_act(client, claim):
    html = client.get(url("claim-detail", claim)).content.decode()
    assert f'<a href="/accounts/login/?next=/claims/{claim.pk}/">Sign in</a> to trade on this claim.' in html
    assert f'<a href="/accounts/login/?next=/claims/{claim.pk}/">Sign in</a> to state a belief.' in html
    assert f'<a href="/accounts/login/?next=/claims/{claim.pk}/">Sign in</a> to see your position.' in html
    assert 'name="order-amount"' not in html
    assert 'name="belief-probability"' not in html


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("claim-trade", "post"),
        ("claim-quote", "post"),
        ("claim-belief", "post"),
        ("claim-propose", "post"),
        ("claim-challenge", "post"),
    ],
)
def test_anonymous_posts_are_sent_to_sign_in(client, claim, name, method):
    before = written()
    response = getattr(client, method)(url(name, claim), {})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url(name, claim)}"
    assert written() == before


def test_the_countdown_script_is_loaded_with_the_nonce(client, claim):
    html = client.get(url("claim-detail", claim)).content.decode()
    assert re.search(r'<script src="/static/js/markets\.js" defer nonce="[^"]+"></script>', html)
    assert " onclick=" not in html and " oninput=" not in html


# --- Visibility -------------------------------------------------------------------------------------


def test_a_draft_is_its_authors_alone(owner_client, stranger_client, client, author):
    draft = new_claim(author, publish=False)
    page = owner_client.get(url("claim-detail", draft))
    assert page.status_code == 200
    assert "This claim is a draft: only you can see it" in page.content.decode()
    for visitor in (stranger_client, client):
        assert visitor.get(url("claim-detail", draft)).status_code == 404
        for section in SECTIONS:
            assert visitor.get(url("claim-section", draft, section)).status_code == 404


def test_the_author_of_a_draft_is_offered_to_publish_it(owner_client, author):
    draft = new_claim(author, publish=False)
    html = owner_client.get(url("claim-detail", draft)).content.decode()
    assert (
        f'<form method="post" action="{reverse("claim-draft-publish", args=[draft.pk])}" class="inline-form">' in html
    )
    assert f"Publish and pay the {amount('69.31', '69.314719')} credit subsidy" in html


def test_a_person_without_a_market_identity_is_told_to_verify_and_nothing_moves(claim):
    user = factories.UserFactory()  # signed up, email not verified: no identity, no wallet
    client = Client()
    client.force_login(user)
    html = client.get(url("claim-detail", claim)).content.decode()
    assert "Verify your email address to get a market identity and your starting credit" in html
    before = written()
    data = {"order-kind": "buy", "order-side": "yes", "order-amount": "1"}
    data["order-idempotency_key"] = "6c0f7a1e-4f7e-4a53-9b7e-0d2f5c1d7e11"
    response = client.post(url("claim-trade", claim), data, **HTMX)
    assert response.status_code == 403
    assert "Verify your email address first: trading, beliefs and resolutions need a market identity." in (
        response.content.decode()
    )
    assert written() == before


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("claim-quote", {"order-kind": "buy", "order-side": "yes", "order-amount": "1"}),
        (
            "claim-trade",
            {
                "order-kind": "buy",
                "order-side": "yes",
                "order-amount": "1",
                "order-idempotency_key": "6c0f7a1e-4f7e-4a53-9b7e-0d2f5c1d7e11",
            },
        ),
        (
            "claim-belief",
            {"belief-probability": "60", "belief-idempotency_key": "6c0f7a1e-4f7e-4a53-9b7e-0d2f5c1d7e12"},
        ),
        ("claim-propose", {"propose-outcome": "yes", "propose-evidence": "x"}),
        ("claim-challenge", {"challenge-evidence": "x"}),
    ],
)
def test_someone_elses_draft_is_not_found_by_any_action(stranger_client, author, name, data):
    draft = new_claim(author, publish=False)
    before = written()
    assert stranger_client.post(url(name, draft), data).status_code == 404
    assert stranger_client.post(url(name, draft), data, **HTMX).status_code == 404
    assert written() == before


def test_a_missing_claim_and_an_unknown_section_are_not_found(client, claim):
    assert client.get(reverse("claim-detail", args=[claim.pk + 1000])).status_code == 404
    assert client.get(url("claim-section", claim, "wallet")).status_code == 404


# --- Live regions -----------------------------------------------------------------------------------


def test_the_page_root_and_its_live_regions(client, claim, author):
    new_claim(author, title="Another claim")  # a later event about another claim does not count
    html = client.get(url("claim-detail", claim)).content.decode()
    last = Event.objects.filter(subject=f"claim:{claim.pk}").aggregate(last=Max("id"))["last"]
    assert last < Event.objects.aggregate(last=Max("id"))["last"]
    assert f'data-live-claims="{claim.pk}" data-live-after="{last}"' in html
    for section in SECTIONS:
        assert (
            f'hx-get="/claims/{claim.pk}/live/{section}/" '
            f'hx-trigger="credence:claim-{claim.pk} from:body delay:300ms"\n'
            '               hx-target="this" hx-swap="outerHTML"'
        ) in html


@pytest.mark.parametrize("section", SECTIONS)
def test_each_live_region_renders_alone(client, claim, trader, section):
    factories.buy(trader, claim, "yes", credits=10, key="k")
    response = client.get(url("claim-section", claim, section))
    assert response.status_code == 200
    html = response.content.decode().lstrip()
    assert html.startswith("<section class=")
    assert "<html" not in html
    assert f'hx-get="/claims/{claim.pk}/live/{section}/"' in html


# --- Quotes and trades ------------------------------------------------------------------------------


def test_the_quote_shows_exactly_what_the_trade_then_charges(trader_client, claim, trader):
    data = ticket(trader_client, claim, amount="10")
    response = trader_client.post(url("claim-quote", claim), data, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<dt>Shares</dt><dd>+18.909395 YES</dd>" in html
    assert f"<dt>Cost</dt><dd>{amount('9.90', '9.90099')} credits</dd>" in html
    assert f"<dt>Fee</dt><dd>{amount('0.10', '0.09901')} credits</dd>" in html
    assert "<dt>You pay</dt><dd><strong>10 credits</strong></dd>" in html
    assert "<dt>YES price</dt><dd>50% → 54.7%</dd>" in html
    assert Trade.objects.count() == 0  # a quote writes nothing

    before = wallet_balance(trader)
    response = trader_client.post(url("claim-trade", claim), data, **HTMX)
    assert response.status_code == 200
    trade = Trade.objects.get()
    assert (trade.shares, trade.cost, trade.fee) == (SHARES, COST, FEE)
    assert trade.price_after == Decimal("0.54713312806414115736")
    assert before - wallet_balance(trader) == COST + FEE == 10 * CREDIT


def test_a_sale_is_quoted_and_paid_to_the_micro_credit(trader_client, claim, trader):
    factories.buy(trader, claim, "yes", credits=10, key="k")
    data = ticket(trader_client, claim, kind="sell", shares="5")
    html = trader_client.post(url("claim-quote", claim), data, **HTMX).content.decode()
    assert "<dt>Shares</dt><dd>\N{MINUS SIGN}5 YES</dd>" in html
    assert f"<dt>Sale</dt><dd>{amount('2.70', '2.704647')} credits</dd>" in html
    assert f"<dt>Fee</dt><dd>{amount('0.03', '0.027047')} credits</dd>" in html
    assert f"<dt>You receive</dt><dd><strong>{amount('2.68', '2.6776')} credits</strong></dd>" in html
    assert "<dt>YES price</dt><dd>54.7% → 53.5%</dd>" in html
    before = wallet_balance(trader)
    response = trader_client.post(url("claim-trade", claim), data, **HTMX)
    assert "Sold 5 YES shares for 2.68 credits (after a fee of 0.03). YES is now at 53.5%." in response.content.decode()
    assert wallet_balance(trader) - before == 2_677_600
    assert Position.objects.get(identity=trader).yes_shares == SHARES - 5 * CREDIT


def test_a_belief_order_moves_the_price_to_the_stated_probability(trader_client, claim, trader):
    data = ticket(trader_client, claim, kind="belief", belief="70", amount="100")
    quote = trader_client.post(url("claim-quote", claim), data, **HTMX).content.decode()
    assert "<dt>Shares</dt><dd>+84.729786 YES</dd>" in quote
    assert f"<dt>You pay</dt><dd><strong>{amount('51.59', '51.593389')} credits</strong></dd>" in quote
    assert "<dt>YES price</dt><dd>50% → 70%</dd>" in quote
    before = wallet_balance(trader)
    trader_client.post(url("claim-trade", claim), data, **HTMX)
    trade = Trade.objects.get()
    assert (trade.shares, trade.cost + trade.fee, trade.belief) == (84_729_786, 51_593_389, Decimal("0.7"))
    assert before - wallet_balance(trader) == 51_593_389


def test_a_partial_fill_up_to_the_limit_is_quoted_and_charged_as_the_selector_prices_it(trader_client, claim, trader):
    """The ticket's quote, the selector's and the charge agree: the page adds no arithmetic of its own."""
    data = ticket(trader_client, claim, amount="10", limit_price="52", allow_partial="on")
    order = Order(kind="buy", side="yes", amount=10 * CREDIT, limit_price=Decimal("0.52"), allow_partial=True)
    fill = selectors.trade_quote(identity=trader, claim=claim, order=order)
    assert 0 < fill.shares < SHARES  # stopped at the limit
    html = trader_client.post(url("claim-quote", claim), data, **HTMX).content.decode()
    assert f"<dt>Shares</dt><dd>+{exact_credits(fill.shares)} YES</dd>" in html
    assert fill.cost + fill.fee == 4_123_022
    assert f"<dt>You pay</dt><dd><strong>{amount('4.12', '4.123022')} credits</strong></dd>" in html
    assert "<dt>YES price</dt><dd>50% → 52%</dd>" in html
    before = wallet_balance(trader)
    assert trader_client.post(url("claim-trade", claim), data, **HTMX).status_code == 200
    trade = Trade.objects.get()
    assert (trade.shares, trade.cost, trade.fee) == (fill.shares, fill.cost, fill.fee)
    assert before - wallet_balance(trader) == fill.cost + fill.fee


def test_a_placed_order_answers_with_a_fresh_ticket_and_refreshes_the_live_regions(trader_client, claim, trader):
    data = ticket(trader_client, claim, amount="10")
    before = _last_event()
    response = trader_client.post(url("claim-trade", claim), data, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card ticket-card" id="ticket"')
    assert "Bought 18.909395 YES shares for 10 credits (fee 0.10). YES is now at 54.7%." in html
    assert hidden_value(html, "order-idempotency_key") != data["order-idempotency_key"]
    assert '<span class="pill" id="nav-balance" hx-swap-oob="true">990</span>' in html
    # the page refreshes its live regions once for the events the trade wrote (static/js/live.js), which its
    # socket then tells of again: the answer names them so the page does not refresh twice
    assert response["HX-Trigger"] == _announced(claim, before, ["trade.placed", "market.price_changed"])


def test_a_double_submitted_ticket_trades_once(trader_client, claim, trader):
    data = ticket(trader_client, claim, amount="10")
    first = trader_client.post(url("claim-trade", claim), data, **HTMX)
    second = trader_client.post(url("claim-trade", claim), data, **HTMX)
    third = trader_client.post(url("claim-trade", claim), data)  # a browser resubmitting without htmx
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 302)
    assert "That order was already placed: it traded once, and nothing was charged twice." in second.content.decode()
    assert Trade.objects.count() == 1
    assert wallet_balance(trader) == GRANT - 10 * CREDIT


def test_without_javascript_an_order_redirects_with_a_message(trader_client, claim, trader):
    response = trader_client.post(url("claim-trade", claim), ticket(trader_client, claim, amount="10"))
    assert response.status_code == 302
    assert response["Location"] == url("claim-detail", claim)
    page = trader_client.get(response["Location"]).content.decode()
    assert "Bought 18.909395 YES shares for 10 credits (fee 0.10). YES is now at 54.7%." in page
    assert Trade.objects.count() == 1


def test_without_javascript_preview_shows_the_page_with_the_quote_and_the_typed_order(trader_client, claim):
    response = trader_client.post(url("claim-quote", claim), ticket(trader_client, claim, amount="10"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith("<!doctype html>")
    assert "<dt>You pay</dt><dd><strong>10 credits</strong></dd>" in html
    assert 'name="order-amount" value="10"' in html
    assert Trade.objects.count() == 0


REFUSALS = [
    # (case, ticket fields, status, message)
    (
        "insufficient-credit",
        {"amount": "1000.5"},
        409,
        "This order needs 1,000.50 credits (cost 990.59 + fee 9.91); your wallet holds 1,000.",
    ),
    ("closed", {"amount": "10"}, 409, "This market is not open for trading."),
    ("limit", {"amount": "10", "limit_price": "52"}, 409, "The order would move the price past its limit."),
    ("nothing", {"kind": "belief", "belief": "50", "amount": "10"}, 409, "The order would trade no shares."),
    ("no-shares", {"kind": "sell", "shares": "5"}, 409, "You do not hold that many shares."),
]


@pytest.mark.parametrize("htmx", [True, False])
@pytest.mark.parametrize(("case", "fields", "status", "message"), REFUSALS)
def test_a_refused_order_shows_why_and_changes_nothing(
    trader_client, claim, trader, case, fields, status, message, htmx
):
    data = ticket(trader_client, claim, **fields)
    if case == "closed":
        closing_time_passes(claim)
    before, balance = written(), wallet_balance(trader)
    response = trader_client.post(url("claim-trade", claim), data, **(HTMX if htmx else {}))
    assert response.status_code == status
    html = response.content.decode()
    assert f'<div class="alert alert-error" role="alert"><p>{message}</p></div>' in html
    assert written() == before
    assert wallet_balance(trader) == balance
    if case == "closed":
        assert "Trading closed on" in html  # and the ticket is gone
    else:
        # The typed order and its key come back, so a corrected retry is still one trade.
        assert hidden_value(html, "order-idempotency_key") == data["order-idempotency_key"]
        for name, value in fields.items():
            if name != "kind":
                assert f'name="order-{name}" value="{value}"' in html
    # The quote says the same before anyone clicks.
    if case != "insufficient-credit":
        quote = trader_client.post(url("claim-quote", claim), data, **HTMX)
        assert quote.status_code == status
        assert f'<p class="quote-error" role="alert">{message}</p>' in quote.content.decode()


@pytest.mark.parametrize("htmx", [True, False])
def test_an_order_beyond_the_wallet_says_what_it_needs_and_what_the_wallet_holds(
    trader_client, stranger, claim, trader, htmx
):
    # given a trader who moved all but 5 credits to their agent
    wallet_fund_agent(owner=stranger, agent=factories.agent(stranger), amount=GRANT - 5 * CREDIT, idempotency_key="k")
    data = ticket(trader_client, claim, amount="12.345678")
    before = written()
    # when they order 12.345678 credits of YES
    response = trader_client.post(url("claim-trade", claim), data, **(HTMX if htmx else {}))
    # then the refusal says what the order needs, split as the quote splits it, and what the wallet holds
    assert response.status_code == 409
    message = "This order needs 12.35 credits (cost 12.22 + fee 0.12); your wallet holds 5."
    assert f'<div class="alert alert-error" role="alert"><p>{message}</p></div>' in response.content.decode()
    quote = trader_client.post(url("claim-quote", claim), data, **HTMX).content.decode()
    assert f"<dt>Cost</dt><dd>{amount('12.22', '12.223443')} credits</dd>" in quote
    assert f"<dt>Fee</dt><dd>{amount('0.12', '0.122235')} credits</dd>" in quote
    # and nothing was written: no trade, no transfer or entry, the balance as it was
    assert written() == before
    assert wallet_balance(trader) == 5 * CREDIT


def test_a_refusal_for_credit_leaves_out_a_split_the_quote_no_longer_gives(
    trader_client, stranger, claim, trader, monkeypatch
):
    # given a trader with 5 credits, and a market that another trade moves between the refusal and the quote
    wallet_fund_agent(owner=stranger, agent=factories.agent(stranger), amount=GRANT - 5 * CREDIT, idempotency_key="k")
    data = ticket(trader_client, claim, amount="12.345678")
    quote = selectors.trade_quote

    def moved(**kwargs):
        fill = quote(**kwargs)
        return dataclasses.replace(fill, cost=fill.cost - 1)

    monkeypatch.setattr(selectors, "trade_quote", moved)
    response = trader_client.post(url("claim-trade", claim), data, **HTMX)
    # then the refusal gives the need and the holding the ledger refused, without a split that does not add up
    assert response.status_code == 409
    message = "This order needs 12.35 credits; your wallet holds 5."
    assert f'<div class="alert alert-error" role="alert"><p>{message}</p></div>' in response.content.decode()


def test_the_quote_warns_when_the_order_costs_more_than_the_wallet_holds(trader_client, claim):
    html = trader_client.post(
        url("claim-quote", claim), ticket(trader_client, claim, amount="1000.5"), **HTMX
    ).content.decode()
    assert "That is more than the 1,000 credits in your wallet: the order would be refused." in html


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"amount": "abc"}, "amount", "Enter a number."),
        ({"amount": ""}, "amount", "This field is required for this order."),
        ({"amount": "0"}, "amount", "Ensure this value is greater than or equal to 0.000001."),
        ({"amount": "1.0000001"}, "amount", "Ensure that there are no more than 6 decimal places."),
        ({"kind": "belief", "belief": "150", "amount": "5"}, "belief", "Enter a percentage above 0 and below 100."),
        ({"kind": "belief", "belief": "0", "amount": "5"}, "belief", "Enter a percentage above 0 and below 100."),
        ({"kind": "sell", "shares": ""}, "shares", "This field is required for this order."),
        ({"amount": "5", "limit_price": "100"}, "limit_price", "Enter a percentage above 0 and below 100."),
    ],
)
def test_bad_ticket_input_is_shown_next_to_the_field_with_what_was_typed(
    trader_client, claim, trader, fields, field, error
):
    data = ticket(trader_client, claim, **fields)
    before, balance = written(), wallet_balance(trader)
    response = trader_client.post(url("claim-trade", claim), data, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    block = html[html.index(f'<div class="field field-{field} field-invalid">') :]
    block = block[: block.index("</ul>")]
    assert f"<li>{error}</li>" in block
    if fields[field]:
        assert f'name="order-{field}" value="{fields[field]}"' in block
    assert written() == before
    assert wallet_balance(trader) == balance


def test_fields_another_order_type_uses_do_not_block_this_one(trader_client, claim):
    """A value left in the belief field (hidden for a buy) is ignored, not an error the buyer cannot see."""
    data = ticket(trader_client, claim, amount="10", belief="not a number", shares="-3")
    response = trader_client.post(url("claim-trade", claim), data, **HTMX)
    assert response.status_code == 200
    assert Trade.objects.get().shares == SHARES


def test_an_incomplete_order_asks_for_the_missing_fields_in_the_quote(trader_client, claim):
    response = trader_client.post(url("claim-quote", claim), ticket(trader_client, claim, amount="abc"), **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Complete the order to see its price:" in html
    assert "<li>Amount to spend (credits, fee included): Enter a number.</li>" in html


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": ""},  # a buy before its amount is typed
        {"kind": "sell", "shares": ""},  # the kind switched to a sale before the shares are typed
        {"kind": "belief", "belief": "", "amount": ""},
        {"amount": "", "limit_price": "60"},  # a limit typed first: nothing wrong with it, the amount still to come
    ],
)
def test_a_quote_of_an_order_not_yet_typed_asks_for_the_rest_without_an_error(trader_client, claim, fields):
    response = trader_client.post(url("claim-quote", claim), ticket(trader_client, claim, **fields), **HTMX)
    assert response.status_code == 200
    assert response.content.decode().strip() == '<p class="muted small">Complete the order to see its price.</p>'
    assert Trade.objects.count() == 0


def test_a_quote_lists_what_is_wrong_with_what_was_typed_and_not_what_is_still_empty(trader_client, claim):
    data = ticket(trader_client, claim, kind="belief", belief="150", amount="")
    response = trader_client.post(url("claim-quote", claim), data, **HTMX)
    assert response.status_code == 422
    assert response.content.decode().strip() == (
        '<p class="muted small">Complete the order to see its price:</p>\n'
        '  <ul class="errors"><li>Your probability of YES (%): Enter a percentage above 0 and below 100.</li></ul>'
    )


# --- Beliefs ----------------------------------------------------------------------------------------


def test_stating_a_belief(trader_client, claim, trader):
    data = belief_form(trader_client, claim, probability="62.5", rationale="Preregistered.")
    response = trader_client.post(url("claim-belief", claim), data)
    assert response.status_code == 302
    belief = Belief.objects.get()
    assert (belief.identity, belief.probability, belief.rationale) == (trader, Decimal("0.625"), "Preregistered.")
    page = trader_client.get(response["Location"]).content.decode()
    assert "Your belief of 62.5% is recorded; the consensus now includes it." in page
    assert '<span class="figure-value figure-consensus" id="claim-consensus">62.5%</span>' in page


def test_stating_a_belief_with_htmx_answers_with_a_fresh_form(trader_client, claim):
    data = belief_form(trader_client, claim, probability="40")
    before = _last_event()
    response = trader_client.post(url("claim-belief", claim), data, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="belief-form"')
    assert "Your belief of 40% is recorded" in html
    assert hidden_value(html, "belief-idempotency_key") != data["belief-idempotency_key"]
    assert response["HX-Trigger"] == _announced(claim, before, ["consensus.updated", "belief.stated"])
    again = trader_client.post(url("claim-belief", claim), data, **HTMX)
    assert "That belief was already recorded: it counts once." in again.content.decode()
    assert Belief.objects.count() == 1


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("150", "Enter a percentage above 0 and below 100."),
        ("0", "Enter a percentage above 0 and below 100."),
        ("100", "Enter a percentage above 0 and below 100."),
        ("-5", "Enter a percentage above 0 and below 100."),
        ("abc", "Enter a number."),
        ("", "This field is required."),
        ("12.34567", "Use at most 4 decimal places."),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_a_bad_probability_is_shown_next_to_the_field_with_what_was_typed(trader_client, claim, typed, error, htmx):
    data = belief_form(trader_client, claim, probability=typed, rationale="My reasons.")
    before = written()
    response = trader_client.post(url("claim-belief", claim), data, **(HTMX if htmx else {}))
    assert response.status_code == 422
    html = response.content.decode()
    block = html[html.index('<label for="id_belief-probability">') :]
    block = block[: block.index("</div>")]
    if typed:
        assert f'name="belief-probability" value="{typed}"' in block
    else:
        assert 'name="belief-probability" inputmode' in block  # nothing typed, nothing kept
    assert f'<ul class="errors"><li>{error}</li></ul>' in block
    assert ">\nMy reasons.</textarea>" in html
    assert written() == before


def test_a_belief_on_a_closed_claim_is_refused(trader_client, claim):
    data = belief_form(trader_client, claim, probability="60")
    closing_time_passes(claim)
    before = written()
    response = trader_client.post(url("claim-belief", claim), data, **HTMX)
    assert response.status_code == 409
    assert "Beliefs can be stated only while the claim is open." in response.content.decode()
    assert written() == before


# --- Resolution -------------------------------------------------------------------------------------

BOND = 10 * CREDIT + 99_010  # the minimum plus 1% of the 9.90099 credits traded, rounded up


@pytest.fixture
def closed(claim, trader):
    factories.buy(trader, claim, "yes", credits=10, key="k")
    closing_time_passes(claim)
    return claim


def test_an_open_claim_explains_how_it_will_be_resolved(client, claim):
    html = client.get(url("claim-section", claim, "resolution")).content.decode()
    assert (
        "Then anyone with a verified identity and no shares in this market may propose the outcome, posting a bond of\n"
        "            10 credits" in html
    )


def test_proposing_an_outcome_posts_the_bond_and_starts_the_countdown(resolver_client, closed):
    page = resolver_client.get(url("claim-detail", closed)).content.decode()
    assert f"Proposing posts a bond of <strong>{amount('10.10', '10.09901')} credits</strong>." in page
    before, last_event = wallet_balance(resolver_client.identity), _last_event()
    response = resolver_client.post(
        url("claim-propose", closed),
        {"propose-outcome": "yes", "propose-evidence": "The paper reports p = 0.03."},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card resolution" id="claim-resolution"')
    assert (
        '<div id="resolution-notice" class="notice-slot" role="status" hx-swap-oob="true"><p class="message '
        'message-success">You proposed YES and posted a bond of 10.10 credits. It comes back if nobody '
        "challenges the proposal before the window closes.</p></div>"
    ) in html
    resolution = Resolution.objects.get()
    assert (resolution.proposer, resolution.proposed_outcome, resolution.bond) == (
        resolver_client.identity,
        "yes",
        BOND,
    )
    assert before - wallet_balance(resolver_client.identity) == BOND
    deadline = resolution.challenge_deadline.isoformat()
    assert f'<time datetime="{deadline}" data-countdown="{deadline}">' in html
    left = "23\N{NO-BREAK SPACE}hours, 59\N{NO-BREAK SPACE}minutes"  # as Django's timeuntil spaces it
    assert f'<span class="countdown-left" data-countdown-text>(in {left})</span>' in html
    assert "You proposed this outcome; someone else may challenge it." in html
    assert f'<span class="pill" id="nav-balance" hx-swap-oob="true">{amount("989.90", "989.90099")}</span>' in html
    assert response["HX-Trigger"] == _announced(closed, last_event, ["claim.resolution_proposed"])


def test_a_holder_may_not_propose(trader_client, closed, trader):
    page = trader_client.get(url("claim-detail", closed)).content.decode()
    assert "You hold shares in this market, so you may not propose its outcome." in page
    before, balance = written(), wallet_balance(trader)
    response = trader_client.post(url("claim-propose", closed), {"propose-outcome": "no", "propose-evidence": "Mine."})
    assert response.status_code == 403
    assert "You hold shares in this market and may not propose its outcome." in response.content.decode()
    assert written() == before
    assert wallet_balance(trader) == balance


def test_a_proposal_or_challenge_short_of_credit_says_what_the_bond_needs(
    resolver_client, closed, owner_client, author
):
    # given a resolver whose wallet holds 5 credits, less than the bond of 10.09901
    resolver = resolver_client.identity
    drain = wallet_balance(resolver) - 5 * CREDIT
    ledger_transfer(
        lines=[(wallet_for(resolver), -drain), (system_account(EXTERNAL_WORLD), drain)],
        kind="test_withdrawal",
        idempotency_key=f"drain:{resolver.pk}",
    )
    before = written()

    # when they propose an outcome
    response = resolver_client.post(
        url("claim-propose", closed), {"propose-outcome": "yes", "propose-evidence": "The paper."}, **HTMX
    )

    # then the refusal names the bond and the wallet, and nothing is written
    assert response.status_code == 409
    assert "A proposal needs a bond of 10.10 credits; your wallet holds 5." in response.content.decode()
    assert written() == before
    assert wallet_balance(resolver) == 5 * CREDIT

    # and a challenger short of credit is told the same of the challenge's bond
    factories.propose(closed, "yes", factories.human(), evidence="The paper.")
    drain = wallet_balance(author) - 2 * CREDIT
    ledger_transfer(
        lines=[(wallet_for(author), -drain), (system_account(EXTERNAL_WORLD), drain)],
        kind="test_withdrawal",
        idempotency_key=f"drain:{author.pk}",
    )
    before = written()
    refused = owner_client.post(url("claim-challenge", closed), {"challenge-evidence": "Retracted."}, **HTMX)
    assert refused.status_code == 409
    assert "A challenge needs a bond of 10.10 credits; your wallet holds 2." in refused.content.decode()
    assert written() == before


def test_a_proposal_needs_an_outcome_and_evidence(resolver_client, closed):
    before = written()
    response = resolver_client.post(
        url("claim-propose", closed), {"propose-outcome": "maybe", "propose-evidence": ""}, **HTMX
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Select a valid choice. maybe is not one of the available choices." in html
    assert "<li>This field is required.</li>" in html
    assert written() == before


def test_an_open_claim_cannot_be_proposed(resolver_client, claim):
    before = written()
    response = resolver_client.post(
        url("claim-propose", claim), {"propose-outcome": "yes", "propose-evidence": "Early."}
    )
    assert response.status_code == 409
    assert "Only a claim that has closed (and has no proposal yet) can be resolved." in response.content.decode()
    assert written() == before


def test_challenging_a_proposal(resolver_client, closed, author, owner_client):
    factories.propose(closed, "yes", resolver_client.identity, evidence="The paper.")
    # The proposer cannot challenge themselves.
    before = written()
    mine = resolver_client.post(url("claim-challenge", closed), {"challenge-evidence": "Changed my mind."})
    assert mine.status_code == 403
    assert "The proposer cannot challenge their own proposal." in mine.content.decode()
    assert written() == before
    # The author (no shares) challenges with an equal bond: the claim is disputed.
    balance = wallet_balance(author)
    response = owner_client.post(url("claim-challenge", closed), {"challenge-evidence": "The paper was retracted."})
    assert response.status_code == 302
    page = owner_client.get(response["Location"]).content.decode()
    assert "You challenged the proposal and posted a bond of 10.10 credits." in page
    assert "Disputed: a panel of reviewers with no stake in the claim decides the outcome (staff if it cannot)." in page
    assert "<p>The paper was retracted.</p>" in page
    assert balance - wallet_balance(author) == BOND
    assert Claim.objects.get(pk=closed.pk).status == ClaimStatus.DISPUTED


def test_a_challenge_after_the_window_is_refused(resolver_client, closed, owner_client, author):
    factories.propose(closed, "yes", resolver_client.identity, evidence="The paper.")
    Resolution.objects.update(challenge_deadline=timezone.now() - timedelta(seconds=1))
    before, balance = written(), wallet_balance(author)
    response = owner_client.post(url("claim-challenge", closed), {"challenge-evidence": "Too late."}, **HTMX)
    assert response.status_code == 409
    assert "Only a proposal within its challenge window can be challenged." in response.content.decode()
    assert written() == before
    assert wallet_balance(author) == balance


def test_a_challenge_needs_evidence(resolver_client, closed, owner_client):
    factories.propose(closed, "yes", resolver_client.identity, evidence="The paper.")
    before = written()
    response = owner_client.post(url("claim-challenge", closed), {"challenge-evidence": ""}, **HTMX)
    assert response.status_code == 422
    assert "<li>This field is required.</li>" in response.content.decode()
    assert written() == before


def test_the_outcome_and_the_payouts_after_settlement(trader_client, resolver_client, closed, trader):
    factories.propose(closed, "yes", resolver_client.identity, evidence="The paper.")
    Resolution.objects.update(challenge_deadline=timezone.now() - timedelta(seconds=1))
    resolution_finalize(claim=closed)
    market_settle(claim=Claim.objects.get(pk=closed.pk))
    html = trader_client.get(url("claim-detail", closed)).content.decode()
    assert 'Outcome: <strong class="outcome outcome-resolved_yes">YES</strong>' in html
    # The escrow held the subsidy and the trade's cost; the YES shares are paid, the rest is the author's.
    residual = SUBSIDY + COST - SHARES
    assert exact_credits(residual) == "60.306314"
    paid, back = re.escape(amount("18.91", "18.909395")), re.escape(amount("60.31", "60.306314"))
    assert re.search(rf"{paid} credits paid to 1 holder;\s+{back} credits back to the author\.", html)
    assert f"Your payout: <strong>{amount('18.91', '18.909395')} credits</strong>." in html
    assert f"<dt>Payout</dt><dd>{amount('18.91', '18.909395')} credits</dd>" in html


# --- CSRF -------------------------------------------------------------------------------------------


def test_csrf_is_enforced_on_the_ticket(stranger, claim, trader):
    client = Client(enforce_csrf_checks=True)
    client.force_login(stranger)
    data = ticket(client, claim, amount="10")
    before = written()
    refused = client.post(url("claim-trade", claim), data, **HTMX)
    assert refused.status_code == 403
    assert written() == before
    # The form's own token (as htmx sends it, with the form's fields) passes.
    page = client.get(url("claim-detail", claim)).content.decode()
    data["csrfmiddlewaretoken"] = hidden_value(page, "csrfmiddlewaretoken")
    data["order-idempotency_key"] = hidden_value(page, "order-idempotency_key")
    assert client.post(url("claim-trade", claim), data, **HTMX).status_code == 200
    assert Trade.objects.count() == 1


# --- Query counts -----------------------------------------------------------------------------------


def _page_queries(client, claim) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("claim-detail", claim))
    assert response.status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_trades_beliefs_or_contributors(trader_client, claim, trader):
    def crowd(n: int) -> None:
        for _ in range(n):
            user = factories.verified_user()
            person = factories.human(user)
            bot = factories.agent(user)
            factories.buy(person, claim, "no", key="t")
            belief_state(identity=person, claim=claim, probability="0.4", rationale="r", idempotency_key="b")
            belief_state(identity=bot, claim=claim, probability="0.3", idempotency_key="b")

    factories.buy(trader, claim, "yes", key="t")
    crowd(2)
    few = _page_queries(trader_client, claim)
    crowd(10)
    many = _page_queries(trader_client, claim)
    assert few == many
    # Session, user, identity, wallet balance and reviews waiting (navigation); the claim and its clarifications; the
    # consensus (record, beliefs, positions, extremizing fit, reliabilities, the domain's population, owners'
    # calibration, copy groups, the explained contributors' forecasts ahead of the market, agents' owners);
    # the prices; my position with its fees (positions_of, as the portfolio reads it) and wallet; the
    # trades; the beliefs; the live cursor.
    assert many == 23
