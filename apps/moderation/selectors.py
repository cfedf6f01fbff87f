"""Reads of moderation: what the pages, the admin and the API show."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import CharField, Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Concat

from apps.accounts.models import User
from apps.core.errors import NotFound
from apps.core.models import AuditEntry
from apps.identities.models import ApiKey, Identity
from apps.ledger.models import Account, AccountKind
from apps.markets.models import Claim, Clarification
from apps.moderation.models import (
    Appeal,
    AppealStatus,
    Flag,
    FlagReason,
    FlagStatus,
    ModerationAction,
    Target,
)
from apps.reputation.models import Belief
from apps.reviews.models import AssignmentState, RequestState, ReviewAssignment


def flags_of(identity: Identity) -> QuerySet[Flag]:
    """The flags `identity` raised, newest first."""
    return Flag.objects.filter(flagger=identity).order_by("-id")


def _actions() -> QuerySet[ModerationAction]:
    undone = ModerationAction.objects.filter(reverses=OuterRef("pk"))
    return ModerationAction.objects.select_related("appeal").annotate(undone=Exists(undone))


def actions_about(user: User) -> QuerySet[ModerationAction]:
    """Moderators' actions about `user` (their content, their identity, their agents), newest first, each with its
    appeal and whether a later action undid it: one query."""
    return _actions().filter(party=user).order_by("-id")


def action_for(user: User, action_id: int) -> ModerationAction:
    """One action, for the person it is about or staff; NotFound for anyone else (as for an id that does not exist)."""
    action = _actions().filter(pk=action_id).first()
    if action is None or not (action.party_id == user.pk or (user.is_staff and user.is_active)):
        raise NotFound("No such moderation action.")
    return action


# --- The moderation pages (apps/web/views/moderation.py) ------------------------------------------------

QUEUE_SHOWN = 50
MODELS = {Target.CLAIM: Claim, Target.CLARIFICATION: Clarification, Target.BELIEF: Belief, Target.IDENTITY: Identity}
# The reviews of the two moderation checkpoints (apps.moderation.services.FLAG and APPEAL).
CHECKPOINTS = ("moderation.flag", "moderation.appeal")


def audit_type(target_type: str) -> str:
    """How the audit trail names a target's model ("reputation.belief")."""
    return MODELS[target_type]._meta.label_lower


@dataclass
class FlagGroup:
    """The open flags on one target, as the queue lists them."""

    target_type: str
    target_id: int
    flags: int
    in_review: int  # of them, how many a moderator holds now
    oldest: datetime
    label: str = ""  # what the target was called when flagged ("@ann's rationale on “...”")
    reasons: list[tuple[str, int]] = field(default_factory=list)  # (the reason's label, how many flags give it)


def flag_queue(*, limit: int = QUEUE_SHOWN) -> tuple[int, int, list[FlagGroup]]:
    """The open flags grouped by what they are about, the group with the oldest flag first: (targets flagged,
    open flags, the first `limit` groups with their reasons). Three queries whatever the number of flags; the
    labels are those the flags' reviews were opened with, so no query per kind of target either."""
    open_flags = Flag.objects.filter(status=FlagStatus.OPEN)
    pair = Concat("target_type", Value(":"), Cast("target_id", CharField()))
    totals = open_flags.aggregate(targets=Count(pair, distinct=True), flags=Count("id"))
    rows = (
        open_flags.values("target_type", "target_id")
        .annotate(
            flags=Count("id"),
            oldest=Min("created_at"),
            in_review=Count("id", filter=Q(review__state=RequestState.ASSIGNED)),
        )
        .order_by("oldest", "target_type", "target_id")[:limit]
    )
    groups = {(row["target_type"], row["target_id"]): FlagGroup(**row) for row in rows}
    if groups:
        ids_by_type = defaultdict(list)
        for target_type, target_id in groups:
            ids_by_type[target_type].append(target_id)
        which = Q()
        for target_type, ids in ids_by_type.items():
            which |= Q(target_type=target_type, target_id__in=ids)
        reasons = (
            open_flags.filter(which)
            .values("target_type", "target_id", "reason")
            .annotate(n=Count("id"), label=Max(KeyTextTransform("target", "review__payload")))
            .order_by("target_type", "target_id", "-n", "reason")
        )
        for row in reasons:
            group = groups[row["target_type"], row["target_id"]]
            group.reasons.append((FlagReason(row["reason"]).label, row["n"]))
            group.label = group.label or row["label"] or ""
    return totals["targets"], totals["flags"], list(groups.values())


def appeal_queue(*, limit: int = QUEUE_SHOWN) -> tuple[int, list[Appeal]]:
    """The appeals waiting for a moderator, oldest first, with their actions, appellants and reviews (whose
    payload names the target): two queries."""
    waiting = Appeal.objects.filter(status=AppealStatus.OPEN)
    rows = waiting.select_related("action__moderator", "appellant", "review").order_by("id")[:limit]
    return waiting.count(), list(rows)


def moderation_leases(reviewer: Identity, *, now: datetime) -> list[ReviewAssignment]:
    """The reviewer's running leases on flags and appeals, soonest to expire first: one query."""
    return list(
        ReviewAssignment.objects.filter(
            reviewer=reviewer,
            state=AssignmentState.LEASED,
            lease_expires_at__gt=now,
            request__checkpoint__in=CHECKPOINTS,
        )
        .select_related("request")
        .order_by("lease_expires_at", "id")
    )


def _live_keys() -> Subquery:
    keys = ApiKey.objects.filter(identity=OuterRef("pk"), revoked_at__isnull=True).order_by()
    return Subquery(keys.values("identity").annotate(n=Count("id")).values("n")[:1])


def target_detail(target_type: str, target_id: int):
    """The flagged or moderated object in full (hidden or not), with what its moderation page shows beside it,
    in one query; None when there is no such object. A claim comes with its author, domain and market (its trade
    count says whether it may still be edited); a clarification and a belief with their claim; an identity with
    its wallet's freeze, its live API keys (an agent) or its agents (a person), and its owner's handle."""
    if target_type == Target.CLAIM:
        return Claim.objects.select_related("author", "domain", "market").filter(pk=target_id).first()
    if target_type == Target.CLARIFICATION:
        return Clarification.objects.select_related("claim__author").filter(pk=target_id).first()
    if target_type == Target.BELIEF:
        return Belief.objects.select_related("claim", "identity").filter(pk=target_id).first()
    if target_type == Target.IDENTITY:
        wallet = Account.objects.filter(kind=AccountKind.WALLET, identity=OuterRef("pk"))
        agents = Identity.objects.filter(owner_id=OuterRef("user_id")).order_by()
        return (
            Identity.objects.filter(pk=target_id)
            .annotate(
                frozen_at=Subquery(wallet.values("frozen_at")[:1]),
                frozen_reason=Subquery(wallet.values("frozen_reason")[:1]),
                live_keys=_live_keys(),
                agent_count=Subquery(agents.values("owner_id").annotate(n=Count("id")).values("n")[:1]),
                owner_handle=F("owner__identity__handle"),
            )
            .first()
        )
    return None


def _as_text(queryset: QuerySet) -> QuerySet:
    """Ids as the audit trail stores them (text), for `object_id__in`."""
    return queryset.order_by().annotate(as_text=Cast("pk", CharField())).values("as_text")


def target_trail(target_type: str, target_id: int) -> list[AuditEntry]:
    """The audit trail of a target, oldest first, in one query: the entries on the object itself, on the
    moderation actions taken on it and the flags dismissed on it, and for an identity on its wallet (freezes) and
    its API keys (revocations)."""
    on_target = {"target_type": target_type, "target_id": target_id}
    trail = Q(object_type=audit_type(target_type), object_id=str(target_id))
    trail |= Q(
        object_type="moderation.moderationaction",
        object_id__in=_as_text(ModerationAction.objects.filter(**on_target)),
    )
    trail |= Q(object_type="moderation.flag", object_id__in=_as_text(Flag.objects.filter(**on_target)))
    if target_type == Target.IDENTITY:
        wallets = Account.objects.filter(identity_id=target_id, kind=AccountKind.WALLET)
        trail |= Q(object_type="ledger.account", object_id__in=_as_text(wallets))
        trail |= Q(
            object_type="identities.apikey", object_id__in=_as_text(ApiKey.objects.filter(identity_id=target_id))
        )
    return list(AuditEntry.objects.filter(trail).order_by("id"))


def target_actions(target_type: str, target_id: int) -> list[ModerationAction]:
    """The moderators' actions on a target, oldest first, each with its moderator, its appeal and whether a later
    action undid it: one query."""
    actions = _actions().filter(target_type=target_type, target_id=target_id).select_related("moderator")
    return list(actions.order_by("id"))


def target_flags(target_type: str, target_id: int) -> list[Flag]:
    """Every flag on a target (open and decided), oldest first, with its flagger and the action that upheld it."""
    flags = Flag.objects.filter(target_type=target_type, target_id=target_id)
    return list(flags.select_related("flagger", "action").order_by("id"))


@dataclass(frozen=True)
class FlaggerRecord:
    """How the flags an identity raised ended."""

    raised: int
    upheld: int
    dismissed: int
    open: int


def flagger_records(flagger_ids: list[int]) -> dict[int, FlaggerRecord]:
    """Each flagger's record, in one query whatever their number."""
    counts: dict[int, dict[str, int]] = {pk: {} for pk in flagger_ids}
    rows = Flag.objects.filter(flagger_id__in=flagger_ids).values("flagger_id", "status").annotate(n=Count("id"))
    for row in rows.order_by():
        counts[row["flagger_id"]][row["status"]] = row["n"]
    return {
        pk: FlaggerRecord(
            raised=sum(by_status.values()),
            upheld=by_status.get(FlagStatus.UPHELD, 0),
            dismissed=by_status.get(FlagStatus.DISMISSED, 0),
            open=by_status.get(FlagStatus.OPEN, 0),
        )
        for pk, by_status in counts.items()
    }


def flags_of_party(user: User) -> QuerySet[Flag]:
    """The flags a person and their agents raised, newest first, with the flagger, the action that upheld it and
    the review (whose payload names the target as it was called when flagged)."""
    identities = Identity.objects.filter(Q(user=user) | Q(owner=user))
    return Flag.objects.filter(flagger__in=identities).select_related("flagger", "action", "review").order_by("-id")


def action_latest_on(
    user: User, target_type: str, target_id: int, *, kinds: tuple[str, ...] = ()
) -> ModerationAction | None:
    """The latest action on a target that `user` is the party to (what hid their rationale, of `kinds` if given:
    what froze their wallet), or None."""
    actions = ModerationAction.objects.filter(party=user, target_type=target_type, target_id=target_id)
    if kinds:
        actions = actions.filter(kind__in=kinds)
    return actions.order_by("-id").first()


@dataclass(frozen=True)
class Standing:
    """An identity's wallet balance and what moderators hold against it now: a suspension, a frozen wallet. The
    pages link each to `moderation-why` (the latest such action about the person, where they may appeal), so
    reading it costs no query more."""

    identity_id: int
    balance: int
    suspended_by_moderator: bool
    suspended_reason: str
    frozen: bool
    frozen_reason: str


def standing_of(identity: Identity) -> Standing:
    """The identity's standing (above) in one query, the wallet's row: the navigation's balance reads it too, so
    every page can say that a wallet is frozen without a query more. The suspension is the identity's own, as
    loaded for this request."""
    row = (
        Account.objects.filter(kind=AccountKind.WALLET, identity=identity)
        .values_list("balance", "frozen_at", "frozen_reason")
        .first()
    )
    balance, frozen_at, frozen_reason = row or (0, None, "")
    return Standing(
        identity_id=identity.pk,
        balance=balance,
        suspended_by_moderator=identity.suspended_by_moderator,
        suspended_reason=identity.suspended_reason,
        frozen=frozen_at is not None,
        frozen_reason=frozen_reason,
    )
