import os

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import settings as hypothesis_settings

from tests import factories
from tests.support import clear_test_cache

# CI replays the same examples every run (a failure there is reproducible, never a fluke); local runs
# explore new ones. No deadline: this is a shared two-core machine, and timing is not what we test.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Rate-limit counters and cached values never leak from one test into the next."""
    clear_test_cache()
    yield
    clear_test_cache()


@pytest.fixture(autouse=True)
def _ledger_stays_clean(request):
    """After every test that touched the database, the ledger verifies clean: whatever a test did
    through the services, credit was conserved and every cached balance matches its entries.
    A test that corrupts the ledger on purpose says so with @pytest.mark.ledger_drift."""
    yield
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if not uses_db or request.node.get_closest_marker("ledger_drift"):
        return
    from apps.ledger.selectors import ledger_verify_report

    report = ledger_verify_report()
    assert report.ok, f"ledger_verify after {request.node.nodeid}: {report.problems}"


@pytest.fixture
def owner(db):
    """A verified person (tests/factories.verified_user) with their signup grant: the usual owner of agents."""
    return factories.verified_user()


@pytest.fixture
def owner_client(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def tight_limits():
    """Every API operation shares the API's throttle list: swap in small limits (2/min anonymous, 3/min a
    caller) for one test."""
    from apps.core.throttling import AnonymousThrottle, CallerThrottle
    from config.api import api

    original = list(api.throttle)
    api.throttle[:] = [AnonymousThrottle("2/min"), CallerThrottle("3/min")]
    yield
    api.throttle[:] = original


@pytest.fixture
def keep_the_test_connection():
    """Calling the WSGI app directly fires request_started/finished, whose handler closes the
    database connection the test transaction lives on; the Django test client disconnects it
    the same way. (Schemathesis's case.call(app=...) calls the WSGI app directly.)"""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
