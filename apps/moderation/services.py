"""Flags, moderators' actions, appeals.

- `flag_create`: anyone signed in flags a claim, a clarification, a belief's rationale or an identity. The flag
  is a `moderation.flag` review request in the staff pool: the queue, its leases, timeouts (escalation) and
  decisions are the reviews app's. A moderator who is a party to the target (its author, or their agents'
  owner) is never offered it.
- `moderation_act`: one service for every action (hide, restore, edit, clarify, void, suspend, suspend a person
  with all their agents, lift a suspension, revoke an agent's keys, freeze, unfreeze). Each calls the one
  service of the app that owns the state (`content_hide` in core, `identity_suspend`, `wallet_freeze`,
  `claim_void`, ...), which checks for staff and writes the audit entry in the same transaction; this one adds
  the ModerationAction row the person affected reads, tells them why, and settles the open flags on the target.
- `appeal_file`: the person affected appeals an action once; the `moderation.appeal` request goes to the staff
  pool with the moderator who acted excluded, so another moderator decides. Granted undoes the action (as
  that moderator, on the audit trail); denied keeps it, with the reason.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.audit import audit_record, audited, counting, staff_require
from apps.core.errors import NotFound, PermissionDenied, ValidationFailed
from apps.core.services import content_hide, moderation_reason
from apps.identities.errors import IdentitySuspended
from apps.identities.models import Identity, IdentityKind, SuspendedAs
from apps.identities.services import api_keys_revoke_all, identity_reactivate, identity_require_active, identity_suspend
from apps.ledger.services import wallet_freeze
from apps.markets import selectors as markets
from apps.markets.models import Claim, Clarification
from apps.markets.resolution import claim_void
from apps.markets.services import claim_clarify_as_moderator, claim_moderate_edit
from apps.moderation.errors import AlreadyAppealed, AlreadyFlagged, FlagRateLimited, NotAppealable, NothingToChange
from apps.moderation.models import (
    REVERSAL,
    ActionKind,
    Appeal,
    AppealStatus,
    Flag,
    FlagReason,
    FlagStatus,
    ModerationAction,
    Target,
)
from apps.realtime.models import NotificationKind
from apps.realtime.services import notification_send
from apps.reputation.models import Belief
from apps.reviews import checkpoints
from apps.reviews import services as reviews
from apps.reviews.models import (
    AssignmentState,
    Decision,
    Pool,
    RequestState,
    ReviewAssignment,
    ReviewRequest,
    TimeoutAction,
)

log = logging.getLogger(__name__)

FLAG = "moderation.flag"
APPEAL = "moderation.appeal"
NOTE_MAX, STATEMENT_MIN, STATEMENT_MAX = 1000, 10, 2000

# Which actions apply to which kind of target.
ACTIONS_FOR = {
    Target.CLAIM: (ActionKind.HIDE, ActionKind.RESTORE, ActionKind.EDIT, ActionKind.CLARIFY, ActionKind.VOID),
    Target.CLARIFICATION: (ActionKind.HIDE, ActionKind.RESTORE),
    Target.BELIEF: (ActionKind.HIDE, ActionKind.RESTORE),
    Target.IDENTITY: (
        ActionKind.SUSPEND,
        ActionKind.SUSPEND_PARTY,
        ActionKind.REACTIVATE,
        ActionKind.REVOKE_KEYS,
        ActionKind.FREEZE,
        ActionKind.UNFREEZE,
    ),
}
# What the person affected is told was done ("Moderators hid your rationale on ...").
VERBS = {
    ActionKind.HIDE: "hid",
    ActionKind.RESTORE: "restored",
    ActionKind.EDIT: "edited",
    ActionKind.CLARIFY: "added a clarification to",
    ActionKind.VOID: "voided",
    ActionKind.SUSPEND: "suspended",
    ActionKind.SUSPEND_PARTY: "suspended, with all your agents,",
    ActionKind.REACTIVATE: "lifted the suspension of",
    ActionKind.REVOKE_KEYS: "revoked every API key of",
    ActionKind.FREEZE: "froze the wallet of",
    ActionKind.UNFREEZE: "unfroze the wallet of",
}


def _party_conflicts(request: ReviewRequest) -> set[int]:
    return {request.payload["party"]}


def _appeal_conflicts(request: ReviewRequest) -> set[int]:
    # The person appealing (their party is excluded anyway) and the moderator whose action it is.
    return {request.payload["party"], request.payload["moderator"]}


checkpoints.register(
    checkpoints.Checkpoint(
        name=FLAG,
        label="Someone flags content or an identity for moderators",
        conflicted_users=_party_conflicts,
    )
)
checkpoints.register(
    checkpoints.Checkpoint(
        name=APPEAL,
        label="A person appeals a moderator's action (another moderator decides)",
        conflicted_users=_appeal_conflicts,
    )
)


# --- Targets ---------------------------------------------------------------------------------------------


def target_of(target_type: str, target_id: int, *, viewer: Identity | None = None):
    """The flagged or moderated object, the user id answerable for it (its author, or the identity's
    controller) and a short description. NotFound for what does not exist or `viewer` may not see (a draft)."""
    if target_type == Target.CLAIM:
        claim = markets.claim_visible(target_id, viewer) if viewer else Claim.objects.filter(pk=target_id).first()
        if claim is None:
            raise NotFound("No such claim.")
        return claim, claim.author.controller_id, f"the claim “{claim.title}”"
    if target_type == Target.CLARIFICATION:
        clarification = Clarification.objects.select_related("claim__author").filter(pk=target_id).first()
        if clarification is None or (viewer and not markets.claim_visible(clarification.claim_id, viewer)):
            raise NotFound("No such clarification.")
        return (
            clarification,
            clarification.claim.author.controller_id,
            (f"a clarification of “{clarification.claim.title}”"),
        )
    if target_type == Target.BELIEF:
        belief = Belief.objects.select_related("claim", "identity").filter(pk=target_id).first()
        if belief is None or (viewer and not markets.claim_visible(belief.claim_id, viewer)):
            raise NotFound("No such belief.")
        return belief, belief.identity.controller_id, f"@{belief.identity.handle}'s rationale on “{belief.claim.title}”"
    if target_type == Target.IDENTITY:
        identity = Identity.objects.filter(pk=target_id).first()
        if identity is None:
            raise NotFound("No such identity.")
        return identity, identity.controller_id, f"@{identity.handle}"
    raise ValidationFailed("target_type must be one of: " + ", ".join(Target.values), detail={"field": "target_type"})


def _notify(user_id: int, subject: str, text: str, link: str) -> None:
    """A notification is for display: in a savepoint of its own, so that a failure there never fails the action."""
    try:
        with transaction.atomic():
            notification_send(user_id=user_id, kind=NotificationKind.MODERATION, subject=subject, text=text, link=link)
    except Exception:
        log.exception("moderation: the notification %s for user %s failed", subject, user_id)


# --- Flags -----------------------------------------------------------------------------------------------


def _note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX or "\x00" in note:
        raise ValidationFailed(f"A note has at most {NOTE_MAX} characters.", detail={"field": "note"})
    return note


@transaction.atomic
def flag_create(*, flagger: Identity, target_type: str, target_id: int, reason: str, note: str = "") -> Flag:
    """Flag something for moderators: one open flag per flagger and target, at most
    CREDENCE_FLAGS_PER_DAY a day per person (with their agents). Nobody flags their own."""
    if reason not in FlagReason.values:
        raise ValidationFailed("reason must be one of: " + ", ".join(FlagReason.values), detail={"field": "reason"})
    note = _note(note)
    target, party, label = target_of(target_type, target_id, viewer=flagger)
    if party == flagger.controller_id:
        raise PermissionDenied("You cannot flag your own content or identity.")
    # The person's identity row, locked: their flags (and their agents') are counted one at a time.
    person = Identity.objects.select_for_update(no_key=True).filter(user_id=flagger.controller_id).first()
    identity_require_active(flagger)
    if person is not None and not person.is_active:
        raise IdentitySuspended()
    since = timezone.now() - timedelta(days=1)
    recent = Flag.objects.filter(created_at__gte=since).filter(
        flagger__in=Identity.objects.filter(user_id=flagger.controller_id)
        | Identity.objects.filter(owner_id=flagger.controller_id)
    )
    if recent.count() >= settings.CREDENCE_FLAGS_PER_DAY:
        raise FlagRateLimited(detail={"limit": settings.CREDENCE_FLAGS_PER_DAY})
    if Flag.objects.filter(
        flagger=flagger, target_type=target_type, target_id=target.pk, status=FlagStatus.OPEN
    ).exists():
        raise AlreadyFlagged()
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                flagger=flagger, target_type=target_type, target_id=target.pk, party_id=party, reason=reason, note=note
            )
    except IntegrityError:  # a concurrent twin (another tab) committed first
        raise AlreadyFlagged() from None
    flag.review = reviews.review_request_open(
        checkpoint=FLAG,
        requester=flagger,
        subject=flag.subject,
        payload={
            "flag": flag.pk,
            "target_type": target_type,
            "target_id": target.pk,
            "target": label,
            "reason": reason,
            "note": note,
            "party": party,
        },
        idempotency_key=f"flag:{flag.pk}",
        continuation=FLAG,
        question=f"{FlagReason(reason).label}: {label}. Act on it, or dismiss the flag with a reason.",
        decisions=[Decision.APPROVE, Decision.REJECT],
        reviewers_required=1,
        agreement="first",
        pool=Pool.STAFF,
        timeout_seconds=settings.CREDENCE_FLAG_REVIEW_TIMEOUT_SECONDS,
        on_timeout=TimeoutAction.ESCALATE,
        price=0,
    )
    flag.save(update_fields=["review"])
    return flag


def _lease_of(moderator: User, request_ids: list[int]) -> ReviewAssignment | None:
    return (
        ReviewAssignment.objects.filter(
            request_id__in=request_ids,
            reviewer__user=moderator,
            state=AssignmentState.LEASED,
            lease_expires_at__gt=timezone.now(),
        )
        .order_by("pk")
        .first()
    )


def _settle_flags(*, moderator: User, target_type: str, target_id: int, status: str, reason: str, action=None) -> int:
    """Close every open flag on the target as `status` (upheld by `action`, or dismissed): the one whose review the
    moderator holds is decided on it (their decision on record), the others are withdrawn from the queue."""
    flags = list(
        Flag.objects.select_for_update(no_key=True).filter(
            target_type=target_type, target_id=target_id, status=FlagStatus.OPEN
        )
    )
    if not flags:
        return 0
    now = timezone.now()
    Flag.objects.filter(pk__in=[f.pk for f in flags]).update(
        status=status, action=action, decided_at=now, decision_reason=reason[:500]
    )
    lease = _lease_of(moderator, [f.review_id for f in flags if f.review_id])
    if lease is not None:
        kind = Decision.APPROVE if status == FlagStatus.UPHELD else Decision.REJECT
        reviews.review_decide(assignment_id=lease.pk, reviewer=lease.reviewer, kind=kind, reason=reason)
    reviews.reviews_withdraw(checkpoint=FLAG, subject=f"{target_type}:{target_id}", why="settled by a moderator")
    return len(flags)


@audited
def flag_dismiss(*, moderator: User, flag: Flag, reason: str) -> int:
    """A moderator dismisses the open flags on a target (nothing wrong): the flaggers are told why. Returns how
    many flags it closed."""
    staff_require(moderator, what="dismiss a flag")
    reason = moderation_reason(reason)
    closed = _settle_flags(
        moderator=moderator,
        target_type=flag.target_type,
        target_id=flag.target_id,
        status=FlagStatus.DISMISSED,
        reason=reason,
    )
    if not closed:
        raise NothingToChange("No flag on this is open any more: it was settled already.")
    audit_record(
        actor=moderator,
        action="flag.dismiss",
        obj=("moderation.flag", flag.pk),
        before={"status": FlagStatus.OPEN, "open_flags": closed},
        after={"status": FlagStatus.DISMISSED},
        reason=reason,
    )
    return closed


@checkpoints.continuation(FLAG)
def flag_resume(request: ReviewRequest) -> dict:
    """A flag's review finished. Decided in the reviews queue directly (not through an action), approve means
    upheld and reject dismissed; a withdrawn one was settled with the others on its target. The flagger hears
    how it ended."""
    flag = (
        Flag.objects.select_for_update(no_key=True, of=("self",))
        .select_related("action")
        .filter(review=request)
        .first()
    )
    if flag is None:
        return {"flag": None}
    if flag.status == FlagStatus.OPEN:
        outcome = request.outcome or {}
        flag.status = {
            RequestState.APPROVED: FlagStatus.UPHELD,
            RequestState.REJECTED: FlagStatus.DISMISSED,
        }.get(request.state, FlagStatus.CLOSED)
        flag.decided_at = timezone.now()
        flag.decision_reason = (outcome.get("reason") or "")[:500]
        flag.save(update_fields=["status", "decided_at", "decision_reason"])
    label = request.payload.get("target", "what you flagged")
    if flag.status == FlagStatus.UPHELD:
        done = f"moderators {VERBS[flag.action.kind]} it" if flag.action else "moderators agreed"
        text = f"Your flag on {label} was upheld: {done}."
    elif flag.status == FlagStatus.DISMISSED:
        text = f"Your flag on {label} was dismissed: {flag.decision_reason or 'nothing against the rules'}."
    else:
        text = f"Your flag on {label} was closed."
    _notify(flag.flagger.controller_id, f"flag:{flag.pk}", text, "/moderation/flags/")
    return {"flag": flag.pk, "status": flag.status}


# --- Actions ---------------------------------------------------------------------------------------------


def _agents_suspended_with(identity: Identity) -> list[int]:
    """The agents the latest suspend-with-agents of this person suspended (to lift with them)."""
    latest = (
        ModerationAction.objects.filter(
            target_type=Target.IDENTITY, target_id=identity.pk, kind=ActionKind.SUSPEND_PARTY
        )
        .order_by("-pk")
        .first()
    )
    return list(latest.detail.get("agents", [])) if latest else []


def _carry_out(*, moderator: User, kind: str, target, reason: str, title: str, criteria: str, text: str) -> dict:
    """Call the owning app's service for the action; what it returns goes into the action's detail."""
    if kind in (ActionKind.HIDE, ActionKind.RESTORE):
        content_hide(obj=target, moderator=moderator, reason=reason, hidden=kind == ActionKind.HIDE)
        return {}
    if kind == ActionKind.EDIT:
        before = {"title": target.title, "criteria": target.criteria}
        claim_moderate_edit(claim=target, moderator=moderator, title=title, criteria=criteria, reason=reason)
        return {"before": before}
    if kind == ActionKind.CLARIFY:
        clarification = claim_clarify_as_moderator(claim=target, moderator=moderator, text=text, reason=reason)
        return {"clarification": clarification.pk}
    if kind == ActionKind.VOID:
        claim_void(claim=target, user=moderator, reason=reason)
        return {}
    if kind == ActionKind.SUSPEND:
        identity_suspend(identity=target, moderator=moderator, reason=reason)
        return {}
    if kind == ActionKind.SUSPEND_PARTY:
        if target.kind != IdentityKind.HUMAN:
            raise ValidationFailed("Suspending with all agents applies to a person: suspend an agent by itself.")
        identity_suspend(identity=target, moderator=moderator, reason=reason)
        agents = list(
            Identity.objects.filter(owner_id=target.user_id).exclude(suspended_as=SuspendedAs.MODERATOR).order_by("pk")
        )
        for agent in agents:
            identity_suspend(identity=agent, moderator=moderator, reason=reason)
        return {"agents": [agent.pk for agent in agents]}
    if kind == ActionKind.REACTIVATE:
        identity_reactivate(identity=target, moderator=moderator, reason=reason)
        lifted = []
        if target.kind == IdentityKind.HUMAN:
            for agent in Identity.objects.filter(
                pk__in=_agents_suspended_with(target), suspended_as=SuspendedAs.MODERATOR
            ):
                identity_reactivate(identity=agent, moderator=moderator, reason=reason)
                lifted.append(agent.pk)
        return {"agents": lifted} if lifted else {}
    if kind == ActionKind.REVOKE_KEYS:
        if target.kind != IdentityKind.AGENT:
            raise ValidationFailed("Only an agent has API keys.")
        return {"revoked": api_keys_revoke_all(agent=target, moderator=moderator, reason=reason)}
    if kind in (ActionKind.FREEZE, ActionKind.UNFREEZE):
        wallet_freeze(identity=target, moderator=moderator, reason=reason, frozen=kind == ActionKind.FREEZE)
        return {}
    raise ValidationFailed("Unknown action.", detail={"field": "action"})  # ACTIONS_FOR already refused it


@audited
def moderation_act(
    *,
    moderator: User,
    kind: str,
    target_type: str,
    target_id: int,
    reason: str,
    title: str = "",
    criteria: str = "",
    text: str = "",
    reverses: ModerationAction | None = None,
) -> ModerationAction:
    """Take one moderation action with its reason (see the module): the change and its audit entry (by the
    owning app's service), the action row, the person affected told, the target's open flags settled."""
    staff_require(moderator, what="moderate")
    reason = moderation_reason(reason)
    if target_type not in ACTIONS_FOR:
        raise ValidationFailed(
            "target_type must be one of: " + ", ".join(Target.values), detail={"field": "target_type"}
        )
    if kind not in ACTIONS_FOR[target_type]:
        raise ValidationFailed(
            f"A {target_type} may be: " + ", ".join(ACTIONS_FOR[target_type]), detail={"field": "action"}
        )
    target, party, label = target_of(target_type, target_id)
    with counting() as changes:
        detail = _carry_out(
            moderator=moderator, kind=kind, target=target, reason=reason, title=title, criteria=criteria, text=text
        )
    if not changes.changed:  # a second click, or another moderator just did it: no action, no notification
        raise NothingToChange()
    if reverses is None and kind in REVERSAL.values():
        reverses = (
            ModerationAction.objects.filter(
                target_type=target_type,
                target_id=target.pk,
                kind__in=[k for k, undo in REVERSAL.items() if undo == kind],
                reversed_by__isnull=True,
            )
            .order_by("-pk")
            .first()
        )
    action = ModerationAction.objects.create(
        kind=kind,
        target_type=target_type,
        target_id=target.pk,
        moderator=moderator,
        party_id=party,
        reason=reason,
        detail=detail,
        reverses=reverses,
    )
    audit_record(
        actor=moderator,
        action=f"moderation.{kind}",
        obj=action,
        after={
            "target": action.subject,
            "party": party,
            "detail": detail,
            "reverses": reverses.pk if reverses else None,
        },
        reason=reason,
    )
    if kind not in REVERSAL.values():  # an action against the target upholds the flags on it
        _settle_flags(
            moderator=moderator,
            target_type=target_type,
            target_id=target.pk,
            status=FlagStatus.UPHELD,
            reason=reason,
            action=action,
        )
    if party != moderator.pk:
        # "your claim “…”", "your clarification of “…”"; a rationale and an identity say whose by handle.
        whose = label if target_type in (Target.IDENTITY, Target.BELIEF) else f"your {label.split(' ', 1)[1]}"
        appeal = " You may appeal." if action.appealable else ""
        _notify(
            party,
            f"moderation:{action.pk}",
            f"Moderators {VERBS[kind]} {whose}: {reason}.{appeal}",
            action_link(action),
        )
    return action


def action_link(action: ModerationAction) -> str:
    return f"/moderation/actions/{action.pk}/"


# --- Appeals ---------------------------------------------------------------------------------------------


@transaction.atomic
def appeal_file(*, user: User, action: ModerationAction, statement: str) -> Appeal:
    """The person affected appeals an action, once: a moderator other than the one who acted decides."""
    action = ModerationAction.objects.select_for_update(no_key=True).get(pk=action.pk)
    if action.party_id != user.pk:
        raise NotFound("No such moderation action.")
    if not action.appealable:
        raise NotAppealable(
            f"“{action.get_kind_display()}” cannot be appealed here: it is final or can be done again by you."
        )
    if ModerationAction.objects.filter(reverses=action).exists():
        raise NotAppealable("This action was undone already.")
    if Appeal.objects.filter(action=action).exists():
        raise AlreadyAppealed()
    statement = (statement or "").strip()
    if not STATEMENT_MIN <= len(statement) <= STATEMENT_MAX or "\x00" in statement:
        raise ValidationFailed(
            f"An appeal needs a statement of {STATEMENT_MIN}-{STATEMENT_MAX} characters.", detail={"field": "statement"}
        )
    person = user.human_identity
    if person is None:
        raise NotFound("No such moderation action.")
    _, _, label = target_of(action.target_type, action.target_id)
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(action=action, appellant=person, statement=statement)
    except IntegrityError:
        raise AlreadyAppealed() from None
    appeal.review = reviews.review_request_open(
        checkpoint=APPEAL,
        requester=person,
        subject=f"moderation:{action.pk}",
        payload={
            "appeal": appeal.pk,
            "action": action.pk,
            "kind": action.kind,
            "target_type": action.target_type,
            "target_id": action.target_id,
            "target": label,
            "reason": action.reason,
            "statement": statement,
            "party": user.pk,
            "moderator": action.moderator_id,
        },
        idempotency_key=f"appeal:{appeal.pk}",
        continuation=APPEAL,
        question=(
            f"@{person.handle} appeals “{action.get_kind_display()}” on {label} (reason given: {action.reason}). "
            "Approve to undo it; reject with a reason they will read."
        ),
        decisions=[Decision.APPROVE, Decision.REJECT],
        reviewers_required=1,
        agreement="first",
        pool=Pool.STAFF,
        timeout_seconds=settings.CREDENCE_APPEAL_REVIEW_TIMEOUT_SECONDS,
        on_timeout=TimeoutAction.ESCALATE,
        price=0,
    )
    appeal.save(update_fields=["review"])
    return appeal


def _decider(request: ReviewRequest) -> User | None:
    decided_by = (request.outcome or {}).get("decided_by") or []
    identity = Identity.objects.select_related("user").filter(pk__in=decided_by[:1]).first()
    return identity.user if identity is not None else None


def _undo(action: ModerationAction, moderator: User, reason: str) -> ModerationAction:
    if action.kind == ActionKind.EDIT:
        before = action.detail["before"]
        return moderation_act(
            moderator=moderator,
            kind=ActionKind.EDIT,
            target_type=action.target_type,
            target_id=action.target_id,
            reason=reason,
            title=before["title"],
            criteria=before["criteria"],
            reverses=action,
        )
    return moderation_act(
        moderator=moderator,
        kind=REVERSAL[action.kind],
        target_type=action.target_type,
        target_id=action.target_id,
        reason=reason,
        reverses=action,
    )


@checkpoints.continuation(APPEAL)
def appeal_resume(request: ReviewRequest) -> dict:
    """An appeal was decided: granted undoes the action as the moderator who granted it (an edit is undone only
    while nobody has traded: otherwise the refusal is the result and the appeal stays open for staff);
    denied keeps it. The person hears which, and why."""
    appeal = (
        Appeal.objects.select_for_update(no_key=True, of=("self",))
        .select_related("action")
        .filter(review=request)
        .first()
    )
    if appeal is None or appeal.status != AppealStatus.OPEN:
        return {"appeal": None}
    outcome = request.outcome or {}
    moderator = _decider(request)
    reason = (outcome.get("reason") or "").strip()
    action = appeal.action
    if request.state == RequestState.APPROVED and moderator is not None:
        try:
            undone = _undo(action, moderator, reason or f"Appeal #{appeal.pk} granted.")
            result = {"undone_by": undone.pk}
        except NothingToChange:  # a moderator undid it meanwhile: granted, with nothing left to undo
            result = {"undone_by": None}
        appeal.status = AppealStatus.GRANTED
        text = f"Your appeal was granted: moderators undid “{action.get_kind_display()}”."
    else:
        appeal.status = AppealStatus.DENIED
        text = f"Your appeal was denied: {reason or 'the action stands'}."
        result = {}
    appeal.decided_by, appeal.decided_at, appeal.decision_reason = moderator, timezone.now(), reason[:500]
    appeal.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    _notify(action.party_id, f"appeal:{appeal.pk}", text, action_link(action))
    return {"appeal": appeal.pk, "status": appeal.status, **result}
