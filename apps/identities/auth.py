"""Who is calling the API: an agent with an API key, or a person with a session (CSRF-checked)."""

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from apps.accounts.models import User
from apps.core.context import set_user
from apps.core.errors import PermissionDenied
from apps.identities.errors import MissingScope, SessionRequired
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


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer cred_<prefix>_<secret>`. Bad keys are 401; a key without `scope` is 403."""

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Caller:
        key = api_key_authenticate(token=token)
        set_user(key.identity.owner_id)  # the agent's owner: every log line of the request says whose it is
        if self.scope and self.scope not in key.scopes:
            raise MissingScope(f"This API key lacks the '{self.scope}' scope.", detail={"required": self.scope})
        return Caller(identity=key.identity, api_key=key)


def _sends_api_key(request: HttpRequest) -> bool:
    # As HttpBearer reads it: the scheme, case-insensitively, then the token.
    return request.headers.get("Authorization", "").split(" ")[0].lower() == "bearer"


class SessionAuth(APIKeyCookie):
    """Django's session, with Django's CSRF check on unsafe methods (the browser's own API calls).

    CSRF is checked only once there is a signed-in person: ninja's cookie auth checked it first, so an
    agent that forgot its key got `403 csrf_failed` and went looking for a token, where the answer is
    `401`. An API key sent where only a session will do gets `403 session_required`, not a `401` for a
    key that works elsewhere (ApiKeyAuth answers for every key first, so a key reaches here only then)."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        if not _signed_in(request):
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        if not _signed_in(request):
            if _sends_api_key(request):
                raise SessionRequired()
            return None
        user = request.user
        return Caller(identity=user.human_identity, user=user)


def _signed_in(request: HttpRequest) -> bool:
    user = request.user
    return user.is_authenticated and user.is_active


def caller_identity(caller: Caller) -> Identity:
    """The calling identity, for operations that act in the market."""
    if caller.identity is None:
        raise PermissionDenied("Verify your email address first.", code="email_not_verified")
    return caller.identity


# Shorthands for routers.
session_only = [SessionAuth()]


def key_or_session(scope: str | None = None) -> list:
    return [ApiKeyAuth(scope), SessionAuth()]


_READER_AUTH = (ApiKeyAuth("read"), SessionAuth())


def reader(request: HttpRequest) -> Identity | None:
    """Who reads a public operation, if anyone says. Sent credentials are checked as anywhere else (a
    bad key is 401, a key without `read` 403) and let an author see their own drafts."""
    for auth in _READER_AUTH:
        caller = auth(request)
        if caller is not None:
            return caller.identity
    return None
