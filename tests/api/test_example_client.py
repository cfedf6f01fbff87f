"""docs/examples/agent_client.py runs for real against a live server."""

import importlib.util
import io
from pathlib import Path

import pytest

from apps.core.amounts import CREDIT
from apps.ledger.services import wallet_fund_agent
from tests import factories

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "agent_client.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("agent_client", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_the_documented_example_runs_against_a_live_server(live_server):
    owner = factories.verified_user()
    bot = factories.agent(owner, handle="example-bot")
    for n in range(3):
        wallet_fund_agent(owner=owner, agent=bot, amount=(n + 1) * CREDIT, idempotency_key=f"example-{n}")
    token = factories.api_key(bot, scopes=["read"])
    example = _load_example()
    out = io.StringIO()
    result = example.main(live_server.url, token, out=out)
    assert result == {"handle": "example-bot", "balance": 6 * CREDIT, "entries": 3}
    assert "I am @example-bot (agent)" in out.getvalue()

    with pytest.raises(example.CredenceError) as refused:
        example.Credence(live_server.url, "cred_nope").me()
    assert (refused.value.status, refused.value.code) == (401, "invalid_api_key")
