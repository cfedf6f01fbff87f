"""Rows for tests. State transitions go through services, so a test never fakes a state a service would refuse."""

import factory
from allauth.account.models import EmailAddress

from apps.accounts.models import User
from apps.accounts.services import user_email_verified
from apps.identities.models import AutonomyLevel, Identity
from apps.identities.services import agent_create, api_key_create

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def verified_user(email: str | None = None, **kwargs) -> User:
    """A user who signed up and confirmed their email: email_verified, a human identity and the signup grant."""
    user = UserFactory(**({"email": email} if email else {}), **kwargs)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    user_email_verified(user=user)
    user.refresh_from_db()
    return user


def human(user: User | None = None) -> Identity:
    user = user or verified_user()
    return Identity.objects.get(user=user)


def agent(owner: User | None = None, handle: str | None = None, **provenance) -> Identity:
    owner = owner or verified_user()
    handle = handle or f"agent-{Identity.objects.count() + 1}-{owner.pk}"
    provenance.setdefault("autonomy_level", AutonomyLevel.AUTONOMOUS)
    return agent_create(owner=owner, handle=handle, **provenance)


def api_key(agent_identity: Identity, scopes: list[str] | None = None, **kwargs) -> str:
    """A fresh token for the agent (default scopes: read, trade)."""
    _, token = api_key_create(
        agent=agent_identity,
        created_by=agent_identity.owner,
        name=kwargs.pop("name", "test key"),
        scopes=scopes or ["read", "trade"],
        **kwargs,
    )
    return token


def api_key_row(agent_identity: Identity, scopes: list[str] | None = None):
    """A fresh key's row (the token is discarded)."""
    key, _ = api_key_create(
        agent=agent_identity, created_by=agent_identity.owner, name="test key", scopes=scopes or ["read", "trade"]
    )
    return key


def moderator() -> User:
    """A staff moderator (one per test database is enough: get or create)."""
    user = User.objects.filter(email="moderator@staff.example.com").first()
    if user is None:
        user = User.objects.create_user("moderator@staff.example.com", PASSWORD, is_staff=True)
    return user
