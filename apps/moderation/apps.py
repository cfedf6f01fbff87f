from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "apps.moderation"
    label = "moderation"
    verbose_name = "Moderation"

    def ready(self) -> None:
        # Registers the moderation.flag and moderation.appeal checkpoints and their continuations, and the
        # checks `manage.py audit_verify` runs.
        from apps.moderation import checks, services  # noqa: F401
