"""The browser harness itself, on pages that exist today: they render in Chromium under the strict
Content-Security-Policy without a console error, and a sign-in form works by keyboard."""

import pytest

from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_home_page_renders_without_a_console_error(page):
    response = page.goto("/")
    assert response.status == 200
    assert "Credence" in page.title()
    assert "script-src" in response.headers["content-security-policy"]


def test_a_person_signs_in_with_the_keyboard(page):
    user = factories.verified_user()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/")
    # signed in: the navigation shows the wallet with the signup grant
    assert page.get_by_role("link", name="Wallet 1,000").is_visible()
