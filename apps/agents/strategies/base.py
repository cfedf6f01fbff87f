"""What a strategy is: a registered Python class with a configuration schema and a `run(ctx, config)`.

Owners choose a strategy from the registry (no uploaded code) and configure it; the configuration is
validated against the strategy's JSON Schema (Draft 2020-12) when saved, and the page's form is drawn from
that schema. A strategy acts only through its context (apps/agents/runtime.py): it reads the market through
`ctx`, records why it decides (`ctx.decide`), orders (`ctx.order`) and may ask its owner (`ctx.ask_human`).
It must decide from what `ctx` returns alone (no clock, no randomness, no reads of its own): a run that is
delivered again or resumed replays its journal and must take the same steps.
"""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from apps.agents.runtime import RunContext

# Every strategy reads these; the schema below is merged into each strategy's own.
COMMON_PROPERTIES = {
    "max_claims": {
        "type": "integer",
        "minimum": 1,
        "maximum": 200,
        "default": 20,
        "title": "Claims looked at per run",
    },
}


class Strategy(ABC):
    key: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    properties: ClassVar[dict] = {}
    # Settings whose values are never shown again once saved (a model endpoint's key): the form asks for them,
    # the API takes them, neither returns them.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def offered(cls) -> bool:
        """Whether owners may choose it now (the language-model strategy only when the platform switched it on)."""
        return True

    @classmethod
    def config_schema(cls) -> dict:
        properties = {**COMMON_PROPERTIES, **cls.properties}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }

    @classmethod
    def defaults(cls) -> dict:
        return {name: spec["default"] for name, spec in cls.config_schema()["properties"].items() if "default" in spec}

    @abstractmethod
    def run(self, ctx: "RunContext", config: dict) -> None:
        """Look, decide and order through `ctx`; `config` is the owner's configuration with its secrets."""


REGISTRY: dict[str, type[Strategy]] = {}


def register(strategy: type[Strategy]) -> type[Strategy]:
    if REGISTRY.get(strategy.key, strategy) is not strategy:
        raise ValueError(f"A strategy named {strategy.key!r} is registered already.")
    REGISTRY[strategy.key] = strategy
    return strategy
