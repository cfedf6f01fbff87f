"""The checkpoints and continuations the apps above reviews register at start-up (in `AppConfig.ready()`),
so reviews call them without importing their apps. `manage.py extension_points` lists them with the
extension points.

- A `Checkpoint` names a place a service may pause (`trade.place`, `resolution.dispute`, ...), the variables
  its policies' conditions may read (type-checked when a policy is saved), who may not review its
  requests (`conflicted_users`: the parties of the subject, e.g. everyone holding shares in the claim), and
  the least verification level of its panelists (`min_reviewer_level`), a floor under every policy's.
- A continuation runs once a request is finished (decided, timed out, cancelled), after commit, exactly once
  per request (`services.review_resume`), inside the transaction that marks the request resumed. It re-checks
  the world, acts, and returns what it did (recorded on the request); an ApplicationError it raises is
  recorded as the outcome, its writes undone.
- A reviewer ranker orders a panel's candidates within a scope ("domain:<slug>"): reputation ranks by
  reliability in the domain. Without one, panels are drawn by seniority (the oldest accounts first).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apps.core.extensions import LISTINGS, describe

if TYPE_CHECKING:
    from apps.reviews.models import ReviewRequest


def _nobody(request: "ReviewRequest") -> set[int]:
    return set()


@dataclass(frozen=True)
class Checkpoint:
    name: str
    label: str
    # For policies' conditions: top-level name -> {field: type} (apps/reviews/conditions.py).
    variables: dict = field(default_factory=dict)
    # The user ids (a person stands for their agents too) who may not review this request.
    conflicted_users: Callable[["ReviewRequest"], set[int]] = _nobody
    # The least verification level (apps.accounts VerificationLevel) of anyone on its panels, whatever a
    # policy's pool_min_level says: panels invite no one below it, and a panelist whose level fell since
    # cannot take or decide. "" adds nothing to the policy's level. Staff and an agent's owner are not panels.
    min_reviewer_level: str = ""


CHECKPOINTS: dict[str, Checkpoint] = {}
CONTINUATIONS: dict[str, Callable[["ReviewRequest"], dict]] = {}
RANKERS: list[Callable[[str, list[int]], dict[int, float]]] = []
# Who knows a scope ("domain:<slug>") says whether it exists: markets knows its domains.
SCOPES: list[Callable[[str], bool]] = []

EXPLICIT = "explicit"


def register(checkpoint: Checkpoint) -> Checkpoint:
    if CHECKPOINTS.get(checkpoint.name, checkpoint) != checkpoint:
        raise ValueError(f"Checkpoint {checkpoint.name!r} is registered twice.")
    CHECKPOINTS[checkpoint.name] = checkpoint
    return checkpoint


def continuation(name: str) -> Callable:
    """Register the function that resumes a finished request whose `continuation` is `name`."""

    def register_continuation(function: Callable[["ReviewRequest"], dict]) -> Callable[["ReviewRequest"], dict]:
        if CONTINUATIONS.get(name, function) is not function:
            raise ValueError(f"Continuation {name!r} is registered twice.")
        CONTINUATIONS[name] = function
        return function

    return register_continuation


def rank_reviewers(scope: str, user_ids: Iterable[int]) -> dict[int, float]:
    """Each candidate's standing in `scope` by the registered rankers (higher first; absent means unranked)."""
    user_ids = list(user_ids)
    ranks: dict[int, float] = {}
    for ranker in RANKERS:
        ranks.update(ranker(scope, user_ids))
    return ranks


def scope_exists(scope: str) -> bool:
    return any(known(scope) for known in SCOPES)


def checkpoint(name: str) -> Checkpoint | None:
    return CHECKPOINTS.get(name)


register(
    Checkpoint(
        name=EXPLICIT,
        label="An agent asks a person",
        variables={"actor": {"kind": "string", "handle": "string", "autonomy_level": "string"}},
    )
)


def _listing() -> list[str]:
    """What `manage.py extension_points` prints of this registry."""
    lines = [
        f"reviews checkpoint {name}: {c.label} (variables: {', '.join(sorted(c.variables)) or 'none'})"
        + (f", panelists at least {c.min_reviewer_level}" if c.min_reviewer_level else "")
        for name, c in sorted(CHECKPOINTS.items())
    ]
    lines += [f"reviews continuation {name} -> {describe(f)}" for name, f in sorted(CONTINUATIONS.items())]
    lines += [f"reviews ranker -> {describe(ranker)}" for ranker in RANKERS]
    lines += [f"reviews scope check -> {describe(known)}" for known in SCOPES]
    return lines


LISTINGS.append(_listing)
