"""Extension points: how an app calls out to apps above it without importing them.

Layers only point down (docs/architecture.md), yet settling a claim must score it and notify people. So
markets declares a point (apps/markets/hooks.py), the apps above connect listeners in `AppConfig.ready()`,
and markets sends. `manage.py extension_points` prints every point in REGISTRY with its listeners: what a
trade or a settlement sets off, in one place. Reviews' continuations and agents' triggers are to be points
too.

- A plain point's listener runs in the sender's flow: one that raises fails the sender.
- An `isolated` point runs each listener in its own savepoint, a failure undone and logged, never raised:
  for work derived for display, which must never fail the money transaction that sends it.

`paused()` silences a point in the current context (thread or task) and leaves its listeners alone, for
work that does a listener's job itself (the demo seed, the simulation).
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

logger = logging.getLogger(__name__)

# Registries of other shapes (reviews' checkpoints and continuations) describe themselves here, so that
# `manage.py extension_points` prints them too without core importing their apps.
LISTINGS: list[Callable[[], Iterable[str]]] = []

_paused: ContextVar[frozenset[str]] = ContextVar("paused_extension_points", default=frozenset())


class ExtensionPoint:
    def __init__(self, name: str, *, when: str, isolated: bool = False) -> None:
        if name in REGISTRY:
            raise ValueError(f"An extension point named {name!r} exists already.")
        self.name = name
        self.when = when
        self.isolated = isolated
        self.listeners: list[Callable[..., None]] = []
        REGISTRY[name] = self

    def connect(self, listener: Callable[..., None]) -> Callable[..., None]:
        """Add a listener (again is a no-op: ready() may run twice in tests)."""
        if listener not in self.listeners:
            self.listeners.append(listener)
        return listener

    def send(self, *args) -> None:
        if self.name in _paused.get():
            return
        for listener in list(self.listeners):
            if not self.isolated:
                listener(*args)
                continue
            try:
                with transaction.atomic():  # a savepoint: a failure undoes this listener's writes only
                    listener(*args)
            except Exception:
                logger.exception("%s: listener %s failed", self.name, describe(listener))

    @contextmanager
    def paused(self) -> Iterator[None]:
        token = _paused.set(_paused.get() | {self.name})
        try:
            yield
        finally:
            _paused.reset(token)


def describe(listener: Callable) -> str:
    return f"{listener.__module__}.{getattr(listener, '__qualname__', repr(listener))}"


REGISTRY: dict[str, ExtensionPoint] = {}
