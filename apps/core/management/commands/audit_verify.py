"""Check that every staff action left its audit entry: the state only a staff action can leave (a moderator's
suspension, a frozen wallet, hidden content, an overruled review, a moderation action) each has the entry of
that action, written with it. Exits 1 and lists what lacks one (docs/operations.md, "Alerts that matter")."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.audit import AUDIT_CHECKS, audit_problems


class Command(BaseCommand):
    help = "Check that every staff action of the services has its audit entry."

    def handle(self, *args, **options) -> None:
        problems = audit_problems()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} staff change(s) without an audit entry.")
        self.stdout.write(f"audit_verify: clean ({len(AUDIT_CHECKS)} check(s)).")
