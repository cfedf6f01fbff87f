import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import User, VerificationLevel
from apps.core.errors import Conflict, NotAuthenticated, PermissionDenied, ValidationFailed
from apps.core.rows import RowModel
from apps.core.services import event_emit
from apps.identities.models import ApiKey, ApiKeyScope, AutonomyLevel, Identity, IdentityKind, IdentityStatus

HANDLE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
TOKEN_RE = re.compile(r"^cred_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
# last_used_at is written at most this often per key, so authentication is a read on the hot path.
LAST_USED_RESOLUTION = timedelta(seconds=60)
PROVENANCE_FIELDS = (
    "display_name",
    "description",
    "model_name",
    "provider",
    "model_version",
    "autonomy_level",
    "homepage_url",
    "code_url",
)


class HandleTaken(Conflict):
    code = "handle_taken"
    default_message = "That handle is taken."


class TooManyAgents(Conflict):
    code = "too_many_agents"
    default_message = "You have reached the maximum number of agents."


class EmailNotVerified(PermissionDenied):
    code = "email_not_verified"
    default_message = "Verify your email address first."


class IdentitySuspended(PermissionDenied):
    code = "identity_suspended"
    default_message = "This identity is suspended."


class InvalidApiKey(NotAuthenticated):
    code = "invalid_api_key"
    default_message = "The API key is malformed, unknown, revoked or expired, or its identity is suspended."


def _normalise_handle(handle: str) -> str:
    handle = (handle or "").strip().lower()
    if not HANDLE_RE.match(handle) or "--" in handle:
        raise ValidationFailed(
            "A handle is 3-40 lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit.",
            detail={"field": "handle"},
        )
    return handle


def _free_handle(base: str) -> str:
    """A free handle derived from `base` (used for humans, whose handle is not chosen at signup)."""
    stem = (slugify(base)[:32].strip("-") or "member").ljust(3, "0")
    candidate, n = stem, 1
    while Identity.objects.filter(handle__iexact=candidate).exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


@transaction.atomic
def identity_create_human(*, user: User) -> Identity:
    """The human identity of a user whose email is verified. Idempotent: returns the existing one."""
    existing = Identity.objects.filter(user=user).first()
    if existing is not None:
        return existing
    if not user.is_email_verified:
        raise EmailNotVerified()
    identity = Identity.objects.create(
        kind=IdentityKind.HUMAN,
        user=user,
        handle=_free_handle(user.email.split("@")[0]),
        display_name=user.display_name,
    )
    event_emit(kind="identity.created", subject=f"identity:{identity.pk}", payload={"kind": identity.kind})
    return identity


def _clean_provenance(fields: dict) -> dict:
    unknown = set(fields) - set(PROVENANCE_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown fields.", detail={"fields": sorted(unknown)})
    cleaned = {k: (v or "").strip() if isinstance(v, str) or v is None else v for k, v in fields.items()}
    if "autonomy_level" in cleaned and cleaned["autonomy_level"] not in AutonomyLevel.values:
        raise ValidationFailed(
            "autonomy_level must be one of: " + ", ".join(AutonomyLevel.values), detail={"field": "autonomy_level"}
        )
    for url_field in ("homepage_url", "code_url"):
        url = cleaned.get(url_field)
        if url and not url.startswith(("https://", "http://")):
            raise ValidationFailed("Links must be http(s) URLs.", detail={"field": url_field})
    return cleaned


@transaction.atomic
def agent_create(*, owner: User, handle: str, autonomy_level: str, **provenance) -> Identity:
    """Register an agent for an email-verified owner, within the per-owner maximum."""
    if not owner.is_email_verified:
        raise EmailNotVerified()
    # Lock the owner's human identity so two concurrent creations cannot both pass the limit check.
    human = Identity.objects.select_for_update().filter(user=owner).first()
    if human is None:
        raise EmailNotVerified()
    if not human.is_active:
        raise IdentitySuspended()
    handle = _normalise_handle(handle)
    fields = _clean_provenance({**provenance, "autonomy_level": autonomy_level})
    limit = settings.CREDENCE_MAX_AGENTS_PER_OWNER
    if Identity.objects.filter(owner=owner).count() >= limit:
        raise TooManyAgents(
            f"An owner may register at most {limit} agent{'s' if limit != 1 else ''}.", detail={"limit": limit}
        )
    if Identity.objects.filter(handle__iexact=handle).exists():
        raise HandleTaken()
    try:
        with transaction.atomic():
            agent = Identity.objects.create(kind=IdentityKind.AGENT, owner=owner, handle=handle, **fields)
    except IntegrityError:  # a concurrent registration took the handle between the check and the insert
        raise HandleTaken() from None
    event_emit(
        kind="identity.created",
        subject=f"identity:{agent.pk}",
        payload={"kind": agent.kind},
        actor_identity_id=human.pk,
    )
    return agent


@transaction.atomic
def agent_update(*, agent: Identity, **provenance) -> Identity:
    fields = _clean_provenance(provenance)
    if fields.get("autonomy_level") == "":
        raise ValidationFailed("An agent must declare its autonomy level.", detail={"field": "autonomy_level"})
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.save(update_fields=[*fields, "updated_at"])
    event_emit(kind="identity.updated", subject=f"identity:{agent.pk}", payload={"fields": sorted(fields)})
    return agent


@transaction.atomic
def identity_suspend(*, identity: Identity, reason: str = "") -> Identity:
    """Suspend an identity: its API keys stop working at once (401). Idempotent."""
    if identity.status != IdentityStatus.SUSPENDED:
        identity.status = IdentityStatus.SUSPENDED
        identity.suspended_at = timezone.now()
        identity.suspended_reason = reason[:300]
        identity.save(update_fields=["status", "suspended_at", "suspended_reason", "updated_at"])
        event_emit(kind="identity.suspended", subject=f"identity:{identity.pk}", payload={"reason": reason[:300]})
    return identity


@transaction.atomic
def identity_reactivate(*, identity: Identity) -> Identity:
    if identity.status != IdentityStatus.ACTIVE:
        identity.status = IdentityStatus.ACTIVE
        identity.suspended_at = None
        identity.suspended_reason = ""
        identity.save(update_fields=["status", "suspended_at", "suspended_reason", "updated_at"])
        event_emit(kind="identity.reactivated", subject=f"identity:{identity.pk}")
    return identity


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, agent: Identity, created_by: User, name: str, scopes: list[str], expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key for an agent. Returns the row and the token, which is never stored nor shown again."""
    if agent.kind != IdentityKind.AGENT:
        raise ValidationFailed("API keys belong to agents.")
    # Lock the agent row: a concurrent suspension or key creation waits, and the checks below see
    # the committed state rather than the caller's copy.
    agent = Identity.objects.select_for_update().get(pk=agent.pk)
    if not agent.is_active:
        raise IdentitySuspended()
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationFailed("A key needs a name of 1-80 characters.", detail={"field": "name"})
    unknown = sorted(set(scopes) - set(ApiKeyScope.values))
    if unknown or not scopes:
        raise ValidationFailed(
            "Scopes must be a non-empty subset of: " + ", ".join(ApiKeyScope.values), detail={"unknown": unknown}
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("expires_at must be in the future.", detail={"field": "expires_at"})
    limit = settings.CREDENCE_MAX_KEYS_PER_AGENT
    if ApiKey.objects.filter(identity=agent, revoked_at__isnull=True).count() >= limit:
        raise Conflict(f"An agent may hold at most {limit} active keys.", code="too_many_keys")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        identity=agent,
        name=name,
        prefix=prefix,
        secret_sha256=_hash_secret(secret),
        scopes=sorted(set(scopes)),
        created_by=created_by,
        expires_at=expires_at,
    )
    event_emit(kind="api_key.created", subject=f"identity:{agent.pk}", payload={"key_id": key.pk, "scopes": key.scopes})
    return key, f"cred_{prefix}_{secret}"


@transaction.atomic
def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoke a key. Idempotent: revoking twice keeps the first revocation time."""
    updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    if updated:
        event_emit(kind="api_key.revoked", subject=f"identity:{key.identity_id}", payload={"key_id": key.pk})
    return key


_KEY_ROW, _IDENTITY_ROW = RowModel(ApiKey), RowModel(Identity)
# Every request with a key runs this: written out, because compiling the ORM's version (a join and two
# subqueries for the owner) cost five times running it (docs/performance.md). The owner's human
# identity rides along: its handle is part of an agent's public profile, and a suspended owner's
# agents are suspended with them.
_AUTHENTICATE = (  # column names only are formatted in; the prefix goes as a parameter
    f"SELECT {_KEY_ROW.columns('k')}, {_IDENTITY_ROW.columns('i')}, o.handle, o.status "  # noqa: S608
    "FROM identities_apikey k JOIN identities_identity i ON i.id = k.identity_id "
    "LEFT JOIN identities_identity o ON o.user_id = i.owner_id WHERE k.prefix = %s"
)


def api_key_authenticate(*, token: str) -> ApiKey:
    """The usable key for a token, with its identity loaded; InvalidApiKey otherwise.

    One indexed read by prefix, a constant-time comparison of the secret's hash, and at most one
    write a minute per key to keep last_used_at current.
    """
    match = TOKEN_RE.match(token or "")
    if match is None:
        raise InvalidApiKey()
    prefix, secret = match.groups()
    with connection.cursor() as cursor:
        cursor.execute(_AUTHENTICATE, [prefix])
        row = cursor.fetchone()
    if row is None:
        raise InvalidApiKey()
    split = len(_KEY_ROW)
    key = _KEY_ROW.build(row[:split])
    if not hmac.compare_digest(key.secret_sha256, _hash_secret(secret)):
        raise InvalidApiKey()
    key.identity = _IDENTITY_ROW.build(row[split : split + len(_IDENTITY_ROW)])
    owner_handle, owner_status = row[-2:]
    now = timezone.now()
    if not key.is_usable(now) or not key.identity.is_active or owner_status != IdentityStatus.ACTIVE:
        raise InvalidApiKey()
    key.identity.owner_handle = owner_handle
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def user_mark_email_verified(*, user: User) -> User:
    """Raise an unverified user to email_verified (never lowers a higher level)."""
    if not user.is_email_verified:
        user.verification_level = VerificationLevel.EMAIL_VERIFIED
        user.save(update_fields=["verification_level"])
    return user
