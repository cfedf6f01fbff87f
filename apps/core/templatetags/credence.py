"""Template helpers shared by every page: credit amounts."""

from django import template

from apps.core.amounts import format_credits

register = template.Library()


@register.filter
def credits(micro: int | None) -> str:
    """Micro-credits as credits: `{{ 12500000|credits }}` -> `12.5`."""
    if micro is None or micro == "":
        return ""
    return format_credits(int(micro))


@register.filter
def signed_credits(micro: int | None) -> str:
    """Like `credits`, with an explicit sign on positive amounts (wallet history): `+12.5`, `-3`."""
    if micro is None or micro == "":
        return ""
    micro = int(micro)
    return ("+" if micro > 0 else "") + format_credits(micro)
