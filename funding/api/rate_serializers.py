"""Input and output serializers of the compensation rules (API.md "Money at the edges", "Rates
are data"; DOMAIN.md 4.1).

Input serializers only parse and type-check (money as a decimal string with two decimals at
most, not negative: `core.api.fields.MoneyField`; a date within the years the API takes); the
rules (a paid month, a rule already from that date) are in `funding.compensation.rule_set()`.
The output serializer takes the dicts built by `funding.api.rate_views.rule_row()` and renders
money as strings with two decimals.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.api.fields import MoneyField
from core.dates import MAX_YEAR, MIN_YEAR
from funding.api.ledger_serializers import money_out, year_field


def rate_in(**kwargs: Any) -> MoneyField:
    # max_digits as the model's column (10): a larger amount is a 400, never a database error.
    return MoneyField(
        max_digits=10,
        min_value=Decimal("0.00"),
        error_messages={"min_value": _("Beloppet kan inte vara negativt.")},
        **kwargs,
    )


class RuleQuerySerializer(serializers.Serializer[Any]):
    organisation = serializers.UUIDField(required=False)
    year = year_field(required=False, help_text="Rules in force on at least one day of the year.")


class RuleCreateSerializer(serializers.Serializer[Any]):
    organisation = serializers.UUIDField()
    valid_from = serializers.DateField(
        help_text="The first day the rates apply. Not in or before a paid month (409)."
    )
    programme_variable = rate_in(
        help_text="Kronor for a completed home visit with social services present at a centre "
        "without fixed compensation (Region Örebro: 2500.00)."
    )
    ordinary = rate_in(
        help_text="Kronor for any other completed home visit (Region Örebro: 1800.00)."
    )

    def validate_valid_from(self, value: datetime.date) -> datetime.date:
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            raise serializers.ValidationError(
                _("Ange ett datum från år %(min)s till %(max)s.")
                % {"min": MIN_YEAR, "max": MAX_YEAR}
            )
        return value


class CompensationRuleSerializer(serializers.Serializer[Any]):
    """A rule with its period: `valid_to` is the day before the organisation's next rule, or
    null while no later rule exists."""

    id = serializers.IntegerField(read_only=True)
    organisation = serializers.UUIDField(read_only=True)
    valid_from = serializers.DateField(read_only=True)
    valid_to = serializers.DateField(read_only=True, allow_null=True)
    programme_variable = money_out()
    ordinary = money_out()
    created_by = serializers.CharField(
        read_only=True, allow_null=True, help_text="Username of who added the rule."
    )
    created_at = serializers.DateTimeField(read_only=True)
