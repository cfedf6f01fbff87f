"""Template helpers shared by every page: credit amounts."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.core.amounts import CENT, exact_credits, format_credits

register = template.Library()


def _amount(micro, *, signed: bool) -> SafeString | str:
    """The one way a page shows credits: as people read money (format_credits), with every digit in the
    title whenever the figure shown was rounded, so hovering shows what the ledger holds."""
    if micro is None or micro == "":
        return ""
    micro = int(micro)
    sign = "+" if signed and micro > 0 else ""
    shown = sign + format_credits(micro)
    if micro % CENT == 0 or abs(micro) < CENT:  # nothing was rounded away
        return shown
    return format_html('<span class="amount" title="{}{} credits">{}</span>', sign, exact_credits(micro), shown)


@register.filter
def credits(micro: int | None) -> SafeString | str:
    """Micro-credits as credits: `{{ 636027921|credits }}` -> `636.03`, the exact `636.027921` on hover."""
    return _amount(micro, signed=False)


@register.filter
def signed_credits(micro: int | None) -> SafeString | str:
    """Like `credits`, with an explicit sign on positive amounts (wallet history, profit): `+12.50`, `-3`."""
    return _amount(micro, signed=True)
