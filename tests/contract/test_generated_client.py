"""A typed client generated from the schema the app serves (openapi-python-client, offline, into a
temporary directory) trades against a live server: a buy, a belief order, a sell, a replay, and the typed
error of a refused order. What the schema says is what a client can be built from."""

import importlib
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from apps.core.amounts import CREDIT
from apps.ledger.models import Transfer
from apps.ledger.selectors import wallet_balance
from apps.markets.models import Position, Trade
from apps.reputation.models import Belief
from tests import factories
from tests.factories import new_claim

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "credence_client"

# Buying YES for 10 credits (fee included) on a fresh market of b = 100 credits, with the 1% fee
# (the figures of tests/markets_api/test_trading.py).
SHARES, COST, FEE = 18_909_395, 9_900_990, 99_010
PRICE_AFTER = "0.54713312806414115736"


@pytest.fixture
def generated(live_server, tmp_path):
    """The client package generated from the live server's /api/v1/openapi.json, imported."""
    schema = tmp_path / "openapi.json"
    schema.write_bytes(httpx.get(f"{live_server.url}/api/v1/openapi.json").raise_for_status().content)
    config = tmp_path / "config.yaml"
    # No post hooks: they would run ruff on the generated code, which a client does not need.
    config.write_text(f"post_hooks: []\npackage_name_override: {PACKAGE}\n")
    command = [GENERATOR, "generate", "--path", schema, "--output-path", tmp_path / PACKAGE, "--config", config]
    run = subprocess.run(  # noqa: S603
        [*command, "--meta", "none"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The generator skips (with a warning) what it cannot type: a clean run is part of the contract.
    assert (run.returncode, run.stderr, "Warning" in run.stdout) == (0, "", False), run.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_trades_replays_and_reads_a_typed_refusal(live_server, generated):
    owner = factories.verified_user()
    bot = factories.funded_agent(owner, handle="generated-bot", amount=100 * CREDIT)
    token = factories.api_key(bot, scopes=["read", "trade"])
    claim = new_claim(factories.human(), factories.domain())

    client = generated("client").AuthenticatedClient(base_url=live_server.url, token=token)
    models = generated("models")
    place = generated("api.claims_and_trading.apps_markets_api_trades_create").sync_detailed
    state = generated("api.reputation.apps_reputation_api_beliefs_create").sync_detailed

    # A buy.
    buy = models.BuyIn(kind="buy", side=models.BuyInSide.YES, amount=10 * CREDIT)
    bought = place(claim.pk, client=client, body=buy, idempotency_key="buy-1")
    assert bought.status_code == 201
    trade = bought.parsed
    assert isinstance(trade, models.TradeOut)
    assert (trade.side, trade.shares, trade.cost, trade.fee) == ("yes", SHARES, COST, FEE)
    assert (trade.price_after, trade.market.price_yes, trade.replayed) == (PRICE_AFTER, PRICE_AFTER, False)
    assert trade.balance == 100 * CREDIT - COST - FEE == wallet_balance(bot)

    # The same Idempotency-Key again: the first trade, answered 200, nothing written.
    transfers = Transfer.objects.count()
    replayed = place(claim.pk, client=client, body=buy, idempotency_key="buy-1")
    assert (replayed.status_code, replayed.parsed.replayed) == (200, True)
    assert (replayed.parsed.id, replayed.parsed.shares, replayed.parsed.balance) == (trade.id, SHARES, trade.balance)
    assert (Trade.objects.count(), Transfer.objects.count()) == (1, transfers)

    # A belief order: buys toward 0.7 with at most 5 credits.
    order = models.BeliefOrderIn(kind="belief", belief="0.7", amount=5 * CREDIT)
    toward = place(claim.pk, client=client, body=order, idempotency_key="belief-1")
    assert toward.status_code == 201
    row = Trade.objects.get(pk=toward.parsed.id)
    assert (toward.parsed.side, toward.parsed.shares, toward.parsed.cost, toward.parsed.fee) == (
        "yes",
        row.shares,
        row.cost,
        row.fee,
    )
    assert (toward.parsed.belief, row.belief) == ("0.7", Decimal("0.7"))
    assert row.cost + row.fee <= 5 * CREDIT

    # A stated belief (the other `BeliefIn`, which once overwrote the order's in the schema).
    stated = state(claim.pk, client=client, body=models.BeliefIn(probability="0.65"), idempotency_key="state-1")
    assert (stated.status_code, stated.parsed.probability) == (201, "0.65")
    assert Belief.objects.get().probability == Decimal("0.65")

    # A sell of the first buy's shares.
    sell = models.SellIn(kind="sell", side=models.SellInSide.YES, shares=SHARES)
    sold = place(claim.pk, client=client, body=sell, idempotency_key="sell-1")
    assert sold.status_code == 201
    assert (sold.parsed.side, sold.parsed.shares) == ("yes", -SHARES)
    position = Position.objects.get(identity=bot)
    assert (position.yes_shares, position.no_shares) == (row.shares, 0)

    # A refused sell (more shares than held): a typed error, nothing written.
    before = (Trade.objects.count(), Transfer.objects.count(), wallet_balance(bot))
    too_many = models.SellIn(kind="sell", side=models.SellInSide.YES, shares=row.shares + 1)
    refused = place(claim.pk, client=client, body=too_many, idempotency_key="sell-2")
    assert refused.status_code == 409
    assert isinstance(refused.parsed, models.ErrorOut)
    assert refused.parsed.error.code is models.ErrorBodyCode.INSUFFICIENT_SHARES
    assert (Trade.objects.count(), Transfer.objects.count(), wallet_balance(bot)) == before
