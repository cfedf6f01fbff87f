"""Credit amounts are integers of micro-credits everywhere; floats never touch the ledger."""

from decimal import Decimal

CREDIT = 1_000_000  # micro-credits in one credit
CENT = CREDIT // 100  # a hundredth of a credit: what a person reads an amount to


def credits(amount: int | str | Decimal) -> int:
    """Whole or decimal credits -> micro-credits, refusing anything finer than one micro-credit."""
    value = Decimal(str(amount)) * CREDIT
    if value != value.to_integral_value():
        raise ValueError(f"{amount} credits is not a whole number of micro-credits")
    return int(value)


def exact_credits(micro: int) -> str:
    """Every digit: 12_500_000 -> '12.5', 636_027_921 -> '636.027921'; trailing zeros trimmed, never rounded.
    What a person sees on hover, and what a form that takes credits back must be given."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), CREDIT)
    if not frac:
        return f"{sign}{whole:,}"
    return f"{sign}{whole:,}.{frac:06d}".rstrip("0")


def format_credits(micro: int) -> str:
    """An amount as people read money, for every page and message: 636_027_921 -> '636.03',
    1_234_500_000 -> '1,234.50', 10_000_000 -> '10'.

    Whole credits show no decimals; anything else is rounded half up to the cent and keeps both
    decimals, so '10.00' says "about ten" where '10' says "exactly ten". An amount under a cent is never
    rounded to nothing (a fee of 0.004 is a fee): it shows every digit, '0.004'. The exact value is
    exact_credits (templates put it in a title; the API sends micro-credits).
    """
    if micro % CREDIT == 0 or abs(micro) < CENT:
        return exact_credits(micro)
    sign = "-" if micro < 0 else ""
    cents = (abs(micro) + CENT // 2) // CENT
    whole, frac = divmod(cents, 100)
    return f"{sign}{whole:,}.{frac:02d}"


def format_credits_apart(*amounts: int) -> list[str]:
    """Amounts one sentence compares ("needs X; your wallet holds Y"), as format_credits shows them, unless
    two different amounts would then read alike: a refusal saying it needs 10.00 and the wallet holds 10.00
    explains nothing, so those sentences show every digit instead."""
    shown = [format_credits(micro) for micro in amounts]
    if len(set(shown)) < len(set(amounts)):
        return [exact_credits(micro) for micro in amounts]
    return shown
