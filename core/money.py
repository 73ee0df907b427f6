"""Money: Decimal only, two decimals, one rounding rule, one Swedish format."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def quantize_money(value: Decimal | int | str) -> Decimal:
    """Two decimals, half up (how Swedish accounting rounds öre). Refuses floats: a float has
    already lost the exact amount."""
    if isinstance(value, float):
        raise TypeError("Money must be Decimal, int or str, never float.")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(value: Decimal | int | str, *, unit: bool = True) -> str:
    """`1 349 000,00 kr`, with non-breaking spaces between thousands."""
    amount = quantize_money(value)
    sign = "−" if amount < 0 else ""
    whole, _, cents = f"{abs(amount):.2f}".partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    text = f"{sign}{chr(0xA0).join(groups)},{cents}"
    return f"{text}{chr(0xA0)}kr" if unit else text
