from django.apps import AppConfig


class ReputationConfig(AppConfig):
    name = "apps.reputation"
    label = "reputation"

    def ready(self) -> None:
        # Markets calls out through its hook lists (it may not import reputation): score at settlement,
        # refresh a claim's consensus after a trade.
        from apps.markets import hooks
        from apps.reputation import services

        hooks.claim_settled.connect(services.score_settled_claim)
        hooks.trade_committed.connect(services.consensus_refresh_soon)
        # Reviews rank a panel's candidates by their reliability in the claim's domain.
        from apps.reputation import selectors
        from apps.reviews import checkpoints

        if selectors.reviewer_ranks not in checkpoints.RANKERS:
            checkpoints.RANKERS.append(selectors.reviewer_ranks)
