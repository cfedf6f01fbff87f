"""An owner's pages for their agent's webhooks: the subscriptions and a form to add one (its secret shown
once), one subscription with its settings, its delivery log (status codes and timing) and the actions:
disable or enable, rotate the secret (the new one shown once), send a test ping, redeliver, delete.

Each view parses a form, calls one service (apps.webhooks.services) and renders; a refusal is shown on the
form with the service's message and status. The reads are apps.webhooks.selectors'.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.api import keyset_page
from apps.core.errors import ApplicationError
from apps.identities.models import Identity
from apps.web.forms.agents import add_service_error
from apps.web.forms.webhooks import WebhookForm
from apps.web.views.agents import my_agent_or_404
from apps.web.views.common import INVALID_FORM_STATUS
from apps.webhooks import selectors, services
from apps.webhooks.models import WebhookSubscription

LOG_PAGE_SIZE = 25


def _subscription_or_404(agent: Identity, webhook_id: int) -> WebhookSubscription:
    subscription = selectors.subscription_of(agent, webhook_id)
    if subscription is None:
        raise Http404("No such webhook.")
    return subscription


def _list_page(request: HttpRequest, agent: Identity, form: WebhookForm, status: int = 200) -> HttpResponse:
    context = {"agent": agent, "subscriptions": list(selectors.subscriptions_of(agent)), "form": form}
    return render(request, "webhooks/list.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    if request.method == "GET":
        return _list_page(request, agent, WebhookForm())
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _list_page(request, agent, form, INVALID_FORM_STATUS)
    try:
        subscription, secret = services.subscription_create(agent=agent, **form.cleaned_data)
    except ApplicationError as exc:
        add_service_error(form, exc)
        return _list_page(request, agent, form, exc.status)
    context = {"agent": agent, "subscription": subscription, "secret": secret, "created": True}
    return render(request, "webhooks/secret.html", context, status=201)


def _detail(request: HttpRequest, agent: Identity, subscription: WebhookSubscription, *, status=200, **extra):
    deliveries, next_cursor = keyset_page(
        selectors.deliveries_of(subscription), cursor=request.GET.get("cursor") or None, limit=LOG_PAGE_SIZE
    )
    context = {
        "agent": agent,
        "subscription": subscription,
        "deliveries": deliveries,
        "next_cursor": next_cursor,
        "form": WebhookForm.for_subscription(subscription),
        **extra,
    }
    return render(request, "webhooks/detail.html", context, status=status)


@login_required
@require_GET
def webhook_detail(request: HttpRequest, agent_id: int, webhook_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    try:
        return _detail(request, agent, _subscription_or_404(agent, webhook_id))
    except ApplicationError as exc:  # a cursor that is not one
        messages.error(request, exc.message)
        return redirect("webhook-detail", agent_id=agent.pk, webhook_id=webhook_id)


@login_required
@require_POST
def webhook_update(request: HttpRequest, agent_id: int, webhook_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    subscription = _subscription_or_404(agent, webhook_id)
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _detail(request, agent, subscription, status=INVALID_FORM_STATUS, form=form)
    try:
        services.subscription_update(subscription=subscription, **form.cleaned_data)
    except ApplicationError as exc:
        add_service_error(form, exc)
        return _detail(request, agent, subscription, status=exc.status, form=form)
    messages.success(request, "Webhook saved.")
    return redirect("webhook-detail", agent_id=agent.pk, webhook_id=subscription.pk)


@login_required
@require_POST
def webhook_state(request: HttpRequest, agent_id: int, webhook_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    subscription = _subscription_or_404(agent, webhook_id)
    enabled = request.POST.get("enabled") == "true"
    services.subscription_update(subscription=subscription, enabled=enabled)
    messages.success(
        request, "Webhook enabled." if enabled else "Webhook disabled: nothing is sent until you enable it."
    )
    return redirect("webhook-detail", agent_id=agent.pk, webhook_id=subscription.pk)


@never_cache
@login_required
@require_POST
def webhook_rotate(request: HttpRequest, agent_id: int, webhook_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    subscription = _subscription_or_404(agent, webhook_id)
    secret, until = services.subscription_rotate_secret(subscription=subscription)
    context = {"agent": agent, "subscription": subscription, "secret": secret, "previous_until": until}
    return render(request, "webhooks/secret.html", context)


@login_required
@require_POST
def webhook_ping(request: HttpRequest, agent_id: int, webhook_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    subscription = _subscription_or_404(agent, webhook_id)
    try:
        services.ping_send(subscription=subscription)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "A test delivery is on its way; it shows in the log below.")
    return redirect("webhook-detail", agent_id=agent.pk, webhook_id=subscription.pk)


@login_required
@require_POST
def webhook_delete(request: HttpRequest, agent_id: int, webhook_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    services.subscription_delete(subscription=_subscription_or_404(agent, webhook_id))
    messages.success(request, "Webhook deleted.")
    return redirect("webhooks", agent_id=agent.pk)


@login_required
@require_POST
def webhook_redeliver(request: HttpRequest, agent_id: int, webhook_id: int, delivery_id: int) -> HttpResponse:
    agent = my_agent_or_404(request, agent_id)
    subscription = _subscription_or_404(agent, webhook_id)
    delivery = selectors.delivery_of(subscription, delivery_id)
    if delivery is None:
        raise Http404("No such delivery.")
    error = ""
    try:
        services.delivery_redeliver(delivery=delivery)
    except ApplicationError as exc:
        error = exc.message
    if request.htmx:
        delivery = selectors.deliveries_of(subscription).get(pk=delivery.pk)
        context = {"agent": agent, "subscription": subscription, "delivery": delivery, "row_error": error}
        return render(request, "webhooks/detail.html#delivery-row", context, status=409 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Queued again: it is sent now, with the same webhook-id.")
    return redirect("webhook-detail", agent_id=agent.pk, webhook_id=subscription.pk)
