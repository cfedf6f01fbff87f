from django import template

from apps.ledger.selectors import wallet_balance as balance_of

register = template.Library()


@register.simple_tag
def wallet_balance(identity) -> int:
    """The identity's wallet balance in micro-credits (one query), for the navigation bar."""
    return 0 if identity is None else balance_of(identity)
