"""Forms of the finance pages (grants, ledger, fixed allocation, paying a month). They parse
input only; the rules are in `funding.ledger`, `funding.allocation` and `funding.compensation`,
whose ValidationError (a dict by field) each form shows on its fields with
`add_service_errors()`. Field names and values are the API's (API.md, "Grants and ledger")."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.form_tokens import TokenFormMixin
from core.forms import DateInput, OrganisationChoiceMixin, ServiceForm, money_field, year_field
from core.models import Centre, Organisation, Partner
from funding.models import Funder, Grant, PayoutCategory, RecipientType, TxKind

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


# --- Filters (GET) ----------------------------------------------------------------------------
class GrantFilterForm(forms.Form):
    year = forms.TypedChoiceField(label=_("År"), coerce=int, required=False, choices=())
    funder = forms.ChoiceField(
        label=_("Bidragsgivare"), required=False, choices=[("", _("Alla")), *Funder.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Alla")), ("open", _("Öppna")), ("closed", _("Avslutade"))],
    )

    def __init__(self, *args: Any, years: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["year"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", _("Alla år")), *[(y, str(y)) for y in years]]


class LedgerFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Typ"), required=False, choices=[("", _("Alla")), *TxKind.choices]
    )
    category = forms.ChoiceField(
        label=_("Kategori"), required=False, choices=[("", _("Alla")), *PayoutCategory.choices]
    )
    date_from = forms.DateField(label=_("Från datum"), required=False, widget=DateInput)
    date_to = forms.DateField(label=_("Till datum"), required=False, widget=DateInput)


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


# --- Grants -------------------------------------------------------------------------------------
class GrantForm(OrganisationChoiceMixin, ServiceForm):
    funder = forms.ChoiceField(label=_("Bidragsgivare"), choices=Funder.choices)
    reference = forms.CharField(
        label=_("Beslut (diarienummer)"),
        max_length=60,
        help_text=_("Till exempel 23RS9581. Unikt per bidragsgivare."),
    )
    year = year_field()
    amount = money_field(_("Belopp"), help_text=_("Det belopp som har kommit in."))
    requisitioned_on = forms.DateField(label=_("Rekvirerat"), required=False, widget=DateInput)
    received_on = forms.DateField(label=_("Mottaget"), widget=DateInput)
    use_by = forms.DateField(label=_("Används senast"), widget=DateInput)
    report_due = forms.DateField(label=_("Redovisas senast"), widget=DateInput)
    conditions = forms.CharField(
        label=_("Villkor"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_organisations(organisations)
        self.order_fields(
            [
                "organisation",
                "funder",
                "reference",
                "year",
                "amount",
                "requisitioned_on",
                "received_on",
                "use_by",
                "report_due",
                "conditions",
            ]
        )


def _recipient_choices(
    grant: Grant, types: list[str]
) -> tuple[list[tuple[Any, Any]], dict[str, set[uuid.UUID]]]:
    """The grant organisation's recipients, grouped by type (a select with optgroups), and the
    ids valid for each type."""
    choices: list[tuple[Any, Any]] = [("", _("Välj …"))]
    valid: dict[str, set[uuid.UUID]] = {}
    if RecipientType.CENTRE in types:
        centres = list(Centre.objects.filter(organisation_id=grant.organisation_id))
        choices.append((_("BVC"), [(str(c.pk), c.name) for c in centres]))
        valid[RecipientType.CENTRE] = {c.pk for c in centres}
    if RecipientType.PARTNER in types:
        partners = list(
            Partner.objects.filter(organisation_id=grant.organisation_id).order_by("name")
        )
        choices.append((_("Samverkansparter"), [(str(p.pk), p.name) for p in partners]))
        valid[RecipientType.PARTNER] = {p.pk for p in partners}
    if RecipientType.ORGANISATION in types:
        choices.append(
            (_("Organisationen"), [(str(grant.organisation_id), grant.organisation.name)])
        )
        valid[RecipientType.ORGANISATION] = {grant.organisation_id}
    return choices, valid


class RecipientMixin(forms.Form):
    """`recipient_type` and `recipient` as in the API; the recipient must be one of the grant
    organisation's of that type (else an error on `recipient`)."""

    recipient_types: list[str] = []
    recipient_type = forms.ChoiceField(label=_("Typ av mottagare"), choices=())
    recipient = forms.TypedChoiceField(label=_("Mottagare"), coerce=uuid.UUID, choices=())

    def set_recipients(self, grant: Grant) -> None:
        type_field = self.fields["recipient_type"]
        assert isinstance(type_field, forms.ChoiceField)
        type_field.choices = [
            ("", _("Välj …")),
            *[(t, RecipientType(t).label) for t in self.recipient_types],
        ]
        choices, self._valid = _recipient_choices(grant, self.recipient_types)
        recipient_field = self.fields["recipient"]
        assert isinstance(recipient_field, forms.TypedChoiceField)
        recipient_field.choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, recipient = data.get("recipient_type"), data.get("recipient")
        if kind and recipient and recipient not in self._valid.get(kind, set()):
            self.add_error(
                "recipient",
                _("Mottagaren är inte %(type)s i bidragets organisation.")
                % {"type": RecipientType(kind).label.lower()},
            )
        return data


class AllocationForm(TokenFormMixin, RecipientMixin, ServiceForm):
    recipient_types = [RecipientType.CENTRE, RecipientType.PARTNER]
    amount = money_field(_("Belopp"))
    purpose = forms.CharField(label=_("Syfte"), max_length=200, required=False)

    def __init__(self, *args: Any, grant: Grant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_recipients(grant)
        self.order_fields(["recipient_type", "recipient", "amount", "purpose", "token"])


class PayoutForm(TokenFormMixin, RecipientMixin, ServiceForm):
    recipient_types = [RecipientType.CENTRE, RecipientType.PARTNER, RecipientType.ORGANISATION]
    category = forms.ChoiceField(
        label=_("Kategori"), choices=[("", _("Välj …")), *PayoutCategory.choices]
    )
    amount = money_field(_("Belopp"))
    date = forms.DateField(label=_("Datum"), widget=DateInput)
    reference = forms.CharField(label=_("Referens"), max_length=200, required=False)

    def __init__(self, *args: Any, grant: Grant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_recipients(grant)
        self.initial.setdefault("date", timezone.localdate())
        self.order_fields(
            ["category", "recipient_type", "recipient", "amount", "date", "reference", "token"]
        )


class RepaymentForm(TokenFormMixin, ServiceForm):
    amount = money_field(_("Belopp"))
    date = forms.DateField(label=_("Datum"), widget=DateInput)
    reference = forms.CharField(
        label=_("Fakturans referens"),
        max_length=200,
        help_text=_("Bidragsgivarens faktura som återbetalningen avser."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.setdefault("date", timezone.localdate())


class CloseForm(TokenFormMixin, ServiceForm):
    """Only the token: the confirmation page shows the figures first."""


# --- Fixed allocation ---------------------------------------------------------------------------
class FixedAllocationForm(ServiceForm):
    year = year_field()
    pool = money_field(_("Pott"), help_text=_("I hela kronor."))


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
