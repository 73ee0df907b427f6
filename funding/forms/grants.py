"""Forms of the grant pages (grants, their ledger, fixed allocation, allocations, payouts,
repayments, close). They parse input only; the rules are in `funding.ledger` and
`funding.allocation`, whose ValidationError (a dict by field) each form shows on its fields with
`add_service_errors()`. Field names and values are the API's (API.md, "Grants and ledger")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.form_tokens import TokenFormMixin
from core.forms import DateInput, OrganisationChoiceMixin, ServiceForm, money_field, year_field
from core.models import Organisation
from funding import selectors
from funding.models import Funder, Grant, PayoutCategory, RecipientType, TxKind


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


RECIPIENT_GROUPS: dict[str, Any] = {
    RecipientType.CENTRE: _("BVC"),
    RecipientType.PARTNER: _("Samverkansparter"),
    RecipientType.ORGANISATION: _("Organisationen"),
}


class RecipientMixin(forms.Form):
    """`recipient_type` and `recipient` as in the API. The select offers the grant
    organisation's recipients, grouped by type; which recipient may receive is the service's
    rule (`funding.ledger.require_recipient()`), shown on `recipient` when it refuses."""

    recipient_types: list[str] = []
    recipient_type = forms.ChoiceField(label=_("Typ av mottagare"), choices=())
    recipient = forms.UUIDField(label=_("Mottagare"), widget=forms.Select)

    def set_recipients(self, grant: Grant) -> None:
        type_field = self.fields["recipient_type"]
        assert isinstance(type_field, forms.ChoiceField)
        type_field.choices = [
            ("", _("Välj …")),
            *[(t, RecipientType(t).label) for t in self.recipient_types],
        ]
        groups = selectors.grant_recipients(grant=grant, types=self.recipient_types)
        widget = self.fields["recipient"].widget
        assert isinstance(widget, forms.Select)
        widget.choices = [
            ("", _("Välj …")),
            *[
                (RECIPIENT_GROUPS[kind], [(str(pk), name) for pk, name in groups[kind]])
                for kind in self.recipient_types
            ],
        ]


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
