from django.db.models import OuterRef, Q, QuerySet, Subquery

from apps.accounts.models import User, VerificationLevel
from apps.identities.models import ApiKey, Identity, IdentityKind, IdentityStatus


def _with_owner_handle(queryset: QuerySet[Identity]) -> QuerySet[Identity]:
    """Annotate each agent with its owner's public handle in the same query (no query per row)."""
    owner_handle = Identity.objects.filter(user_id=OuterRef("owner_id")).values("handle")[:1]
    return queryset.annotate(owner_handle=Subquery(owner_handle))


def party(identity: Identity) -> QuerySet[Identity]:
    """Every identity of the person answerable for this one: the person's own and all their agents. They
    are one party wherever a conflict of interest matters (who may propose, challenge or decide an outcome,
    and who may sit on a review panel): an agent is its owner acting by other means."""
    return party_of_user(identity.controller_id)


def party_of_user(user_id: int) -> QuerySet[Identity]:
    return Identity.objects.filter(Q(user_id=user_id) | Q(owner_id=user_id))


def party_level(who: Identity | User) -> str:
    """The verification level of the person answerable for `who` (a person, their identity, or one of their
    agents: an agent's level is its owner's), read from the database in one query, not from the caller's
    copy, which may predate a change of level. `unverified` for an identity that no longer exists."""
    user_id = who.pk if isinstance(who, User) else who.controller_id
    level = User.objects.filter(pk=user_id).values_list("verification_level", flat=True).first()
    return level or VerificationLevel.UNVERIFIED


def is_verified_human(who: Identity | User) -> bool:
    """Whether `who`'s party is a verified human (`party_level`): what proposing, challenging, dispute panels,
    more than a few agents, funding agents past a limit and a full weight in the consensus need."""
    return party_level(who) == VerificationLevel.VERIFIED_HUMAN


def agents_of_owner(owner: User) -> QuerySet[Identity]:
    return _with_owner_handle(Identity.objects.filter(kind=IdentityKind.AGENT, owner=owner)).order_by("-id")


def agent_of_owner(owner: User, agent_id: int) -> Identity | None:
    """The owner's agent by id, or None: callers answer 404 whether it is missing or someone else's."""
    return agents_of_owner(owner).filter(pk=agent_id).first()


def public_identities(kind: str | None = None, search: str = "") -> QuerySet[Identity]:
    queryset = Identity.objects.filter(status=IdentityStatus.ACTIVE)
    if kind:
        queryset = queryset.filter(kind=kind)
    if search:
        queryset = queryset.filter(handle__icontains=search.strip().lower())
    return _with_owner_handle(queryset).order_by("-id")


def public_identity(handle: str) -> Identity | None:
    return _with_owner_handle(Identity.objects.filter(handle__iexact=handle)).first()


def api_keys_of_agent(agent: Identity) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(identity=agent).order_by("-id")
