"""A language-model forecaster: reads each claim (its criteria and clarifications), asks any OpenAI-compatible
chat-completions endpoint for a probability, and trades toward it.

Off unless the platform switches it on (CREDENCE_AGENTS_LLM_ENABLED). The owner gives the endpoint's URL, the
model and a key (kept as a secret: never shown again). Each call's prompt and answer are kept in the run with
its tokens and cost; an answer that is not the JSON asked for, or that comes too late, is recorded as an error
and places no order.
"""

import json
from decimal import Decimal

from django.conf import settings

from apps.agents.runtime import ModelReply
from apps.agents.strategies.base import Strategy, register
from apps.agents.strategies.statistical import TRADING, trade_toward
from apps.core import http

SYSTEM = (
    "You are a careful forecaster. Read the claim and its resolution criteria and give the probability that it "
    'resolves YES. Answer with a JSON object only: {"probability": <a number strictly between 0 and 1>, '
    '"reasoning": "<at most three sentences>"}.'
)
ANSWER_LIMIT = 64 * 1024


def prompt_for(claim: dict) -> str:
    lines = [f"Claim: {claim['title']}", f"Domain: {claim['domain']}", f"Closes at: {claim['closes_at']}", ""]
    lines += ["Resolution criteria:", claim["criteria"]]
    if claim["clarifications"]:
        lines += ["", "Clarifications by the author (they bind the criteria):"]
        lines += [f"- {text}" for text in claim["clarifications"]]
    return "\n".join(lines)


def parse_probability(text: str) -> tuple[float, str]:
    """The probability and reasoning in a model's answer; ValueError with what is wrong otherwise."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not JSON ({exc.msg})") from None
    if not isinstance(answer, dict) or "probability" not in answer:
        raise ValueError("the answer has no 'probability'")
    p = answer["probability"]
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p < 1:
        raise ValueError(f"the probability {p!r} is not a number strictly between 0 and 1")
    reasoning = answer.get("reasoning", "")
    return float(p), reasoning if isinstance(reasoning, str) else json.dumps(reasoning)


def chat(config: dict, request: dict) -> ModelReply:
    """POST the request to the endpoint's /chat/completions (apps/core/http.py: public addresses only, pinned,
    no redirects, a deadline and a size cap); the answer's text, tokens and cost, or an error."""
    url = config["endpoint_url"].rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    if config.get("api_key"):
        headers["Authorization"] = f"Bearer {config['api_key']}"
    try:
        target = http.target_for(url, resolver=http.configured_resolver(), allow_loopback=http.loopback_allowed())
    except http.UrlRefused as refused:
        return ModelReply(text="", error=f"refused: {refused.reason}")
    response = http.post(
        target,
        body=json.dumps(request).encode(),
        headers=headers,
        timeout=min(float(config["timeout_seconds"]), settings.CREDENCE_AGENTS_LLM_TIMEOUT_SECONDS),
        cap=ANSWER_LIMIT,
    )
    if response.status is None:
        return ModelReply(text="", error=response.error)
    if response.status != 200:
        return ModelReply(text=response.excerpt, error=f"the endpoint answered HTTP {response.status}")
    try:
        body = json.loads(response.body)
        text = body["choices"][0]["message"]["content"]
        usage = body.get("usage") or {}
        tokens_in, tokens_out = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    except (ValueError, KeyError, IndexError, TypeError):
        return ModelReply(text=response.excerpt, error="the endpoint's answer is not a chat completion")
    cost = (
        Decimal(str(config["price_in_per_million"])) * tokens_in
        + Decimal(str(config["price_out_per_million"])) * tokens_out
    ) / 1_000_000
    cost = cost.quantize(Decimal("0.000001"))
    return ModelReply(text=text or "", tokens_in=tokens_in, tokens_out=tokens_out, cost=cost)


@register
class LanguageModelForecaster(Strategy):
    key = "language_model"
    label = "Language-model forecaster"
    description = (
        "Asks a language model (any OpenAI-compatible endpoint you configure) for each claim's probability from its "
        "criteria and clarifications, and trades toward it. Prompts, answers, tokens and cost are kept in each run."
    )
    properties = {
        **TRADING,
        "edge": {**TRADING["edge"], "default": 0.1},
        "endpoint_url": {"type": "string", "format": "uri", "minLength": 8, "maxLength": 300, "title": "Endpoint URL"},
        "model": {"type": "string", "minLength": 1, "maxLength": 100, "title": "Model"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 0.2, "title": "Temperature"},
        "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 120, "default": 30, "title": "Seconds to wait"},
        "price_in_per_million": {"type": "number", "minimum": 0, "default": 0, "title": "Price / 1M tokens in"},
        "price_out_per_million": {
            "type": "number",
            "minimum": 0,
            "default": 0,
            "title": "Price per million tokens out",
        },
    }
    secret_fields = ("api_key",)

    @classmethod
    def offered(cls) -> bool:
        return settings.CREDENCE_AGENTS_LLM_ENABLED

    @classmethod
    def config_schema(cls) -> dict:
        schema = super().config_schema()
        schema["required"] = ["endpoint_url", "model"]
        return schema

    def run(self, ctx, config: dict) -> None:
        for listed in ctx.claims(limit=config["max_claims"]):
            claim = ctx.claim(listed["id"])
            if claim is None:
                ctx.decide(listed["id"], "hold", "It closed before the model was asked")
                continue
            request = {
                "model": config["model"],
                "temperature": config["temperature"],
                "response_format": {"type": "json_object"},
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt_for(claim)}],
            }
            reply = ctx.model_call(request, lambda body: chat(config, body))
            if reply.error:
                ctx.decide(claim["id"], "error", f"The model call failed: {reply.error}")
                continue
            try:
                probability, reasoning = parse_probability(reply.text)
            except ValueError as exc:
                ctx.decide(claim["id"], "error", f"The model's answer was not usable: {exc}")
                continue
            trade_toward(ctx, config, claim, probability, f"The model says {probability:.3f}: {reasoning[:300]}")
