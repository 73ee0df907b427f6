"""Forms of the compensation pages: the statements' filter, paying a month, and a new rule of
per-visit rates. They parse input only; the rules are in `funding.compensation`, whose
ValidationError (a dict by field) each form shows on its fields with `add_service_errors()`.
Field names and values are the API's (API.md, "Grants and ledger", "Rates are data")."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.form_tokens import TokenFormMixin
from core.forms import (
    DateInput,
    MoneyField,
    OrganisationChoiceMixin,
    ServiceForm,
    decimal_input,
    year_field,
)
from core.models import Organisation
from funding.models import Grant

MONTHS = [
    (1, _("januari")),
    (2, _("februari")),
    (3, _("mars")),
    (4, _("april")),
    (5, _("maj")),
    (6, _("juni")),
    (7, _("juli")),
    (8, _("augusti")),
    (9, _("september")),
    (10, _("oktober")),
    (11, _("november")),
    (12, _("december")),
]


def month_label(year: int, month: int) -> str:
    return f"{dict(MONTHS)[month]} {year}"


# --- The statements' filter (GET) ---------------------------------------------------------------
class CompensationFilterForm(forms.Form):
    organisation = forms.ModelChoiceField(
        label=_("Organisation"), queryset=Organisation.objects.none(), required=False
    )
    year = year_field(required=False)
    month = forms.TypedChoiceField(
        label=_("Månad"), coerce=int, required=False, choices=[("", _("Alla")), *MONTHS]
    )

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = organisations
        field.empty_label = None
        if len(organisations) <= 1:
            del self.fields["organisation"]


# --- Paying a month -------------------------------------------------------------------------------
class MonthChoiceForm(ServiceForm):
    grant = forms.ModelChoiceField(label=_("Bidrag"), queryset=Grant.objects.none())
    year = year_field()
    month = forms.TypedChoiceField(label=_("Månad"), coerce=int, choices=MONTHS)

    def __init__(self, *args: Any, grants: QuerySet[Grant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["grant"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = grants
        field.empty_label = _("Välj …")
        today = timezone.localdate()
        last = today.replace(day=1) - datetime.timedelta(days=1)  # the month just ended
        self.initial.setdefault("year", last.year)
        self.initial.setdefault("month", last.month)


class MonthPayForm(TokenFormMixin, MonthChoiceForm):
    """The confirmation: the same fields (hidden) and the token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("grant", "year", "month"):
            self.fields[name].widget = forms.HiddenInput()


# --- A new rule of per-visit rates ---------------------------------------------------------------
def _rate_field(label: Any, help_text: Any) -> MoneyField:
    # max_digits as the model's column; the service refuses negatives too (the API's message).
    return MoneyField(
        label=label,
        help_text=help_text,
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0"),
        localize=True,
        widget=decimal_input(),
        error_messages={"min_value": _("Beloppet kan inte vara negativt.")},
    )


class RateForm(OrganisationChoiceMixin, ServiceForm):
    """Field names as the API's (`POST /api/v1/compensation-rules/`)."""

    valid_from = forms.DateField(
        label=_("Gäller från"),
        widget=DateInput,
        help_text=_("Första dagen de nya beloppen gäller."),
    )
    programme_variable = _rate_field(
        _("Rörlig ersättning per hembesök med socialtjänsten (kr)"),
        _("Genomfört hembesök med socialtjänsten på en BVC utan fast ersättning."),
    )
    ordinary = _rate_field(
        _("Ordinarie ersättning per hembesök (kr)"),
        _("Övriga genomförda hembesök."),
    )

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_organisations(organisations)
        self.order_fields(["organisation", "valid_from", "programme_variable", "ordinary"])
