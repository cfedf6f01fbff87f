from django.core.management.base import BaseCommand, CommandError

from apps.ledger.selectors import ledger_verify_report


class Command(BaseCommand):
    help = "Recompute every balance from the entries; exit non-zero on any drift."

    def handle(self, *args, **options) -> None:
        report = ledger_verify_report()
        for problem in report.problems:
            self.stderr.write(problem)
        summary = f"{report.accounts} accounts, {report.transfers} transfers, {report.entries} entries"
        if not report.ok:
            raise CommandError(f"ledger_verify: {len(report.problems)} problem(s) in {summary}")
        self.stdout.write(self.style.SUCCESS(f"ledger_verify: clean ({summary})"))
