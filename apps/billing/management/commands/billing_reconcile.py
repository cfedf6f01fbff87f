from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.billing.reconcile import reconcile


class Command(BaseCommand):
    help = (
        "Compare what Stripe's balance transactions say each purchase was paid (charges less refunds and "
        "disputes) with the credit the ledger holds for it; exit non-zero on any difference."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=30, help="How far back to read Stripe (default 30 days).")

    def handle(self, *args, days: int, **options) -> None:
        report = reconcile(since=timezone.now() - timedelta(days=days))
        for line in report.problems:
            self.stderr.write(line)
        summary = f"{report.transactions} balance transactions, {report.purchases} purchases"
        if report.problems:
            raise CommandError(f"billing_reconcile: {len(report.problems)} difference(s) in {summary}")
        self.stdout.write(self.style.SUCCESS(f"billing_reconcile: clean ({summary})"))
