import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-passphrase-42"


def test_password_reset_end_to_end():
    user = factories.verified_user(email="lin@example.com")
    client = Client()

    response = client.post(reverse("account_reset_password"), {"email": "lin@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_done")
    done = client.get(response["Location"])
    assert done.status_code == 200
    assert b'<main id="main" class="container narrow">' in done.content

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["lin@example.com"]
    assert mail.outbox[0].subject == "[Credence] Password Reset Email"
    (link,) = re.findall(r"http://testserver(/accounts/password/reset/key/[^/\s]+/)", mail.outbox[0].body)

    # allauth moves the key into the session and redirects to a URL without it.
    response = client.get(link)
    assert response.status_code == 302
    form_url = response["Location"]
    assert form_url.endswith("-set-password/")
    page = client.get(form_url)
    assert page.status_code == 200
    assert b"Change Password" in page.content

    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_from_key_done")
    assert client.get(response["Location"]).status_code == 200

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(factories.PASSWORD)

    fresh = Client()
    old = fresh.post(reverse("account_login"), {"login": "lin@example.com", "password": factories.PASSWORD})
    assert old.status_code == 200
    assert b"The email address and/or password you specified are not correct." in old.content
    new = fresh.post(reverse("account_login"), {"login": "lin@example.com", "password": NEW_PASSWORD})
    assert new.status_code == 302
    assert fresh.session["_auth_user_id"] == str(user.pk)

    # The link works once.
    again = Client().get(link, follow=True)
    assert b"Bad Token" in again.content


def test_reset_for_an_unknown_address_reveals_nothing():
    client = Client()
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_done")
