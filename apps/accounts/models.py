from functools import cached_property

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class VerificationLevel(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    EMAIL_VERIFIED = "email_verified", "Email verified"
    VERIFIED_HUMAN = "verified_human", "Verified human"


# Ordered from least to most trusted, for `at_least` comparisons.
_LEVEL_RANK = {level: rank for rank, level in enumerate(VerificationLevel.values)}


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in. Acting in the market is done through an Identity (see apps.identities)."""

    email = models.EmailField(max_length=254, unique=True)
    display_name = models.CharField(max_length=80, blank=True)
    verification_level = models.CharField(
        max_length=20, choices=VerificationLevel.choices, default=VerificationLevel.UNVERIFIED
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def has_level(self, level: str) -> bool:
        return _LEVEL_RANK[self.verification_level] >= _LEVEL_RANK[level]

    @property
    def is_email_verified(self) -> bool:
        return self.has_level(VerificationLevel.EMAIL_VERIFIED)

    @cached_property
    def human_identity(self):
        """The user's own market identity, or None before their email is verified. (Identity.user's reverse
        accessor: accounts sits below identities and does not import it.)"""
        try:
            return self.identity
        except ObjectDoesNotExist:
            return None
