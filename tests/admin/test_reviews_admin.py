"""Staff manage checkpoint policies in the admin: a condition that does not type-check is refused with the reason
and nothing is saved; an edit saves a new version and leaves the old one as it was; requests are only read."""

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.reviews import services
from apps.reviews.models import CheckpointPolicy
from tests import factories

pytestmark = pytest.mark.django_db

FORM = {
    "key": "big-orders",
    "checkpoint": "trade.place",
    "description": "Large orders by agents.",
    "condition": 'actor.kind == "agent" && order.amount > 500 * CREDIT',
    "sample_percent": 100,
    "decisions": '["approve", "reject"]',
    "edit_schema": "null",
    "reviewers_required": 1,
    "agreement": "first",
    "pool": "staff",
    "pool_min_level": "verified_human",
    "pool_min_reliability": "",
    "timeout_seconds": 3600,
    "on_timeout": "reject",
    "price": 0,
}


@pytest.fixture
def staff():
    user = User.objects.create_superuser(email="policies@example.com", password=factories.PASSWORD)
    client = Client()
    client.force_login(user)
    return client


def test_a_policy_is_saved_as_version_one(staff):
    answer = staff.post("/admin/reviews/checkpointpolicy/add/", FORM)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    policy = CheckpointPolicy.objects.get(key="big-orders")
    assert (policy.version, policy.is_current, policy.condition) == (1, True, FORM["condition"])


def test_a_condition_that_does_not_type_check_is_refused_with_the_reason(staff):
    answer = staff.post("/admin/reviews/checkpointpolicy/add/", {**FORM, "condition": "order.amonut > 5"})
    assert answer.status_code == 200
    assert "unknown field" in answer.content.decode()
    assert CheckpointPolicy.objects.filter(key="big-orders").count() == 0


def test_an_edit_is_a_new_version_and_the_old_one_stays(staff):
    first = services.policy_create(
        key="big-orders",
        created_by=None,
        **{k: v for k, v in FORM.items() if k not in ("key", "decisions", "edit_schema", "pool_min_reliability")},
        decisions=["approve", "reject"],
    )
    answer = staff.post(f"/admin/reviews/checkpointpolicy/{first.pk}/change/", {**FORM, "timeout_seconds": 7200})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    versions = list(
        CheckpointPolicy.objects.filter(key="big-orders")
        .order_by("version")
        .values_list("version", "is_current", "timeout_seconds")
    )
    assert versions == [(1, False, 3600), (2, True, 7200)]


def test_requests_are_listed_and_read_only(staff):
    bot = factories.funded_agent(handle="admin-asker")
    factories.question(bot, key="admin-1")
    listing = staff.get("/admin/reviews/reviewrequest/")
    assert listing.status_code == 200 and "Yes or no?" not in listing.content.decode()  # the list shows subjects
    assert staff.get("/admin/reviews/reviewrequest/add/").status_code == 403
