from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "apps.realtime"
    label = "realtime"

    def ready(self) -> None:
        # Markets calls out through its hook lists (it may not import realtime): notify at settlement,
        # inside the settlement's transaction (apps/realtime/services.py says why that is exactly-once).
        from apps.markets import hooks
        from apps.realtime import services

        if services.notifications_on_settlement not in hooks.claim_settled:
            hooks.claim_settled.append(services.notifications_on_settlement)
