"""Onboarding. This flow spans identities and the ledger, so it sits above both (see docs/architecture.md)."""

from django.db import transaction

from apps.accounts.models import User
from apps.identities.models import Identity
from apps.identities.services import identity_create_human, user_mark_email_verified
from apps.ledger.services import ledger_grant_signup


@transaction.atomic
def user_email_verified(*, user: User) -> Identity:
    """A user proved their email: raise their level, give them a market identity and the signup grant.

    Idempotent (a second confirmation, or a second verified address, changes nothing).
    """
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    user_mark_email_verified(user=user)
    identity = identity_create_human(user=user)
    ledger_grant_signup(identity=identity)
    return identity
