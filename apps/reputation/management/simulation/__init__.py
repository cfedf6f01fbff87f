"""A simulated population run through the real services, to measure the reputation model (docs/reputation.md).

Each claim has a hidden true probability; its outcome is drawn from it. Each source sees the claim's true
log-odds plus Gaussian noise whose spread is its hidden skill in that claim's domain, turns that signal into
a probability (calibrated, overconfident, or next to no information at all) and either states it
(belief_state) or trades toward it (a belief order with a budget). Sybil swarms are one owner's agents that
all report one shared noisy belief; each swarm has a twin: a person of their own who copies the swarm, stating
its belief on every claim it forecasts (the same skill and the same luck). Alone, the twin is one source to
compare the swarm with; beside the swarm, it is a copy under a second owner, which the model should find
(apps/reputation/maths.py, "Independence beyond the owner") and count once.

Claims run one after another through claim_create, trade_place / belief_state, claims_close_due,
resolution_propose, resolution_finalize and market_settle (which scores them through the reputation hook),
so every consensus at close uses only the reliability learned from claims resolved before it. Time passes
as in tests/reputation/conftest.py: closes_at is moved to now once the forecasts are in, and the challenge
deadline to the past. The measurements are taken on the later claims only (out of sample).

Nothing here is random but the seeded generator: the same arguments give the same population, truths,
signals and outcomes.

The package: `world` (the population and its hidden truths, no database), `run` (the claims through the
services), `measures` (what each claim adds to the figures, no database) and `report` (what is read back
at the end, printed, dumped and pooled). Only `manage.py reputation_simulate` and the tests import it.
"""

from apps.reputation.management.simulation.measures import (
    ClaimResult,
    RunningScore,
    Scored,
    SybilCheck,
    scored,
    spearman,
)
from apps.reputation.management.simulation.report import Report, dump, pooled_lines, report_lines
from apps.reputation.management.simulation.run import _twins_beside_their_swarms, free_tag, simulate, tag_taken
from apps.reputation.management.simulation.world import Source, expected_log_scores, oracle, population

__all__ = [
    "ClaimResult",
    "Report",
    "RunningScore",
    "Scored",
    "Source",
    "SybilCheck",
    "_twins_beside_their_swarms",
    "dump",
    "expected_log_scores",
    "free_tag",
    "oracle",
    "pooled_lines",
    "population",
    "report_lines",
    "scored",
    "simulate",
    "spearman",
    "tag_taken",
]
