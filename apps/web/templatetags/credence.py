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


_CURRENCY_SIGNS = {"usd": "$", "eur": "€", "gbp": "£"}


@register.filter
def money(minor: int | None, currency: str = "") -> str:
    """An amount of real money in its currency's minor unit (Stripe's cents): `{{ 1800|money:"usd" }}` ->
    `$18.00`; without a currency, the billing currency's."""
    if minor is None or minor == "":
        return ""
    from django.conf import settings

    currency = (currency or settings.CREDENCE_BILLING_CURRENCY).lower()
    whole, cents = divmod(int(minor), 100)
    sign = _CURRENCY_SIGNS.get(currency)
    figure = f"{whole:,}.{cents:02d}"
    return f"{sign}{figure}" if sign else f"{figure} {currency.upper()}"
