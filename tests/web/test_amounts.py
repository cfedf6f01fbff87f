"""Credits as people read money: rounded to the cent with thousands separators, whole amounts without
decimals, amounts under a cent never rounded to nothing, and every digit on hover (a title) wherever a
figure was rounded. The pages, their messages and the notifications show it; the API keeps micro-credits."""

import pytest
from django.template import Context, Template
from django.urls import reverse

from apps.core.amounts import CREDIT, exact_credits, format_credits, format_credits_apart
from apps.ledger.selectors import wallet_balance
from apps.ledger.services import wallet_fund_agent
from apps.realtime.models import Notification
from tests import factories
from tests.factories import buy, new_claim, resolve


@pytest.mark.parametrize(
    ("micro", "shown", "exact"),
    [
        (0, "0", "0"),
        (10 * CREDIT, "10", "10"),
        (1_000_000 * CREDIT, "1,000,000", "1,000,000"),
        (636_027_921, "636.03", "636.027921"),
        (11_881_188, "11.88", "11.881188"),
        (1_234_500_000, "1,234.50", "1,234.5"),
        (12_500_000, "12.50", "12.5"),
        (9_999_999, "10.00", "9.999999"),  # rounded up to ten: the decimals say it is not exactly ten
        (15_000, "0.02", "0.015"),  # half a cent rounds up
        (14_999, "0.01", "0.014999"),
        (10_000, "0.01", "0.01"),
        (9_999, "0.009999", "0.009999"),  # under a cent: every digit, never "0.01" nor "0"
        (1, "0.000001", "0.000001"),
        (-2_601_594, "-2.60", "-2.601594"),
        (-4_000, "-0.004", "-0.004"),
    ],
)
def test_an_amount_reads_as_money_and_its_exact_form_keeps_every_digit(micro, shown, exact):
    assert (format_credits(micro), exact_credits(micro)) == (shown, exact)


def test_amounts_one_sentence_compares_show_every_digit_when_rounding_would_make_them_read_alike():
    assert format_credits_apart(12_345_678, 5 * CREDIT) == ["12.35", "5"]
    assert format_credits_apart(10_000_001, 9_999_999) == ["10.000001", "9.999999"]  # not "10.00" and "10.00"
    assert format_credits_apart(7 * CREDIT, 7 * CREDIT) == ["7", "7"]


@pytest.mark.parametrize(
    ("source", "micro", "html"),
    [
        ("credits", 636_027_921, '<span class="amount" title="636.027921 credits">636.03</span>'),
        ("credits", 1_234_567_890, '<span class="amount" title="1,234.56789 credits">1,234.57</span>'),
        ("credits", 12_500_000, "12.50"),  # nothing rounded away: nothing to hover for
        ("credits", 10 * CREDIT, "10"),
        ("credits", 4_000, "0.004"),
        ("credits", None, ""),
        ("signed_credits", 2_601_594, '<span class="amount" title="+2.601594 credits">+2.60</span>'),
        ("signed_credits", -2_601_594, '<span class="amount" title="-2.601594 credits">-2.60</span>'),
        ("signed_credits", 3 * CREDIT, "+3"),
        ("signed_credits", 0, "0"),
    ],
)
def test_the_template_filter_renders_the_rounded_figure_with_the_exact_one_on_hover(source, micro, html):
    template = Template("{% load credence %}<p>{{ micro|" + source + " }}</p>")
    assert template.render(Context({"micro": micro})) == f"<p>{html}</p>"


@pytest.mark.django_db
def test_the_wallet_and_the_navigation_show_the_balance_rounded_with_every_digit_on_hover(owner, owner_client):
    # given a wallet of 636.027921 credits (the figure)
    wallet_fund_agent(
        owner=owner, agent=factories.agent(owner), amount=1000 * CREDIT - 636_027_921, idempotency_key="k"
    )
    assert wallet_balance(factories.human(owner)) == 636_027_921
    html = owner_client.get(reverse("wallet")).content.decode()
    rounded = '<span class="amount" title="636.027921 credits">636.03</span>'
    assert f'<span class="balance-amount">{rounded}</span> credits' in html
    assert f'<span class="pill" id="nav-balance">{rounded}</span>' in html
    assert '<td class="num credit-out"><span class="amount" title="-363.972079 credits">-363.97</span></td>' in html
    assert "636.027921</" not in html and ">636.027921" not in html  # six decimals only on hover


@pytest.mark.django_db
def test_the_claim_page_shows_the_volume_traded_rounded(owner_client):
    # given 12 credits spent on YES: 11.881188 credits traded after the 1% fee (the figure)
    claim = new_claim(factories.human())
    buy(factories.human(), claim, "yes", credits=12)
    html = owner_client.get(reverse("claim-detail", args=[claim.pk])).content.decode()
    assert '1 trade · <span class="amount" title="11.881188 credits">11.88</span> credits traded' in html
    listed = owner_client.get(reverse("home")).content.decode()
    assert (
        '<dd><span class="amount" title="11.881188 credits">11.88</span><span class="unit"> credits</span></dd>'
        in listed
    )


@pytest.mark.django_db
def test_a_payout_notification_reads_its_amount_as_money(owner):
    # given a holder of 15.26 YES shares bought for 8 credits, on a claim that resolves YES and settles
    claim = new_claim(factories.human())
    holder = factories.human(owner)
    trade = buy(holder, claim, "yes", credits=8, key="h")
    resolve(claim, "yes", factories.human())

    # then the notification says what the wallet received as people read money
    assert trade.shares == 15_259_980
    text = Notification.objects.get(user=owner, kind="payout").text
    assert text == "You received 15.26 credits from the settlement of “Will the experiment replicate?” (resolved YES)."
