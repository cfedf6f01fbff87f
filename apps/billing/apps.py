from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "apps.billing"
    label = "billing"
    verbose_name = "Billing and verification"

    def ready(self) -> None:
        from apps.billing import verification  # noqa: F401 (registers the identity.verify checkpoint)
