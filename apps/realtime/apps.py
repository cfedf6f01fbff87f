from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "apps.realtime"
    label = "realtime"

    def ready(self) -> None:
        # Markets calls out through its hook lists (it may not import realtime): notify at settlement,
        # inside the settlement's transaction (apps/realtime/services.py says why that is exactly-once),
        # as a display listener: a notification that cannot be written never fails the settlement.
        from apps.markets import hooks
        from apps.realtime import services

        hooks.claim_settled_announce.connect(services.notifications_on_settlement)
        # Reviews likewise: the people a request waits for, and the person who asked when it ends.
        from apps.reviews import hooks as review_hooks

        review_hooks.request_opened.connect(services.notifications_on_review_opened)
        review_hooks.request_finished.connect(services.notifications_on_review_finished)
        review_hooks.request_moved.connect(services.queue_refresh_on_review_moved)
