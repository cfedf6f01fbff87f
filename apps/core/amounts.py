"""Credit amounts are integers of micro-credits everywhere; floats never touch the ledger."""

from decimal import Decimal

CREDIT = 1_000_000  # micro-credits in one credit


def credits(amount: int | str | Decimal) -> int:
    """Whole or decimal credits -> micro-credits, refusing anything finer than one micro-credit."""
    value = Decimal(str(amount)) * CREDIT
    if value != value.to_integral_value():
        raise ValueError(f"{amount} credits is not a whole number of micro-credits")
    return int(value)


def format_credits(micro: int) -> str:
    """12_500_000 -> '12.5'; trailing zeros trimmed, never rounded."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), CREDIT)
    if not frac:
        return f"{sign}{whole:,}"
    return f"{sign}{whole:,}.{frac:06d}".rstrip("0")
