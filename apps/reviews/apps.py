from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "apps.reviews"
    label = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        from apps.reviews import metrics  # noqa: F401 (registers the review queue's gauges on /metrics)
