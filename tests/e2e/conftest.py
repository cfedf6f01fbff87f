"""Browser tests: Playwright driving Debian's Chromium (`apt-get install -y chromium`; `.ci/run` installs
it when missing), headless, against a real uvicorn serving the project's ASGI app on the test database."""

import os
from pathlib import Path

import pytest
from django.test import Client

from tests.realtime.servers import page_server

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


@pytest.fixture(scope="module")
def server(tmp_path_factory, django_db_setup, django_db_blocker):
    """A real uvicorn serving the project's ASGI app (pages and WebSockets) on the test database, one per
    module. pytest-django's live server speaks WSGI only: the sockets static/js/live.js opens on every
    page would fail there, and Chromium logs a failed socket as a console error. What a test writes must
    be committed for the server to see it: browser tests use django_db(transaction=True)."""
    mail = tmp_path_factory.mktemp("mail")
    before = os.environ.get("CREDENCE_TEST_MAIL_DIR")
    os.environ["CREDENCE_TEST_MAIL_DIR"] = str(mail)  # the server's mail goes there (tests/realtime/settings.py)
    try:
        with page_server(log_dir=tmp_path_factory.mktemp("pages")) as running:
            running.mail_dir = mail
            yield running
    finally:
        if before is None:
            os.environ.pop("CREDENCE_TEST_MAIL_DIR", None)
        else:
            os.environ["CREDENCE_TEST_MAIL_DIR"] = before


@pytest.fixture
def open_page(browser, server):
    """open_page(user, path, port=None) -> a page in a fresh browser context, signed in as `user` (or
    anonymous). The test fails on any console error (a Content-Security-Policy violation is one) or
    uncaught page error, except those it allows with allow_console(page, text)."""
    opened = []

    def open_(user, path: str, *, port: int | None = None):
        base = f"http://127.0.0.1:{port or server.port}"
        context = browser.new_context(base_url=base)
        if user is not None:
            client = Client()
            client.force_login(user)
            context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}])
        page = context.new_page()
        page._sockets, page._frames = [], []  # the sockets it opened, and what they received

        def opened_socket(ws) -> None:
            page._sockets.append(ws)
            ws.on("framereceived", lambda payload: page._frames.append(payload))

        page.on("websocket", opened_socket)
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        opened.append((context, page, problems))
        if path is not None:
            response = page.goto(path)
            assert response.status == 200, path
        return page

    yield open_
    failures = []
    for context, page, problems in opened:
        allowed = getattr(page, "_allowed_console", ())
        failures += [p for p in problems if not any(a in p for a in allowed)]
        context.close()
    assert failures == []


def allow_console(page, text: str) -> None:
    page._allowed_console = (*getattr(page, "_allowed_console", ()), text)


@pytest.fixture
def page(open_page):
    """An anonymous page on the ASGI server, not yet navigated."""
    return open_page(None, None)
