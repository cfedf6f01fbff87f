from django.core.management.base import BaseCommand

from apps.billing.models import StripeEvent
from apps.billing.services import stripe_events_retry


class Command(BaseCommand):
    help = (
        "Process again the Stripe events stored but not processed (a failure, or a refund that waits for its "
        "purchase): all of them, or those named. Each is processed once, under its lock, as the webhook does."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("event_ids", nargs="*", help="evt_... ids (default: every unprocessed event)")

    def handle(self, *args, event_ids: list[str], **options) -> None:
        pending = StripeEvent.objects.filter(processed_at__isnull=True)
        if event_ids:
            pending = pending.filter(pk__in=event_ids)
        before = pending.count()
        done = stripe_events_retry(event_ids=event_ids or None)
        for event in StripeEvent.objects.filter(processed_at__isnull=True).order_by("created")[:50]:
            self.stdout.write(f"still unprocessed: {event.pk} {event.type}: {event.outcome}")
        self.stdout.write(self.style.SUCCESS(f"stripe_events_replay: {done} of {before} processed now"))
