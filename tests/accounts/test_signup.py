"""Sign up, verify the email address, sign in: mandatory verification, then an identity and the grant."""

import re
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils.module_loading import import_string

from apps.accounts.models import User, VerificationLevel
from apps.identities.models import Identity, IdentityKind
from apps.ledger.models import Transfer
from apps.ledger.selectors import ledger_verify_report, wallet_balance

pytestmark = pytest.mark.django_db

EMAIL = "grace@example.com"
PASSWORD = "a-long-and-unusual-passphrase"


def _signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def _sign_up(client: Client) -> str:
    """Sign up and return the confirmation link from the email."""
    response = client.post(reverse("account_signup"), {"email": EMAIL, "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [EMAIL]
    assert message.subject == "[Credence] Please Confirm Your Email Address"
    links = re.findall(r"http://testserver(/accounts/confirm-email/[^/\s]+/)", message.body)
    assert len(links) == 1
    return links[0]


def test_signup_verify_then_sign_in():
    client = Client()
    link = _sign_up(client)
    user = User.objects.get(email=EMAIL)
    assert user.verification_level == VerificationLevel.UNVERIFIED
    assert _signed_in_user_id(client) is None
    assert not Identity.objects.filter(user=user).exists()

    # The link shows a confirmation form (no state change on GET), inside our layout.
    page = client.get(link)
    assert page.status_code == 200
    assert b'<main id="main" class="container narrow">' in page.content
    assert EmailAddress.objects.get(email=EMAIL).verified is False

    response = client.post(link)
    assert response.status_code == 302
    # Confirming in the browser that signed up also signs in (ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION).
    assert response["Location"] == reverse("home")

    user.refresh_from_db()
    assert _signed_in_user_id(client) == str(user.pk)
    assert user.verification_level == VerificationLevel.EMAIL_VERIFIED
    assert EmailAddress.objects.get(email=EMAIL).verified is True
    identity = Identity.objects.get(user=user)
    assert (identity.kind, identity.handle) == (IdentityKind.HUMAN, "grace")
    assert wallet_balance(identity) == 1_000_000_000
    assert Transfer.objects.filter(kind="signup_grant").count() == 1
    assert ledger_verify_report().ok

    # A second confirmation changes nothing.
    client.post(link)
    assert wallet_balance(identity) == 1_000_000_000

    fresh = Client()
    response = fresh.post(reverse("account_login"), {"login": EMAIL, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert _signed_in_user_id(fresh) == str(user.pk)
    home = fresh.get(reverse("home")).content.decode()
    assert '<span class="pill" id="nav-balance">1,000</span>' in home


def test_an_unverified_user_cannot_sign_in():
    _sign_up(Client())
    client = Client()
    response = client.post(reverse("account_login"), {"login": EMAIL, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert _signed_in_user_id(client) is None
    assert client.get(reverse("my-agents")).status_code == 302
    assert not Identity.objects.exists()


def test_the_verification_sent_page_renders_in_the_layout():
    client = Client()
    _sign_up(client)
    response = client.get(reverse("account_email_verification_sent"))
    assert response.status_code == 200
    assert b"Verify Your Email Address" in response.content
    assert b'<a class="brand" href="/">' in response.content


def test_a_bad_confirmation_key_is_a_page_not_an_error():
    response = Client().get(reverse("account_confirm_email", kwargs={"key": "not-a-key"}))
    assert response.status_code == 200
    assert b"This email confirmation link expired or is invalid." in response.content


def test_signup_with_a_weak_password_is_refused_on_the_form():
    response = Client().post(
        reverse("account_signup"), {"email": EMAIL, "password1": "password", "password2": "password"}
    )
    assert response.status_code == 200
    assert b"This password is too short. It must contain at least 10 characters." in response.content
    assert not User.objects.filter(email=EMAIL).exists()
    assert mail.outbox == []


def test_the_verification_email_comes_from_credence_not_from_the_host():
    link = _sign_up(Client())

    message = mail.outbox[0]
    assert message.subject == "[Credence] Please Confirm Your Email Address"
    assert message.from_email == "Credence <noreply@localhost>"
    assert message.body == (
        "Hello from Credence!\n\n"
        f"You're receiving this email because user {EMAIL} has given your email address to register an account "
        "on testserver.\n\n"
        f"To confirm this is correct, go to http://testserver{link}\n\n"
        "Thank you for using Credence!\n"
        "testserver"
    )


def test_the_local_console_prints_the_verification_link_whole_on_one_line():
    """`make run` prints mail on the console: the link must be clickable as printed, not cut by the
    quoted-printable soft line breaks of the raw message."""
    from config.settings import local

    link = _sign_up(Client())
    out = StringIO()
    backend = import_string(local.MAILERS["default"]["BACKEND"])(stream=out)

    assert backend.send_messages(mail.outbox) == 1

    lines = out.getvalue().splitlines()
    assert f"To confirm this is correct, go to http://testserver{link}" in lines
    assert "Subject: [Credence] Please Confirm Your Email Address" in lines
    assert f"To: {EMAIL}" in lines
    assert "Hello from Credence!" in lines
    assert not any(line.endswith("=") for line in lines)  # no soft line break anywhere
