"""Beliefs, scores, reliability and the consensus. Every write goes through apps.reputation.services."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from apps.core.models import Hideable
from apps.identities.models import Identity
from apps.markets.models import Claim, Domain
from apps.reputation import maths

PROBABILITY = {"max_digits": 7, "decimal_places": 6}  # strictly inside (0, 1), to 1e-6
PRICE = {"max_digits": 21, "decimal_places": 20}


class Belief(Hideable):
    """A probability of YES stated without trading (append-only: the latest one per identity counts). A
    moderator may hide its rationale (Hideable); the probability still counts."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="beliefs")
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="beliefs")
    probability = models.DecimalField(**PROBABILITY)
    rationale = models.TextField(blank=True)
    # The market price when it was stated: what a score measures the belief against.
    market_price = models.DecimalField(**PRICE)
    idempotency_key = models.CharField(max_length=120)
    body_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["identity", "idempotency_key"], name="reputation_belief_idempotency"),
            models.CheckConstraint(
                condition=Q(probability__gt=0, probability__lt=1), name="reputation_belief_probability_open"
            ),
        ]
        indexes = [models.Index(fields=["claim", "identity", "-id"]), models.Index(fields=["identity", "-id"])]

    def __str__(self) -> str:
        return f"@{self.identity_id}: {self.probability} on claim #{self.claim_id}"


class ForecastSource(models.TextChoices):
    BELIEF = "belief", "Stated belief"
    TRADE = "trade", "Trade"


class Score(models.Model):
    """One identity's scored forecast on one resolved claim: its latest forecast before closes_at."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="scores")
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="scores")
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=6, choices=ForecastSource.choices)
    probability = models.DecimalField(**PROBABILITY)
    market_price = models.DecimalField(**PRICE, help_text="The price the forecast stood against.")
    outcome = models.BooleanField()
    brier = models.FloatField()
    log_score = models.FloatField(help_text="ln of the probability given to the outcome.")
    relative_log_score = models.FloatField(help_text="log_score minus the market price's: nats of information added.")
    profit = models.BigIntegerField(default=0, help_text="Payout minus net investment, micro-credits (0 if no trade).")
    read_logit = models.FloatField(
        null=True, blank=True, help_text="Its log-odds as the consensus read them at close (recalibrated)."
    )
    pool_logit = models.FloatField(
        null=True, blank=True, help_text="The other independent sources' pool at close, extremized (null: none)."
    )
    model_version = models.CharField(max_length=60, blank=True, help_text="An agent's declared version when scored.")
    forecast_at = models.DateTimeField()
    scored_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["claim", "identity"], name="reputation_one_score_per_claim")]
        indexes = [models.Index(fields=["identity", "domain"]), models.Index(fields=["identity", "-id"])]

    def __str__(self) -> str:
        return f"@{self.identity_id} on claim #{self.claim_id}: {self.relative_log_score:+.3f} nats"


class Reliability(models.Model):
    """Sufficient statistics of an identity's relative log scores and of its fit against the others' pool
    (per domain; domain null = overall), and the skill and weight they give, kept current at each
    settlement (apps/reputation/maths.py: Stats, Fit, Record)."""

    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="reliabilities")
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    n = models.PositiveIntegerField(default=0)
    total = models.FloatField(default=0.0)
    total_sq = models.FloatField(default=0.0)
    fit_n = models.PositiveIntegerField(default=0, help_text="Scores with a pool of others to fit against.")
    fit_zz = models.FloatField(default=0.0)
    fit_rz = models.FloatField(default=0.0)
    fit_rr = models.FloatField(default=0.0)
    skill_mean = models.FloatField(default=0.0)
    skill_sd = models.FloatField(default=0.0)
    weight = models.FloatField(default=0.0)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "reliabilities"
        constraints = [
            models.UniqueConstraint(fields=["identity", "domain"], name="reputation_one_reliability_per_domain"),
            models.UniqueConstraint(
                fields=["identity"], condition=Q(domain__isnull=True), name="reputation_one_overall_reliability"
            ),
        ]
        indexes = [models.Index(fields=["domain", "-weight"])]

    def __str__(self) -> str:
        return f"@{self.identity_id} in {self.domain_id or 'all'}: weight {self.weight:.4f}"

    @property
    def record(self) -> maths.Record:
        return maths.Record(
            maths.Stats(self.n, self.total, self.total_sq),
            maths.Fit(self.fit_n, self.fit_zz, self.fit_rz, self.fit_rr),
        )


class ReliabilityPopulation(models.Model):
    """The established records of a domain (domain null = overall) summed (maths.Population): how far
    weights really differ there, which sets how far each record's weight is shrunk toward the others'."""

    domain = models.OneToOneField(Domain, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    count = models.PositiveIntegerField(default=0)
    total = models.FloatField(default=0.0)
    total_sq = models.FloatField(default=0.0)
    noise = models.FloatField(default=0.0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One row per domain, and one overall: a unique index on domain alone lets NULLs repeat.
            models.UniqueConstraint(Coalesce("domain", Value(0)), name="reputation_one_population_per_domain")
        ]

    def __str__(self) -> str:
        return f"population of {self.domain_id or 'all'}: {self.count} records"

    @property
    def population(self) -> maths.Population:
        return maths.Population(self.count, self.total, self.total_sq, self.noise)


class Calibration(models.Model):
    """An owner's calibration record (per domain; domain null = overall), kept current at each settlement:
    the log-likelihood of its forecasts at each factor of maths.CALIBRATION_GRID, each resolved claim
    counted once (the mean over the owner's identities that forecast it). The owner is a person with their
    agents."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    claims = models.PositiveIntegerField(default=0)
    loglik = models.JSONField(default=list, blank=True)
    factor = models.FloatField(
        default=1.0, help_text="maths.calibration_factor of this record (and, per domain, the rest)."
    )
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "domain"], name="reputation_one_calibration_per_domain"),
            models.UniqueConstraint(
                fields=["owner"], condition=Q(domain__isnull=True), name="reputation_one_overall_calibration"
            ),
        ]

    def __str__(self) -> str:
        return f"owner {self.owner_id} in {self.domain_id or 'all'}: factor {self.factor:.3f}"


class Agreement(models.Model):
    """Two owners watched since their forecasts on a resolved claim first coincided (log-odds within
    maths.COPY_TOLERANCE): the resolved claims both forecast since, that one included, and how many they
    agreed on. A pair that `copies` (maths.copies) is one copying group: capped together in the consensus
    like the agents of one owner. owner_a < owner_b."""

    owner_a = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    owner_b = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    claims = models.PositiveIntegerField(
        default=0, help_text="Resolved claims both forecast since they first agreed (a focal value not counted)."
    )
    agreed = models.PositiveIntegerField(default=0, help_text="Of those, the claims on which they agreed.")
    copies = models.BooleanField(default=False, help_text="maths.copies(claims, agreed): counted as one source.")
    since = models.DateTimeField(help_text="When the first agreement was scored.")
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner_a", "owner_b"], name="reputation_one_agreement_per_pair"),
            models.CheckConstraint(condition=Q(owner_a__lt=F("owner_b")), name="reputation_agreement_ordered"),
            models.CheckConstraint(condition=Q(agreed__lte=F("claims")), name="reputation_agreed_within_claims"),
        ]
        indexes = [models.Index(fields=["owner_a", "owner_b"], condition=Q(copies=True), name="reputation_copy_pairs")]

    def __str__(self) -> str:
        return f"owners {self.owner_a_id} and {self.owner_b_id}: agreed on {self.agreed} of {self.claims}"


class Consensus(models.Model):
    """A claim's reputation-weighted consensus, recomputed from its contributors when a belief arrives."""

    claim = models.OneToOneField(Claim, on_delete=models.CASCADE, related_name="consensus")
    probability = models.DecimalField(**PROBABILITY, null=True, blank=True)
    pooled_logit = models.FloatField(null=True, blank=True, help_text="Before extremizing.")
    alpha = models.FloatField(default=1.0, help_text="The extremizing factor applied.")
    contributors = models.PositiveIntegerField(default=0)
    owners = models.PositiveIntegerField(
        default=0, help_text="Owners behind the contributors (a person and their agents: one)."
    )
    humans = models.PositiveIntegerField(default=0)
    agents = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "consensuses"

    def __str__(self) -> str:
        return f"Consensus on claim #{self.claim_id}: {self.probability}"


class ClaimRecord(models.Model):
    """A resolved claim as scored: the marker that makes scoring exactly-once, and one row of the
    platform's track record (market vs consensus vs outcome, at close)."""

    claim = models.OneToOneField(Claim, on_delete=models.PROTECT, related_name="record")
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="+")
    outcome = models.BooleanField()
    market_price = models.DecimalField(**PRICE, help_text="The last price before closes_at.")
    consensus = models.DecimalField(**PROBABILITY, null=True, blank=True)
    pooled_logit = models.FloatField(null=True, blank=True)
    contributors = models.PositiveIntegerField(default=0, help_text="Sources in the consensus at close.")
    scored = models.PositiveIntegerField(help_text="Forecasts scored.")
    scored_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Record of claim #{self.claim_id}"


class ExtremizingFit(models.Model):
    """The extremizing factor fitted on resolved history (one row; refitted at each scoring)."""

    alpha = models.FloatField(default=1.0)
    claims = models.PositiveIntegerField(default=0)
    fitted_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"alpha {self.alpha} from {self.claims} claims"
