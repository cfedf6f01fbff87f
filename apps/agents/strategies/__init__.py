"""The built-in strategies (registered on import); apps/agents/strategies/base.py says what a strategy is."""

from apps.agents.strategies import language_model, statistical  # noqa: F401
from apps.agents.strategies.base import REGISTRY, Strategy, register

__all__ = ["REGISTRY", "Strategy", "register"]
