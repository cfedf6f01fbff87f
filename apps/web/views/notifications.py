"""The notifications page: a person's notifications, newest first, and marking them read.

With htmx, marking one read answers with its row (and the unread count, out of band), marking all
read with the list; without it, with a redirect back to the page. Live pages hear of new notifications
over the person's socket (static/js/live.js), which also refreshes the list here.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.api import keyset_page
from apps.core.errors import ApplicationError, NotFound
from apps.realtime import selectors, services

PAGE_SIZE = 25


def _back(request: HttpRequest) -> HttpResponse:
    """To the page of the list the form was on."""
    cursor = request.POST.get("cursor", "")
    url = reverse("notifications")
    return redirect(f"{url}?cursor={cursor}" if cursor.isdigit() else url)


@login_required
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    cursor = request.GET.get("cursor") or None
    try:
        items, next_cursor = keyset_page(selectors.notifications_of(request.user), cursor=cursor, limit=PAGE_SIZE)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("notifications")
    context = {
        "notifications": items,
        "next_cursor": next_cursor,
        "cursor": cursor or "",
        "unread": selectors.unread_count(request.user),
    }
    refresh = request.htmx and request.htmx.target == "notification-list"
    return render(request, "realtime/notifications.html#list" if refresh else "realtime/notifications.html", context)


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    try:
        notification = services.notification_mark_read(user=request.user, notification_id=notification_id)
    except NotFound:
        raise Http404("No such notification.") from None
    if request.htmx:
        context = {"notification": notification, "unread": selectors.unread_count(request.user), "oob": True}
        return render(request, "realtime/notifications.html#row", context)
    return _back(request)


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    marked = services.notifications_mark_all_read(user=request.user)
    if request.htmx:
        items, next_cursor = keyset_page(selectors.notifications_of(request.user), cursor=None, limit=PAGE_SIZE)
        context = {"notifications": items, "next_cursor": next_cursor, "cursor": "", "unread": 0}
        return render(request, "realtime/notifications.html#list", context)
    if marked:
        messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} as read.")
    return _back(request)
