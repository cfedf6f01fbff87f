"""Pages of a hosted agent, for its owner: hosting it (the strategy, its configuration drawn from the strategy's
schema, schedule, triggers, budgets), the kill switch, "run now", the run log and one run's timeline.

Every page is the owner's: someone else's agent, or a run of it, is a 404 as a missing one is. A refused rule
(ApplicationError) is shown on the form with the service's message and status, and nothing is written. A run's
page follows the run while it is live: its timeline polls itself every 2 seconds, and the fragment it gets
once the run has finished no longer polls.
"""

from datetime import datetime
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.agents import selectors, services
from apps.agents.models import HostedAgent, RunState
from apps.agents.strategies import REGISTRY
from apps.core.api import keyset_page
from apps.core.errors import ApplicationError
from apps.identities.models import Identity
from apps.web.forms.hosted import HostingForm, RunNowForm, StopForm
from apps.web.views.agents import _agent_page as agent_page
from apps.web.views.agents import my_agent_or_404
from apps.web.views.common import INVALID_FORM_STATUS, wants_partial

RUNS_PAGE_SIZE = 25
LATEST_RUNS = 5
LIVE_STATES = (RunState.QUEUED, RunState.RUNNING, RunState.PAUSED)
CONFIG_FIELDS = "config-fields"  # the hosting form's region that a change of strategy redraws
RUN_LIVE = "run-live"  # the run page's region that polls while the run is live


def _hosted_or_404(agent: Identity) -> HostedAgent:
    hosted = selectors.hosted_agent_for(agent=agent)
    if hosted is None:
        raise Http404("This agent is not hosted.")
    return hosted


def _strategy_label(key: str) -> str:
    strategy = REGISTRY.get(key)
    return strategy.label if strategy else key


def triggers_of(hosted: HostedAgent) -> list[str]:
    """The events that run it, as a sentence's parts."""
    triggers = []
    if hosted.on_claim_opened:
        triggers.append("a claim opens in its domains")
    if hosted.on_price_move is not None:
        points = format((hosted.on_price_move * 100).normalize(), "f")
        triggers.append(f"a price moves by more than {points} points")
    if hosted.on_closing_minutes:
        minutes = hosted.on_closing_minutes
        triggers.append(f"a claim is {minutes} minute{'s' * (minutes != 1)} from closing")
    return triggers


def hosting_section(agent: Identity, **overrides) -> dict:
    """What the agent page's "Hosting" section shows: how to host it, or how it is hosted and its latest runs."""
    hosted = selectors.hosted_agent_for(agent=agent)
    context = {"hosted": hosted, "stop_form": StopForm(), "run_form": RunNowForm(), "hosting_error": ""}
    if hosted is not None:
        context.update(
            strategy_label=_strategy_label(hosted.strategy),
            spent_today=services.spent_today_of(hosted),
            latest_runs=list(selectors.runs_of(hosted)[:LATEST_RUNS]),
            triggers=triggers_of(hosted),
        )
    context.update(overrides)
    return context


# --- Hosting ------------------------------------------------------------------------------------------------


def _hosting_page(request: HttpRequest, agent: Identity, form: HostingForm, *, status: int = 200) -> HttpResponse:
    context = {"agent": agent, "hosted": form.hosted, "form": form}
    if wants_partial(request, CONFIG_FIELDS):
        return render(request, "agents/hosting.html#config", context, status=status)
    return render(request, "agents/hosting.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def agent_hosting(request: HttpRequest, agent_id: int) -> HttpResponse:
    """Host the agent, or change how it is hosted. A GET with `?strategy=` draws that strategy's settings
    (what the strategy's radio buttons ask for, through htmx, when the owner picks another)."""
    agent = my_agent_or_404(request, agent_id)
    hosted = selectors.hosted_agent_for(agent=agent)
    if request.method == "GET":
        return _hosting_page(request, agent, HostingForm(hosted=hosted, strategy=request.GET.get("strategy")))
    form = HostingForm(request.POST, hosted=hosted)
    if not form.is_valid():
        return _hosting_page(request, agent, form, status=INVALID_FORM_STATUS)
    try:
        services.hosted_agent_set(owner=request.user, agent=agent, **form.settings())
    except ApplicationError as exc:
        form.show_refusal(exc)
        return _hosting_page(request, agent, form, status=exc.status)
    messages.success(request, f"@{agent.handle} is hosted." if hosted is None else "Hosting settings saved.")
    return redirect(reverse("agent-detail", kwargs={"agent_id": agent.pk}) + "#hosting")


# --- The kill switch and "run now" ----------------------------------------------------------------------------


def _refused(request: HttpRequest, agent: Identity, exc: ApplicationError, **forms) -> HttpResponse:
    """The agent page again, with the refusal in its Hosting section."""
    hosting = hosting_section(agent, hosting_error=exc.message, **forms)
    return agent_page(request, agent, status=exc.status, hosting=hosting)


@login_required
@require_POST
def agent_hosting_stop(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    hosted = _hosted_or_404(agent)
    form = StopForm(request.POST)
    if not form.is_valid():
        return agent_page(request, agent, status=INVALID_FORM_STATUS, hosting=hosting_section(agent, stop_form=form))
    try:
        services.hosted_agent_stop(hosted=hosted, by=request.user, reason=form.cleaned_data["reason"])
    except ApplicationError as exc:
        return _refused(request, agent, exc, stop_form=form)
    messages.success(
        request, f"@{agent.handle} is stopped: no run starts, and a running one ends before its next order."
    )
    return redirect(reverse("agent-detail", kwargs={"agent_id": agent.pk}) + "#hosting")


@login_required
@require_POST
def agent_hosting_start(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    hosted = _hosted_or_404(agent)
    try:
        services.hosted_agent_start(hosted=hosted, by=request.user)
    except ApplicationError as exc:
        return _refused(request, agent, exc)
    messages.success(request, f"@{agent.handle} is running again.")
    return redirect(reverse("agent-detail", kwargs={"agent_id": agent.pk}) + "#hosting")


@login_required
@require_POST
def agent_run_now(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    hosted = _hosted_or_404(agent)
    form = RunNowForm(request.POST)
    if not form.is_valid():
        return agent_page(request, agent, status=INVALID_FORM_STATUS, hosting=hosting_section(agent, run_form=form))
    try:
        run = services.agent_run_request(hosted=hosted, by=request.user, key=form.cleaned_data["key"])
    except ApplicationError as exc:
        return _refused(request, agent, exc)
    return redirect("agent-run", agent_id=agent.pk, run_id=run.pk)


# --- Runs -----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def agent_runs(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    hosted = _hosted_or_404(agent)
    try:
        runs, next_cursor = keyset_page(
            selectors.runs_of(hosted), cursor=request.GET.get("cursor") or None, limit=RUNS_PAGE_SIZE
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("agent-runs", agent_id=agent.pk)
    context = {
        "agent": agent,
        "hosted": hosted,
        "runs": runs,
        "next_cursor": next_cursor,
        "paged": bool(request.GET.get("cursor")),
    }
    return render(request, "agents/runs.html", context)


@login_required
@require_GET
def agent_run(request: HttpRequest, agent_id: int, run_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    hosted = _hosted_or_404(agent)
    run = selectors.run_of(hosted, run_id)
    if run is None:
        raise Http404("No such run.")
    context = {
        "agent": agent,
        "hosted": hosted,
        "run": run,
        "live": run.state in LIVE_STATES,
        "timeline": run_timeline(selectors.journal_of(run)),
    }
    if wants_partial(request, RUN_LIVE):
        return render(request, "agents/run.html#live", context)
    return render(request, "agents/run.html", context)


# --- A run's journal, as its page tells it ---------------------------------------------------------------------


def _claim_seen(view: dict) -> dict:
    """A claim as the run read it: title, price, consensus (the journal keeps them as strings)."""
    return {
        "id": view.get("id"),
        "title": view.get("title", ""),
        "domain": view.get("domain", ""),
        "price": view.get("price_yes"),
        "consensus": view.get("consensus"),
        "sources": view.get("consensus_owners", 0),
        "closes_at": _moment(view.get("closes_at")),
    }


def _moment(text) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


def _prompt(request: dict) -> str:
    """What a model was asked: its messages, one paragraph each (the whole request when it has none)."""
    chat = request.get("messages") if isinstance(request, dict) else None
    if isinstance(chat, list):
        return "\n\n".join(f"[{m.get('role', '?')}] {m.get('content', '')}" for m in chat if isinstance(m, dict))
    return str(request)


def run_timeline(journal: list[dict]) -> list[dict]:
    """Each step of a run's journal as the timeline shows it: what it read (summarised), what it decided and
    why, what it ordered and what came of it, what it asked and was answered, what a model was asked and said.
    Claim titles come from the claims the run read, so the page reads nothing more."""
    titles: dict[int, str] = {}
    for entry in journal:
        if entry.get("op") == "claims":
            titles.update({c["id"]: c.get("title", "") for c in entry.get("result") or [] if "id" in c})
        elif entry.get("op") == "claim" and entry.get("result"):
            titles[entry["result"]["id"]] = entry["result"].get("title", "")
    steps = []
    for entry in journal:
        op = entry.get("op")
        claim = entry.get("claim")
        step = {"op": op, "step": entry.get("step"), "claim": claim, "title": titles.get(claim, "")}
        if op == "claims":
            step["claims"] = [_claim_seen(c) for c in entry.get("result") or []]
        elif op == "claim":
            step["claim"] = (entry.get("args") or {}).get("claim")
            step["seen"] = _claim_seen(entry["result"]) if entry.get("result") else None
        elif op == "history":
            result = entry.get("result") or []
            domains = (entry.get("args") or {}).get("domains") or []
            step.update(count=len(result), yes=sum(1 for h in result if h.get("outcome")), domains=domains)
        elif op == "position":
            step["claim"] = (entry.get("args") or {}).get("claim")
            step["position"] = entry.get("result") or {}
        elif op == "decide":
            shown = {"op", "step", "claim", "action", "reason"}
            step.update(
                action=entry.get("action", ""),
                reason=entry.get("reason", ""),
                detail=[(k.replace("_", " "), v) for k, v in entry.items() if k not in shown],
            )
        elif op == "order":
            order, result = entry.get("order") or {}, entry.get("result") or {}
            belief = order.get("belief")
            step.update(
                order=order,
                result=result,
                side=(result.get("side") or order.get("side") or "").upper(),
                belief=None if belief is None else f"{(Decimal(belief) * 100).normalize():f}%",
            )
        elif op == "ask":
            step.update(
                question=entry.get("question", ""),
                review=entry.get("review"),
                answered="answer" in entry,
                answer=entry.get("answer"),
                how=entry.get("how", ""),
            )
        elif op == "model":
            step.update(
                prompt=_prompt(entry.get("request") or {}),
                model=(entry.get("request") or {}).get("model", ""),
                reply=entry.get("reply", ""),
                error=entry.get("error", ""),
                tokens_in=entry.get("tokens_in", 0),
                tokens_out=entry.get("tokens_out", 0),
                cost=entry.get("cost", "0"),
            )
        steps.append(step)
    return steps
