"""Template helpers for claims and markets: probabilities as percentages, shares, identity links."""

from decimal import ROUND_HALF_EVEN, Decimal

from django import template
from django.urls import NoReverseMatch, reverse

from apps.core.amounts import exact_credits
from apps.markets.models import ClaimStatus

register = template.Library()

TENTH = Decimal("0.1")


@register.filter
def percent(probability) -> str:
    """A probability as a percentage to a tenth: `0.52496…` -> `52.5%`. Never rounds to a certainty the
    market does not hold: 0.0004 shows `<0.1%` and 0.9996 `>99.9%`. Empty for None."""
    if probability is None or probability == "":
        return ""
    value = Decimal(str(probability)) * 100
    shown = value.quantize(TENTH, rounding=ROUND_HALF_EVEN)
    if shown <= 0 < value:
        return "<0.1%"
    if shown >= 100 > value:
        return ">99.9%"
    return f"{shown.normalize():f}%" if shown == shown.to_integral_value() else f"{shown}%"


@register.filter
def percent_points(difference) -> str:
    """A difference of probabilities in percentage points, signed: `0.031` -> `+3.1 pts`."""
    if difference is None or difference == "":
        return ""
    value = (Decimal(str(difference)) * 100).quantize(TENTH, rounding=ROUND_HALF_EVEN)
    if value == 0:
        return "0 pts"
    return f"{'+' if value > 0 else '\N{MINUS SIGN}'}{abs(value)} pts"


@register.filter
def points(difference) -> str:
    """A difference of probabilities in percentage points, unsigned: `-0.153` -> `15.3 points`."""
    if difference is None or difference == "":
        return ""
    value = abs(Decimal(str(difference)) * 100).quantize(TENTH, rounding=ROUND_HALF_EVEN)
    return f"{value} point{'' if value == 1 else 's'}"


@register.filter
def shares(micro) -> str:
    """Micro-shares as shares, every digit: `12500000` -> `12.5` (one share pays one credit if it wins).
    Not rounded like credits: a holder sells shares by typing how many, and all of them must be typeable."""
    if micro is None or micro == "":
        return ""
    return exact_credits(int(micro))


@register.filter
def unsigned(value):
    """The magnitude of a signed amount (a sale's negative cost, shown as what it pays)."""
    return abs(value) if value not in (None, "") else value


@register.filter
def status_label(status: str) -> str:
    """A claim's (effective) status as readers see it: `resolved_yes` -> `Resolved YES`."""
    try:
        return ClaimStatus(status).label
    except ValueError:
        return status


@register.filter
def bar(probability) -> str:
    """A probability as an SVG length on a 0-100 scale (an attribute, so the CSP allows it)."""
    if probability is None or probability == "":
        return "0"
    return f"{Decimal(str(probability)) * 100:.2f}"


@register.filter
def identity_url(handle: str) -> str:
    """The public page of an identity, or "" while no such page is routed (the link is then omitted)."""
    try:
        return reverse("identity-detail", args=[handle])
    except NoReverseMatch:
        return ""


@register.filter
def duration_hours(window) -> str:
    """A challenge window as readers say it: `timedelta(hours=24)` -> `24 hours`."""
    hours = int(window.total_seconds() // 3600)
    return f"{hours} hour{'' if hours == 1 else 's'}"


@register.filter
def field_label(form, name: str) -> str:
    """The label of a form's field by name (for listing a form's errors away from its fields)."""
    field = form.fields.get(name)
    return str(field.label) if field is not None else name
