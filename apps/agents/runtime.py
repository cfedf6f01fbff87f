"""A run's context: everything a strategy does goes through it, and it journals each step.

The journal is durable execution, as workflow engines do it: every read, decision, order, question to a
person and model call is a numbered step whose result is kept in the run (its `AgentStep` rows). When a run
is executed again (its worker died and Celery delivered it again, or a person answered its question), the
strategy runs from the top and each step it has already taken is answered from the journal instead of the
world: it sees what it saw, decides what it decided, and its orders are not placed twice. The first step
past the journal is where it really goes on.

The journal is saved with each order (in the order's transaction: the trade and the record that it was
placed commit together), when the run pauses for a person, after each model call (tokens cost money), and
when the run ends. Reads taken after the last save and lost with a worker are simply read again: nothing was
done on them.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.agents import selectors
from apps.agents.models import AgentRun, HostedAgent
from apps.markets.pricing import Order


class Paused(Exception):
    """The run waits for a person: its state is saved, the worker goes free."""


class Stopped(Exception):
    """The kill switch (the owner's or staff's), or the agent was suspended: the run ends before its next order."""


class JournalMismatch(Exception):
    """Replaying, the strategy took another step than the one recorded: it read a clock or a random number."""


@dataclass
class ModelReply:
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    error: str = ""


class RunContext:
    def __init__(self, run: AgentRun, hosted: HostedAgent, *, now: datetime) -> None:
        self.run = run
        self.hosted = hosted
        self.now = now  # the run's start: replays see the same time
        self.journal: list[dict] = selectors.journal_of(run)
        self.replayed_steps = len(self.journal)
        self.saved = len(self.journal)  # entries the database has (an order appends the ones after)
        self._step = 0

    # --- the journal ----------------------------------------------------------------------------------------

    @property
    def step(self) -> int:
        return self._step

    def _next(self, op: str) -> dict | None:
        """Take the next step; its recorded entry when replaying."""
        self._step += 1
        if self._step <= len(self.journal):
            entry = self.journal[self._step - 1]
            if entry["op"] != op:
                raise JournalMismatch(
                    f"Step {self._step} was {entry['op']!r} when this run first took it, and is {op!r} now: "
                    "a strategy must decide from what its context returns alone."
                )
            return entry
        return None

    def _keep(self, entry: dict) -> dict:
        entry = {"step": self._step, **entry}
        self.journal.append(entry)
        return entry

    # --- what the strategy sees -----------------------------------------------------------------------------

    @property
    def trigger(self) -> dict:
        return {"trigger": self.run.trigger, **(self.run.trigger_detail or {})}

    @property
    def domains(self) -> list[str]:
        return list(self.hosted.domains or [])

    def _read(self, op: str, args: dict, read) -> object:
        recorded = self._next(op)
        if recorded is not None:
            return recorded["result"]
        return self._keep({"op": op, "args": args, "result": read()})["result"]

    def claims(self, *, limit: int = 20) -> list[dict]:
        """The open claims to look at: the ones the run's trigger names, else its domains' (closing first)."""
        claim_ids = self.run.trigger_detail.get("claims") if self.run.trigger_detail else None
        return self._read(
            "claims",
            {"limit": limit, "claims": claim_ids},
            lambda: selectors.open_claims(domains=self.domains, claim_ids=claim_ids, limit=limit, now=self.now),
        )

    def claim(self, claim_id: int) -> dict | None:
        """One open claim with its criteria and clarifications (None once it closed)."""
        return self._read("claim", {"claim": claim_id}, lambda: selectors.claim_detail(claim_id=claim_id, now=self.now))

    def history(self, *, domains: list[str] | None = None, limit: int = 1000) -> list[dict]:
        """Resolved claims (newest first): outcome, the last market price before close, the consensus then.
        `domains=None` is the agent's own domains; `[]` is every domain."""
        domains = self.domains if domains is None else domains
        return self._read(
            "history",
            {"domains": domains, "limit": limit},
            lambda: selectors.resolved_history(domains=domains, limit=limit),
        )

    def position(self, claim_id: int) -> dict:
        return self._read(
            "position",
            {"claim": claim_id},
            lambda: selectors.position_of(identity_id=self.hosted.identity_id, claim_id=claim_id),
        )

    # --- what the strategy does -----------------------------------------------------------------------------

    def decide(self, claim_id: int | None, action: str, reason: str, **detail) -> None:
        """Record a decision and why (the owner reads these in the run log), traded on or not."""
        if self._next("decide") is None:
            self._keep({"op": "decide", "claim": claim_id, "action": action, "reason": reason, **detail})

    def order(
        self,
        claim_id: int,
        *,
        amount: int,
        belief: Decimal | str | None = None,
        side: str | None = None,
        rationale: str = "",
    ) -> dict:
        """Trade toward `belief` (a probability of YES), or buy `side`, spending at most `amount` micro-credits,
        cut down to what the budgets leave. Returns what happened: {placed, trade, review, refused, spent, ...}.
        Raises Stopped when the kill switch is on."""
        from apps.agents.services import run_order  # services import this module

        recorded = self._next("order")
        if recorded is not None:
            return recorded["result"]
        if belief is not None:
            order = Order(kind="belief", belief=Decimal(str(belief)), amount=amount, rationale=rationale)
        else:
            order = Order(kind="buy", side=side, amount=amount, rationale=rationale)
        entry = run_order(
            run=self.run, step=self._step, claim_id=claim_id, order=order, journal=self.journal, saved=self.saved
        )
        self.journal.append(entry)
        self.saved = len(self.journal)
        return entry["result"]

    def ask_human(self, question: str, *, schema: dict, timeout: int, default=None):
        """Ask the agent's owner and wait for the answer (the run pauses; no worker waits). The answer fits
        `schema`; after `timeout` seconds without one, `default` is the answer."""
        from apps.agents.services import run_ask, run_asked, run_step_record

        recorded = self._next("ask")
        if recorded is None:
            run_ask(
                run=self.run,
                step=self._step,
                question=question,
                schema=schema,
                timeout=timeout,
                default=default,
                journal=self.journal,
                saved=self.saved,
            )
            raise Paused()
        if "answer" not in recorded:
            answered = run_asked(review_id=recorded["review"])
            if answered is None:
                raise Paused()
            recorded.update(answered)
            run_step_record(run=self.run, entry=recorded)
        return recorded["answer"]

    def model_call(self, request: dict, send) -> ModelReply:
        """Call a language model once per step: `send(request)` returns a ModelReply. The reply (or its error)
        is kept in the run with its tokens and cost, saved at once: a replay never pays for it again."""
        from apps.agents.services import run_journal_save

        recorded = self._next("model")
        if recorded is None:
            reply = send(request)
            recorded = self._keep(
                {
                    "op": "model",
                    "request": request,
                    "reply": reply.text,
                    "error": reply.error,
                    "tokens_in": reply.tokens_in,
                    "tokens_out": reply.tokens_out,
                    "cost": str(reply.cost),
                }
            )
            run_journal_save(
                run=self.run,
                journal=self.journal,
                saved=self.saved,
                tokens_in=reply.tokens_in,
                tokens_out=reply.tokens_out,
                cost=reply.cost,
            )
            self.saved = len(self.journal)
        return ModelReply(
            text=recorded["reply"],
            tokens_in=recorded["tokens_in"],
            tokens_out=recorded["tokens_out"],
            cost=Decimal(recorded["cost"]),
            error=recorded["error"],
        )
