"""The event catalogue: every kind of outbox event (apps.core.models.Event), its subject and its payload.

A public contract (the relay sends these to browsers; webhooks will publish them to agents): a kind's name
and payload change only with a new CATALOGUE_VERSION. Emitters name a kind by its constant
(`events.CLAIM_OPENED.name`), never by a string; tests/core/test_events.py holds that, that every kind
written is here, and that docs/architecture.md's table matches.

Amounts are integers of micro-credits, probabilities decimal strings, times ISO 8601 in UTC. Every event
also has its id, `subject`, `actor_identity_id` (who acted, when someone did) and `created_at`.
"""

from dataclasses import dataclass, field

CATALOGUE_VERSION = 1


@dataclass(frozen=True)
class EventKind:
    name: str
    subject: str  # what the subject names, e.g. "claim:<id>"
    when: str  # what happened
    payload: dict[str, str] = field(default_factory=dict)  # field -> what it holds


IDENTITY_CREATED = EventKind(
    "identity.created", "identity:<id>", "a person's identity (email verified) or an agent was created",
    {"kind": "'human' or 'agent'"},
)  # fmt: skip
IDENTITY_UPDATED = EventKind(
    "identity.updated", "identity:<id>", "an agent's owner changed its declared provenance or its supervision",
    {"fields": "the names of the fields changed, sorted"},
)  # fmt: skip
IDENTITY_SUSPENDED = EventKind(
    "identity.suspended", "identity:<id>", "an identity was suspended (its keys stop at once)",
    {"reason": "the reason given", "by": "'owner' (the agent's owner) or 'moderator'"},
)  # fmt: skip
IDENTITY_REACTIVATED = EventKind("identity.reactivated", "identity:<id>", "a suspension was lifted")
API_KEY_CREATED = EventKind(
    "api_key.created", "identity:<agent id>", "an API key was created for an agent",
    {"key_id": "the key's id", "scopes": "its scopes, sorted"},
)  # fmt: skip
API_KEY_REVOKED = EventKind(
    "api_key.revoked", "identity:<agent id>", "an API key was revoked", {"key_id": "the key's id"}
)
CLAIM_OPENED = EventKind(
    "claim.opened", "claim:<id>", "a claim was published: its market opened",
    {"subsidy": "micro-credits the author paid into the market's escrow"},
)  # fmt: skip
CLAIM_CLARIFIED = EventKind(
    "claim.clarified", "claim:<id>", "the author appended a clarification to an open claim",
    {"clarification": "the clarification's id"},
)  # fmt: skip
CLAIM_EDITED = EventKind(
    "claim.edited", "claim:<id>", "a moderator rewrote a claim's title or criteria (only before any trade)",
    {"fields": "the names of the fields rewritten, sorted"},
)  # fmt: skip
TRADE_PLACED = EventKind(
    "trade.placed", "claim:<id>", "a trade was placed (actor: the trader)",
    {
        "trade": "the trade's id",
        "side": "'yes' or 'no'",
        "shares": "micro-shares bought (> 0) or sold (< 0)",
        "price_yes": "the market's price of YES after it",
    },
)  # fmt: skip
MARKET_PRICE_CHANGED = EventKind(
    "market.price_changed", "claim:<id>", "a trade moved the market's price", {"price_yes": "the new price of YES"}
)
BELIEF_STATED = EventKind(
    "belief.stated", "claim:<id>", "an identity stated its probability (actor: who stated it)",
    {
        "belief": "the belief's id",
        "probability": "the probability stated",
        "consensus": "the claim's consensus after it, or null",
    },
)  # fmt: skip
CONSENSUS_UPDATED = EventKind(
    "consensus.updated", "claim:<id>", "the claim's reputation-weighted consensus changed",
    {"probability": "the new consensus, or null when nobody counts"},
)  # fmt: skip
CLAIM_CLOSED = EventKind("claim.closed", "claim:<id>", "trading closed (closes_at passed)")
CLAIM_RESOLUTION_PROPOSED = EventKind(
    "claim.resolution_proposed", "claim:<id>", "an outcome was proposed with a bond (actor: the proposer)",
    {
        "outcome": "'yes', 'no' or 'void'",
        "bond": "micro-credits posted",
        "challenge_deadline": "when the proposal becomes final unchallenged",
    },
)  # fmt: skip
CLAIM_DISPUTED = EventKind("claim.disputed", "claim:<id>", "a proposal was challenged (actor: the challenger)")
CLAIM_ANSWERED = EventKind(
    "claim.answered", "claim:<id>", "a review panel answered the dispute; staff may overrule it until it stands",
    {"outcome": "'yes', 'no' or 'void'", "review": "the review's id", "stands_at": "when it becomes the outcome"},
)  # fmt: skip
CLAIM_RESOLVED = EventKind(
    "claim.resolved", "claim:<id>", "the outcome is final (unchallenged, decided, or voided by a moderator)",
    {"outcome": "'yes', 'no' or 'void'", "reason": "a moderator's reason for voiding (only then)"},
)  # fmt: skip
CLAIM_SETTLED = EventKind(
    "claim.settled", "claim:<id>", "settlement paid out and emptied the market's escrow",
    {"outcome": "'yes', 'no' or 'void'", "payees": "wallets paid", "dust": "rounding micro-credits sent to fees"},
)  # fmt: skip
POSITION_PAID = EventKind(
    "position.paid", "identity:<id>", "settlement paid an identity for its position in a claim",
    {"claim": "the claim's id", "outcome": "'yes', 'no' or 'void'", "amount": "micro-credits paid"},
)  # fmt: skip
CLAIM_SCORED = EventKind(
    "claim.scored", "claim:<id>", "the claim's forecasts were scored into reputation",
    {"scored": "the number of identities scored"},
)  # fmt: skip
NOTIFICATION_CREATED = EventKind(
    "notification.created", "user:<id>", "a person got a notification (private: only their own pages follow it)",
    {"notification": "{id, kind, text, link, created_at}", "unread": "their unread count after it"},
)  # fmt: skip
NOTIFICATIONS_READ = EventKind(
    "notifications.read", "user:<id>", "a person read notifications (private)", {"unread": "their unread count"}
)
REVIEWS_QUEUE_CHANGED = EventKind(
    "reviews.queue_changed", "user:<id>",
    "a review request left the person's review queue or came back to it (private): their queue pages refresh",
    {"review": "the request's id"},
)  # fmt: skip
REVIEW_REQUESTED = EventKind(
    "review.requested", "review:<id>", "a review request opened: something waits for a person (actor: who asked)",
    {
        "checkpoint": "where it paused: 'trade.place', 'resolution.dispute', 'explicit', ...",
        "subject": "what it is about, e.g. 'claim:<id>'",
        "pool": "'owner', 'panel' or 'staff'",
        "due_at": "when it times out",
    },
)  # fmt: skip
REVIEW_FINISHED = EventKind(
    "review.finished", "review:<id>", "a review request was decided, timed out, escalated or cancelled",
    {"state": "how it ended", "outcome": "the decision, the timeout, the escalation or the cancellation"},
)  # fmt: skip
REVIEW_RESUMED = EventKind(
    "review.resumed", "review:<id>", "what the review paused went on (its continuation ran, once)",
    {"result": "what it did, e.g. {continued, traded, trade} or {continued, refused, message}"},
)  # fmt: skip
AGENT_RUN_FINISHED = EventKind(
    "agent.run.finished", "identity:<agent id>", "a hosted agent's run ended (private: its owner and its webhooks)",
    {
        "run": "the run's id",
        "outcome": "'succeeded', 'failed', 'stopped' (kill switch or budget) or 'timed_out'",
        "orders": "the number of trades it placed",
        "spent": "micro-credits its orders cost, fees included",
    },
)  # fmt: skip
PURCHASE_CHANGED = EventKind(
    "purchase.changed", "user:<id>",
    "a person's credit purchase changed (private): credited, pending, failed, expired, refunded or disputed",
    {
        "purchase": "the purchase's id",
        "status": "'open', 'pending', 'credited', 'reversed', 'failed' or 'expired'",
        "credits": "micro-credits bought",
        "reversed": "micro-credits taken back so far (refunds, disputes)",
    },
)  # fmt: skip
VERIFICATION_CHANGED = EventKind(
    "verification.changed", "user:<id>", "a person's identity verification changed (private)",
    {"verification": "its id", "status": "'processing', 'requires_input', 'in_review', 'verified', 'refused', "
     "'rejected' or 'canceled'"},
)  # fmt: skip

CATALOGUE: dict[str, EventKind] = {
    kind.name: kind
    for kind in (
        IDENTITY_CREATED,
        IDENTITY_UPDATED,
        IDENTITY_SUSPENDED,
        IDENTITY_REACTIVATED,
        API_KEY_CREATED,
        API_KEY_REVOKED,
        CLAIM_OPENED,
        CLAIM_CLARIFIED,
        CLAIM_EDITED,
        TRADE_PLACED,
        MARKET_PRICE_CHANGED,
        BELIEF_STATED,
        CONSENSUS_UPDATED,
        CLAIM_CLOSED,
        CLAIM_RESOLUTION_PROPOSED,
        CLAIM_DISPUTED,
        CLAIM_ANSWERED,
        CLAIM_RESOLVED,
        CLAIM_SETTLED,
        POSITION_PAID,
        CLAIM_SCORED,
        NOTIFICATION_CREATED,
        NOTIFICATIONS_READ,
        REVIEWS_QUEUE_CHANGED,
        REVIEW_REQUESTED,
        REVIEW_FINISHED,
        REVIEW_RESUMED,
        AGENT_RUN_FINISHED,
        PURCHASE_CHANGED,
        VERIFICATION_CHANGED,
    )
}


def catalogue_markdown() -> str:
    """The catalogue as the table docs/architecture.md shows (a test keeps the two equal)."""
    rows = [
        f"| `{kind.name}` | `{kind.subject}` | {kind.when} | "
        + (", ".join(f"`{name}`: {meaning}" for name, meaning in kind.payload.items()) or "—")
        + " |"
        for kind in CATALOGUE.values()
    ]
    return "\n".join(["| kind | subject | when | payload |", "|---|---|---|---|", *rows])
