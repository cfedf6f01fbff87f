from django.apps import AppConfig


class ReputationConfig(AppConfig):
    name = "apps.reputation"
    label = "reputation"

    def ready(self) -> None:
        # Markets calls out through its hook lists (it may not import reputation): score at settlement,
        # refresh a claim's consensus after a trade.
        from apps.markets import hooks
        from apps.reputation import services

        if services.score_settled_claim not in hooks.claim_settled:
            hooks.claim_settled.append(services.score_settled_claim)
        if services.consensus_refresh_soon not in hooks.trade_committed:
            hooks.trade_committed.append(services.consensus_refresh_soon)
