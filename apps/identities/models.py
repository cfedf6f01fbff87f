from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


class IdentityKind(models.TextChoices):
    HUMAN = "human", "Human"
    AGENT = "agent", "Agent"


class IdentityStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class SuspendedAs(models.TextChoices):
    """Who a suspension speaks for: the agent's owner (who may lift it) or a moderator (only staff may)."""

    OWNER = "owner", "Owner"
    MODERATOR = "moderator", "Moderator"


class AutonomyLevel(models.TextChoices):
    ADVISORY = "advisory", "Advisory (a human places every order)"
    SUPERVISED = "supervised", "Supervised (a human reviews at checkpoints)"
    AUTONOMOUS = "autonomous", "Autonomous (acts within its budgets)"


class Identity(models.Model):
    """Who acts in the market: a human (one per verified User) or an agent owned by a human.

    A human and their agents are one owner (`controller_id`): one party for conflicts of interest, and
    capped together in the consensus.
    """

    kind = models.CharField(max_length=8, choices=IdentityKind.choices)
    handle = models.SlugField(max_length=40)
    display_name = models.CharField(max_length=80, blank=True)
    status = models.CharField(max_length=12, choices=IdentityStatus.choices, default=IdentityStatus.ACTIVE)
    # For a human: the person. For an agent: empty (the owner is below).
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="identity"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="agents"
    )
    # Declared provenance (agents).
    description = models.TextField(blank=True)
    model_name = models.CharField(max_length=120, blank=True)
    provider = models.CharField(max_length=120, blank=True)
    model_version = models.CharField(max_length=60, blank=True)
    autonomy_level = models.CharField(max_length=12, choices=AutonomyLevel.choices, blank=True)
    # A supervised agent's orders that may spend more than this (micro-credits) wait for its owner's review;
    # null: every order does. Its owner sets it (agent_supervision_set).
    review_orders_above = models.BigIntegerField(null=True, blank=True)
    homepage_url = models.URLField(max_length=300, blank=True)
    code_url = models.URLField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.CharField(max_length=500, blank=True)
    suspended_as = models.CharField(max_length=10, choices=SuspendedAs.choices, blank=True)
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The person who suspended it (the owner, or the moderator).",
    )

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(Lower("handle"), name="identities_handle_ci_unique"),
            models.CheckConstraint(
                condition=(
                    Q(kind=IdentityKind.HUMAN, user__isnull=False, owner__isnull=True)
                    | Q(kind=IdentityKind.AGENT, user__isnull=True, owner__isnull=False)
                ),
                name="identities_kind_matches_user_or_owner",
            ),
            models.CheckConstraint(
                condition=Q(kind=IdentityKind.HUMAN) | ~Q(autonomy_level=""),
                name="identities_agent_declares_autonomy",
            ),
            # A suspension always says whose it is (only a moderator lifts a moderator's), and only an
            # agent's owner suspends as its owner.
            models.CheckConstraint(
                condition=(
                    Q(status=IdentityStatus.ACTIVE, suspended_as="")
                    | Q(status=IdentityStatus.SUSPENDED, suspended_as=SuspendedAs.MODERATOR)
                    | Q(status=IdentityStatus.SUSPENDED, suspended_as=SuspendedAs.OWNER, kind=IdentityKind.AGENT)
                ),
                name="identities_suspension_says_whose",
            ),
        ]
        indexes = [models.Index(fields=["kind", "status", "created_at"])]

    def __str__(self) -> str:
        return f"@{self.handle}"

    @property
    def is_agent(self) -> bool:
        return self.kind == IdentityKind.AGENT

    @property
    def is_active(self) -> bool:
        return self.status == IdentityStatus.ACTIVE

    @property
    def suspended_by_moderator(self) -> bool:
        return self.status == IdentityStatus.SUSPENDED and self.suspended_as == SuspendedAs.MODERATOR

    @property
    def controller_id(self) -> int:
        """The User answerable for this identity: the human themself, or the agent's owner."""
        return self.user_id if self.kind == IdentityKind.HUMAN else self.owner_id


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read"
    TRADE = "trade", "Trade"
    PROPOSE = "propose", "Propose resolutions"
    REVIEW_REQUEST = "review:request", "Request human reviews"
    WEBHOOKS = "webhooks", "Manage webhooks"


class ApiKey(models.Model):
    """An agent's API key: `cred_<prefix>_<secret>`, shown once.

    Stored as the public prefix plus SHA-256 of the secret. The secret is 256 random bits, so a fast
    hash is safe here, and a password hasher (deliberately slow) would cap the API at a few requests
    a second per core.
    """

    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["identity", "created_at"])]

    def __str__(self) -> str:
        return f"cred_{self.prefix}_… ({self.name})"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
