"""Input and output serializers of grants and their ledger (API.md, "Grants and ledger").

Input serializers only parse and type-check (money as `core.api.fields.MoneyField`: a decimal
string with two decimals at most, above zero); the rules are in `funding.ledger`. Output
serializers take the dicts built by `funding.api.ledger_views` (figures computed from the
ledger) and render money as strings with two decimals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from core.api.fields import MoneyField
from core.dates import MAX_YEAR, MIN_YEAR
from funding.models import Funder, PayoutCategory, RecipientType, TxKind

TEXT_MAX = 5000
MIN_AMOUNT = Decimal("0.01")


def money_in(**kwargs: Any) -> MoneyField:
    return MoneyField(max_digits=14, min_value=MIN_AMOUNT, **kwargs)


def money_out(**kwargs: Any) -> serializers.DecimalField:
    # No digit limit on output: a sum may outgrow one row's 14 digits.
    return serializers.DecimalField(max_digits=None, decimal_places=2, read_only=True, **kwargs)


def year_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR, **kwargs)


STATUSES = [("open", "open"), ("closed", "closed")]


# --- Grants -----------------------------------------------------------------------------------
class GrantQuerySerializer(serializers.Serializer[Any]):
    organisation = serializers.UUIDField(required=False)
    year = year_field(required=False)
    funder = serializers.ChoiceField(choices=Funder.choices, required=False)
    status = serializers.ChoiceField(choices=STATUSES, required=False)


class GrantCreateSerializer(serializers.Serializer[Any]):
    organisation = serializers.UUIDField()
    funder = serializers.ChoiceField(choices=Funder.choices)
    reference = serializers.CharField(max_length=60)
    year = year_field()
    amount = money_in()
    requisitioned_on = serializers.DateField(required=False, allow_null=True)
    received_on = serializers.DateField()
    use_by = serializers.DateField()
    report_due = serializers.DateField()
    conditions = serializers.CharField(
        required=False, allow_blank=True, max_length=TEXT_MAX, default=""
    )


class GrantSerializer(serializers.Serializer[Any]):
    """A grant with its figures, all from the ledger: `balance` = amount − paid_out −
    carried_over − repaid; `unused` = amount − paid_out (frozen at close); `repayment_due` is
    0.00 while open, after close unused − carried_over − repaid."""

    id = serializers.UUIDField(read_only=True)
    organisation = serializers.UUIDField(read_only=True)
    funder = serializers.ChoiceField(choices=Funder.choices, read_only=True)
    reference = serializers.CharField(read_only=True)
    year = serializers.IntegerField(read_only=True)
    amount = money_out(help_text="Received: receipts, including carry-overs from earlier grants.")
    allocated = money_out()
    paid_out = money_out()
    carried_over = money_out()
    repaid = money_out()
    balance = money_out()
    unused = money_out()
    repayment_due = money_out()
    status = serializers.ChoiceField(choices=STATUSES, read_only=True)
    requisitioned_on = serializers.DateField(read_only=True, allow_null=True)
    received_on = serializers.DateField(read_only=True)
    use_by = serializers.DateField(read_only=True)
    report_due = serializers.DateField(read_only=True)
    conditions = serializers.CharField(read_only=True)
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)


# --- Ledger -----------------------------------------------------------------------------------
class LedgerRowSerializer(serializers.Serializer[Any]):
    """A transaction, signed from the grant's side (receipts positive; payouts, carry-overs and
    repayments negative; a reversal the opposite of what it reverses; allocations positive)."""

    id = serializers.UUIDField(read_only=True)
    kind = serializers.ChoiceField(choices=TxKind.choices, read_only=True)
    category = serializers.CharField(
        read_only=True, help_text="Payout category, or empty (`fixed`, `partner_transfer`, ...)."
    )
    date = serializers.DateField(read_only=True)
    amount = money_out()
    recipient_type = serializers.CharField(
        read_only=True, help_text="`centre`, `partner`, `organisation`, or empty."
    )
    recipient = serializers.UUIDField(read_only=True, allow_null=True)
    reference = serializers.CharField(read_only=True)
    reverses = serializers.UUIDField(read_only=True, allow_null=True)
    created_by = serializers.CharField(read_only=True, help_text="The username.")
    created_at = serializers.DateTimeField(read_only=True)


class GrantCarryOverResultSerializer(serializers.Serializer[Any]):
    carry_over = LedgerRowSerializer(read_only=True)
    receipt = LedgerRowSerializer(read_only=True, help_text="The receipt on `to_grant`.")
    to_grant = serializers.UUIDField(read_only=True)


class GrantAllocationSerializer(serializers.Serializer[Any]):
    recipient_type = serializers.ChoiceField(
        choices=[(RecipientType.CENTRE.value, "centre"), (RecipientType.PARTNER.value, "partner")]
    )
    recipient = serializers.UUIDField()
    amount = money_in()
    purpose = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class GrantPayoutSerializer(serializers.Serializer[Any]):
    recipient_type = serializers.ChoiceField(choices=RecipientType.choices)
    recipient = serializers.UUIDField(
        help_text="A centre or partner of the grant's organisation, or the organisation itself."
    )
    category = serializers.ChoiceField(choices=PayoutCategory.choices)
    amount = money_in()
    date = serializers.DateField()
    reference = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class GrantReversalSerializer(serializers.Serializer[Any]):
    transaction = serializers.UUIDField()
    reason = serializers.CharField(max_length=200)


class GrantCarryOverSerializer(serializers.Serializer[Any]):
    amount = money_in()
    # The later grant, when made, runs to 31 December and reports by 1 March the year after.
    to_year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR - 1)
    # It becomes the made grant's reference with " (year)" appended (60 characters at most).
    decision_reference = serializers.CharField(max_length=50)


class GrantRepaymentSerializer(serializers.Serializer[Any]):
    amount = money_in()
    date = serializers.DateField()
    reference = serializers.CharField(max_length=200, help_text="The funder's invoice.")
