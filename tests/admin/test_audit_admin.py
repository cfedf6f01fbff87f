"""The audit trail in the admin: read-only, filtered, exported as CSV (no cell a spreadsheet would run) and JSON
lines, streamed with no query per row; and an admin edit of a privileged field (a user's staff flag, a checkpoint
policy, a credit package) recorded on it with the fields before and after."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.billing.models import CreditPackage
from apps.core.admin import EXPORT_COLUMNS, csv_cell
from apps.core.audit import audit_record
from apps.core.models import AuditEntry
from apps.markets.models import Domain
from apps.reviews import services as reviews
from apps.reviews.models import CheckpointPolicy
from tests import factories
from tests.admin.test_reviews_admin import FORM as POLICY_FORM
from tests.support import signed_in

pytestmark = pytest.mark.django_db

TRAIL = "/admin/core/auditentry/"
HEADER = (
    "id,created_at,actor_id,actor_label,acting_as,actor_identity_id,action,object_type,object_id,object_repr,"
    "before,after,reason,request_id,ip\r\n"
)


@pytest.fixture
def moderator():
    return User.objects.create_superuser(email="mod@example.com", password=factories.PASSWORD)


@pytest.fixture
def client(moderator):
    return signed_in(moderator)


@pytest.fixture
def formula(moderator):
    """An entry whose object's name and reason a spreadsheet would run as formulas."""
    domain = Domain.objects.create(slug="formulas", name="=1+2")
    entry = audit_record(
        actor=moderator,
        action="domain.change",
        obj=domain,
        before={"name": "Science"},
        after={"name": "=1+2"},
        reason="@SUM(A1)",
    )
    entry.refresh_from_db()
    return entry


def body(response) -> str:
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain =", "plain ="),
        (None, ""),
        ({"a": 1}, '{"a": 1}'),
    ],
)
def test_a_csv_cell_never_starts_a_formula(value, cell):
    assert csv_cell(value) == cell


def test_the_csv_export_is_the_filtered_list_with_formulas_escaped(client, moderator, formula):
    audit_record(actor=moderator, action="other.thing", obj=("markets.claim", 1))
    exported = client.get(f"{TRAIL}export/csv/?action__exact=domain.change")
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert exported["Content-Disposition"].startswith('attachment; filename="audit-')
    e = formula
    assert body(exported) == HEADER + (
        f"{e.pk},{e.created_at.isoformat()},{moderator.pk},mod@example.com,superuser,,domain.change,markets.domain,"
        f'{e.object_id},\'=1+2,"{{""name"": ""Science""}}","{{""name"": ""=1+2""}}",\'@SUM(A1),,\r\n'
    )


def test_the_json_lines_export(client, moderator, formula):
    exported = client.get(f"{TRAIL}export/jsonl/")
    assert exported["Content-Type"] == "application/x-ndjson; charset=utf-8"
    expected = {
        "id": formula.pk,
        "created_at": formula.created_at.isoformat(),
        "actor_id": moderator.pk,
        "actor_label": "mod@example.com",
        "acting_as": "superuser",
        "actor_identity_id": None,
        "action": "domain.change",
        "object_type": "markets.domain",
        "object_id": formula.object_id,
        "object_repr": "=1+2",
        "before": {"name": "Science"},
        "after": {"name": "=1+2"},
        "reason": "@SUM(A1)",
        "request_id": "",
        "ip": None,
    }
    assert list(expected) == list(EXPORT_COLUMNS)
    assert body(exported) == json.dumps(expected, ensure_ascii=False) + "\n"


def test_exporting_the_selection(client, moderator, formula):
    other = audit_record(actor=moderator, action="other.thing", obj=("markets.claim", 1))
    exported = client.post(TRAIL, {"action": "export_jsonl", "_selected_action": [str(other.pk)], "index": "0"})
    lines = body(exported).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [other.pk]
    csv = client.post(TRAIL, {"action": "export_csv", "_selected_action": [str(formula.pk)], "index": "0"})
    assert body(csv).count("\r\n") == 2 and "'=1+2" in body(client.get(f"{TRAIL}export/csv/"))


def test_the_list_offers_the_exports_of_what_it_shows(client, formula):
    page = client.get(f"{TRAIL}?action__exact=domain.change").content.decode()
    assert f'href="{TRAIL}export/csv/?action__exact=domain.change"' in page
    assert f'href="{TRAIL}export/jsonl/?action__exact=domain.change"' in page
    assert client.get(f"{TRAIL}export/xml/").status_code == 403


def test_exports_make_no_query_per_row(client, moderator):
    def queries(fmt: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            body(client.get(f"{TRAIL}export/{fmt}/"))
        return len(captured)

    audit_record(actor=moderator, action="x.y", obj=("markets.claim", 0))
    few = {fmt: queries(fmt) for fmt in ("csv", "jsonl")}
    for n in range(9):
        audit_record(actor=moderator, action="x.y", obj=("markets.claim", n + 1))
    assert {fmt: queries(fmt) for fmt in ("csv", "jsonl")} == few
    assert len(body(client.get(f"{TRAIL}export/jsonl/")).splitlines()) == 10


def test_the_trail_filters_and_searches(client, moderator, formula):
    other = audit_record(actor=moderator, action="other.thing", obj=("markets.claim", 1), reason="needle")

    def rows(query: str) -> set[int]:
        response = client.get(TRAIL + query)
        assert response.status_code == 200
        return {entry.pk for entry in response.context["cl"].result_list}

    assert rows("") == {formula.pk, other.pk}
    assert rows("?action__exact=other.thing") == {other.pk}
    assert rows("?object_type__exact=markets.domain") == {formula.pk}
    assert rows("?acting_as__exact=superuser") == {formula.pk, other.pk}
    assert rows("?q=needle") == {other.pk}
    assert rows(f"?object_type=markets.claim&object_id={other.object_id}") == {other.pk}


def test_the_trail_is_only_read(client, formula):
    assert client.get(f"{TRAIL}add/").status_code == 403
    assert client.post(f"{TRAIL}{formula.pk}/change/", {"reason": "rewritten"}).status_code == 403
    assert client.post(f"{TRAIL}{formula.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{TRAIL}{formula.pk}/change/").status_code == 200
    assert AuditEntry.objects.get(pk=formula.pk).reason == "@SUM(A1)"


# --- Privileged admin edits --------------------------------------------------------------------------------


def user_form(user: User, **changes) -> dict:
    data = {
        "email": user.email,
        "display_name": user.display_name,
        "verification_level": user.verification_level,
        "is_active": "on",
    }
    return {**data, **changes}


def test_making_someone_staff_is_on_the_trail_with_before_and_after(client, moderator):
    person = factories.verified_user("person@example.com")
    saved = client.post(f"/admin/accounts/user/{person.pk}/change/", user_form(person, is_staff="on"))
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert User.objects.get(pk=person.pk).is_staff
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.object_id, entry.actor, entry.acting_as) == (
        "user.change", "accounts.user", str(person.pk), moderator, "superuser",
    )  # fmt: skip
    assert (entry.before, entry.after, entry.reason) == (
        {"is_staff": False},
        {"is_staff": True},
        "Changed Is staff.",
    )
    assert entry.request_id and entry.ip == "127.0.0.1"
    # saving again with nothing privileged changed records nothing
    client.post(f"/admin/accounts/user/{person.pk}/change/", user_form(person, is_staff="on", display_name="P"))
    assert AuditEntry.objects.count() == 1


def test_setting_a_password_is_on_the_trail(client):
    person = factories.verified_user("person@example.com")
    new = "another-correct-horse-battery"
    saved = client.post(
        f"/admin/accounts/user/{person.pk}/password/", {"password1": new, "password2": new, "usable_password": "true"}
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.after) == (
        "user.password_set",
        str(person.pk),
        {"usable_password": True},
    )


def test_a_credit_package_edited_in_the_list_is_on_the_trail(client):
    package = CreditPackage.objects.create(name="Starter", credits=100 * 10**6, price=500, position=1)
    saved = client.post(
        "/admin/billing/creditpackage/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(package.pk),
            "form-0-position": "1",
            "_save": "Save",
        },
    )
    assert saved.status_code == 302
    assert CreditPackage.objects.get(pk=package.pk).active is False
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.before, entry.after, entry.reason) == (
        "creditpackage.change", str(package.pk), {"active": True}, {"active": False}, "Changed Active.",
    )  # fmt: skip


def test_a_policy_revision_and_retirement_are_on_the_trail(client):
    first = reviews.policy_create(
        key="big-orders",
        created_by=None,
        **{
            k: v for k, v in POLICY_FORM.items() if k not in ("key", "decisions", "edit_schema", "pool_min_reliability")
        },
        decisions=["approve", "reject"],
    )
    saved = client.post(f"/admin/reviews/checkpointpolicy/{first.pk}/change/", {**POLICY_FORM, "timeout_seconds": 7200})
    assert saved.status_code == 302
    second = CheckpointPolicy.objects.get(key="big-orders", is_current=True)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.before, entry.after) == (
        "checkpointpolicy.change", str(second.pk), {"timeout_seconds": 3600}, {"timeout_seconds": 7200},
    )  # fmt: skip
    client.post(
        "/admin/reviews/checkpointpolicy/", {"action": "retire", "_selected_action": [str(second.pk)], "index": "0"}
    )
    assert not CheckpointPolicy.objects.filter(key="big-orders", is_current=True).exists()
    retired = AuditEntry.objects.latest("id")
    assert (retired.action, retired.object_id, retired.before, retired.after) == (
        "checkpointpolicy.retire", str(second.pk), {"is_current": True}, {"is_current": False},
    )  # fmt: skip


def test_an_identity_edited_in_the_admin_is_on_the_trail(client):
    bot = factories.agent(handle="edited-bot")
    provenance = ("description", "model_name", "provider", "model_version", "review_orders_above", "homepage_url")
    form = {"handle": "edited-bot", "display_name": "Renamed", "autonomy_level": "autonomous", "code_url": ""}
    saved = client.post(f"/admin/identities/identity/{bot.pk}/change/", form | dict.fromkeys(provenance, ""))
    assert saved.status_code == 302, saved.content.decode()[:2000]
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.before, entry.after) == (
        "identity.change", str(bot.pk), {"display_name": ""}, {"display_name": "Renamed"},
    )  # fmt: skip
