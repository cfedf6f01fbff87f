"""A NUL character (U+0000) in anything a browser sends (the address, a form, a cookie) is a readable 400
page, and nothing is written. PostgreSQL cannot store a NUL in text: the directory's search was a 500."""

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.models import Event
from apps.identities.models import Identity, IdentityStatus
from tests import factories

pytestmark = pytest.mark.django_db

PAGE = (
    "<h1>This request cannot be used</h1>\n"
    "    <p>Part of the address or the form contains a NUL character, which no text may. Nothing was saved.</p>"
)


def _refused(response) -> None:
    assert response.status_code == 400
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert PAGE in response.content.decode()


def test_a_nul_in_the_directory_search_is_a_readable_400(client):
    factories.agent(handle="listed-bot")
    _refused(client.get(reverse("agent-directory") + "?q=a%00b"))
    _refused(client.get(reverse("agent-directory") + "?cursor=1%00"))
    assert client.get(reverse("agent-directory") + "?q=listed").status_code == 200


def test_a_nul_in_a_form_is_a_readable_400_and_writes_nothing(owner, owner_client, bot):
    before = (Identity.objects.count(), Event.objects.count())
    register = {"handle": "nul-bot", "autonomy_level": "advisory", "display_name": "a\x00b"}
    _refused(owner_client.post(reverse("my-agents"), register))
    _refused(owner_client.post(reverse("agent-suspend", args=[bot.pk]), {"reason": "a\x00b"}))
    _refused(
        owner_client.post(reverse("agent-update", args=[bot.pk]), {"autonomy_level": "advisory", "description": "\x00"})
    )
    assert (Identity.objects.count(), Event.objects.count()) == before
    bot.refresh_from_db()
    assert (bot.status, bot.description) == (IdentityStatus.ACTIVE, "")


def test_a_nul_in_the_address_or_a_cookie_is_a_readable_400(owner):
    _refused(Client().get("/id/a%00b/"))
    client = Client()
    client.cookies["sessionid"] = "a" * 31 + "\x00"  # a session key's length: it would be looked up
    _refused(client.get(reverse("home")))
