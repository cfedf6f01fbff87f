"""The admin's index: one section per app, each under a name of its own, and every model's plural spelt
as English spells it."""

import re

import pytest
from django.test import Client

from apps.accounts.models import User
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_admin_index_names_each_section_once_and_spells_every_plural():
    client = Client()
    client.force_login(User.objects.create_superuser(email="mod@example.com", password=factories.PASSWORD))
    html = client.get("/admin/").content.decode()

    sections = re.findall(r'<caption>\s*<a href="/admin/[a-z_]+/" class="section"[^>]*>([^<]+)</a>', html)
    assert sections == [
        "Accounts",  # allauth's: email addresses
        "Authentication and Authorization",
        "Billing and verification",
        "Core",
        "Hosted agents",
        "Identities",
        "Ledger",
        "Markets",
        "MFA",
        "Moderation",
        "People",  # ours: the people who log in
        "Reputation",
        "Reviews",
        "Webhooks",
    ]
    models = re.findall(r'<th scope="row" id="reputation-[a-z]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>', html)
    assert models == [
        "Agreements",
        "Beliefs",
        "Calibrations",
        "Claim records",
        "Consensuses",
        "Extremizing fits",
        "Reliabilities",
        "Scores",
    ]
    reviews = re.findall(r'<th scope="row" id="reviews-[a-z]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>', html)
    assert reviews == ["Checkpoint policies", "Review requests"]
    webhooks = re.findall(r'<th scope="row" id="webhooks-[a-z]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>', html)
    assert webhooks == ["Webhook deliveries", "Webhook subscriptions"]
    billing = re.findall(r'<th scope="row" id="billing-[a-z]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>', html)
    assert billing == ["Credit packages", "Debts", "Purchases", "Stripe events", "Verifications"]
    core = re.findall(r'<th scope="row" id="core-[a-z]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>', html)
    assert core == ["Audit entries", "Events"]
    moderation = re.findall(r'<th scope="row" id="moderation-[a-z]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>', html)
    assert moderation == ["Appeals", "Flags", "Moderation actions"]
    markets = re.findall(r'<th scope="row" id="markets-[a-z]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>', html)
    assert markets == ["Claims", "Clarifications", "Domains", "Trades"]
