import pytest
from django.test import Client

from tests.billing.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe


@pytest.fixture
def fake_stripe(settings):
    """Stripe configured, talking to a local Stripe on loopback."""
    fake = FakeStripe()
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_IDENTITY_ENABLED = True
    yield fake
    fake.stop()


@pytest.fixture
def stripe_client() -> Client:
    """Stripe's side of the webhook: no session, no CSRF token."""
    return Client(enforce_csrf_checks=True)
