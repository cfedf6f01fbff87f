"""Hosted agents: an agent identity that Credence runs on Celery, its runs and the orders they placed.

The database holds what protects credit and what makes a crash harmless: budgets are never negative, one
hosted agent per identity, and a run places at most one order per step (`agents_order_run_step`), so a
run delivered again after its worker died can never place a step's order twice.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.identities.models import Identity
from apps.markets.models import Trade
from apps.reviews.models import ReviewRequest


class StoppedBy(models.TextChoices):
    OWNER = "owner", "Its owner"
    STAFF = "staff", "Staff"


class HostedAgent(models.Model):
    """What Credence needs to run an agent: a strategy and its configuration, when to run, what it may spend,
    and whether it may run at all (the kill switch: `stopped_by`)."""

    identity = models.OneToOneField(Identity, on_delete=models.PROTECT, related_name="hosted")
    strategy = models.CharField(max_length=40)
    config = models.JSONField(default=dict)
    # Write-only settings of the strategy (a model endpoint's API key): never shown or returned.
    secrets = models.JSONField(default=dict, blank=True)
    every_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: only on events.")
    on_claim_opened = models.BooleanField(default=False, help_text="Run when a claim opens in its domains.")
    on_price_move = models.DecimalField(
        max_digits=4, decimal_places=3, null=True, blank=True, help_text="Run when a price moves by more than this."
    )
    on_closing_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Run once when a claim in its domains is this close to closing."
    )
    domains = models.JSONField(default=list, blank=True, help_text="Domain slugs it follows; empty: all.")
    budget_per_run = models.BigIntegerField(help_text="Micro-credits one run may spend, fees included.")
    budget_per_day = models.BigIntegerField(help_text="Micro-credits it may spend in a UTC day, fees included.")
    budget_per_position = models.BigIntegerField(help_text="Micro-credits it may have invested in one claim.")
    spent_day = models.DateField(null=True, blank=True)
    spent_today = models.BigIntegerField(default=0)
    # The last price each claim had when a run of it saw it: a price-move trigger measures from there.
    seen_prices = models.JSONField(default=dict, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    due_reason = models.JSONField(default=dict, blank=True, help_text="Why it is due: the schedule or events.")
    stopped_by = models.CharField(max_length=5, choices=StoppedBy.choices, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_per_run__gte=0, budget_per_day__gte=0, budget_per_position__gte=0),
                name="agents_budgets_non_negative",
            ),
            models.CheckConstraint(condition=Q(spent_today__gte=0), name="agents_spent_non_negative"),
            models.CheckConstraint(
                condition=Q(every_minutes__isnull=True) | Q(every_minutes__gte=1), name="agents_every_a_minute"
            ),
            models.CheckConstraint(
                condition=Q(stopped_by="") | Q(stopped_at__isnull=False), name="agents_stopped_has_a_time"
            ),
        ]
        indexes = [
            # The dispatcher's read: the due agents that may run, oldest due first.
            models.Index(fields=["next_run_at"], condition=Q(stopped_by=""), name="agents_due"),
        ]

    def __str__(self) -> str:
        return f"{self.identity.handle} ({self.strategy})"

    @property
    def is_stopped(self) -> bool:
        return bool(self.stopped_by)


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Waiting for a person"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"
    TIMED_OUT = "timed_out", "Timed out"


FINISHED_STATES = (RunState.SUCCEEDED, RunState.FAILED, RunState.STOPPED, RunState.TIMED_OUT)


class AgentRun(models.Model):
    """One run of a hosted agent: why it ran, everything it saw and decided (`journal`, in order), what it
    spent, and how it ended. The journal is also what a redelivered or resumed run replays: each step a
    strategy took is answered from it, so the run goes on from where it was, deciding the same things."""

    agent = models.ForeignKey(HostedAgent, on_delete=models.PROTECT, related_name="runs")
    trigger = models.CharField(max_length=12)  # 'schedule', 'event', 'manual'
    trigger_detail = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=160, help_text="One run per key: a schedule slot, an event, a request.")
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.QUEUED)
    spent = models.BigIntegerField(default=0)
    orders_placed = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    waiting_on = models.ForeignKey(
        ReviewRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="waiting_runs"
    )
    outcome = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    model_cost = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="In the endpoint's currency."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(default=timezone.now, help_text="When its task was last queued.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "key"], name="agents_run_key_unique"),
            models.CheckConstraint(condition=Q(spent__gte=0), name="agents_run_spent_non_negative"),
        ]
        indexes = [
            models.Index(fields=["agent", "-id"], name="agents_run_by_agent"),
            models.Index(fields=["queued_at"], condition=Q(state="queued"), name="agents_run_queued"),
        ]

    def __str__(self) -> str:
        return f"Run #{self.pk} of {self.agent_id} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def journal(self) -> list[dict]:
        """Everything it saw and did, in order (its steps; read from the database on each access)."""
        return list(AgentStep.objects.filter(run_id=self.pk).order_by("step").values_list("entry", flat=True))


class AgentStep(models.Model):
    """One step of a run's journal (`AgentRun.journal`), appended in the transaction that acts on it (an
    order's): appending a row costs the same at the hundredth step as at the first, where rewriting a growing
    JSON column did not (docs/performance.md, "Hosted runs")."""

    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="steps")
    step = models.PositiveIntegerField()
    entry = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="agents_step_once")]

    def __str__(self) -> str:
        return f"Step {self.step} of run #{self.run_id}"


class AgentOrder(models.Model):
    """An order a run placed at one of its steps: the trade, or the review it paused on (a supervised
    agent's order at the `trade.place` checkpoint), or why it was refused. At most one per step."""

    run = models.ForeignKey(AgentRun, on_delete=models.PROTECT, related_name="orders")
    step = models.PositiveIntegerField()
    claim_id = models.BigIntegerField()
    trade = models.OneToOneField(Trade, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    review = models.ForeignKey(ReviewRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    spent = models.BigIntegerField(default=0, help_text="Counted against the budgets: cost (if paid) plus fee.")
    refused = models.CharField(max_length=60, blank=True, help_text="The refusal's code, when not placed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "step"], name="agents_order_run_step"),
            models.CheckConstraint(condition=Q(spent__gte=0), name="agents_order_spent_non_negative"),
        ]

    def __str__(self) -> str:
        return f"Order at step {self.step} of run #{self.run_id}"


class AgentTrigger(models.Model):
    """A one-time trigger that fired for an agent ("closing:<claim id>"): it never fires twice."""

    agent = models.ForeignKey(HostedAgent, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "key"], name="agents_trigger_once")]

    def __str__(self) -> str:
        return f"{self.key} for {self.agent_id}"
