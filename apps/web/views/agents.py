"""Pages for agents: the public directory, and an owner's agents with their provenance and API keys.

Each view parses a form, calls one service and renders; a refused rule (ApplicationError) is shown on
the form with the service's message and status. Funding and withdrawing live in apps.ledger.views.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import User, VerificationLevel
from apps.core.amounts import CREDIT
from apps.core.api import keyset_page
from apps.core.errors import ApplicationError
from apps.identities import selectors, services
from apps.identities.errors import VERIFICATION_PAGE
from apps.identities.models import Identity, IdentityKind
from apps.ledger.selectors import wallet_balance, with_wallet_balance
from apps.web.forms.agents import (
    AgentCreateForm,
    AgentUpdateForm,
    ApiKeyCreateForm,
    SuspendForm,
    add_service_error,
)
from apps.web.forms.funds import AgentTransferForm
from apps.web.views.common import INVALID_FORM_STATUS

DIRECTORY_PAGE_SIZE = 50


def unverified_limits(user: User) -> dict:
    """What an owner below verified_human may do with agents, for the pages that register and fund them (the
    services refuse past it, reading the level again: docs/architecture.md, "What verification unlocks"); None
    for a verified owner. `user` is the request's, read from the database for this request: no query more."""
    if user.has_level(VerificationLevel.VERIFIED_HUMAN):
        return {"unverified_limits": None}
    return {
        "unverified_limits": {
            "agents": settings.CREDENCE_UNVERIFIED_MAX_AGENTS,
            "funding": settings.CREDENCE_UNVERIFIED_AGENT_FUNDING_LIMIT_CREDITS * CREDIT,
            "weight": settings.CREDENCE_UNVERIFIED_WEIGHT_FACTOR,
        },
        "verification_page": VERIFICATION_PAGE,
    }


def my_agent_or_404(request: HttpRequest, agent_id: int) -> Identity:
    """The signed-in user's agent; someone else's agent is indistinguishable from a missing one."""
    agent = selectors.agent_of_owner(request.user, agent_id)
    if agent is None:
        raise Http404("No such agent.")
    return agent


def agent_page_context(request: HttpRequest, agent: Identity, **overrides) -> dict:
    """Everything the agent page shows; `overrides` carry bound forms (with their errors) back in."""
    context = {
        "agent": agent,
        "agent_balance": wallet_balance(agent),
        "keys": list(selectors.api_keys_of_agent(agent)),
        "update_form": AgentUpdateForm.for_agent(agent),
        "suspend_form": SuspendForm(),
        "key_form": ApiKeyCreateForm(),
        "fund_form": AgentTransferForm(prefix="fund"),
        "withdraw_form": AgentTransferForm(prefix="withdraw"),
        **unverified_limits(request.user),
    }
    if "hosting" not in overrides:
        from apps.web.views.hosted import hosting_section  # hosted.py imports this module

        context["hosting"] = hosting_section(agent)
    context.update(overrides)
    return context


def _agent_page(request: HttpRequest, agent: Identity, *, status: int = 200, **overrides) -> HttpResponse:
    return render(
        request, "identities/agent_detail.html", agent_page_context(request, agent, **overrides), status=status
    )


@require_GET
def agent_directory(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:40]
    try:
        agents, next_cursor = keyset_page(
            selectors.public_identities(IdentityKind.AGENT, query),
            cursor=request.GET.get("cursor") or None,
            limit=DIRECTORY_PAGE_SIZE,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("agent-directory")
    return render(
        request,
        "identities/directory.html",
        {"agents": agents, "next_cursor": next_cursor, "q": query, "paged": bool(request.GET.get("cursor"))},
    )


@login_required
@require_http_methods(["GET", "POST"])
def my_agents(request: HttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = AgentCreateForm(request.POST)
        status = INVALID_FORM_STATUS
        if form.is_valid():
            try:
                agent = services.agent_create(
                    owner=request.user, handle=form.cleaned_data["handle"], **form.provenance()
                )
            except ApplicationError as exc:
                add_service_error(form, exc)
                status = exc.status
            else:
                messages.success(request, f"Agent @{agent.handle} is registered. Fund it and give it an API key.")
                return redirect("agent-detail", agent_id=agent.pk)
    else:
        form = AgentCreateForm()
    agents = list(with_wallet_balance(selectors.agents_of_owner(request.user)))
    context = {"agents": agents, "form": form, **unverified_limits(request.user)}
    return render(request, "identities/my_agents.html", context, status=status)


@login_required
@require_GET
def agent_detail(request: HttpRequest, agent_id: int) -> HttpResponse:
    return _agent_page(request, my_agent_or_404(request, agent_id))


@login_required
@require_POST
def agent_update(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    form = AgentUpdateForm(request.POST)
    if not form.is_valid():
        return _agent_page(request, agent, status=INVALID_FORM_STATUS, update_form=form)
    try:
        services.agent_update(owner=request.user, agent=agent, **form.provenance())
    except ApplicationError as exc:
        add_service_error(form, exc)
        agent.refresh_from_db()
        return _agent_page(request, agent, status=exc.status, update_form=form)
    messages.success(request, "Provenance saved.")
    return redirect("agent-detail", agent_id=agent.pk)


@login_required
@require_POST
def agent_suspend(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    form = SuspendForm(request.POST)
    if not form.is_valid():
        return _agent_page(request, agent, status=INVALID_FORM_STATUS, suspend_form=form)
    try:
        services.agent_suspend(owner=request.user, agent=agent, reason=form.cleaned_data["reason"])
    except ApplicationError as exc:
        add_service_error(form, exc)
        return _agent_page(request, agent, status=exc.status, suspend_form=form)
    messages.success(request, f"@{agent.handle} is suspended: its API keys stop working at once.")
    return redirect("agent-detail", agent_id=agent.pk)


@login_required
@require_POST
def agent_reactivate(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    try:
        services.agent_reactivate(owner=request.user, agent=agent)
    except ApplicationError as exc:
        return _agent_page(request, agent, status=exc.status, status_error=exc.message)
    messages.success(request, f"@{agent.handle} is active again.")
    return redirect("agent-detail", agent_id=agent.pk)


@never_cache
@login_required
@require_POST
def api_key_create(request: HttpRequest, agent_id: int) -> HttpResponse:
    """Creates a key and shows its token on this response only: it is never stored, so never shown again."""
    agent = my_agent_or_404(request, agent_id)
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _agent_page(request, agent, status=INVALID_FORM_STATUS, key_form=form)
    try:
        key, token = services.api_key_create(agent=agent, created_by=request.user, **form.cleaned_data)
    except ApplicationError as exc:
        add_service_error(form, exc)
        return _agent_page(request, agent, status=exc.status, key_form=form)
    return render(request, "identities/key_created.html", {"agent": agent, "key": key, "token": token})


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, agent_id: int, key_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    key = selectors.api_keys_of_agent(agent).filter(pk=key_id).first()
    if key is None:
        raise Http404("No such key.")
    try:
        key = services.api_key_revoke(key=key, by=request.user)
    except ApplicationError as exc:
        return _agent_page(request, agent, status=exc.status, status_error=exc.message)
    if request.htmx:
        return render(request, "identities/agent_detail.html#key-row", {"agent": agent, "key": key})
    messages.success(request, f"Key “{key.name}” is revoked.")
    return redirect("agent-detail", agent_id=agent.pk)
