"""Row locks name their strength, and changes to an identity never deadlock with its own trades.

A trade holds its wallet (ledger_transfer's FOR NO KEY UPDATE) and then inserts rows that reference the
identity, which takes KEY SHARE on the identity's row. A change that locked that row FOR UPDATE and then
wanted the wallet (publishing a claim pays its subsidy) waited for the trade while the trade waited for
it: PostgreSQL broke the cycle by failing one of them. FOR NO KEY UPDATE does not conflict with KEY SHARE.
"""

import ast
from pathlib import Path

import pytest

from apps.core.amounts import CREDIT
from apps.identities.models import ApiKey, Identity
from apps.markets.models import Claim, ClaimStatus, Trade
from apps.markets.pricing import Order
from apps.markets.services import claim_publish, trade_place
from tests import factories
from tests.support import race

APPS = Path(__file__).resolve().parents[2] / "apps"
ROUNDS = 8
TRADERS = 4


def test_every_row_lock_in_the_apps_names_its_strength():
    # select_for_update() alone is FOR UPDATE, the strongest lock, which blocks inserts that reference the
    # row; every lock says which it takes (no_key=True unless a key changes).
    unnamed = []
    for path in APPS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            is_lock = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "select_for_update"
            if is_lock and "no_key" not in {keyword.arg for keyword in node.keywords}:
                unnamed.append(f"{path.relative_to(APPS.parent)}:{node.lineno}")
    assert unnamed == []


def _trades(identity: Identity, claim: Claim, round_: int):
    """TRADERS buys by the identity on the claim, each its own transaction."""
    return lambda i: trade_place(
        identity=identity,
        claim=claim,
        order=Order(kind="buy", side="yes" if i % 2 else "no", amount=CREDIT),
        idempotency_key=f"race-{round_}-{i}",
    )


def _race(change, identity: Identity, claim: Claim, round_: int) -> list:
    trade = _trades(identity, claim, round_)
    return race(TRADERS + 1, lambda i: change() if i == TRADERS else trade(i))


@pytest.mark.django_db(transaction=True)
def test_publishing_a_claim_races_the_authors_own_trades():
    domain = factories.domain("locks")
    agent = factories.agent()
    factories.fund(agent, 2000)
    market = factories.new_claim(factories.human(), domain)

    for round_ in range(ROUNDS):
        draft = factories.new_claim(agent, domain, publish=False)

        # when the agent publishes a claim while four of its trades run on another
        results = _race(lambda draft=draft: claim_publish(claim=draft, actor=agent), agent, market, round_)

        # then every one of them succeeded: no deadlock, nothing refused
        assert [r for r in results if isinstance(r, Exception)] == []
        assert Claim.objects.get(pk=draft.pk).status == ClaimStatus.OPEN
    assert Trade.objects.filter(identity=agent).count() == ROUNDS * TRADERS


@pytest.mark.django_db(transaction=True)
def test_creating_agents_races_the_owners_own_trades():
    domain = factories.domain("locks")
    owner = factories.human()
    market = factories.new_claim(factories.human(), domain)

    for round_ in range(ROUNDS):
        # when the owner registers an agent while four of their own trades run
        handle = f"racing-bot-{round_}"
        results = _race(lambda handle=handle: factories.agent(owner=owner.user, handle=handle), owner, market, round_)

        # then all succeeded
        assert [r for r in results if isinstance(r, Exception)] == []
    assert Identity.objects.filter(owner=owner.user).count() == ROUNDS
    assert Trade.objects.filter(identity=owner).count() == ROUNDS * TRADERS


@pytest.mark.django_db(transaction=True)
def test_creating_keys_races_the_agents_own_trades(settings):
    settings.CREDENCE_MAX_KEYS_PER_AGENT = ROUNDS
    domain = factories.domain("locks")
    agent = factories.agent()
    factories.fund(agent, 200)
    market = factories.new_claim(factories.human(), domain)

    for round_ in range(ROUNDS):
        # when the owner creates a key for the agent while four of the agent's trades run
        name = f"key {round_}"
        results = _race(lambda name=name: factories.api_key(agent, name=name), agent, market, round_)

        # then all succeeded
        assert [r for r in results if isinstance(r, Exception)] == []
    assert ApiKey.objects.filter(identity=agent).count() == ROUNDS
    assert Trade.objects.filter(identity=agent).count() == ROUNDS * TRADERS
