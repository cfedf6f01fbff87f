import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import User, VerificationLevel
from apps.core import events
from apps.core.audit import audit_record, audit_unchanged, audited, fields_of, staff_require
from apps.core.errors import Conflict, DateConflict, NotFound, ValidationFailed
from apps.core.rows import RowModel
from apps.core.services import event_emit, moderation_reason
from apps.identities.errors import (
    EmailNotVerified,
    HandleTaken,
    IdentitySuspended,
    InvalidApiKey,
    SuspendedByModerator,
    TooManyAgents,
    VerificationRequired,
)
from apps.identities.models import (
    ApiKey,
    ApiKeyScope,
    AutonomyLevel,
    Identity,
    IdentityKind,
    IdentityStatus,
    SuspendedAs,
)
from apps.identities.selectors import is_verified_human

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
    event_emit(kind=events.IDENTITY_CREATED.name, subject=f"identity:{identity.pk}", payload={"kind": identity.kind})
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


def identity_require_active(identity: Identity) -> None:
    """Refuse (IdentitySuspended) an identity that is suspended now, or whose owner is: read from the
    database in one query, not from the caller's copy, which may predate a moderator's suspension."""
    owner_status = Identity.objects.filter(user_id=OuterRef("owner_id")).values("status")[:1]
    statuses = (
        Identity.objects.filter(pk=identity.pk)
        .annotate(owner_status=Subquery(owner_status))
        .values_list("status", "owner_status")
        .first()
    )
    if statuses is None or any(status not in (None, IdentityStatus.ACTIVE) for status in statuses):
        raise IdentitySuspended()


def identity_require_verified_human(who: Identity | User, *, what: str, detail: dict | None = None) -> None:
    """Refuse (VerificationRequired) unless `who`'s party is a verified human (an agent's level is its
    owner's), read from the database (`selectors.party_level`). `what` names what is locked, as a person
    reads it ("Proposing an outcome"); the refusal says where to verify."""
    if not is_verified_human(who):
        raise VerificationRequired.needed_for(what, detail=detail)


def _lock_owner(owner: User) -> Identity:
    """Lock the owner's human identity, the first lock of every change an owner makes to their agents:
    concurrent changes by one owner (and a moderator suspending the owner) are serial. FOR NO KEY UPDATE,
    not FOR UPDATE: a trade's inserts take KEY SHARE on the identity row, which FOR UPDATE would block
    (and, with the trade holding the wallet this transaction wants next, deadlock)."""
    if not owner.is_email_verified:
        raise EmailNotVerified()
    human = Identity.objects.select_for_update(no_key=True).filter(user=owner).first()
    if human is None:
        raise EmailNotVerified()
    if not human.is_active:
        raise IdentitySuspended("Your identity is suspended: you cannot change your agents.")
    return human


def owned_agent_lock(*, owner: User, agent: Identity) -> Identity:
    """The agent, locked and re-read, after its owner (see _lock_owner), for a change the owner makes:
    someone else's agent is NotFound, and an owner who is suspended changes nothing (IdentitySuspended).
    Call it inside the transaction of the change."""
    if agent.kind != IdentityKind.AGENT or agent.owner_id != owner.pk:
        raise NotFound("No such agent.")
    _lock_owner(owner)
    return Identity.objects.select_for_update(no_key=True).get(pk=agent.pk)


def _owner_reason(reason: str) -> str:
    """An owner's optional reason for pausing their agent (a moderator's is required: moderation_reason)."""
    reason = (reason or "").strip()
    if len(reason) > 500:
        raise ValidationFailed("A reason of 0-500 characters is required.", detail={"field": "reason"})
    return reason


@transaction.atomic
def agent_create(*, owner: User, handle: str, autonomy_level: str, **provenance) -> Identity:
    """Register an agent for an email-verified owner, within the per-owner maximum (a lower one,
    CREDENCE_UNVERIFIED_MAX_AGENTS, for an owner who is not a verified human)."""
    # The owner's lock makes two concurrent creations serial, so both cannot pass the limit check.
    human = _lock_owner(owner)
    handle = _normalise_handle(handle)
    fields = _clean_provenance({**provenance, "autonomy_level": autonomy_level})
    limit = settings.CREDENCE_MAX_AGENTS_PER_OWNER
    owned = Identity.objects.filter(owner=owner).count()
    if owned >= limit:
        raise TooManyAgents(
            f"An owner may register at most {limit} agent{'s' if limit != 1 else ''}.", detail={"limit": limit}
        )
    # Agents are cheap to make: past a few, only a verified person may own more (an unverified swarm's
    # weight is also cut in the consensus). The level is read only past that point.
    unverified_limit = settings.CREDENCE_UNVERIFIED_MAX_AGENTS
    if owned >= unverified_limit:
        identity_require_verified_human(
            owner,
            what=f"Owning more than {unverified_limit} agent{'s' if unverified_limit != 1 else ''}",
            detail={"limit": unverified_limit},
        )
    if Identity.objects.filter(handle__iexact=handle).exists():
        raise HandleTaken()
    try:
        with transaction.atomic():
            agent = Identity.objects.create(kind=IdentityKind.AGENT, owner=owner, handle=handle, **fields)
    except IntegrityError:  # a concurrent registration took the handle between the check and the insert
        raise HandleTaken() from None
    event_emit(
        kind=events.IDENTITY_CREATED.name,
        subject=f"identity:{agent.pk}",
        payload={"kind": agent.kind},
        actor_identity_id=human.pk,
    )
    return agent


@transaction.atomic
def agent_update(*, owner: User, agent: Identity, **provenance) -> Identity:
    """The owner changes their agent's declared provenance."""
    fields = _clean_provenance(provenance)
    if fields.get("autonomy_level") == "":
        raise ValidationFailed("An agent must declare its autonomy level.", detail={"field": "autonomy_level"})
    agent = owned_agent_lock(owner=owner, agent=agent)
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.save(update_fields=[*fields, "updated_at"])
    event_emit(kind=events.IDENTITY_UPDATED.name, subject=f"identity:{agent.pk}", payload={"fields": sorted(fields)})
    return agent


@transaction.atomic
def agent_supervision_set(*, owner: User, agent: Identity, review_orders_above: int | None) -> Identity:
    """The owner says which of their supervised agent's orders wait for their review: those that may spend
    more than `review_orders_above` micro-credits (None: every order)."""
    if review_orders_above is not None and review_orders_above < 0:
        raise ValidationFailed(
            "The threshold is a number of micro-credits, 0 or more.", detail={"field": "review_orders_above"}
        )
    agent = owned_agent_lock(owner=owner, agent=agent)
    agent.review_orders_above = review_orders_above
    agent.save(update_fields=["review_orders_above", "updated_at"])
    event_emit(
        kind=events.IDENTITY_UPDATED.name, subject=f"identity:{agent.pk}", payload={"fields": ["review_orders_above"]}
    )
    return agent


def _suspend(identity: Identity, *, by: User, suspended_as: str, reason: str) -> Identity:
    identity.status = IdentityStatus.SUSPENDED
    identity.suspended_at = timezone.now()
    identity.suspended_as = suspended_as
    identity.suspended_by = by
    identity.suspended_reason = reason
    identity.save(
        update_fields=["status", "suspended_at", "suspended_as", "suspended_by", "suspended_reason", "updated_at"]
    )
    event_emit(
        kind=events.IDENTITY_SUSPENDED.name,
        subject=f"identity:{identity.pk}",
        payload={"reason": reason, "by": suspended_as},
    )
    return identity


SUSPENSION_FIELDS = ("status", "suspended_at", "suspended_as", "suspended_by", "suspended_reason")


def _reactivate(identity: Identity) -> Identity:
    identity.status = IdentityStatus.ACTIVE
    identity.suspended_at = None
    identity.suspended_as = ""
    identity.suspended_by = None
    identity.suspended_reason = ""
    identity.save(
        update_fields=["status", "suspended_at", "suspended_as", "suspended_by", "suspended_reason", "updated_at"]
    )
    event_emit(kind=events.IDENTITY_REACTIVATED.name, subject=f"identity:{identity.pk}")
    return identity


@transaction.atomic
def agent_suspend(*, owner: User, agent: Identity, reason: str = "") -> Identity:
    """The owner suspends their agent: its API keys stop working at once (401). Idempotent, and a
    moderator's suspension stays the moderator's (the owner cannot turn it into one they may lift)."""
    reason = _owner_reason(reason)
    agent = owned_agent_lock(owner=owner, agent=agent)
    if agent.is_active:
        _suspend(agent, by=owner, suspended_as=SuspendedAs.OWNER, reason=reason)
    return agent


@transaction.atomic
def agent_reactivate(*, owner: User, agent: Identity) -> Identity:
    """The owner lifts their own suspension of their agent; a moderator's is the moderator's to lift."""
    agent = owned_agent_lock(owner=owner, agent=agent)
    if agent.suspended_by_moderator:
        raise SuspendedByModerator()
    if not agent.is_active:
        _reactivate(agent)
    return agent


@audited
def identity_suspend(*, identity: Identity, moderator: User, reason: str) -> Identity:
    """A moderator suspends an identity (a person, whose agents then stop too, or an agent), with the
    reason on record. It replaces an owner's suspension of the agent: now only staff may lift it."""
    staff_require(moderator, what="suspend an identity")
    reason = moderation_reason(reason)
    identity = Identity.objects.select_for_update(no_key=True).get(pk=identity.pk)
    if identity.suspended_by_moderator:
        audit_unchanged()
        return identity
    before = fields_of(identity, SUSPENSION_FIELDS)
    _suspend(identity, by=moderator, suspended_as=SuspendedAs.MODERATOR, reason=reason)
    audit_record(
        actor=moderator,
        action="identity.suspend",
        obj=identity,
        before=before,
        after=fields_of(identity, SUSPENSION_FIELDS),
        reason=reason,
    )
    return identity


@audited
def identity_reactivate(*, identity: Identity, moderator: User, reason: str = "") -> Identity:
    """A moderator lifts a suspension (a moderator's or an owner's), saying why."""
    staff_require(moderator, what="lift a suspension")
    reason = moderation_reason(reason)
    identity = Identity.objects.select_for_update(no_key=True).get(pk=identity.pk)
    if identity.is_active:
        audit_unchanged()
        return identity
    before = fields_of(identity, SUSPENSION_FIELDS)
    _reactivate(identity)
    audit_record(
        actor=moderator,
        action="identity.reactivate",
        obj=identity,
        before=before,
        after=fields_of(identity, SUSPENSION_FIELDS),
        reason=reason,
    )
    return identity


@audited
def api_keys_revoke_all(*, agent: Identity, moderator: User, reason: str) -> int:
    """A moderator revokes every key of an agent at once (each stops at once: 401); returns how many were
    still usable. Its owner may make new ones, unless the agent is suspended too."""
    staff_require(moderator, what="revoke an agent's keys")
    reason = moderation_reason(reason)
    if agent.kind != IdentityKind.AGENT:
        raise ValidationFailed("Only an agent has API keys.")
    agent = Identity.objects.select_for_update(no_key=True).get(pk=agent.pk)
    live = list(
        ApiKey.objects.filter(identity=agent, revoked_at__isnull=True).order_by("pk").values_list("pk", flat=True)
    )
    if not live:
        audit_unchanged()
        return 0
    ApiKey.objects.filter(pk__in=live).update(revoked_at=timezone.now())
    for key_id in live:
        event_emit(kind=events.API_KEY_REVOKED.name, subject=f"identity:{agent.pk}", payload={"key_id": key_id})
    audit_record(
        actor=moderator,
        action="identity.revoke_keys",
        obj=agent,
        before={"live_keys": live},
        after={"live_keys": []},
        reason=reason,
    )
    return len(live)


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, agent: Identity, created_by: User, name: str, scopes: list[str], expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key for an agent. Returns the row and the token, which is never stored nor shown again."""
    if agent.kind != IdentityKind.AGENT:
        raise ValidationFailed("API keys belong to agents.")
    # Lock the owner, then the agent: a concurrent suspension or key creation waits, and the checks
    # below see the committed state rather than the caller's copy.
    agent = owned_agent_lock(owner=created_by, agent=agent)
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
        raise DateConflict("expires_at must be in the future.", detail={"field": "expires_at"})
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
    event_emit(
        kind=events.API_KEY_CREATED.name,
        subject=f"identity:{agent.pk}",
        payload={"key_id": key.pk, "scopes": key.scopes},
    )
    return key, f"cred_{prefix}_{secret}"


@transaction.atomic
def api_key_revoke(*, key: ApiKey, by: User) -> ApiKey:
    """Revoke a key: its agent's owner, or a moderator (by=staff: on the audit trail, as any staff action
    is). Idempotent: revoking twice keeps the first revocation time."""
    if not (by.is_staff and by.is_active):  # moderation: staff may revoke any key
        owned_agent_lock(owner=by, agent=key.identity)
    updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    if updated:
        event_emit(kind=events.API_KEY_REVOKED.name, subject=f"identity:{key.identity_id}", payload={"key_id": key.pk})
        if key.identity.owner_id != by.pk:
            audit_record(
                actor=by,
                action="api_key.revoke",
                obj=key,
                before={"revoked_at": None},
                after={"revoked_at": key.revoked_at},
            )
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
    """The usable key for a token, with its identity loaded; InvalidApiKey otherwise. Every keyed request
    runs it: one indexed read, and a write (last_used_at) at most once a minute per key."""
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
