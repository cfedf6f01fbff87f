from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "apps.markets"
    label = "markets"

    def ready(self) -> None:
        # The checkpoints markets pause on, and their continuations, registered with reviews (a Celery worker
        # resuming a paused order needs them as much as the web process that paused it).
        from apps.markets import checkpoints  # noqa: F401
