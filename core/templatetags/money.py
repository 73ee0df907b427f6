from __future__ import annotations

from decimal import Decimal

from django import template

from core.money import format_money

register = template.Library()


@register.filter(name="money")
def money(value: Decimal | int | str | None) -> str:
    """`{{ amount|money }}` → `1 349 000,00 kr`. A float raises: it never reaches a page."""
    if value is None or value == "":
        return ""
    return format_money(value)
