"""The reputation model stated again, independently of apps/reputation/maths.py, from the raw Score rows:
what the tests compare the services' weights with."""

import math

from apps.reputation import maths
from apps.reputation.models import Score


def records_by_hand(domain_id: int) -> dict[int, tuple[tuple, tuple]]:
    """Each identity's record in the domain from its Score rows: (its relative log scores, its
    (read, pool) pairs where it had a pool)."""
    found: dict[int, tuple[list, list]] = {}
    rows = Score.objects.filter(domain_id=domain_id).order_by("id")
    for identity_id, x, read, pool in rows.values_list("identity_id", "relative_log_score", "read_logit", "pool_logit"):
        xs, fits = found.setdefault(identity_id, ([], []))
        xs.append(x)
        if pool is not None:
            fits.append((read, pool))
    return {pk: (tuple(xs), tuple(fits)) for pk, (xs, fits) in found.items()}


def own_weight_by_hand(record) -> float:
    """The documented weight of a record: slope over residual variance of its log-odds on the others'
    pool, on the documented priors (slope 0.25 worth 4 of sum z^2, variance 2 worth 2 forecasts), times the
    fade (negative mean skill) or lift (skill credibly above zero) of its skill posterior (zero-skill prior
    of variance TAU_GLOBAL^2 + TAU_DOMAIN^2, known observation spread)."""
    xs, fits = record or ((), ())
    zz = sum(z * z for _r, z in fits)
    rz = sum(r * z for r, z in fits)
    b = (rz + 0.25 * 4.0) / (zz + 4.0)
    residuals = sum((r - b * z) ** 2 for r, z in fits)
    variance = (2.0 * 2.0 + residuals) / (2.0 + len(fits))
    prior = maths.TAU_GLOBAL**2 + maths.TAU_DOMAIN**2
    precision = 1 / prior + len(xs) / maths.SIGMA_OBS**2
    mean, sd = (sum(xs) / maths.SIGMA_OBS**2) / precision, math.sqrt(1 / precision)
    outcomes = min(mean, 0.0) / maths.FLOOR_DECAY + max(mean - sd, 0.0) / maths.LIFT_SCALE
    return max(b, 0.0) / variance * math.exp(outcomes)


def population_by_hand(records: dict):
    """The documented shrinkage: over the domain's records with five or more fitted forecasts and a
    weight above zero, ln(weight)'s mean and its spread less the mean sampling variance 2.5 / (n + 2)
    (at least 0.1^2); a record's ln(weight) is pulled toward the mean by s^2 / (s^2 + tau^2), never up for
    a record of fewer than five. Five records or more, else nothing is shrunk."""
    logs, noise = [], []
    for record in records.values():
        w = own_weight_by_hand(record)
        if len(record[1]) >= 5 and w > 0:
            logs.append(math.log(w))
            noise.append(2.5 / (len(record[1]) + 2))

    def shrink(record) -> float:
        w = own_weight_by_hand(record)
        if len(logs) < 5 or w <= 0:
            return w
        mean = sum(logs) / len(logs)
        tau2 = max(sum(x * x for x in logs) / len(logs) - mean * mean - sum(noise) / len(logs), 0.01)
        n = len(record[1]) if record else 0
        if n < 5 and mean >= math.log(w):
            return w
        s2 = 2.5 / (n + 2)
        return math.exp((1 - s2 / (s2 + tau2)) * math.log(w) + s2 / (s2 + tau2) * mean)

    return shrink
