"""Two-factor authentication: enrol an authenticator app, then sign-in asks for its code (or a recovery code)."""

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

EMAIL = "mira@example.com"
PERIOD = 30  # allauth's default MFA_TOTP_PERIOD


def totp_now(secret: str) -> str:
    """The current code, computed the way an authenticator app does (RFC 6238, allauth's own HOTP).

    allauth accepts only the current period (MFA_TOTP_TOLERANCE = 0), so never hand out a code that is
    about to expire between computing and posting it.
    """
    if PERIOD - time.time() % PERIOD < 2:
        time.sleep(2)
    return format_hotp_value(hotp_value(secret, int(time.time()) // PERIOD))


def wrong_code(secret: str) -> str:
    right = totp_now(secret)
    return "000000" if right != "000000" else "111111"


def sign_in(client: Client):
    return client.post(reverse("account_login"), {"login": EMAIL, "password": factories.PASSWORD})


def reauthenticate(client: Client, next_url: str) -> None:
    """Security settings ask for the password again, even right after signing in."""
    response = client.get(next_url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_reauthenticate')}?next={next_url.replace('/', '%2F')}"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'<main id="main" class="container narrow">' in page.content
    assert b"Confirm Access" in page.content
    done = client.post(response["Location"], {"password": factories.PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == next_url


@pytest.fixture
def enrolled():
    """A user who enrolled TOTP through the pages. Returns (user, secret, recovery codes)."""
    user = factories.verified_user(email=EMAIL)
    client = Client()
    assert sign_in(client).status_code == 302
    reauthenticate(client, reverse("mfa_activate_totp"))

    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    assert b'class="img-mfa img-totp img-qr' in page.content  # the QR code, as a data: image the CSP allows
    secret = client.session[SECRET_SESSION_KEY]
    assert secret.encode() in page.content

    refused = client.post(reverse("mfa_activate_totp"), {"code": wrong_code(secret)})
    assert refused.status_code == 200
    assert b"Incorrect code." in refused.content
    assert not Authenticator.objects.filter(user=user).exists()

    response = client.post(reverse("mfa_activate_totp"), {"code": totp_now(secret)})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_view_recovery_codes")
    codes_page = client.get(response["Location"])
    assert codes_page.status_code == 200

    assert set(Authenticator.objects.filter(user=user).values_list("type", flat=True)) == {
        Authenticator.Type.TOTP,
        Authenticator.Type.RECOVERY_CODES,
    }
    codes = RecoveryCodes(Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)).generate_codes()
    assert len(codes) == 10
    for code in codes:
        assert code.encode() in codes_page.content
    index = client.get(reverse("mfa_index"))
    assert b'<nav class="tabs" aria-label="Account settings">' in index.content
    assert b"Authentication using an authenticator app is active." in index.content
    assert b"There are 10 out of 10 recovery codes available." in index.content
    regenerate = client.get(reverse("mfa_generate_recovery_codes"))
    assert regenerate.status_code == 200
    assert b"This action will invalidate your existing codes." in regenerate.content
    download = client.get(reverse("mfa_download_recovery_codes"))
    assert download.status_code == 200
    assert codes[0].encode() in download.content
    return user, secret, codes


def test_sign_in_asks_for_the_code_and_a_correct_one_finishes_it(enrolled):
    user, secret, _ = enrolled
    client = Client()
    response = sign_in(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session

    page = client.get(reverse("mfa_authenticate"))
    assert page.status_code == 200
    assert b"Two-Factor Authentication" in page.content
    assert b'<main id="main" class="container narrow">' in page.content

    wrong = client.post(reverse("mfa_authenticate"), {"code": wrong_code(secret)})
    assert wrong.status_code == 200
    assert b"Incorrect code." in wrong.content
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("my-agents")).status_code == 302

    right = client.post(reverse("mfa_authenticate"), {"code": totp_now(secret)})
    assert right.status_code == 302
    assert right["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(reverse("my-agents")).status_code == 200


def test_a_recovery_code_signs_in_once(enrolled):
    user, _, codes = enrolled
    client = Client()
    sign_in(client)
    response = client.post(reverse("mfa_authenticate"), {"code": codes[3]})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    rc = RecoveryCodes(Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES))
    assert codes[3] not in rc.get_unused_codes()
    assert len(rc.get_unused_codes()) == 9

    again = Client()
    sign_in(again)
    refused = again.post(reverse("mfa_authenticate"), {"code": codes[3]})
    assert refused.status_code == 200
    assert b"Incorrect code." in refused.content
    assert "_auth_user_id" not in again.session


def test_deactivating_totp_needs_confirmation_and_removes_it(enrolled):
    user, _, _ = enrolled
    client = Client()
    sign_in(client)
    # Sign in with a recovery code, confirm the password, then deactivate.
    codes = RecoveryCodes(
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()
    assert client.post(reverse("mfa_authenticate"), {"code": codes[0]}).status_code == 302
    reauthenticate(client, reverse("mfa_deactivate_totp"))
    confirm = client.get(reverse("mfa_deactivate_totp"))
    assert confirm.status_code == 200
    assert b"Deactivate Authenticator App" in confirm.content
    response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
