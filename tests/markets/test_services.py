from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.amounts import CREDIT
from apps.core.errors import PermissionDenied
from apps.core.models import Event
from apps.ledger.errors import IdempotencyConflict, InsufficientCredit
from apps.ledger.models import Account, Transfer
from apps.ledger.selectors import wallet_balance
from apps.ledger.services import PLATFORM_FEES, system_account
from apps.markets import lmsr
from apps.markets.errors import IllegalTransition, InsufficientShares, MarketClosed, NothingToTrade, PriceLimitCrossed
from apps.markets.models import Claim, ClaimStatus, Market, Position, PricePoint, Trade
from apps.markets.pricing import Order
from apps.markets.services import claim_publish, trade_place
from tests import factories
from tests.factories import GRANT, LIQUIDITY, SUBSIDY

pytestmark = pytest.mark.django_db


def _nothing_written_since(snapshot):
    assert (
        Transfer.objects.count(),
        Trade.objects.count(),
        Event.objects.count(),
        Position.objects.count(),
    ) == snapshot


def _snapshot():
    return Transfer.objects.count(), Trade.objects.count(), Event.objects.count(), Position.objects.count()


def test_publishing_moves_the_subsidy_into_the_escrow(author, domain):
    # when the author posts a claim of b = 100 credits
    claim = factories.new_claim(author, domain)

    # then the subsidy moved from their wallet into the market's escrow, and the market opened at 0.5
    market = Market.objects.get(claim=claim)
    assert claim.status == ClaimStatus.OPEN
    assert market.subsidy == SUBSIDY == lmsr.initial_subsidy(LIQUIDITY)
    assert market.escrow.balance == SUBSIDY
    assert wallet_balance(author) == GRANT - SUBSIDY
    assert Event.objects.filter(kind="claim.opened", subject=f"claim:{claim.pk}").count() == 1
    assert PricePoint.objects.get(market=market).price_yes == Decimal("0.5")


def test_publishing_without_the_subsidy_creates_nothing(author, domain):
    # given a draft whose subsidy (~6,931 credits) is more than the author holds
    claim = factories.new_claim(author, domain, publish=False, liquidity=10_000 * CREDIT)
    accounts, snapshot = Account.objects.count(), _snapshot()

    # when the author publishes it, then it is refused
    with pytest.raises(InsufficientCredit):
        claim_publish(claim=claim, actor=author)

    # and nothing was written: still a draft, no market, no account, no transfer
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DRAFT
    assert not Market.objects.exists()
    assert Account.objects.count() == accounts
    _nothing_written_since(snapshot)


def test_only_the_author_publishes_and_only_once(author, domain, trader):
    claim = factories.new_claim(author, domain, publish=False)
    with pytest.raises(PermissionDenied):
        claim_publish(claim=claim, actor=trader)
    claim_publish(claim=claim, actor=author)
    with pytest.raises(IllegalTransition):
        claim_publish(claim=claim, actor=author)
    assert Market.objects.count() == 1


def test_buying_yes_charges_cost_plus_fee_and_updates_everything(claim, trader):
    fees_before = system_account(PLATFORM_FEES).balance

    # when a trader spends 10 credits on YES in a fresh market
    trade = trade_place(
        identity=trader, claim=claim, order=Order(kind="buy", side="yes", amount=10 * CREDIT), idempotency_key="t1"
    )

    # then the cost goes to the escrow and the 1% fee to the platform; shares, price, position and events follow
    market = Market.objects.get(claim=claim)
    state = lmsr.State(0, 0, LIQUIDITY)
    assert trade.cost == lmsr.buy_cost(state, "yes", trade.shares)
    assert trade.fee == -(-trade.cost // 100)  # 1%, rounded up
    assert trade.cost + trade.fee <= 10 * CREDIT
    assert wallet_balance(trader) == GRANT - trade.cost - trade.fee
    assert market.escrow.balance == SUBSIDY + trade.cost
    assert system_account(PLATFORM_FEES).balance == fees_before + trade.fee
    assert (market.q_yes, market.q_no, market.volume, market.trade_count) == (trade.shares, 0, trade.cost, 1)
    assert market.price_yes == lmsr.price(lmsr.State(trade.shares, 0, LIQUIDITY)).quantize(Decimal("1e-20"))
    assert trade.price_before == Decimal("0.5") and trade.price_after == market.price_yes
    position = Position.objects.get(market=market, identity=trader)
    assert (position.yes_shares, position.no_shares, position.net_invested) == (trade.shares, 0, trade.cost)
    assert PricePoint.objects.filter(market=market, trade=trade).count() == 1
    price = str(market.price_yes)
    events = Event.objects.filter(subject=f"claim:{claim.pk}", kind__in=["trade.placed", "market.price_changed"])
    assert [(e.kind, e.actor_identity_id, e.payload) for e in events.order_by("id")] == [
        ("trade.placed", trader.pk, {"trade": trade.pk, "side": "yes", "shares": trade.shares, "price_yes": price}),
        ("market.price_changed", None, {"price_yes": price}),
    ]
    assert trade.balance == wallet_balance(trader)  # the balance the trade reports is the one it left
    assert Trade.objects.get(pk=trade.pk).transfer_id == trade.transfer.pk
    assert market.escrow.balance >= max(market.q_yes, market.q_no)


def test_a_belief_order_moves_the_price_to_the_belief(claim, trader):
    trade = trade_place(
        identity=trader,
        claim=claim,
        order=Order(kind="belief", belief=Decimal("0.7"), amount=500 * CREDIT),
        idempotency_key="b",
    )
    assert trade.side == "yes" and trade.belief == Decimal("0.7")
    assert Decimal("0.6999") < Market.objects.get(claim=claim).price_yes <= Decimal("0.7")
    low = trade_place(
        identity=trader,
        claim=claim,
        order=Order(kind="belief", belief=Decimal("0.2"), amount=1 * CREDIT),
        idempotency_key="c",
    )
    assert low.side == "no"
    assert low.cost + low.fee <= 1 * CREDIT  # the budget binds before the price reaches 0.2
    assert Market.objects.get(claim=claim).price_yes > Decimal("0.2")


def test_selling_pays_out_less_the_fee(claim, trader):
    bought = trade_place(
        identity=trader, claim=claim, order=Order(kind="buy", side="no", amount=20 * CREDIT), idempotency_key="b"
    )
    balance = wallet_balance(trader)
    sold = trade_place(
        identity=trader, claim=claim, order=Order(kind="sell", side="no", shares=bought.shares), idempotency_key="s"
    )
    assert sold.shares == -bought.shares
    assert wallet_balance(trader) == balance + (-sold.cost) - sold.fee
    assert -sold.cost <= bought.cost  # a round trip never nets credit
    position = Position.objects.get(identity=trader)
    assert (position.no_shares, position.net_invested) == (0, bought.cost + sold.cost)


def test_selling_more_than_held_is_refused(claim, trader):
    factories.buy(trader, claim, "yes", key="b")
    snapshot = _snapshot()
    with pytest.raises(InsufficientShares):
        trade_place(
            identity=trader, claim=claim, order=Order(kind="sell", side="yes", shares=10**12), idempotency_key="s"
        )
    _nothing_written_since(snapshot)


def test_a_crossed_limit_is_refused_or_partly_filled_when_allowed(claim, trader):
    order = Order(kind="buy", side="yes", amount=500 * CREDIT, limit_price=Decimal("0.6"))
    snapshot = _snapshot()
    with pytest.raises(PriceLimitCrossed):
        trade_place(identity=trader, claim=claim, order=order, idempotency_key="l1")
    _nothing_written_since(snapshot)
    partial = Order(kind="buy", side="yes", amount=500 * CREDIT, limit_price=Decimal("0.6"), allow_partial=True)
    trade = trade_place(identity=trader, claim=claim, order=partial, idempotency_key="l2")
    assert Decimal("0.5999") < trade.price_after <= Decimal("0.6")
    assert trade.cost + trade.fee < 500 * CREDIT


def test_no_trading_once_closes_at_has_passed(claim, trader):
    factories.closing_time_passes(claim)
    snapshot = _snapshot()
    with pytest.raises(MarketClosed):
        trade_place(
            identity=trader, claim=claim, order=Order(kind="buy", side="yes", amount=CREDIT), idempotency_key="x"
        )
    _nothing_written_since(snapshot)


def test_a_draft_cannot_be_traded(author, domain, trader):
    from apps.core.errors import NotFound

    draft = factories.new_claim(author, domain, publish=False)
    order = Order(kind="buy", side="yes", amount=CREDIT)
    with pytest.raises(NotFound):  # someone else's draft does not exist for them
        trade_place(identity=trader, claim=draft, order=order, idempotency_key="x")
    with pytest.raises(MarketClosed):  # the author sees it, but it is not open
        trade_place(identity=author, claim=draft.pk, order=order, idempotency_key="x")


def test_insufficient_credit_writes_nothing(claim, trader):
    snapshot = _snapshot()
    with pytest.raises(InsufficientCredit):
        trade_place(
            identity=trader,
            claim=claim,
            order=Order(kind="buy", side="yes", amount=GRANT + CREDIT),
            idempotency_key="x",
        )
    _nothing_written_since(snapshot)
    assert Market.objects.get(claim=claim).q_yes == 0


def test_retries_return_the_first_trade_and_a_changed_order_conflicts(claim, trader):
    order = Order(kind="buy", side="yes", amount=5 * CREDIT)
    first = trade_place(identity=trader, claim=claim, order=order, idempotency_key="same")
    again = trade_place(identity=trader, claim=claim, order=order, idempotency_key="same")
    assert again.pk == first.pk and again.replayed
    with pytest.raises(IdempotencyConflict):
        trade_place(
            identity=trader, claim=claim, order=Order(kind="buy", side="yes", amount=6 * CREDIT), idempotency_key="same"
        )
    assert Trade.objects.count() == 1
    assert wallet_balance(trader) == GRANT - first.cost - first.fee


@pytest.mark.parametrize(
    "order",
    [
        Order(kind="buy", side="maybe", amount=CREDIT),
        Order(kind="buy", side="yes", amount=0),
        Order(kind="belief", belief=Decimal(1), amount=CREDIT),
        Order(kind="buy", side="yes", amount=CREDIT, limit_price=Decimal("1.5")),
        Order(kind="short", side="yes", amount=CREDIT),
    ],
)
def test_invalid_orders_are_refused_and_write_nothing(claim, trader, order):
    from apps.core.errors import ValidationFailed

    snapshot = _snapshot()
    with pytest.raises(ValidationFailed):
        trade_place(identity=trader, claim=claim, order=order, idempotency_key="bad")
    _nothing_written_since(snapshot)


def test_a_belief_at_the_current_price_trades_nothing(claim, trader):
    with pytest.raises(NothingToTrade):
        trade_place(
            identity=trader,
            claim=claim,
            order=Order(kind="belief", belief=Decimal("0.5"), amount=CREDIT),
            idempotency_key="n",
        )


def test_the_author_may_trade_on_their_own_claim(claim, author):
    trade = trade_place(
        identity=author, claim=claim, order=Order(kind="buy", side="no", amount=CREDIT), idempotency_key="own"
    )
    assert trade.identity == author


def test_suspended_identities_cannot_trade(claim):
    from apps.identities.errors import IdentitySuspended
    from apps.identities.services import identity_suspend

    bot = factories.agent()
    identity_suspend(identity=bot, reason="Testing.", moderator=factories.moderator())
    with pytest.raises(IdentitySuspended):
        trade_place(identity=bot, claim=claim, order=Order(kind="buy", side="yes", amount=CREDIT), idempotency_key="s")


def test_the_author_appends_clarifications_to_an_open_claim(claim, author, trader):
    from apps.markets.models import Clarification
    from apps.markets.services import claim_clarify

    first = claim_clarify(claim=claim, actor=author, text="The replication must be preregistered.")
    claim_clarify(claim=claim, actor=author, text="Either lab counts.")
    assert list(Clarification.objects.filter(claim=claim).values_list("text", flat=True)) == [
        "The replication must be preregistered.",
        "Either lab counts.",
    ]
    assert first.created_at is not None
    with pytest.raises(PermissionDenied):
        claim_clarify(claim=claim, actor=trader, text="Not mine to clarify.")
    assert Clarification.objects.count() == 2


def test_no_clarification_once_closes_at_has_passed_even_before_the_sweep(claim, author):
    from apps.markets.services import claim_clarify

    factories.closing_time_passes(claim)
    with pytest.raises(IllegalTransition):
        claim_clarify(claim=claim, actor=author, text="Too late to change the meaning.")
    assert not claim.clarifications.exists()


def test_the_same_probability_spelled_differently_is_the_same_order(claim, trader):
    first = trade_place(
        identity=trader,
        claim=claim,
        order=Order(kind="belief", belief=Decimal("0.7"), amount=CREDIT),
        idempotency_key="k",
    )
    again = trade_place(
        identity=trader,
        claim=claim,
        order=Order(kind="belief", belief=Decimal("0.70"), amount=CREDIT),
        idempotency_key="k",
    )
    assert again.pk == first.pk and again.replayed


def test_claims_cannot_close_beyond_the_horizon(author, domain, settings):
    from apps.core.errors import DateConflict

    settings.CREDENCE_MAX_CLAIM_HORIZON_DAYS = 30
    with pytest.raises(DateConflict) as refused:  # a date the clock rules out: 409, not 422
        factories.new_claim(author, domain, publish=False, closes_in=timedelta(days=31))
    assert refused.value.detail == {"field": "closes_at"}
    assert not Claim.objects.exists()


def test_create_and_publish_is_one_transaction(author, domain):
    from apps.markets.services import claim_create

    with pytest.raises(InsufficientCredit):
        claim_create(
            author=author,
            title="Too rich for my wallet",
            criteria="Resolves YES if it happens.",
            domain=domain,
            closes_at=timezone.now() + timedelta(days=3),
            resolve_by=timezone.now() + timedelta(days=5),
            liquidity=10_000 * CREDIT,
            publish=True,
        )
    assert not Claim.objects.exists()
