"""Closing, resolving and settling claims: optimistic, bonded, answered by a review panel on dispute.

Lifecycle: open -> closed (at closes_at) -> proposed (a bonded outcome) -> [disputed (an equal bond
challenges it) -> answered by a review panel (final after the overrule window) or decided by staff]
-> resolved_yes | resolved_no | voided -> settled (apps/markets/settlement.py).
Staff may void a claim at any state before settlement. Every credit movement is one ledger_transfer
with a key derived from the claim, so a retried step never moves credit twice; locks are taken market
row first, then claim, then (inside ledger_transfer) accounts by id — the order trades use too.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.core import events
from apps.core.amounts import CREDIT
from apps.core.audit import audit_record, audited, staff_require
from apps.core.errors import ValidationFailed
from apps.core.models import Event
from apps.core.services import event_emit
from apps.identities.models import Identity
from apps.identities.selectors import party, party_of_user
from apps.identities.services import identity_require_active, identity_require_verified_human
from apps.ledger.models import Account, AccountKind
from apps.ledger.services import PLATFORM_FEES, ledger_transfer, system_account, wallet_for
from apps.markets.checkpoints import DISPUTE, dispute_checkpoint
from apps.markets.errors import ConflictOfInterest, IllegalTransition
from apps.markets.models import Claim, ClaimStatus, Market, Outcome, Position, Resolution
from apps.markets.pricing import BPS
from apps.reviews import services as reviews
from apps.reviews.models import Decision, Pool, RequestState, ReviewRequest

RESOLVED = {
    Outcome.YES: ClaimStatus.RESOLVED_YES,
    Outcome.NO: ClaimStatus.RESOLVED_NO,
    Outcome.VOID: ClaimStatus.VOIDED,
}
FINAL_STATUSES = frozenset(RESOLVED.values())
OUTCOME_OF_STATUS = {status: outcome for outcome, status in RESOLVED.items()}


def _holders(market: Market):
    return Position.objects.filter(market=market).filter(Q(yes_shares__gt=0) | Q(no_shares__gt=0))


def _require_disinterested(user: User, claim: Claim, market: Market | None, resolution: Resolution | None) -> None:
    """A moderator who decides an outcome must have no stake in it: neither they nor their agents may have
    written the claim, hold shares, or have proposed or challenged it (one party: a person and all their agents)."""
    mine = party_of_user(user.pk)
    parties = {claim.author_id}
    if resolution is not None:
        parties |= {resolution.proposer_id, resolution.challenger_id}
    if mine.filter(pk__in=parties - {None}).exists() or (
        market is not None and _holders(market).filter(identity__in=mine).exists()
    ):
        raise ConflictOfInterest("You or one of your agents has a stake in this outcome: another moderator decides it.")


def market_and_claim_lock(claim: Claim) -> tuple[Market | None, Claim]:
    """Market row first (as every trade), then the claim."""
    market = Market.objects.select_for_update(no_key=True).filter(claim_id=claim.pk).first()
    return market, Claim.objects.select_for_update(no_key=True).get(pk=claim.pk)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > 2000:
        raise ValidationFailed("A reason of 1-2000 characters is required.", detail={"field": "reason"})
    return reason


def _outcome(outcome: str) -> str:
    if outcome not in Outcome.values:
        raise ValidationFailed("outcome must be 'yes', 'no' or 'void'.", detail={"field": "outcome"})
    return outcome


def bond_for(market: Market) -> int:
    """The bond a proposal (and a challenge) posts: a minimum plus a share of the volume, rounded up."""
    return settings.CREDENCE_BOND_MIN_CREDITS * CREDIT + -(-market.volume * settings.CREDENCE_BOND_VOLUME_BPS // BPS)


def effective_status(claim: Claim, resolution: Resolution | None = None, now: datetime | None = None) -> str:
    """What a reader should see: an open claim past closes_at is closed, and an unchallenged proposal
    whose window has passed is final, even before the beat tasks have written that down."""
    now = now or timezone.now()
    if claim.status == ClaimStatus.OPEN and claim.closes_at <= now:
        return ClaimStatus.CLOSED
    if claim.status == ClaimStatus.PROPOSED and resolution is not None:
        outcome = resolution.outcome_at(now)
        if outcome is not None:
            return RESOLVED[outcome]
    return claim.status


@transaction.atomic
def claims_close_due(*, now: datetime | None = None) -> int:
    """Close every open claim whose closing time has passed: one UPDATE and one INSERT of events."""
    now = now or timezone.now()
    due = list(
        Claim.objects.select_for_update(no_key=True, skip_locked=True)
        .filter(status=ClaimStatus.OPEN, closes_at__lte=now)
        .values_list("pk", flat=True)
    )
    if not due:
        return 0
    Claim.objects.filter(pk__in=due).update(status=ClaimStatus.CLOSED, updated_at=now)
    Event.objects.bulk_create([Event(kind=events.CLAIM_CLOSED.name, subject=f"claim:{pk}") for pk in due])
    return len(due)


@transaction.atomic
def resolution_propose(*, claim: Claim, proposer: Identity, outcome: str, evidence: str) -> Resolution:
    """After close, an identity without a position, whose person is a verified human, proposes the outcome and
    posts the bond."""
    market, claim = market_and_claim_lock(claim)
    now = timezone.now()
    if market is None or effective_status(claim, now=now) != ClaimStatus.CLOSED:
        raise IllegalTransition("Only a claim that has closed (and has no proposal yet) can be resolved.")
    identity_require_active(proposer)
    # A bond deters a wrong proposal only from someone who cannot open another account to try again.
    identity_require_verified_human(proposer, what="Proposing an outcome")
    outcome = _outcome(outcome)
    evidence = (evidence or "").strip()
    if not evidence or len(evidence) > 5000:
        raise ValidationFailed("Evidence of 1-5000 characters is required.", detail={"field": "evidence"})
    holders = set(_holders(market).filter(identity__in=party(proposer)).values_list("identity_id", flat=True))
    if proposer.pk in holders:
        raise ConflictOfInterest("You hold shares in this market and may not propose its outcome.")
    if holders:
        raise ConflictOfInterest(
            "An identity of your party (you, your owner, or one of your or your owner's agents) holds shares in "
            "this market: you may not propose its outcome."
        )
    bond = bond_for(market)
    escrow = Account.objects.create(kind=AccountKind.BOND_ESCROW, code=f"claim:{claim.pk}:bonds")
    ledger_transfer(
        lines=[(wallet_for(proposer), -bond), (escrow, bond)],
        kind="resolution_bond",
        idempotency_key=f"bond-propose:{claim.pk}",
        memo=f"Bond for proposing {outcome.upper()} on claim #{claim.pk}",
    )
    resolution = Resolution.objects.create(
        claim=claim,
        bond_escrow=escrow,
        proposer=proposer,
        proposed_outcome=outcome,
        evidence=evidence,
        bond=bond,
        proposed_at=now,
        challenge_deadline=now + claim.challenge_window,
    )
    claim.status = ClaimStatus.PROPOSED
    claim.save(update_fields=["status", "updated_at"])
    event_emit(
        kind=events.CLAIM_RESOLUTION_PROPOSED.name,
        subject=f"claim:{claim.pk}",
        actor_identity_id=proposer.pk,
        payload={"outcome": outcome, "bond": bond, "challenge_deadline": resolution.challenge_deadline.isoformat()},
    )
    return resolution


@transaction.atomic
def resolution_challenge(*, claim: Claim, challenger: Identity, evidence: str) -> Resolution:
    """Within the window, any verified human's identity but the proposer's party challenges with an equal bond:
    the claim is disputed."""
    _, claim = market_and_claim_lock(claim)
    resolution = Resolution.objects.select_for_update(no_key=True).filter(claim=claim).first()
    now = timezone.now()
    if resolution is None or claim.status != ClaimStatus.PROPOSED or resolution.challenge_deadline <= now:
        raise IllegalTransition("Only a proposal within its challenge window can be challenged.")
    if challenger.pk == resolution.proposer_id:
        raise ConflictOfInterest("The proposer cannot challenge their own proposal.")
    if party(challenger).filter(pk=resolution.proposer_id).exists():
        raise ConflictOfInterest(
            "The proposal is your party's (a person and their agents are one party): it cannot be challenged by you."
        )
    identity_require_active(challenger)
    identity_require_verified_human(challenger, what="Challenging a proposal")
    evidence = (evidence or "").strip()
    if not evidence or len(evidence) > 5000:
        raise ValidationFailed("Evidence of 1-5000 characters is required.", detail={"field": "evidence"})
    ledger_transfer(
        lines=[(wallet_for(challenger), -resolution.bond), (resolution.bond_escrow_id, resolution.bond)],
        kind="resolution_bond",
        idempotency_key=f"bond-challenge:{claim.pk}",
        memo=f"Bond for challenging the proposal on claim #{claim.pk}",
    )
    resolution.challenger = challenger
    resolution.challenge_evidence = evidence
    resolution.challenged_at = now
    resolution.save(update_fields=["challenger", "challenge_evidence", "challenged_at"])
    claim.status = ClaimStatus.DISPUTED
    claim.save(update_fields=["status", "updated_at"])
    event_emit(kind=events.CLAIM_DISPUTED.name, subject=f"claim:{claim.pk}", actor_identity_id=challenger.pk)
    dispute_checkpoint(claim=claim, resolution=resolution, challenger=challenger)
    return resolution


def _finalize(
    claim: Claim, resolution: Resolution, outcome: str, *, user: User | None = None, reason: str = ""
) -> None:
    now = timezone.now()
    resolution.final_outcome = outcome
    resolution.finalized_at = now
    resolution.decided_by = user
    resolution.decision_reason = reason
    resolution.save(update_fields=["final_outcome", "finalized_at", "decided_by", "decision_reason"])
    claim.status = RESOLVED[outcome]
    claim.save(update_fields=["status", "updated_at"])
    event_emit(kind=events.CLAIM_RESOLVED.name, subject=f"claim:{claim.pk}", payload={"outcome": outcome})


@transaction.atomic
def resolution_finalize(*, claim: Claim, now: datetime | None = None) -> Resolution:
    """An unchallenged proposal whose window has passed becomes the outcome; the bond goes home."""
    _, claim = market_and_claim_lock(claim)
    resolution = Resolution.objects.select_for_update(no_key=True).filter(claim=claim).first()
    now = now or timezone.now()
    if resolution is None or claim.status != ClaimStatus.PROPOSED or resolution.challenge_deadline > now:
        raise IllegalTransition("Only an unchallenged proposal past its window can be finalized.")
    ledger_transfer(
        lines=[(resolution.bond_escrow_id, -resolution.bond), (wallet_for(resolution.proposer), resolution.bond)],
        kind="resolution_bond_return",
        idempotency_key=f"bond-return:{claim.pk}",
        memo=f"Bond returned: unchallenged proposal on claim #{claim.pk}",
    )
    _finalize(claim, resolution, resolution.proposed_outcome)
    return resolution


@audited
def dispute_decide(*, claim: Claim, user: User, outcome: str, reason: str) -> Resolution:
    """Staff decide a dispute. The side that was right gets its bond back plus half the other's; the
    other half goes to the platform fees account (when a review decides, it pays the reviewers:
    `dispute_review_finalize`). While a panel's answer waits out its overrule window, staff deciding the same
    outcome confirm it (the panel is paid, now), and deciding another overrules it: recorded on the review
    and scored against the reviewers who answered it."""
    staff_require(user, what="decide a dispute")
    outcome, reason = _outcome(outcome), _reason(reason)
    market, claim = market_and_claim_lock(claim)
    resolution = Resolution.objects.select_for_update(no_key=True).filter(claim=claim).first()
    if resolution is None or claim.status != ClaimStatus.DISPUTED:
        raise IllegalTransition("Only a disputed claim can be decided.")
    _require_disinterested(user, claim, market, resolution)
    _record_answer_not_yet_resumed(claim, resolution)
    if resolution.review_id is not None:
        if outcome == resolution.review_outcome:
            _award_by_review(claim, resolution, user=user, reason=reason)
            _audit_decided(user, claim, resolution, outcome, reason, confirmed=True)
            return resolution
        reviews.review_overrule(
            request_id=resolution.review_id, user=user, decision=Decision.ANSWER, value=outcome, reason=reason
        )
    winner = resolution.proposer if outcome == resolution.proposed_outcome else resolution.challenger
    half = resolution.bond // 2  # the loser's half that the winner gets; the rest (>= half) to fees
    ledger_transfer(
        lines=[
            (resolution.bond_escrow_id, -2 * resolution.bond),
            (wallet_for(winner), resolution.bond + half),
            (system_account(PLATFORM_FEES), resolution.bond - half),
        ],
        kind="resolution_bond_award",
        idempotency_key=f"bond-decide:{claim.pk}",
        memo=f"Dispute on claim #{claim.pk} decided {outcome.upper()}",
    )
    _finalize(claim, resolution, outcome, user=user, reason=reason)
    reviews.reviews_withdraw(checkpoint=DISPUTE, subject=f"claim:{claim.pk}", why="decided by staff")
    _audit_decided(user, claim, resolution, outcome, reason, confirmed=False)
    return resolution


def _audit_decided(user: User, claim: Claim, resolution: Resolution, outcome: str, reason: str, confirmed: bool):
    audit_record(
        actor=user,
        action="claim.dispute_decide",
        obj=claim,
        before={"status": ClaimStatus.DISPUTED, "proposed": resolution.proposed_outcome},
        after={"status": claim.status, "outcome": outcome, "confirmed_panel": confirmed},
        reason=reason,
    )


@transaction.atomic
def dispute_decide_by_review(*, claim_id: int, outcome: str, review: ReviewRequest) -> Resolution:
    """A review answered the dispute. Staff's answer (after a panel escalated) is final at once; a panel's is
    recorded and stands when the overrule window (CREDENCE_DISPUTE_OVERRULE_HOURS) has passed, unless staff
    decide otherwise meanwhile (`dispute_decide`, `claim_void`). Called by the review's continuation, once."""
    outcome = _outcome(outcome)
    _, claim = market_and_claim_lock(Claim(pk=claim_id))
    resolution = Resolution.objects.select_for_update(no_key=True).filter(claim=claim).first()
    if resolution is None or claim.status != ClaimStatus.DISPUTED or resolution.review_id is not None:
        raise IllegalTransition("Only a disputed claim can be decided.")
    window = settings.CREDENCE_DISPUTE_OVERRULE_HOURS if review.pool == Pool.PANEL else 0
    now = timezone.now()
    resolution.review = review
    resolution.review_outcome = outcome
    resolution.overrule_deadline = now + timedelta(hours=window)
    resolution.save(update_fields=["review", "review_outcome", "overrule_deadline"])
    if window <= 0:
        _award_by_review(claim, resolution)
    else:
        event_emit(
            kind=events.CLAIM_ANSWERED.name,
            subject=f"claim:{claim.pk}",
            payload={"outcome": outcome, "review": review.pk, "stands_at": resolution.overrule_deadline.isoformat()},
        )
    return resolution


@transaction.atomic
def dispute_review_finalize(*, claim: Claim, now: datetime | None = None) -> Resolution:
    """A panel's answer past its overrule window becomes the outcome, and pays."""
    _, claim = market_and_claim_lock(claim)
    resolution = Resolution.objects.select_for_update(no_key=True).filter(claim=claim).first()
    now = now or timezone.now()
    if (
        resolution is None
        or claim.status != ClaimStatus.DISPUTED
        or resolution.review_id is None
        or resolution.overrule_deadline > now
    ):
        raise IllegalTransition("Only a panel's answer past its overrule window can be finalized.")
    _award_by_review(claim, resolution)
    return resolution


def _record_answer_not_yet_resumed(claim: Claim, resolution: Resolution) -> None:
    """A review that answered the dispute a moment ago, its continuation not yet run: staff deciding now confirm
    or overrule that answer, as they would once it is recorded (the continuation then finds the dispute decided
    and does nothing)."""
    if resolution.review_id is not None or claim.status != ClaimStatus.DISPUTED:
        return
    answered = (
        ReviewRequest.objects.filter(
            checkpoint=DISPUTE, subject=f"claim:{claim.pk}", state=RequestState.ANSWERED, resumed_at__isnull=True
        )
        .order_by("-id")
        .first()
    )
    if answered is not None:
        resolution.review = answered
        resolution.review_outcome = _outcome(answered.outcome["value"])
        resolution.overrule_deadline = timezone.now()
        resolution.save(update_fields=["review", "review_outcome", "overrule_deadline"])


def _award_by_review(claim: Claim, resolution: Resolution, *, user: User | None = None, reason: str = "") -> None:
    """The review's answer is the outcome: the side it found right gets its bond back plus half the other's,
    as when staff decide; the other half pays the people who decided, split evenly (the remainder to fees)."""
    review = ReviewRequest.objects.get(pk=resolution.review_id)
    outcome = resolution.review_outcome
    winner = resolution.proposer if outcome == resolution.proposed_outcome else resolution.challenger
    half = resolution.bond // 2
    panel_pay = resolution.bond - half
    deciders = list(review.outcome.get("decided_by") or [])
    share = panel_pay // len(deciders) if deciders else 0
    lines = [(resolution.bond_escrow_id, -2 * resolution.bond), (wallet_for(winner), resolution.bond + half)]
    lines += [(wallet_for(identity), share) for identity in Identity.objects.filter(pk__in=deciders).order_by("pk")]
    lines.append((system_account(PLATFORM_FEES), panel_pay - share * len(deciders)))
    ledger_transfer(
        lines=[line for line in lines if line[1]],
        kind="resolution_bond_award",
        idempotency_key=f"bond-decide:{claim.pk}",
        memo=f"Dispute on claim #{claim.pk} decided {outcome.upper()} by review #{review.pk}",
        metadata={"review": review.pk, "panel": deciders},
    )
    _finalize(claim, resolution, outcome, user=user, reason=reason or f"Decided by review #{review.pk}.")


@audited
def claim_void(*, claim: Claim, user: User, reason: str) -> Claim:
    """Staff void a claim at any state before settlement; bonds still held go back to who posted them,
    and settlement refunds the traders and the author."""
    staff_require(user, what="void a claim")
    reason = _reason(reason)
    market, claim = market_and_claim_lock(claim)
    status_before = claim.status
    if claim.settled_at is not None or claim.status == ClaimStatus.VOIDED:
        raise IllegalTransition("This claim is already settled or voided.")
    resolution = Resolution.objects.select_for_update(no_key=True).filter(claim=claim).first()
    _require_disinterested(user, claim, market, resolution)
    if resolution is not None and resolution.finalized_at is None:
        _record_answer_not_yet_resumed(claim, resolution)
    if resolution is not None and resolution.finalized_at is None and resolution.review_outcome == Outcome.VOID:
        _award_by_review(claim, resolution, user=user, reason=reason)  # a panel answered VOID: staff confirm it
    elif resolution is not None and resolution.finalized_at is None:
        if resolution.review_id is not None:  # a panel answered otherwise, within its overrule window
            reviews.review_overrule(
                request_id=resolution.review_id, user=user, decision=Decision.ANSWER, value=Outcome.VOID, reason=reason
            )
        lines = [(wallet_for(resolution.proposer), resolution.bond)]
        if resolution.challenger_id:
            lines.append((wallet_for(resolution.challenger), resolution.bond))
        held = sum(amount for _, amount in lines)
        ledger_transfer(
            lines=[(resolution.bond_escrow_id, -held), *lines],
            kind="resolution_bond_return",
            idempotency_key=f"bond-void:{claim.pk}",
            memo=f"Bonds returned: claim #{claim.pk} voided",
        )
        _finalize(claim, resolution, Outcome.VOID, user=user, reason=reason)
        reviews.reviews_withdraw(checkpoint=DISPUTE, subject=f"claim:{claim.pk}", why="voided by staff")
    else:
        claim.status = ClaimStatus.VOIDED
        claim.save(update_fields=["status", "updated_at"])
        event_emit(
            kind=events.CLAIM_RESOLVED.name,
            subject=f"claim:{claim.pk}",
            payload={"outcome": Outcome.VOID, "reason": reason},
        )
    audit_record(
        actor=user,
        action="claim.void",
        obj=claim,
        before={"status": status_before},
        after={"status": claim.status},
        reason=reason,
    )
    return claim


def resolutions_finalize_due(*, now: datetime | None = None) -> int:
    """Finalize every unchallenged proposal whose window has passed, and every panel's answer whose overrule
    window has (each in its own transaction)."""
    now = now or timezone.now()
    proposed = Claim.objects.filter(status=ClaimStatus.PROPOSED, resolution__challenge_deadline__lte=now)
    answered = Claim.objects.filter(status=ClaimStatus.DISPUTED, resolution__overrule_deadline__lte=now)
    done = 0
    for finalize, due in ((resolution_finalize, proposed), (dispute_review_finalize, answered)):
        for claim in due.only("pk"):
            try:
                finalize(claim=claim, now=now)
            except IllegalTransition:  # challenged, decided or finalized meanwhile: nothing to do
                continue
            done += 1
    return done
