"""Extension points: the one mechanism by which an app calls out to apps above it without importing them.

The layers only point down (docs/architecture.md), so markets cannot import reputation or realtime, yet
settling a claim must score it and notify people. Markets declares a named point
(`apps/markets/hooks.py`); the apps above connect their listeners in `AppConfig.ready()`; markets sends.
Reviews' continuations and agents' triggers are to be points of the same kind. Every point is in
REGISTRY, and `manage.py extension_points` prints each with its listeners: what a trade or a settlement
sets off, in one place.

A point says how its listeners run:
- plain: in the sender's flow; a listener that raises fails the sender (its transaction rolls back);
- `isolated`: each listener in a savepoint of its own, a failure undone and logged, never raised: for
  work derived for display, which may never fail the money transaction that sends it.
`paused()` silences a point in the current context (thread or task) without touching its listeners: work
that does a listener's job itself (the demo seed, the simulation) pauses the point instead of emptying a
global list.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

logger = logging.getLogger(__name__)

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
