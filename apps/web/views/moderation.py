"""Moderation in the browser.

Everyone's side: flagging a claim, a clarification, a belief's rationale or an identity (a form page that works
without JavaScript), the flags I and my agents raised and how each ended, and one moderators' action about me
(what was done, why, and my appeal). Staff's side, a front for the two moderation checkpoints of the reviews
app: the queue (open flags grouped by what they are about, open appeals), taking the next flag or appeal, the
leased item (the object in full, its audit trail, its actions and flags, the flaggers' records, the buttons its
kind of target allows, each with a one-key shortcut: static/js/moderation.js), and any object's moderation page
without a lease.

Staff pages answer anyone signed in but not staff with a 403 page that says so; anyone signed out goes to the
sign-in page. An action about someone else, like a missing one, is a 404. Every write is one service of
apps/moderation/services.py (or reviews.review_decide for an appeal), whose refusal is shown on the form with
its status and writes nothing.
"""

import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.api import keyset_page
from apps.core.errors import ApplicationError, NotFound
from apps.identities.models import IdentityKind
from apps.markets.models import ClaimStatus
from apps.moderation import selectors, services
from apps.moderation.models import REVERSAL, ActionKind, Appeal, Flag, FlagStatus, Target
from apps.reviews import selectors as review_selectors
from apps.reviews import services as reviews
from apps.reviews.models import OPEN_STATES, AssignmentState, ReviewAssignment
from apps.web.forms.moderation import DISMISS, SHORTCUTS, ActForm, AppealDecisionForm, AppealForm, FlagForm
from apps.web.views.common import INVALID_FORM_STATUS, NO_IDENTITY, field_refusal, viewer_of

STAFF_ONLY = "The moderation pages are for staff moderators: your account is not one."
NO_MODERATOR_IDENTITY = (
    "Taking flags and appeals from the queue needs a market identity of your own (reviews are leased to "
    "identities). You can still act on any object from its moderation page."
)
FLAGS_PAGE_SIZE = 25
# `?kind=` of moderation-why: the actions behind a notice.
WHY_KINDS = {
    "hide": (ActionKind.HIDE,),
    "freeze": (ActionKind.FREEZE,),
    "suspend": (ActionKind.SUSPEND, ActionKind.SUSPEND_PARTY),
}
DONE = {
    ActionKind.HIDE: "You hid",
    ActionKind.RESTORE: "You restored",
    ActionKind.EDIT: "You edited",
    ActionKind.CLARIFY: "You added a clarification to",
    ActionKind.VOID: "You voided",
    ActionKind.SUSPEND: "You suspended",
    ActionKind.SUSPEND_PARTY: "You suspended, with all their agents,",
    ActionKind.REACTIVATE: "You lifted the suspension of",
    ActionKind.REVOKE_KEYS: "You revoked every API key of",
    ActionKind.FREEZE: "You froze the wallet of",
    ActionKind.UNFREEZE: "You unfroze the wallet of",
}


def staff_only(view):
    """Staff moderators only: anyone else signed in is told so (403), anyone signed out signs in first."""

    @login_required
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not (request.user.is_active and request.user.is_staff):
            return render(request, "moderation/staff_only.html", {"message": STAFF_ONLY}, status=403)
        return view(request, *args, **kwargs)

    return guarded


def _target_type(target_type: str) -> str:
    if target_type not in Target.values:
        raise Http404("No such kind of object.")
    return target_type


def target_url(target_type: str, target) -> str:
    """Where the object is read by everyone: its claim's page (at the clarification or belief), or the
    identity's public page ("" for a suspended identity, which has none)."""
    if target_type == Target.CLAIM:
        return reverse("claim-detail", args=[target.pk])
    if target_type == Target.CLARIFICATION:
        return reverse("claim-detail", args=[target.claim_id]) + f"#clarification-{target.pk}"
    if target_type == Target.BELIEF:
        return reverse("claim-detail", args=[target.claim_id]) + f"#belief-{target.pk}"
    return reverse("identity-detail", args=[target.handle]) if target.is_active else ""


# --- Flagging (anyone signed in) -------------------------------------------------------------------------


def _flag_page(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    return render(request, "moderation/flag.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def flag_new(request: HttpRequest, target_type: str, target_id: int) -> HttpResponse:
    """The flag form: what is flagged, the reasons, a note; posting flags it (flag_create) and goes back to the
    object's page."""
    target_type = _target_type(target_type)
    identity = viewer_of(request)
    if identity is None:
        return _flag_page(request, {"refusal": NO_IDENTITY}, status=403)
    try:
        target, party, label = services.target_of(target_type, target_id, viewer=identity)
    except NotFound as exc:
        raise Http404(exc.message) from None
    context = {"target_type": target_type, "target": target, "label": label, "back": target_url(target_type, target)}
    if party == request.user.pk:
        return _flag_page(request, {**context, "refusal": "You cannot flag your own content or identity."}, status=403)
    form = FlagForm(request.POST if request.method == "POST" else None)
    if request.method == "GET":
        return _flag_page(request, {**context, "form": form})
    if not form.is_valid():
        return _flag_page(request, {**context, "form": form}, status=INVALID_FORM_STATUS)
    try:
        services.flag_create(
            flagger=identity,
            target_type=target_type,
            target_id=target.pk,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
    except ApplicationError as exc:
        error = field_refusal(form, exc)
        return _flag_page(request, {**context, "form": form, "error": error}, status=exc.status)
    messages.success(request, f"Thank you: moderators will look at {label}. Your flags page says how it ends.")
    return redirect(context["back"] or "moderation-my-flags")


@login_required
@require_GET
def my_flags(request: HttpRequest) -> HttpResponse:
    """The flags I and my agents raised, newest first, and how each ended."""
    try:
        flags, next_cursor = keyset_page(
            selectors.flags_of_party(request.user), cursor=request.GET.get("cursor") or None, limit=FLAGS_PAGE_SIZE
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("moderation-my-flags")
    return render(
        request,
        "moderation/my_flags.html",
        {"flags": flags, "next_cursor": next_cursor, "paged": bool(request.GET.get("cursor"))},
    )


# --- An action about me, and its appeal ------------------------------------------------------------------


def _action_or_404(request: HttpRequest, action_id: int):
    try:
        return selectors.action_for(request.user, action_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _action_page(request: HttpRequest, action, *, form: AppealForm | None = None, error: str = "", status: int = 200):
    appeal = getattr(action, "appeal", None)
    mine = action.party_id == request.user.pk
    target = selectors.target_detail(action.target_type, action.target_id)
    context = {
        "action": action,
        "appeal": appeal,
        "mine": mine,
        "target": target,
        "target_type": action.target_type,
        "target_url": target_url(action.target_type, target) if target is not None else "",
        "can_appeal": mine and action.appealable and appeal is None and not action.undone,
        "form": form or AppealForm(),
        "error": error,
    }
    return render(request, "moderation/action.html", context, status=status)


@login_required
@require_GET
def action_detail(request: HttpRequest, action_id: int) -> HttpResponse:
    """What moderators did about me (or, for staff, about anyone), why, and the appeal."""
    return _action_page(request, _action_or_404(request, action_id))


@login_required
@require_POST
def action_appeal(request: HttpRequest, action_id: int) -> HttpResponse:
    action = _action_or_404(request, action_id)
    form = AppealForm(request.POST)
    if not form.is_valid():
        return _action_page(request, action, form=form, status=INVALID_FORM_STATUS)
    try:
        services.appeal_file(user=request.user, action=action, statement=form.cleaned_data["statement"])
    except ApplicationError as exc:
        error = field_refusal(form, exc)
        return _action_page(request, _action_or_404(request, action_id), form=form, error=error, status=exc.status)
    messages.success(request, "Your appeal is filed: a moderator other than the one who acted will decide it.")
    return redirect("moderation-action", action_id=action.pk)


@login_required
@require_GET
def action_why(request: HttpRequest, target_type: str, target_id: int) -> HttpResponse:
    """From a notice to the action behind it: the latest action on the object about the viewer, of the kind
    `?kind=` names if any (a hidden text's, a frozen wallet's, a suspension's); staff go to the object's moderation
    page. The notices link here, so drawing them costs no query."""
    target_type = _target_type(target_type)
    if request.user.is_staff and request.user.is_active:
        return redirect("moderation-target", target_type=target_type, target_id=target_id)
    action = selectors.action_latest_on(
        request.user, target_type, target_id, kinds=WHY_KINDS.get(request.GET.get("kind"), ())
    )
    if action is None:
        raise Http404("No moderation action about you on this.")
    return redirect("moderation-action", action_id=action.pk)


# --- Staff: the queue ------------------------------------------------------------------------------------


@staff_only
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Open flags grouped by what they are about (oldest first), open appeals, and the moderator's leases."""
    reviewer = viewer_of(request)
    targets, open_flags, groups = selectors.flag_queue()
    waiting_appeals, appeals = selectors.appeal_queue()
    leases = selectors.moderation_leases(reviewer, now=timezone.now()) if reviewer is not None else []
    return render(
        request,
        "moderation/queue.html",
        {
            "reviewer": reviewer,
            "no_identity": NO_MODERATOR_IDENTITY,
            "targets": targets,
            "open_flags": open_flags,
            "groups": groups,
            "waiting_appeals": waiting_appeals,
            "appeals": appeals,
            "leases": leases,
            "flag_checkpoint": services.FLAG,
            "appeal_checkpoint": services.APPEAL,
        },
    )


@staff_only
@require_POST
def take(request: HttpRequest) -> HttpResponse:
    """Lease the next flag (or appeal) and open it; say so when nothing waits."""
    checkpoint = request.POST.get("checkpoint", "")
    if checkpoint not in (services.FLAG, services.APPEAL):
        raise Http404("No such queue.")
    reviewer = viewer_of(request)
    if reviewer is None:
        messages.error(request, NO_MODERATOR_IDENTITY)
        return redirect("moderation-queue")
    try:
        assignment = reviews.review_take_next(reviewer=reviewer, checkpoint=checkpoint)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("moderation-queue")
    if assignment is None:
        what = "flag" if checkpoint == services.FLAG else "appeal"
        messages.info(
            request,
            f"Nothing to take: no {what} waits for you now (those about you, or about an action of yours, go to "
            "other moderators).",
        )
        return redirect("moderation-queue")
    return redirect("moderation-review", assignment_id=assignment.pk)


# --- Staff: an object, its history and the actions on it -------------------------------------------------


def _buttons(target_type: str, target, *, open_flags: bool) -> list[dict]:
    """The actions ACTIONS_FOR allows on this kind of target that apply to it as it stands (hiding what is
    hidden would only repeat the notice), each with its shortcut; Dismiss while flags are open."""
    now = timezone.now()
    applies = {
        ActionKind.HIDE: lambda: not target.is_hidden,
        ActionKind.RESTORE: lambda: target.is_hidden,
        ActionKind.EDIT: lambda: (
            getattr(getattr(target, "market", None), "trade_count", 0) == 0
            and target.status not in (ClaimStatus.RESOLVED_YES, ClaimStatus.RESOLVED_NO, ClaimStatus.VOIDED)
        ),
        ActionKind.CLARIFY: lambda: target.status == ClaimStatus.OPEN and target.closes_at > now,
        ActionKind.VOID: lambda: target.settled_at is None and target.status != ClaimStatus.VOIDED,
        ActionKind.SUSPEND: lambda: target.is_active,
        ActionKind.SUSPEND_PARTY: lambda: target.kind == IdentityKind.HUMAN and target.is_active,
        ActionKind.REACTIVATE: lambda: not target.is_active,
        ActionKind.REVOKE_KEYS: lambda: target.kind == IdentityKind.AGENT and bool(target.live_keys),
        ActionKind.FREEZE: lambda: target.frozen_at is None,
        ActionKind.UNFREEZE: lambda: target.frozen_at is not None,
    }
    buttons = [
        {
            "kind": kind,
            "label": ActionKind(kind).label,
            "key": SHORTCUTS[kind],
            "danger": kind not in REVERSAL.values(),
        }
        for kind in services.ACTIONS_FOR[target_type]
        if applies[kind]()
    ]
    if open_flags:
        buttons.append({"kind": DISMISS, "label": "Dismiss the flags", "key": SHORTCUTS[DISMISS], "danger": False})
    return buttons


def _object_context(target_type: str, target) -> dict:
    """The object with its audit trail, its actions, every flag on it and each flagger's record."""
    flags = selectors.target_flags(target_type, target.pk)
    records = selectors.flagger_records(sorted({flag.flagger_id for flag in flags}))
    for flag in flags:
        flag.record = records[flag.flagger_id]
    open_flags = [flag for flag in flags if flag.status == FlagStatus.OPEN]
    return {
        "target_type": target_type,
        "target_type_label": Target(target_type).label,
        "target": target,
        "target_url": target_url(target_type, target),
        "trail": selectors.target_trail(target_type, target.pk),
        "actions": selectors.target_actions(target_type, target.pk),
        "flags": flags,
        "open_flags": open_flags,
    }


def _act_form(target_type: str, target, data=None) -> ActForm:
    initial = {"title": target.title, "criteria": target.criteria} if target_type == Target.CLAIM else {}
    return ActForm(data, initial=initial)


def _target_or_404(target_type: str, target_id: int):
    target = selectors.target_detail(_target_type(target_type), target_id)
    if target is None:
        raise Http404("No such object.")
    return target


def _act(request: HttpRequest, form: ActForm, target_type: str, target, open_flags: list[Flag]) -> str:
    """Carry out the action the form names (the services check for staff, the reason and the rest) and say
    what was done."""
    kind, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
    label = services.target_of(target_type, target.pk)[2]
    if kind == DISMISS:
        if not open_flags:
            raise NotFound("No open flag on this to dismiss.")
        closed = services.flag_dismiss(moderator=request.user, flag=open_flags[0], reason=reason)
        return f"You dismissed {closed} flag{'s' if closed != 1 else ''} on {label}."
    if kind not in services.ACTIONS_FOR[target_type]:
        raise Http404("No such action here.")
    services.moderation_act(
        moderator=request.user,
        kind=kind,
        target_type=target_type,
        target_id=target.pk,
        reason=reason,
        title=form.cleaned_data["title"],
        criteria=form.cleaned_data["criteria"],
        text=form.cleaned_data["text"],
    )
    return f"{DONE[kind]} {label}: the person affected is told why."


def _target_page(request: HttpRequest, target_type: str, target, *, form=None, error="", status=200) -> HttpResponse:
    context = _object_context(target_type, target)
    context.update(
        form=form or _act_form(target_type, target),
        buttons=_buttons(target_type, target, open_flags=bool(context["open_flags"])),
        act_url=reverse("moderation-target-act", args=[target_type, target.pk]),
        error=error,
    )
    return render(request, "moderation/target.html", context, status=status)


@staff_only
@require_GET
def target_page(request: HttpRequest, target_type: str, target_id: int) -> HttpResponse:
    """Any object's moderation page: the object, its history, and the actions, without a lease."""
    return _target_page(request, target_type, _target_or_404(target_type, target_id))


@staff_only
@require_POST
def target_act(request: HttpRequest, target_type: str, target_id: int) -> HttpResponse:
    target = _target_or_404(target_type, target_id)
    form = _act_form(target_type, target, request.POST)
    if not form.is_valid():
        return _target_page(request, target_type, target, form=form, status=INVALID_FORM_STATUS)
    open_flags = [f for f in selectors.target_flags(target_type, target.pk) if f.status == FlagStatus.OPEN]
    try:
        done = _act(request, form, target_type, target, open_flags)
    except ApplicationError as exc:
        error = field_refusal(form, exc)
        target = _target_or_404(target_type, target_id)
        return _target_page(request, target_type, target, form=form, error=error, status=exc.status)
    messages.success(request, done)
    return redirect("moderation-target", target_type=target_type, target_id=target.pk)


# --- Staff: the leased item ------------------------------------------------------------------------------


def _lease_or_404(request: HttpRequest, assignment_id: int) -> ReviewAssignment:
    """The moderator's own assignment; someone else's is a 404, as a missing one."""
    reviewer = viewer_of(request)
    assignment = review_selectors.assignment_of(reviewer, assignment_id) if reviewer is not None else None
    if assignment is None:
        raise Http404("No such assignment.")
    return assignment


def _lease_open(assignment: ReviewAssignment) -> bool:
    return (
        assignment.state == AssignmentState.LEASED
        and assignment.lease_expires_at > timezone.now()
        and assignment.request.state in OPEN_STATES
    )


def _appeal_of(assignment: ReviewAssignment) -> Appeal:
    appeal = (
        Appeal.objects.select_related("action__moderator", "appellant")
        .filter(pk=assignment.request.payload.get("appeal"))
        .first()
    )
    if appeal is None:
        raise Http404("No such appeal.")
    return appeal


def _review_page(
    request: HttpRequest, assignment: ReviewAssignment, *, form=None, error: str = "", status: int = 200
) -> HttpResponse:
    review = assignment.request
    payload = review.payload or {}
    appeal = _appeal_of(assignment) if review.checkpoint == services.APPEAL else None
    target_type = payload.get("target_type")
    target = _target_or_404(target_type, payload.get("target_id"))
    context = _object_context(target_type, target)
    lease_open = _lease_open(assignment)
    context.update(
        assignment=assignment,
        review=review,
        appeal=appeal,
        lease_open=lease_open,
        error=error,
        act_url=reverse("moderation-review-act", args=[assignment.pk]),
    )
    if appeal is None:
        flag_id = payload.get("flag")
        context["flag"] = next((flag for flag in context["flags"] if flag.pk == flag_id), None)
        context["form"] = form or _act_form(target_type, target)
        context["buttons"] = _buttons(target_type, target, open_flags=bool(context["open_flags"])) if lease_open else []
    else:
        context["form"] = form or AppealDecisionForm()
        context["undo"] = REVERSAL.get(appeal.action.kind) or appeal.action.kind  # an edit is undone by an edit
    return render(request, "moderation/review.html", context, status=status)


@staff_only
@require_GET
def review_item(request: HttpRequest, assignment_id: int) -> HttpResponse:
    """A leased flag or appeal. Another checkpoint's assignment opens on the reviews page."""
    assignment = _lease_or_404(request, assignment_id)
    if assignment.request.checkpoint not in (services.FLAG, services.APPEAL):
        return redirect("review-assignment", assignment_id=assignment.pk)
    return _review_page(request, assignment)


@staff_only
@require_POST
def review_act(request: HttpRequest, assignment_id: int) -> HttpResponse:
    """Act on a leased flag's target (or dismiss its flags), or decide a leased appeal; then back to the queue."""
    assignment = _lease_or_404(request, assignment_id)
    review = assignment.request
    if review.checkpoint == services.APPEAL:
        return _decide_appeal(request, assignment)
    if review.checkpoint != services.FLAG:
        raise Http404("No such assignment.")
    target_type, target = (
        review.payload["target_type"],
        _target_or_404(review.payload["target_type"], review.payload["target_id"]),
    )
    form = _act_form(target_type, target, request.POST)
    if not form.is_valid():
        return _review_page(request, assignment, form=form, status=INVALID_FORM_STATUS)
    open_flags = [f for f in selectors.target_flags(target_type, target.pk) if f.status == FlagStatus.OPEN]
    # Dismissing dismisses from this lease's own flag first, so its review is decided on the lease.
    open_flags.sort(key=lambda flag: flag.pk != review.payload.get("flag"))
    try:
        done = _act(request, form, target_type, target, open_flags)
    except ApplicationError as exc:
        error = field_refusal(form, exc)
        assignment = _lease_or_404(request, assignment_id)
        return _review_page(request, assignment, form=form, error=error, status=exc.status)
    messages.success(request, done)
    return redirect("moderation-queue")


def _decide_appeal(request: HttpRequest, assignment: ReviewAssignment) -> HttpResponse:
    form = AppealDecisionForm(request.POST)
    if not form.is_valid():
        return _review_page(request, assignment, form=form, status=INVALID_FORM_STATUS)
    kind, reason = form.cleaned_data["decision"], form.cleaned_data["reason"]
    try:
        reviews.review_decide(assignment_id=assignment.pk, reviewer=viewer_of(request), kind=kind, reason=reason)
    except ApplicationError as exc:
        error = field_refusal(form, exc)
        assignment = _lease_or_404(request, assignment.pk)
        return _review_page(request, assignment, form=form, error=error, status=exc.status)
    appeal = _appeal_of(assignment)
    if kind == "approve":
        done = f"You granted appeal #{appeal.pk}: “{appeal.action.get_kind_display()}” is being undone"
    else:
        done = f"You denied appeal #{appeal.pk}: the action stands"
    messages.success(request, f"{done}, and @{appeal.appellant.handle} is told why.")
    return redirect("moderation-queue")
