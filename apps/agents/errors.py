"""What the agents app refuses."""

from apps.core.errors import Conflict, NotFound


class StrategyUnknown(NotFound):
    code = "strategy_unknown"
    default_message = "No such strategy: GET /api/v1/agents/strategies lists them."


# A configuration is checked against its strategy's schema, which the API's schema states for a whole hosting
# (PUT: a 422 there). A partial change is checked against the strategy the agent has: that conflicts with the
# hosting as it stands, a 409.
class ConfigInvalid(Conflict):
    code = "config_invalid"
    default_message = "The configuration does not satisfy the strategy's schema."


class AlreadyHosted(Conflict):
    code = "already_hosted"
    default_message = "This agent is hosted already: change its settings instead."


class AgentStopped(Conflict):
    code = "agent_stopped"
    default_message = "This hosted agent is stopped: start it again first."


class StoppedByStaff(Conflict):
    code = "stopped_by_staff"
    default_message = "Staff stopped this agent; only staff can start it again."


class BudgetExceeded(Conflict):
    """Never reaches a caller: an order that would spend past a budget is rolled back inside its transaction
    (the run records the refusal). Raised if a fill ever came out above the room it was cut to."""

    code = "budget_exceeded"
    default_message = "The order would spend past the agent's budget."
