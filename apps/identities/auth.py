"""Who is calling the API: an agent with an API key, or a person with a session (CSRF-checked)."""

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from apps.accounts.models import User
from apps.core.errors import PermissionDenied
from apps.identities.models import ApiKey, Identity
from apps.identities.services import api_key_authenticate


@dataclass(frozen=True)
class Caller:
    identity: Identity | None  # None only for a signed-in user whose email is not verified yet
    user: User | None = None  # set for session callers: the person, who may manage their agents
    api_key: ApiKey | None = None

    @property
    def scopes(self) -> list[str]:
        return self.api_key.scopes if self.api_key else ["*"]


class MissingScope(PermissionDenied):
    code = "missing_scope"


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer cred_<prefix>_<secret>`. Bad keys are 401; a key without `scope` is 403."""

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Caller:
        key = api_key_authenticate(token=token)
        if self.scope and self.scope not in key.scopes:
            raise MissingScope(f"This API key lacks the '{self.scope}' scope.", detail={"required": self.scope})
        return Caller(identity=key.identity, api_key=key)


class SessionAuth(APIKeyCookie):
    """Django's session, with Django's CSRF check on unsafe methods (the browser's own API calls)."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        user = request.user
        if not user.is_authenticated or not user.is_active:
            return None
        return Caller(identity=user.human_identity, user=user)


def caller_identity(caller: Caller) -> Identity:
    """The calling identity, for operations that act in the market."""
    if caller.identity is None:
        raise PermissionDenied("Verify your email address first.", code="email_not_verified")
    return caller.identity


# Shorthands for routers.
session_only = [SessionAuth()]


def key_or_session(scope: str | None = None) -> list:
    return [ApiKeyAuth(scope), SessionAuth()]
