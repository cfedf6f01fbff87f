"""The audit trail: one writer (`audit_record`), one staff check (`staff_require`), and what
`manage.py audit_verify` checks.

Every staff action is a service decorated with `@audited`: it runs in one transaction and must record at
least one entry (or say, with `audit_unchanged()`, that it changed nothing: a repeated click); a service that
returns without either raises `AuditMissing`, rolling its change back. So an action without its entry cannot
commit, whichever adapter (page, API, admin, shell) called it. `tests/core/test_audit.py` enumerates the
functions that call `staff_require` and fails for one that is not `@audited`.

The entry lives in core, not in apps/moderation where docs/architecture.md first placed it: the staff
actions are services of identities, ledger, markets and reviews, which sit below moderation and may not
import it (docs/architecture.md, "The audit trail").
"""

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import models, transaction

from apps.core import context
from apps.core.errors import PermissionDenied
from apps.core.models import AuditEntry

logger = logging.getLogger(__name__)

# "module.function" of every @audited service: the test compares it with the functions that check for staff.
AUDITED: set[str] = set()
# Each returns the problems it finds ("identity 7 is suspended by a moderator with no entry"); audit_verify
# runs them all. The apps that own staff-changed state register one in AppConfig.ready().
AUDIT_CHECKS: list[Callable[[], Iterable[str]]] = []

# What this context has recorded, shared by nested @audited frames: [entries or "unchanged" notes, entries].
_recorded: ContextVar[list[int] | None] = ContextVar("credence_audit_recorded", default=None)


class AuditMissing(RuntimeError):
    """A staff service returned without recording its audit entry: a programming error, never the user's."""


def staff_require(user, *, what: str = "") -> None:
    """Refuse (403) anyone but an active staff member: the one check every staff action makes."""
    if user is None or not (user.is_active and user.is_staff):
        raise PermissionDenied(f"Only staff moderators may {what or 'do this'}.")


def acting_as(user) -> str:
    if user is None:
        return "system"
    if user.is_superuser:
        return "superuser"
    return "moderator" if user.is_staff else "owner"


def _object_ref(obj: models.Model | tuple[str, Any]) -> tuple[str, str, str]:
    if isinstance(obj, tuple):
        object_type, object_id = obj
        return object_type, str(object_id), ""
    return obj._meta.label_lower, str(obj.pk), str(obj)[:200]


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | tuple[str, Any],
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    as_whom: str | None = None,
) -> AuditEntry:
    """Record one staff action or privileged change, inside the caller's transaction (so it commits with the
    change or not at all). `obj` is the model instance changed, or ("app.model", id). `before`/`after` hold
    the fields the action changed, as they were and as they are. The request id and the client's address come
    from the request's context (apps/core/context.py); a task or a command records none."""
    object_type, object_id, object_repr = _object_ref(obj)
    identity = getattr(actor, "human_identity", None) if actor is not None else None
    request = context.current()
    entry = AuditEntry.objects.create(
        actor=actor,
        actor_label=getattr(actor, "email", "") if actor is not None else "",
        acting_as=as_whom or acting_as(actor),
        actor_identity_id=identity.pk if identity is not None else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        before=before or {},
        after=after or {},
        reason=reason or "",
        request_id=request.request_id if request else "",
        ip=request.ip if request and request.ip else None,
    )
    counter = _recorded.get()
    if counter is not None:
        counter[0] += 1
        counter[1] += 1
    return entry


def audit_unchanged() -> None:
    """Say that this call of an @audited service changed nothing (the identity was already suspended), so it
    records no entry."""
    counter = _recorded.get()
    if counter is not None:
        counter[0] += 1


def audited(function: Callable) -> Callable:
    """Make a staff service one transaction that cannot commit without its audit entry (see the module)."""
    name = f"{function.__module__}.{function.__qualname__}"
    AUDITED.add(name)

    @functools.wraps(function)
    def run(*args, **kwargs):
        counter = _recorded.get()
        token = _recorded.set([0, 0]) if counter is None else None
        counter = _recorded.get()
        start = counter[0]
        try:
            with transaction.atomic():
                result = function(*args, **kwargs)
                if counter[0] == start:
                    raise AuditMissing(f"{name} returned without recording an audit entry.")
        finally:
            if token is not None:
                _recorded.reset(token)
        return result

    run.audited = True
    return run


class Changes:
    """How many entries (real changes, not `audit_unchanged` notes) the calls inside `counting()` recorded."""

    def __init__(self) -> None:
        self.start = self.count = 0

    @property
    def changed(self) -> bool:
        return self.count > 0


@contextmanager
def counting() -> Iterator[Changes]:
    """Count the audit entries recorded inside the block (inside an @audited service): whether the staff
    services it called changed anything, or found it already so."""
    counter = _recorded.get()
    if counter is None:
        raise RuntimeError("counting() runs inside an @audited service.")
    changes = Changes()
    changes.start = counter[1]
    yield changes
    changes.count = counter[1] - changes.start


def fields_of(obj: models.Model, names: Iterable[str]) -> dict:
    """The named fields' values, for an entry's before/after (foreign keys as their ids)."""
    values = {}
    for name in names:
        field = obj._meta.get_field(name)
        values[name] = getattr(obj, field.attname)
    return values


def audit_problems() -> list[str]:
    """Every problem the registered checks find (empty when each staff action has its entry)."""
    problems: list[str] = []
    for check in AUDIT_CHECKS:
        problems.extend(check())
    return problems
