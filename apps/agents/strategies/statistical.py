"""Three strategies that need nothing but the platform's own record: a domain's base rate, the
reputation-weighted consensus, and the market's price made calibrated. Each trades toward its estimate with
a belief order (it buys until the price reaches the estimate or the amount is spent), sized by how far the
price is from the estimate and how sure the estimate is."""

import math
from collections import Counter
from decimal import Decimal

from apps.agents.strategies.base import Strategy, register
from apps.core.amounts import CREDIT

PROBABILITY_STEP = Decimal("0.0001")
LOWEST, HIGHEST = Decimal("0.01"), Decimal("0.99")

TRADING = {
    "edge": {
        "type": "number",
        "minimum": 0.005,
        "maximum": 0.5,
        "default": 0.05,
        "title": "Smallest gap between estimate and price worth trading",
    },
    "stake": {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000 * CREDIT,
        "default": 5 * CREDIT,
        "title": "Most micro-credits one order may spend",
    },
    "full_stake_gap": {
        "type": "number",
        "minimum": 0.01,
        "maximum": 1,
        "default": 0.25,
        "title": "The gap at which an order spends its whole stake",
    },
}


def as_belief(p: float) -> Decimal:
    """A probability as a belief order takes it: 4 places, kept off the ends."""
    return min(max(Decimal(str(p)).quantize(PROBABILITY_STEP), LOWEST), HIGHEST)


def sized(stake: int, gap: float, full_stake_gap: float, confidence: float = 1.0) -> int:
    """The amount to spend: the stake scaled by the gap (the whole stake from `full_stake_gap` on) and by
    the confidence in the estimate."""
    return int(stake * min(1.0, abs(gap) / full_stake_gap) * confidence)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def trade_toward(ctx, config: dict, claim: dict, estimate: float, why: str, confidence: float = 1.0) -> None:
    """Decide on one claim: trade toward `estimate` when the gap is worth it, else say why not."""
    price = float(claim["price_yes"])
    gap = estimate - price
    if abs(gap) < config["edge"]:
        ctx.decide(claim["id"], "hold", f"{why}: within {config['edge']} of the price {price:.3f}")
        return
    amount = sized(config["stake"], gap, config["full_stake_gap"], confidence)
    if amount <= 0:
        ctx.decide(claim["id"], "hold", f"{why}: too unsure to stake anything (confidence {confidence:.2f})")
        return
    belief = as_belief(estimate)
    side = "YES" if gap > 0 else "NO"
    ctx.decide(claim["id"], "trade", f"{why}; the price {price:.3f} is {abs(gap):.3f} off: buy {side}")
    ctx.order(claim["id"], belief=belief, amount=amount, rationale=f"{why} (estimate {belief})")


@register
class DomainBaseRate(Strategy):
    key = "base_rate"
    label = "Domain base rate"
    description = (
        "Estimates each claim by how often claims in its domain resolved YES, shrunk toward the rate across all "
        "domains (a Beta prior of `prior_strength` claims), and trades toward it."
    )
    properties = {
        **TRADING,
        "prior_strength": {
            "type": "number",
            "minimum": 0,
            "maximum": 1000,
            "default": 10,
            "title": "Weight of the all-domain rate, in claims",
        },
        "min_history": {
            "type": "integer",
            "minimum": 0,
            "maximum": 10000,
            "default": 5,
            "title": "Resolved claims needed before it trades",
        },
    }

    def run(self, ctx, config: dict) -> None:
        history = ctx.history(domains=[])  # every domain: the prior is the platform-wide rate
        if len(history) < config["min_history"]:
            ctx.decide(
                None, "hold", f"Only {len(history)} resolved claims to learn from; needs {config['min_history']}"
            )
            return
        yes_all = sum(1 for h in history if h["outcome"])
        overall = (yes_all + 1) / (len(history) + 2)  # Laplace: never exactly 0 or 1
        n_by_domain = Counter(h["domain"] for h in history)
        yes_by_domain = Counter(h["domain"] for h in history if h["outcome"])
        k = config["prior_strength"]
        for claim in ctx.claims(limit=config["max_claims"]):
            n, yes = n_by_domain[claim["domain"]], yes_by_domain[claim["domain"]]
            estimate = (yes + k * overall) / (n + k) if n + k > 0 else overall
            why = f"Base rate {estimate:.3f} in {claim['domain']} ({yes} of {n} YES; all domains {overall:.3f})"
            trade_toward(ctx, config, claim, estimate, why)


@register
class ConsensusArbitrage(Strategy):
    key = "consensus_arbitrage"
    label = "Consensus arbitrage"
    description = (
        "Trades the market toward the reputation-weighted consensus where they differ by more than the edge, "
        "staking more the more independent sources stand behind the consensus."
    )
    properties = {
        **TRADING,
        "edge": {**TRADING["edge"], "default": 0.08},
        "sources_for_half": {
            "type": "number",
            "minimum": 0.1,
            "maximum": 100,
            "default": 3,
            "title": "Independent sources at which it stakes half",
        },
    }

    def run(self, ctx, config: dict) -> None:
        for claim in ctx.claims(limit=config["max_claims"]):
            if claim["consensus"] is None:
                ctx.decide(claim["id"], "hold", "No consensus yet: nobody with a track record has stated a belief")
                continue
            owners = claim["consensus_owners"]
            confidence = owners / (owners + config["sources_for_half"])
            why = f"Consensus {claim['consensus']} from {owners} independent source{'s' * (owners != 1)}"
            trade_toward(ctx, config, claim, float(claim["consensus"]), why, confidence)


def fit_extremizing(history: list[tuple[float, bool]]) -> float:
    """The factor a maximising the likelihood of the outcomes under sigmoid(a * logit(price)) (Newton's method
    on a one-parameter logistic regression without intercept), kept within [0.25, 4]."""
    xs = [(logit(price), outcome) for price, outcome in history]
    a = 1.0
    for _ in range(50):
        gradient = sum(x * ((1 if y else 0) - sigmoid(a * x)) for x, y in xs)
        curvature = sum(x * x * sigmoid(a * x) * (1 - sigmoid(a * x)) for x, _ in xs)
        if curvature <= 1e-12:
            break
        step = gradient / curvature
        a = min(max(a + step, 0.25), 4.0)
        if abs(step) < 1e-9:
            break
    return a


@register
class CalibratedExtremizer(Strategy):
    key = "extremizer"
    label = "Calibrated extremizer"
    description = (
        "Learns on resolved claims how the market's last price should be stretched (or shrunk) to be calibrated, "
        "p = sigmoid(a * logit(price)), and trades open claims toward the calibrated price."
    )
    properties = {
        **TRADING,
        "min_history": {
            "type": "integer",
            "minimum": 5,
            "maximum": 10000,
            "default": 20,
            "title": "Resolved claims needed to fit",
        },
    }

    def run(self, ctx, config: dict) -> None:
        history = [(float(h["market_price"]), h["outcome"]) for h in ctx.history()]
        if len(history) < config["min_history"]:
            ctx.decide(None, "hold", f"Only {len(history)} resolved claims to fit on; needs {config['min_history']}")
            return
        a = fit_extremizing(history)
        ctx.decide(None, "fit", f"Fitted a = {a:.3f} on {len(history)} resolved claims", factor=round(a, 6))
        for claim in ctx.claims(limit=config["max_claims"]):
            estimate = sigmoid(a * logit(float(claim["price_yes"])))
            trade_toward(ctx, config, claim, estimate, f"Calibrated price {estimate:.3f} (a = {a:.3f})")
