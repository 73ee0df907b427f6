"""Serializer fields shared by every app's API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from core.money import MoneyFormatError, parse_money


class MoneyField(serializers.DecimalField):
    """An amount in the request: a JSON string matching `core.money.MONEY_PATTERN` (`"2500.00"`,
    `"2500"`; API.md: money is a string, never a float). JSON numbers, exponents, separators
    and other digit systems are refused with a 400 on the field; digits, `min_value` and
    `max_value` are then checked as by DRF's DecimalField. Output is a string with two
    decimals (COERCE_DECIMAL_TO_STRING)."""

    default_error_messages = {
        "not_text": _('Ange beloppet som text, t.ex. "2500.00".'),
        "money_format": _(
            'Ange beloppet med siffrorna 0–9 och högst två decimaler efter punkt, t.ex. "2500.00".'
        ),
    }

    def __init__(self, *, max_digits: int = 14, **kwargs: Any) -> None:
        kwargs.setdefault("decimal_places", 2)
        super().__init__(max_digits=max_digits, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_text")
        try:
            value = parse_money(data)
        except MoneyFormatError:
            self.fail("money_format")
        # DRF's checks of digits and places on an already strict value.
        return super().to_internal_value(str(value))


class MoneyFieldExtension(OpenApiSerializerFieldExtension):
    """The schema says what the field takes: a string of that exact shape."""

    target_class = MoneyField

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> Any:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        assert isinstance(field, MoneyField)
        whole = (field.max_digits or 14) - (field.decimal_places or 0)
        schema["type"] = "string"
        schema["format"] = "decimal"
        schema["pattern"] = rf"^-?[0-9]{{1,{whole}}}(?:\.[0-9]{{1,2}})?$"
        schema.setdefault("example", "2500.00")
        return schema
