"""Wallet pages: my wallet's history, and moving credit between me and my agents.

Fund and withdraw forms post here from the agent page. With htmx they answer with the page's `funds`
fragment (and the navigation balance, out of band); without it, with a redirect back to the page.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.billing import selectors as billing_selectors
from apps.core.amounts import format_credits
from apps.core.api import keyset_page
from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.web.forms.funds import AgentTransferForm
from apps.web.views.agents import agent_page_context, my_agent_or_404, unverified_limits
from apps.web.views.common import INVALID_FORM_STATUS

WALLET_PAGE_SIZE = 25
WALLET_PURCHASES = 10


@login_required
@require_GET
def wallet(request: HttpRequest) -> HttpResponse:
    identity = request.user.human_identity
    if identity is None:  # signed in without a verified email (e.g. an admin created by hand)
        return render(request, "ledger/wallet.html", {"identity": None})
    try:
        entries, next_cursor = keyset_page(
            selectors.wallet_entries(identity), cursor=request.GET.get("cursor") or None, limit=WALLET_PAGE_SIZE
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("wallet")
    return render(
        request,
        "ledger/wallet.html",
        {
            "identity": identity,
            "balance": selectors.wallet_balance(identity),
            "owed": selectors.owed_by(identity),
            "settle_key": uuid.uuid4(),
            "purchases": billing_selectors.purchases_of(request.user, WALLET_PURCHASES),
            "entries": entries,
            "next_cursor": next_cursor,
            "paged": bool(request.GET.get("cursor")),
        },
    )


def _funds_response(
    request: HttpRequest, agent, *, form_name: str, form: AgentTransferForm, status: int, notice: str = ""
) -> HttpResponse:
    if request.htmx:
        context = {
            "agent": agent,
            "agent_balance": selectors.wallet_balance(agent),
            "owner_balance": selectors.wallet_balance(request.user.human_identity),
            "fund_form": AgentTransferForm(prefix="fund"),
            "withdraw_form": AgentTransferForm(prefix="withdraw"),
            "notice": notice,
            **unverified_limits(request.user),
        }
        if status != 200:
            context[form_name] = form  # the bound form keeps its amount, its key and its errors
        return render(request, "identities/agent_detail.html#funds", context, status=status)
    if status == 200:
        messages.success(request, notice)
        return redirect("agent-detail", agent_id=agent.pk)
    return render(
        request, "identities/agent_detail.html", agent_page_context(request, agent, **{form_name: form}), status=status
    )


def _notice(transfer, verb: str, amount: int) -> str:
    if transfer.replayed:
        return "That form was already submitted: the transfer was made once, nothing moved twice."
    return f"{verb} {format_credits(amount)} credits."


def _move_credit(request: HttpRequest, agent_id: int, *, direction: str) -> HttpResponse:
    """Fund (owner -> agent) or withdraw (agent -> owner): the two forms differ only in these three things."""
    service, form_name, verb = {
        "fund": (services.wallet_fund_agent, "fund_form", "Moved to"),
        "withdraw": (services.wallet_withdraw_agent, "withdraw_form", "Withdrawn from"),
    }[direction]
    agent = my_agent_or_404(request, agent_id)
    form = AgentTransferForm(request.POST, prefix=direction)
    if not form.is_valid():
        return _funds_response(request, agent, form_name=form_name, form=form, status=INVALID_FORM_STATUS)
    amount = form.cleaned_data["amount"]
    try:
        transfer = service(
            owner=request.user, agent=agent, amount=amount, idempotency_key=form.cleaned_data["idempotency_key"]
        )
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return _funds_response(request, agent, form_name=form_name, form=form, status=exc.status)
    notice = _notice(transfer, f"{verb} @{agent.handle}:", amount)
    return _funds_response(request, agent, form_name=form_name, form=form, status=200, notice=notice)


@login_required
@require_POST
def agent_fund(request: HttpRequest, agent_id: int) -> HttpResponse:
    return _move_credit(request, agent_id, direction="fund")


@login_required
@require_POST
def agent_withdraw(request: HttpRequest, agent_id: int) -> HttpResponse:
    return _move_credit(request, agent_id, direction="withdraw")
