"""`manage.py extension_points`: every extension point, when it is sent, and who listens to it."""

from django.core.management.base import BaseCommand

from apps.core.extensions import LISTINGS, REGISTRY, describe


class Command(BaseCommand):
    help = "List every extension point (apps/core/extensions.py), when it is sent, and its listeners in order."

    def handle(self, *args, **options) -> None:
        for name in sorted(REGISTRY):
            point = REGISTRY[name]
            isolated = " [isolated: each listener in its own savepoint]" if point.isolated else ""
            self.stdout.write(f"{name}: {point.when}{isolated}")
            for listener in point.listeners:
                self.stdout.write(f"  -> {describe(listener)}")
            if not point.listeners:
                self.stdout.write("  (no listener)")
        for listing in LISTINGS:
            for line in listing():
                self.stdout.write(line)
