"""The built-in strategies against a seeded market history: each gives the orders its rule says, computed here
from the history by hand; the language-model strategy against a local server that speaks the
chat-completions protocol, including a malformed answer and one that comes too late."""

import json
import math
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.agents.services import run_execute
from apps.core.amounts import CREDIT
from apps.markets.models import Trade
from apps.markets.services import claim_clarify
from apps.reputation.models import ClaimRecord, Consensus
from tests import factories

pytestmark = pytest.mark.django_db

STAKE = 5 * CREDIT


def run(agent):
    run = factories.manual_run(agent)
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def orders(run) -> list[tuple[int, str, int]]:
    """(claim, belief, amount asked) of each order the run placed."""
    return [(e["claim"], e["order"]["belief"], e["order"]["amount"]) for e in run.journal if e["op"] == "order"]


def decisions(run) -> list[tuple]:
    return [(e["claim"], e["action"]) for e in run.journal if e["op"] == "decide"]


# --- Domain base rate ------------------------------------------------------------------------------------------


def test_the_base_rate_strategy_trades_toward_its_domains_rate_shrunk_to_the_platforms():
    # given science resolved YES 3 times of 4 and economics NO once, and an open claim in each
    author, resolver = factories.human(), factories.human()
    science, economics = factories.domain("science"), factories.domain("economics")
    factories.history({}, author, science, resolver, outcome="yes", claims=3)
    factories.history({}, author, science, resolver, outcome="no", claims=1)
    factories.history({}, author, economics, resolver, outcome="no", claims=1)
    in_science = factories.new_claim(author, science)
    in_economics = factories.new_claim(author, economics)
    agent = factories.hosted(config={"prior_strength": 10, "edge": 0.05, "stake": STAKE})

    done = run(agent)

    # then: all domains (3 + 1 YES of 5, Laplace) = 4/7; science = (3 + 10 * 4/7) / (4 + 10) = 61/98, 0.122 above
    # the price: it buys YES toward 0.6224 with the stake scaled by 0.122 / 0.25; economics = (0 + 40/7) / 11 =
    # 0.519, within the edge of 0.5: it holds
    science_rate = 61 / 98
    assert orders(done) == [(in_science.pk, "0.6224", int(STAKE * (science_rate - 0.5) / 0.25))]
    assert decisions(done) == [(in_science.pk, "trade"), (in_economics.pk, "hold")]
    [trade] = Trade.objects.filter(identity=agent.identity)
    assert (trade.side, trade.market.claim_id) == ("yes", in_science.pk)
    assert trade.price_after <= Decimal("0.6224")


def test_the_base_rate_strategy_holds_without_enough_history():
    factories.new_claim()
    agent = factories.hosted(config={"min_history": 3})

    done = run(agent)

    assert orders(done) == []
    assert [e["reason"] for e in done.journal if e["op"] == "decide"] == [
        "Only 0 resolved claims to learn from; needs 3"
    ]


# --- Consensus arbitrage ------------------------------------------------------------------------------------------


def test_consensus_arbitrage_trades_toward_the_consensus_sized_by_its_independent_sources():
    # given two people (two owners) who believe 0.85 on one claim, and a claim nobody stated a belief on
    claim, quiet = factories.new_claim(), factories.new_claim()
    for person in (factories.human(), factories.human()):
        factories.state(person, claim, "0.85")
    consensus = Consensus.objects.get(claim=claim)
    assert consensus.owners == 2
    agent = factories.hosted(strategy="consensus_arbitrage", config={"stake": STAKE, "sources_for_half": 3})

    done = run(agent)

    # then it buys toward the consensus, the stake scaled by the gap (capped at 1) and by 2 / (2 + 3)
    p = float(consensus.probability)
    amount = int(STAKE * min(1.0, (p - 0.5) / 0.25) * (2 / 5))
    assert orders(done) == [(claim.pk, format(consensus.probability.quantize(Decimal("0.0001")), "f"), amount)]
    assert sorted(decisions(done)) == sorted([(claim.pk, "trade"), (quiet.pk, "hold")])


# --- Calibrated extremizer ----------------------------------------------------------------------------------------


def grid_fit(history: list[tuple[float, bool]]) -> float:
    """The extremizing factor by brute force: the best log-likelihood on a grid of 1/1000 steps."""

    def loglik(a: float) -> float:
        total = 0.0
        for price, outcome in history:
            p = 1 / (1 + math.exp(-a * math.log(price / (1 - price))))
            total += math.log(p if outcome else 1 - p)
        return total

    return max((n / 1000 for n in range(250, 4001)), key=loglik)


def test_the_extremizer_learns_how_far_to_stretch_the_price_and_trades_toward_it():
    # given resolved claims whose last price was about 0.62 and that mostly resolved YES (the market was timid)
    author, resolver, trader = factories.human(), factories.human(), factories.funded_agent()
    science = factories.domain()
    for n, outcome in enumerate(["yes"] * 5 + ["no"]):
        claim = factories.new_claim(author, science, title=f"Will science claim {n + 1} hold?")
        factories.buy(trader, claim, "yes", credits=25)
        factories.resolve(claim, outcome, resolver)
    open_claim = factories.new_claim(author, science)
    factories.buy(trader, open_claim, "yes", credits=25)
    open_claim.market.refresh_from_db()
    agent = factories.hosted(strategy="extremizer", config={"min_history": 5, "stake": STAKE})

    done = run(agent)

    history = [(float(r.market_price), r.outcome) for r in ClaimRecord.objects.all()]
    a = grid_fit(history)
    [fit] = [e for e in done.journal if e["op"] == "decide" and e["action"] == "fit"]
    assert fit["factor"] == pytest.approx(a, abs=2e-3) and a > 1
    price = float(open_claim.market.price_yes)
    estimate = 1 / (1 + math.exp(-fit["factor"] * math.log(price / (1 - price))))
    [(claim_id, belief, amount)] = orders(done)
    assert claim_id == open_claim.pk
    assert Decimal(belief) == Decimal(str(estimate)).quantize(Decimal("0.0001"))
    assert amount == int(STAKE * min(1.0, (estimate - price) / 0.25))


# --- Language model ------------------------------------------------------------------------------------------


class FakeModel:
    """A chat-completions server on 127.0.0.1 answering what a test sets, recording what it was sent."""

    def __init__(self) -> None:
        self.answer = '{"probability": 0.8, "reasoning": "Replications at this scale usually hold."}'
        self.delay = 0.0
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                time.sleep(fake.delay)
                reply = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": fake.answer}}],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
                }
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the slow answer's test)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def model(settings):
    settings.CREDENCE_AGENTS_LLM_ENABLED = True
    fake = FakeModel()
    yield fake
    fake.close()


def model_agent(url: str, **config):
    bot = factories.funded_agent()
    config = {
        "endpoint_url": url,
        "model": "forecaster-1",
        "stake": STAKE,
        "price_in_per_million": 2.5,
        "price_out_per_million": 10,
    } | config
    return factories.hosted(bot, strategy="language_model", config=config, secrets={"api_key": "sk-test"})


def test_the_model_strategy_reads_the_claim_and_trades_toward_its_answer(model):
    claim = factories.new_claim()
    claim_clarify(claim=claim, actor=claim.author, text="Only preregistered replications count.")
    agent = model_agent(model.url)

    done = run(agent)

    [sent] = model.requests
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["body"]["model"] == "forecaster-1" and sent["body"]["response_format"] == {"type": "json_object"}
    prompt = sent["body"]["messages"][1]["content"]
    assert claim.title in prompt and claim.criteria in prompt
    assert "- Only preregistered replications count." in prompt
    assert orders(done) == [(claim.pk, "0.8000", STAKE)]
    [call] = [e for e in done.journal if e["op"] == "model"]
    assert call["request"] == sent["body"] and call["reply"] == model.answer and call["error"] == ""
    # 120 tokens at 2.5 and 30 at 10 per million
    assert (done.tokens_in, done.tokens_out, done.model_cost) == (120, 30, Decimal("0.000600"))
    assert done.state == "succeeded"


def test_a_malformed_answer_is_a_recorded_error_not_a_trade(model):
    claim = factories.new_claim()
    model.answer = "I would say about 80%."
    agent = model_agent(model.url)

    done = run(agent)

    assert orders(done) == []
    [decision] = [e for e in done.journal if e["op"] == "decide"]
    assert (decision["claim"], decision["action"]) == (claim.pk, "error")
    assert decision["reason"].startswith("The model's answer was not usable: the answer is not JSON")
    assert done.tokens_in == 120 and Trade.objects.count() == 0


def test_an_answer_out_of_range_is_a_recorded_error(model):
    factories.new_claim()
    model.answer = '{"probability": 1.2}'
    agent = model_agent(model.url)

    done = run(agent)

    [decision] = [e for e in done.journal if e["op"] == "decide"]
    assert decision["reason"] == (
        "The model's answer was not usable: the probability 1.2 is not a number strictly between 0 and 1"
    )
    assert Trade.objects.count() == 0


def test_an_answer_that_comes_too_late_is_a_recorded_error(model):
    factories.new_claim()
    model.delay = 2.0
    agent = model_agent(model.url, timeout_seconds=1)

    done = run(agent)

    [call] = [e for e in done.journal if e["op"] == "model"]
    assert call["error"] == "timed out" and call["reply"] == ""
    [decision] = [e for e in done.journal if e["op"] == "decide"]
    assert decision["action"] == "error" and decision["reason"].startswith("The model call failed: ")
    assert Trade.objects.count() == 0 and done.state == "succeeded"


def test_an_endpoint_on_a_private_address_is_refused_without_a_connection(model, monkeypatch):
    from apps.core import http

    factories.new_claim()
    resolved = []
    monkeypatch.setattr(http, "configured_resolver", lambda: lambda host, port: resolved.append(host) or ["10.0.0.7"])
    agent = model_agent("https://models.internal.example/v1")

    done = run(agent)

    assert resolved == ["models.internal.example"]
    [call] = [e for e in done.journal if e["op"] == "model"]
    assert call["error"] == (
        "refused: models.internal.example resolves to a private address: Credence calls only public addresses."
    )
    assert model.requests == [] and Trade.objects.count() == 0
