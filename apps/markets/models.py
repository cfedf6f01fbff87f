"""Claims and their LMSR markets. Every write goes through apps.markets.services; every credit
movement through apps.ledger.services.ledger_transfer."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.fields import ExactDecimalField
from apps.core.models import Hideable
from apps.identities.models import Identity
from apps.ledger.models import Account, Transfer

PRICE = {"max_digits": 21, "decimal_places": 20}  # a probability, to 1e-20 (exact on SQLite too: ExactDecimalField)


class Domain(models.Model):
    """The managed list of subject areas; reputation is kept per domain."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return self.name


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    PROPOSED = "proposed", "Resolution proposed"
    DISPUTED = "disputed", "Disputed"
    RESOLVED_YES = "resolved_yes", "Resolved YES"
    RESOLVED_NO = "resolved_no", "Resolved NO"
    VOIDED = "voided", "Voided"


class Claim(Hideable):
    """A binary proposition with its market. A hidden claim (Hideable) is unlisted: out of every list and
    search, its page still reachable by its link with the moderators' notice, since people hold positions in
    it."""

    title = models.CharField(max_length=200)
    criteria = models.TextField(
        help_text="Binding resolution criteria; later clarifications are appended, never edited."
    )
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="claims")
    tags = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="claims")
    status = models.CharField(max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.DRAFT)
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField()
    resolve_by = models.DateTimeField()
    liquidity = models.BigIntegerField(help_text="LMSR b, in micro-credits.")
    challenge_window = models.DurationField(default=timedelta(hours=24))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(liquidity__gt=0), name="markets_claim_liquidity_positive"),
            models.CheckConstraint(
                condition=Q(resolve_by__gte=models.F("closes_at")), name="markets_claim_resolve_after_close"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "closes_at"]),
            models.Index(fields=["domain", "status"]),
            models.Index(fields=["author", "status"]),
        ]

    def __str__(self) -> str:
        return self.title


class Clarification(Hideable):
    """Append-only log of the author's clarifications after a claim opened."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="clarifications")
    text = models.TextField()
    # Set when a moderator added it (claim_clarify_as_moderator): after trades, a claim's words change only so.
    added_by_moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Clarification #{self.pk} of claim #{self.claim_id}"


class Market(models.Model):
    """The LMSR state of one claim. The row is the lock every trade on the claim takes first."""

    claim = models.OneToOneField(Claim, on_delete=models.PROTECT, related_name="market")
    escrow = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="market")
    q_yes = models.BigIntegerField(default=0)
    q_no = models.BigIntegerField(default=0)
    liquidity = models.BigIntegerField()
    subsidy = models.BigIntegerField(help_text="ceil(b ln 2) paid in by the author at publication.")
    volume = models.BigIntegerField(default=0, help_text="Sum of |cost| of every trade, micro-credits.")
    price_yes = ExactDecimalField(**PRICE, default="0.5")
    trade_count = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(q_yes__gte=0, q_no__gte=0), name="markets_market_shares_non_negative"),
        ]

    def __str__(self) -> str:
        return f"Market of claim #{self.claim_id}"


class Side(models.TextChoices):
    YES = "yes", "YES"
    NO = "no", "NO"


class Trade(models.Model):
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="trades")
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="trades")
    side = models.CharField(max_length=3, choices=Side.choices)
    shares = models.BigIntegerField(help_text="+ bought, - sold (micro-shares).")
    cost = models.BigIntegerField(help_text="+ paid into the market, - received from it (micro-credits, fee excluded).")
    fee = models.BigIntegerField(default=0)
    price_before = ExactDecimalField(**PRICE)
    price_after = ExactDecimalField(**PRICE)
    belief = models.DecimalField(max_digits=7, decimal_places=6, null=True, blank=True)
    rationale = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=200)
    body_sha256 = models.CharField(max_length=64)
    transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="trade")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["identity", "idempotency_key"], name="markets_trade_idempotency"),
            models.CheckConstraint(condition=~Q(shares=0), name="markets_trade_shares_non_zero"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="markets_trade_fee_non_negative"),
        ]
        indexes = [models.Index(fields=["market", "-id"]), models.Index(fields=["identity", "-id"])]

    def __str__(self) -> str:
        return f"{self.shares:+d} {self.side} on market #{self.market_id}"


class Position(models.Model):
    """Net holdings of one identity in one market, kept current by every trade."""

    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="positions")
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="positions")
    yes_shares = models.BigIntegerField(default=0)
    no_shares = models.BigIntegerField(default=0)
    # Credits paid in minus credits received (fees excluded): what a VOID refunds.
    net_invested = models.BigIntegerField(default=0)
    # The probability of YES this identity's latest trade stands for: the belief the order stated, else
    # the price the trade moved the market to. The consensus reads it (one row per trader, not per trade).
    last_belief = models.DecimalField(max_digits=7, decimal_places=6, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "identity"], name="markets_one_position_per_identity"),
            models.CheckConstraint(
                condition=Q(yes_shares__gte=0, no_shares__gte=0), name="markets_position_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"@{self.identity_id} in market #{self.market_id}"


class PricePoint(models.Model):
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="price_points")
    price_yes = ExactDecimalField(**PRICE)
    trade = models.OneToOneField(Trade, null=True, blank=True, on_delete=models.PROTECT, related_name="price_point")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["market", "id"])]

    def __str__(self) -> str:
        return f"{self.price_yes} at {self.created_at}"


class Outcome(models.TextChoices):
    YES = "yes", "YES"
    NO = "no", "NO"
    VOID = "void", "VOID"


class Resolution(models.Model):
    """The bonded proposal of a claim's outcome, its challenge, and the decision of a dispute.

    Optimistic: a proposal stands unless challenged within the claim's window. A challenge posts an
    equal bond and turns the claim into a dispute: a review panel answers it (apps/markets/checkpoints.py), staff
    may decide it or overrule the panel within the overrule window.
    """

    claim = models.OneToOneField(Claim, on_delete=models.PROTECT, related_name="resolution")
    bond_escrow = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="resolution")
    proposer = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="proposals")
    proposed_outcome = models.CharField(max_length=4, choices=Outcome.choices)
    evidence = models.TextField()
    bond = models.BigIntegerField()
    proposed_at = models.DateTimeField()
    challenge_deadline = models.DateTimeField()
    challenger = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="challenges")
    challenge_evidence = models.TextField(blank=True)
    challenged_at = models.DateTimeField(null=True, blank=True)
    final_outcome = models.CharField(max_length=4, choices=Outcome.choices, blank=True)
    decided_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decision_reason = models.TextField(blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    # The review that answered the dispute (a panel, or staff after an escalation) and its answer. A panel's
    # answer stands once `overrule_deadline` passes (staff may overrule it before); staff's at once.
    review = models.OneToOneField(
        "reviews.ReviewRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_outcome = models.CharField(max_length=4, choices=Outcome.choices, blank=True)
    overrule_deadline = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(bond__gt=0), name="markets_resolution_bond_positive"),
            models.CheckConstraint(
                condition=Q(review__isnull=True, review_outcome="", overrule_deadline__isnull=True)
                | Q(review__isnull=False, overrule_deadline__isnull=False) & ~Q(review_outcome=""),
                name="markets_resolution_review_answer_is_whole",
            ),
            models.CheckConstraint(
                condition=Q(challenger__isnull=True) | ~Q(challenger=models.F("proposer")),
                name="markets_resolution_challenger_is_not_proposer",
            ),
        ]
        indexes = [models.Index(fields=["finalized_at", "challenge_deadline"])]

    def __str__(self) -> str:
        return f"Resolution of claim #{self.claim_id}: {self.proposed_outcome}"

    def outcome_at(self, now) -> str | None:
        """The final outcome at `now`, if there is one: the recorded one, or an unchallenged proposal
        whose window has passed (final before the beat sweep writes it down)."""
        if self.final_outcome:
            return self.final_outcome
        if self.challenger_id is None and self.challenge_deadline <= now:
            return self.proposed_outcome
        return None
