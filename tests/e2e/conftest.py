"""Browser tests: Playwright driving Debian's Chromium (`apt-get install -y chromium`; `.ci/run` installs
it when missing) against pytest-django's live server, headless."""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CREDENCE_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Playwright's sync API runs an event loop in the test's thread for as
    long as it is open, so it is closed with the module: the tests of other modules (async_to_sync among
    them) never run beside it. Meanwhile the ORM calls the tests make are still synchronous and
    sequential, which is what DJANGO_ALLOW_ASYNC_UNSAFE vouches for, for this module only."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
            yield browser
            browser.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (its own cookies) on the live server; fails the test on any console error
    (a Content-Security-Policy violation is one) or uncaught page error."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert problems == [], problems
