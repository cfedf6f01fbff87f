"""Posting a claim: the form with live checking (htmx), the preview and the subsidy it costs; the author's
drafts, and publishing one.

The form is checked as the person types (`claim-new-check` answers the cost-and-preview panel, with
each field's errors out of band), and works as a plain form without JavaScript. Submitting calls
`services.claim_create` once per rendered form: see `_claim_form_token`.
"""

import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.amounts import format_credits
from apps.core.errors import ApplicationError
from apps.identities.models import Identity
from apps.ledger.errors import InsufficientCredit
from apps.ledger.selectors import wallet_balance
from apps.markets import lmsr, selectors, services
from apps.markets.checkpoints import PublishPaused
from apps.markets.errors import TooManyOpenClaims
from apps.markets.models import Claim, ClaimStatus
from apps.web.forms.post import ClaimPostForm, insufficient_credit_message
from apps.web.views.common import INVALID_FORM_STATUS

DRAFTS_SHOWN = 20
TOKEN_TTL = 24 * 3600  # a used form token is remembered this long (seconds)
TOKEN_WAIT = 10.0  # how long a duplicate waits for the first submission of its form to finish (seconds)
_PENDING = "pending"


class _SubmissionInFlight(Exception):
    pass


def _author(request: HttpRequest) -> Identity | None:
    """The signed-in person's identity if it may post claims (active), else None."""
    identity = request.user.human_identity
    return identity if identity is not None and identity.is_active else None


def _drafts(author: Identity) -> list[Claim]:
    """The author's unpublished drafts, newest first, each with what publishing it costs."""
    drafts = selectors.drafts_of(author, limit=DRAFTS_SHOWN)
    for draft in drafts:
        draft.subsidy = lmsr.initial_subsidy(draft.liquidity)
    return drafts


def _touched(request: HttpRequest, form: ClaimPostForm) -> set[str]:
    """Fields the person has been to: those named before (the hidden `touched` list the last answer
    sent back), the one that fired this check, and every field with something typed in it."""
    touched = set(request.POST.get("touched", "").split())
    touched.add(request.headers.get("HX-Trigger-Name", ""))
    visible = {field.name for field in form.visible_fields()}
    touched |= {name for name in visible if (request.POST.get(name) or "").strip()}
    return touched & visible


def _live_context(form: ClaimPostForm, author: Identity, balance: int) -> dict:
    return {
        "form": form,
        "author": author,
        "balance": balance,
        "subsidy": form.subsidy,
        "balance_after": None if form.subsidy is None else balance - form.subsidy,
        "preview": form.preview(),
    }


def _page(request: HttpRequest, form: ClaimPostForm, author: Identity, balance: int, *, status: int = 200):
    context = _live_context(form, author, balance)
    context["drafts"] = _drafts(author)
    return render(request, "markets/claim_form.html", context, status=status)


def _new_form(balance: int, *args, **kwargs) -> ClaimPostForm:
    form = ClaimPostForm(*args, balance=balance, **kwargs)
    form.enable_live_check(reverse("claim-new-check"))
    return form


@login_required
@require_http_methods(["GET", "POST"])
def claim_new(request: HttpRequest) -> HttpResponse:
    author = _author(request)
    if author is None:
        identity = request.user.human_identity
        status = 200 if request.method == "GET" else 403
        return render(request, "markets/claim_form.html", {"identity": identity, "author": None}, status=status)
    balance = wallet_balance(author)
    if request.method == "GET":
        return _page(request, _new_form(balance), author, balance)

    action = request.POST.get("action", "publish")
    form = _new_form(balance, request.POST, publish=action != "draft")
    valid = form.is_valid()
    if action == "preview":  # the no-JavaScript way to see the cost and the preview before submitting
        return _page(request, form, author, balance, status=200 if valid else INVALID_FORM_STATUS)
    token = form.cleaned_data.get("form_token")
    key = f"claim-form:{author.pk}:{token}"
    # A form sent again after it posted its claim (a double click, a resubmitted POST) leads to that
    # claim, whatever its fields would say now (the balance, for one, has paid the subsidy since).
    if token is not None and isinstance(posted := cache.get(key), int):
        return _already_posted(request, posted)
    if not valid:
        return _page(request, form, author, balance, status=INVALID_FORM_STATUS)
    try:
        posted = _claim_form_token(key)
    except _SubmissionInFlight:
        form.add_error(None, "This form is still being submitted. Wait a moment, then check your drafts and claims.")
        return _page(request, form, author, balance, status=409)
    if posted is not None:
        return _already_posted(request, posted)

    data = form.cleaned_data
    try:
        claim = services.claim_create(
            author=author,
            title=data["title"],
            criteria=data["criteria"],
            domain=data["domain"],
            tags=data["tags"],
            closes_at=data["closes_at"],
            resolve_by=data["resolve_by"],
            liquidity=data["liquidity"],
            publish=form.publish,
        )
    except ApplicationError as exc:
        cache.delete(key)  # nothing was written: the same form may be corrected and sent again
        balance = wallet_balance(author)
        _show_refusal(form, exc, balance=balance)
        return _page(request, form, author, balance, status=exc.status)
    except BaseException:
        cache.delete(key)
        raise
    cache.set(key, claim.pk, TOKEN_TTL)
    if form.publish and claim.paused is not None:
        messages.info(request, _waiting(claim.paused))
    elif form.publish:
        messages.success(
            request, f"Your claim is open for trading. The subsidy of {format_credits(form.subsidy)} credits was paid."
        )
    else:
        messages.success(request, "Draft saved. Nothing was charged: publish it when you are ready.")
    return redirect("claim-detail", claim.pk)


def _waiting(paused: PublishPaused) -> str:
    return (
        f"A reviewer looks at your claim before it opens (review #{paused.review.pk}); its subsidy of "
        f"{format_credits(paused.review.held)} credits is held until then, and comes back if it is not approved."
    )


def _already_posted(request: HttpRequest, claim_id: int) -> HttpResponse:
    messages.info(request, "That form was already submitted: the claim was posted once.")
    return redirect("claim-detail", claim_id)


def _claim_form_token(key: str) -> int | None:
    """Claim the rendered form's one-time token. None: this request now owns it and posts the claim.
    An id: the form was already submitted and posted that claim.

    The token lives in the cache, not the session: `cache.add` is atomic (Redis SET NX), whereas two
    requests of a double click would both read a session in which the token is still unused. A duplicate
    that arrives while the first is still writing waits for it, so both answers lead to the same claim."""
    deadline = time.monotonic() + TOKEN_WAIT
    while not cache.add(key, _PENDING, TOKEN_TTL):
        posted = cache.get(key)
        if isinstance(posted, int):
            return posted
        if time.monotonic() > deadline:
            raise _SubmissionInFlight()
        time.sleep(0.05)  # the first submission is still running (or just failed and released the token)
    return None


def _refusal(exc: ApplicationError, *, subsidy: int | None, balance: int) -> tuple[str | None, str]:
    """(the field it concerns or None, the message) for a rule the service refused."""
    if isinstance(exc, InsufficientCredit) and subsidy is not None:
        return "liquidity", insufficient_credit_message(subsidy, balance)
    if isinstance(exc, TooManyOpenClaims):
        limit = (exc.detail or {}).get("limit")
        return None, (
            f"You already have {limit} open claims, the most allowed: another can be published once one of "
            "them has closed. Drafts cost nothing meanwhile."
        )
    field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    return field, exc.message


def _show_refusal(form: ClaimPostForm, exc: ApplicationError, *, balance: int) -> None:
    field, message = _refusal(exc, subsidy=form.subsidy, balance=balance)
    form.add_error(field if field in form.fields else None, message)


@login_required
@require_POST
def claim_new_check(request: HttpRequest) -> HttpResponse:
    """The live check: the cost-and-preview panel, each field's errors and the fields visited so far
    (both out of band). Writes nothing."""
    author = _author(request)
    if author is None:
        return HttpResponse("You cannot post claims.", status=403)
    balance = wallet_balance(author)
    form = _new_form(balance, request.POST)
    form.is_valid()
    touched = _touched(request, form)
    context = _live_context(form, author, balance)
    context.update(oob=True, errors=form.errors_shown(touched), touched=" ".join(sorted(touched)))
    return render(request, "markets/claim_form.html#live", context)


def _back(request: HttpRequest, claim: Claim):
    """Where a refused publication returns: the page the form was on (`next`), else the draft's page."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect("claim-detail", claim.pk)


@login_required
@require_POST
def claim_draft_publish(request: HttpRequest, claim_id: int) -> HttpResponse:
    """Publish one of my drafts (pays the subsidy). Someone else's draft is a 404, like a missing one."""
    author = _author(request)
    claim = selectors.claim_visible(claim_id, author) if author is not None else None
    if claim is None or claim.author_id != author.pk:
        raise Http404("No such draft.")
    if claim.status == ClaimStatus.VOIDED:
        messages.error(request, "This draft was voided by a moderator: it cannot be published.")
        return redirect("claim-detail", claim.pk)
    if claim.status != ClaimStatus.DRAFT:
        messages.info(request, "This claim is already published.")
        return redirect("claim-detail", claim.pk)
    try:
        published = services.claim_publish(claim=claim, actor=author)
    except ApplicationError as exc:
        subsidy = lmsr.initial_subsidy(claim.liquidity)
        messages.error(request, _refusal(exc, subsidy=subsidy, balance=wallet_balance(author))[1])
        return _back(request, claim)
    if isinstance(published, PublishPaused):
        messages.info(request, _waiting(published))
        return redirect("claim-detail", claim.pk)
    messages.success(request, "Your claim is open for trading. The subsidy was paid from your wallet.")
    return redirect("claim-detail", claim.pk)
