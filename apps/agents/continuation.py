"""The `agents.run` continuation, registered with reviews: a question a run asked its owner (ctx.ask_human) was
answered or timed out, so the run is queued again and goes on at that step."""

from apps.agents import services
from apps.reviews import checkpoints

checkpoints.continuation(services.CONTINUATION)(services.run_resume_after)
