"""The notifications page (/notifications/): a person's notifications, newest first, the unread count,
marking one or all read (POST with CSRF; htmx answers with the row or the list), and the live region every
page carries for a signed-in person."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.models import Event
from apps.realtime.models import Notification, NotificationKind
from tests import factories

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _notify(user, n: int, *, first: int = 1) -> list[Notification]:
    return [
        Notification.objects.create(
            user=user,
            kind=NotificationKind.PAYOUT,
            subject=f"claim:{i}",
            text=f"You received {i} credits from the settlement of “Claim {i}” (resolved YES).",
            link=f"/claims/{i}/",
        )
        for i in range(first, first + n)
    ]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _reads() -> list[dict]:
    return list(Event.objects.filter(kind="notifications.read").order_by("id").values_list("subject", "payload"))


def test_the_page_lists_newest_first_with_the_unread_count(owner, owner_client):
    first, second, third = _notify(owner, 3)
    second.read_at = second.created_at
    second.save()
    _notify(factories.verified_user(), 1, first=9)  # someone else's

    response = owner_client.get(reverse("notifications"))

    assert response.status_code == 200
    assert [n.pk for n in response.context["notifications"]] == [third.pk, second.pk, first.pk]
    assert response.context["unread"] == 2
    html = response.content.decode()
    assert '<span data-unread-count id="unread-count">2</span> unread' in html
    assert html.count('class="notification notification-unread"') == 2
    assert f'id="notification-{second.pk}" class="notification"' in html
    assert '<a href="/claims/3/">View the claim</a>' in html
    assert "Claim 9" not in html
    assert "Mark all as read" in html
    assert html.count(">Mark as read<") == 2


def test_an_empty_page_says_so(owner_client):
    html = owner_client.get(reverse("notifications")).content.decode()
    assert "No notifications yet." in html
    assert "Mark all as read" not in html


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("notifications"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_page_takes_as_many_queries_for_ten_notifications_as_for_two(owner, owner_client):
    _notify(owner, 2)
    with CaptureQueriesContext(connection) as two:
        assert owner_client.get(reverse("notifications")).status_code == 200
    _notify(owner, 8, first=3)
    with CaptureQueriesContext(connection) as ten:
        response = owner_client.get(reverse("notifications"))
    assert len(response.context["notifications"]) == 10
    assert len(ten) == len(two)


def test_older_notifications_are_on_the_next_page(owner, owner_client):
    made = _notify(owner, 27)
    first = owner_client.get(reverse("notifications"))
    assert len(first.context["notifications"]) == 25
    cursor = first.context["next_cursor"]
    assert cursor == str(made[2].pk)
    second = owner_client.get(reverse("notifications"), {"cursor": cursor})
    assert [n.pk for n in second.context["notifications"]] == [made[1].pk, made[0].pk]
    assert second.context["next_cursor"] is None
    # a later page does not refresh itself live (it would jump back to the newest)
    assert 'hx-trigger="credence:notifications from:body"' in first.content.decode()
    assert 'hx-trigger="credence:notifications from:body"' not in second.content.decode()


def test_a_bad_cursor_is_a_message_not_an_error(owner_client):
    response = owner_client.get(reverse("notifications"), {"cursor": "nope"}, follow=True)
    assert response.redirect_chain == [(reverse("notifications"), 302)]
    assert "cursor is not valid." in response.content.decode()


def test_marking_read_needs_the_csrf_token(owner):
    notification = _notify(owner, 1)[0]
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    url = reverse("notification-read", kwargs={"notification_id": notification.pk})

    # without the token: refused, nothing changed
    assert client.post(url).status_code == 403
    notification.refresh_from_db()
    assert notification.read_at is None
    assert _reads() == []

    # with the page's token: read, back to the page, and the person's other pages hear the new count
    token = _csrf(client.get(reverse("notifications")).content.decode())
    response = client.post(url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"] == reverse("notifications")
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert _reads() == [(f"user:{owner.pk}", {"unread": 0})]

    # marking it again changes nothing and announces nothing
    read_at = notification.read_at
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
    notification.refresh_from_db()
    assert notification.read_at == read_at
    assert len(_reads()) == 1


def test_marking_from_a_later_page_returns_to_it(owner, owner_client):
    notification = _notify(owner, 1)[0]
    url = reverse("notification-read", kwargs={"notification_id": notification.pk})
    response = owner_client.post(url, {"cursor": "123"})
    assert response["Location"] == f"{reverse('notifications')}?cursor=123"


def test_someone_elses_notification_is_not_found_and_stays_unread(owner_client):
    theirs = _notify(factories.verified_user(), 1)[0]
    response = owner_client.post(reverse("notification-read", kwargs={"notification_id": theirs.pk}))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert _reads() == []


def test_with_htmx_marking_read_answers_with_the_row_and_the_count(owner, owner_client):
    first, _ = _notify(owner, 2)
    url = reverse("notification-read", kwargs={"notification_id": first.pk})

    response = owner_client.post(url, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith(f'<li id="notification-{first.pk}" class="notification">')
    assert '<span class="badge">Read</span>' in html
    assert "Mark as read" not in html
    assert '<span data-unread-count id="unread-count" hx-swap-oob="true">1</span>' in html
    assert _reads() == [(f"user:{owner.pk}", {"unread": 1})]


def test_mark_all_read(owner, owner_client):
    _notify(owner, 3)
    _notify(other := factories.verified_user(), 1, first=7)

    response = owner_client.post(reverse("notifications-read-all"), follow=True)

    assert response.redirect_chain == [(reverse("notifications"), 302)]
    assert "Marked 3 notifications as read." in response.content.decode()
    assert not Notification.objects.filter(user=owner, read_at__isnull=True).exists()
    assert Notification.objects.get(user=other).read_at is None
    assert _reads() == [(f"user:{owner.pk}", {"unread": 0})]

    # again: nothing to mark, no message, no event
    again = owner_client.post(reverse("notifications-read-all"), follow=True)
    assert "Marked" not in again.content.decode()
    assert len(_reads()) == 1


def test_with_htmx_mark_all_read_answers_with_the_list(owner, owner_client):
    _notify(owner, 2)
    response = owner_client.post(reverse("notifications-read-all"), **HTMX)
    html = response.content.decode()
    assert html.strip().startswith('<section id="notification-list"')
    assert '<span data-unread-count id="unread-count">0</span> unread' in html
    assert html.count('<span class="badge">Read</span>') == 2
    assert "Mark all as read" not in html


def test_a_live_refresh_gets_only_the_list(owner, owner_client):
    _notify(owner, 1)
    response = owner_client.get(reverse("notifications"), HTTP_HX_TARGET="notification-list", **HTMX)
    html = response.content.decode()
    assert html.strip().startswith('<section id="notification-list"')
    assert "<html" not in html


def test_every_page_carries_the_live_region_for_a_signed_in_person(owner_client, client):
    html = owner_client.get(reverse("home")).content.decode()
    assert (
        '<div id="notifications" class="toasts" aria-live="polite" aria-label="Notifications"\n'
        '     data-live-user="/ws/me/" data-notifications-url="/notifications/"></div>'
    ) in html
    assert 'href="/static/css/live.css"' in html
    assert 'id="notifications"' not in client.get(reverse("home")).content.decode()


def test_the_navigation_link_shows_where_the_unread_count_goes(rf, owner):
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = owner
    html = render_to_string("realtime/nav_link.html", request=request)
    assert (
        '<a href="/notifications/" id="nav-notifications">Notifications'
        '<span class="pill" data-unread-badge hidden><span data-unread-count>0</span>'
        '<span class="visually-hidden"> unread</span></span></a>'
    ) in html
