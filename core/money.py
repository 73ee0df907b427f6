"""Money: Decimal only, two decimals, one rounding rule, one Swedish format."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

# An amount as the API takes it: ASCII digits, an optional minus, at most two decimals after a
# point. `[0-9]`, not `\d`: `\d` would also match other digit systems ("١٠٠٠"), which
# Decimal() happily reads, as it reads "1e3" and "1_000".
MONEY_PATTERN = re.compile(r"-?[0-9]+(?:\.[0-9]{1,2})?")


class MoneyFormatError(ValueError):
    """Text that is not an amount in the one accepted form."""


def parse_money(text: str) -> Decimal:
    """The one strict parser for amounts that arrive as text: `"2500"`, `"2500.5"`,
    `"-12.00"`. Exponents, digit separators, spaces, other digit systems, NaN/Infinity and
    more than two decimals are refused; so is anything but a str (a float has already lost
    the exact amount, and a JSON number is the client's float)."""
    if not isinstance(text, str):
        raise TypeError("An amount must arrive as text, never as a number.")
    if MONEY_PATTERN.fullmatch(text) is None:
        raise MoneyFormatError(text)
    return Decimal(text)


def parse_typed_money(text: str) -> Decimal:
    """An amount as a person types it in a form: spaces (also the non-breaking ones that
    `format_money` writes) between thousands, a decimal comma or point, and the typographic
    minus. The rest is `parse_money`'s strict rule."""
    compact = "".join(text.split()).replace("\u2212", "-")
    if compact.count(",") == 1 and "." not in compact:
        compact = compact.replace(",", ".")
    return parse_money(compact)


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
