"""The audit trail's promises: no staff service can commit without its entry; every function that checks for
staff is such a service (a new one without @audited fails here); `audit_verify` finds staff state without its
entry; an entry carries the request's id and the client's address."""

import ast
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.core import audit
from apps.core.audit import AuditMissing, audited, staff_require
from apps.core.models import AuditEntry
from apps.identities.models import Identity, IdentityStatus, SuspendedAs
from apps.ledger.models import Account
from apps.ledger.services import wallet_for
from apps.moderation import services as moderation
from apps.reputation.models import Belief
from tests import factories
from tests.support import signed_in

APPS = Path(__file__).resolve().parents[2] / "apps"


def staff_checking_functions() -> set[str]:
    """Every function in apps/ whose body calls staff_require: the staff actions."""
    found = set()
    for path in APPS.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        module = ".".join(path.relative_to(APPS.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            calls = [
                call
                for call in ast.walk(node)
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "staff_require"
            ]
            if calls and node.name != "staff_require":
                found.add(f"{module}.{node.name}")
    return found


def test_every_function_that_checks_for_staff_is_audited():
    staff_actions = staff_checking_functions()
    assert len(staff_actions) >= 12  # the scan sees them (a broken scan must not pass vacuously)
    assert staff_actions - audit.AUDITED == set(), "a staff action without @audited"


def test_the_scan_sees_the_known_staff_actions():
    assert {
        "apps.identities.services.identity_suspend",
        "apps.ledger.services.wallet_freeze",
        "apps.markets.resolution.claim_void",
        "apps.core.services.content_hide",
        "apps.moderation.services.moderation_act",
        "apps.reviews.services.review_overrule",
    } <= staff_checking_functions()


@pytest.mark.django_db
def test_an_audited_service_without_its_entry_cannot_commit():
    moderator = factories.moderator()
    person = factories.human()

    @audited
    def suspend_quietly(*, identity):
        staff_require(moderator)
        Identity.objects.filter(pk=identity.pk).update(status=IdentityStatus.SUSPENDED, suspended_as="moderator")

    with pytest.raises(AuditMissing):
        suspend_quietly(identity=person)
    person.refresh_from_db()
    assert person.status == IdentityStatus.ACTIVE  # rolled back with the service's transaction


@pytest.mark.django_db
def test_audit_verify_is_clean_after_the_services_and_fails_on_a_change_without_its_entry():
    moderator = factories.moderator()
    person = factories.human()
    claim = factories.new_claim()
    belief = factories.state(factories.human(), claim, "0.6", rationale="because")
    for kind, target_type, target_id in (
        ("suspend", "identity", person.pk),
        ("freeze", "identity", person.pk),
        ("hide", "belief", belief.pk),
        ("hide", "claim", claim.pk),
    ):
        moderation.moderation_act(
            moderator=moderator, kind=kind, target_type=target_type, target_id=target_id, reason="Rules"
        )
    call_command("audit_verify")

    # The same state reached around the services: each is reported.
    other = factories.human()
    Identity.objects.filter(pk=other.pk).update(status=IdentityStatus.SUSPENDED, suspended_as=SuspendedAs.MODERATOR)
    Account.objects.filter(pk=wallet_for(other).pk).update(frozen_at=person.created_at)
    hidden = factories.state(factories.human(), claim, "0.4", rationale="x")
    Belief.objects.filter(pk=hidden.pk).update(hidden_at=claim.created_at, hidden_reason="quietly")
    with pytest.raises(CommandError) as failed:
        call_command("audit_verify")
    assert str(failed.value) == "3 staff change(s) without an audit entry."
    assert audit.audit_problems() == [
        f"identities.identity {other.pk}: suspended by a moderator, with no 'identity.suspend' audit entry",
        f"ledger.account {wallet_for(other).pk}: a frozen wallet, with no 'wallet.freeze' audit entry",
        f"reputation.belief {hidden.pk}: hidden by a moderator, with no 'belief.hide' audit entry",
    ]


@pytest.mark.django_db
def test_an_old_entry_does_not_cover_a_later_suspension():
    """A suspension lifted and made again around the services is caught: the entry must be at or after it."""
    moderator = factories.moderator()
    person = factories.human()
    moderation.moderation_act(
        moderator=moderator, kind="suspend", target_type="identity", target_id=person.pk, reason="a"
    )
    moderation.moderation_act(
        moderator=moderator, kind="reactivate", target_type="identity", target_id=person.pk, reason="b"
    )
    Identity.objects.filter(pk=person.pk).update(
        status=IdentityStatus.SUSPENDED,
        suspended_as=SuspendedAs.MODERATOR,
        suspended_at=AuditEntry.objects.last().created_at,
    )
    assert len(audit.audit_problems()) == 1


@pytest.mark.django_db
def test_an_entry_carries_the_request_id_and_the_address(client):
    """Through a page, the entry knows the request (X-Request-ID, as the answer carries it) and the client."""
    staff = factories.staff_member()
    person = factories.human()
    browser = signed_in(staff.user)
    answer = browser.post(
        f"/moderation/identity/{person.pk}/act",
        {"action": "suspend", "reason": "Spam account"},
        HTTP_X_REQUEST_ID="req-1234abcd",
    )
    assert answer.status_code in (200, 302, 303)
    assert answer["X-Request-ID"] == "req-1234abcd"
    entry = AuditEntry.objects.get(action="identity.suspend")
    assert (entry.request_id, entry.ip, entry.actor, entry.acting_as) == (
        "req-1234abcd", "127.0.0.1", staff.user, "moderator",
    )  # fmt: skip


@pytest.mark.django_db
def test_the_trigger_refuses_rewriting_history():
    moderator = factories.moderator()
    person = factories.human()
    moderation.moderation_act(
        moderator=moderator, kind="suspend", target_type="identity", target_id=person.pk, reason="a"
    )
    entry = AuditEntry.objects.first()
    from django.db import IntegrityError, transaction

    for statement in ("UPDATE core_auditentry SET actor_id = NULL", "DELETE FROM core_auditentry"):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEntry.objects.get(pk=entry.pk).reason == "a"
