"""Serializer fields the money part of API v1 shares (grants, compensation, partners): money in
as `core.api.fields.MoneyField` (a decimal string with two decimals at most, above zero), money
out as a string with two decimals, and years within the bounds the API takes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from core.api.fields import MoneyField
from core.dates import MAX_YEAR, MIN_YEAR

MIN_AMOUNT = Decimal("0.01")


def money_in(**kwargs: Any) -> MoneyField:
    return MoneyField(max_digits=14, min_value=MIN_AMOUNT, **kwargs)


def money_out(**kwargs: Any) -> serializers.DecimalField:
    # No digit limit on output: a sum may outgrow one row's 14 digits.
    return serializers.DecimalField(max_digits=None, decimal_places=2, read_only=True, **kwargs)


def year_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR, **kwargs)


def money_text(value: Decimal) -> str:
    """An amount as the API writes it where a serializer takes strings: two decimals."""
    return f"{value:.2f}"
