"""Moderators look at reputation here; only the services write it (scores, reliability, calibration and
agreements between owners follow from settled claims, the consensus from beliefs), so every page is read-only."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.reputation.models import (
    Agreement,
    Belief,
    Calibration,
    ClaimRecord,
    Consensus,
    ExtremizingFit,
    Reliability,
    Score,
)


@admin.register(Belief)
class BeliefAdmin(ReadOnlyAdmin):
    list_display = ("id", "claim", "identity", "probability", "market_price", "created_at")
    list_select_related = ("claim", "identity")
    search_fields = ("identity__handle", "claim__title")
    raw_id_fields = ("claim", "identity")


@admin.register(Score)
class ScoreAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "claim",
        "identity",
        "domain",
        "source",
        "probability",
        "outcome",
        "brier",
        "relative_log_score",
    )
    list_filter = ("domain", "source", "outcome")
    list_select_related = ("claim", "identity", "domain")
    search_fields = ("identity__handle",)
    raw_id_fields = ("claim", "identity")


@admin.register(Reliability)
class ReliabilityAdmin(ReadOnlyAdmin):
    list_display = ("identity", "domain", "n", "skill_mean", "skill_sd", "weight", "updated_at")
    list_filter = ("domain",)
    list_select_related = ("identity", "domain")
    search_fields = ("identity__handle",)
    ordering = ("-weight",)


@admin.register(Calibration)
class CalibrationAdmin(ReadOnlyAdmin):
    list_display = ("owner", "domain", "claims", "factor", "updated_at")
    list_filter = ("domain",)
    list_select_related = ("owner", "domain")
    search_fields = ("owner__email",)
    exclude = ("loglik",)  # thirty numbers, meaningful only to maths.calibration_factor


@admin.register(Agreement)
class AgreementAdmin(ReadOnlyAdmin):
    list_display = ("owner_a", "owner_b", "claims", "agreed", "copies", "since", "updated_at")
    list_filter = ("copies",)
    list_select_related = ("owner_a", "owner_b")
    search_fields = ("owner_a__email", "owner_b__email")
    ordering = ("-copies", "-agreed")


@admin.register(Consensus)
class ConsensusAdmin(ReadOnlyAdmin):
    list_display = ("claim", "probability", "alpha", "contributors", "owners", "humans", "agents", "updated_at")
    list_select_related = ("claim",)


@admin.register(ClaimRecord)
class ClaimRecordAdmin(ReadOnlyAdmin):
    list_display = ("claim", "domain", "outcome", "market_price", "consensus", "scored", "scored_at")
    list_filter = ("domain", "outcome")
    list_select_related = ("claim", "domain")


@admin.register(ExtremizingFit)
class ExtremizingFitAdmin(ReadOnlyAdmin):
    list_display = ("alpha", "claims", "fitted_at")
