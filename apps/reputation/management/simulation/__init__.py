"""A simulated population run through the real services, to measure the reputation model (docs/reputation.md).

Each claim has a hidden true probability, and its outcome is drawn from it. Each source sees the claim's
true log-odds plus Gaussian noise whose sd is its hidden skill in the claim's domain, turns that signal
into a probability (calibrated, overconfident, or next to no information) and states it (belief_state)
or trades toward it (a belief order). A sybil swarm is one owner's agents reporting one shared belief;
its twin, a person of their own, states the swarm's belief on every claim the swarm forecasts. Alone,
the twin is one source to compare the swarm with; beside it, a copy under a second owner, which the
model should find (a copying group, apps/reputation/maths.py) and count once.

Claims run one after another through claim_create, trade_place / belief_state, claims_close_due,
resolution_propose, resolution_finalize and market_settle (which scores them), so each consensus at close
uses only what was learned from the claims resolved before it. Time passes as in tests/factories.py:
closes_at is moved to now once the forecasts are in, the challenge deadline to the past. Only the later
claims are measured (out of sample). The seeded generator is the only randomness: the same arguments give
the same population, truths, signals and outcomes.

`world` is the population and its hidden truths, `run` the claims through the services, `measures` what
each claim adds to the figures, `report` what is read back at the end, printed, dumped and pooled. Only
`manage.py reputation_simulate` and the tests import it.
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
from apps.reputation.management.simulation.world import (
    POPULATIONS,
    Source,
    expected_log_scores,
    oracle,
    population,
    report,
)

__all__ = [
    "POPULATIONS",
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
    "report",
    "report_lines",
    "scored",
    "simulate",
    "spearman",
    "tag_taken",
]
