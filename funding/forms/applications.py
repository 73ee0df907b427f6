"""Forms of the fixed-compensation pages. They parse input only; the rules are in
`funding.services`, whose ValidationError (a dict by field) each form shows on its fields with
`add_service_errors()`. Field names and values are the API's (API.md, "Browser pages")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from core.forms import (
    Checkboxes,
    DateInput,
    OrganisationChoiceMixin,
    Radios,
    ServiceForm,
    decimal_input,
)
from core.models import Organisation
from funding import cni_import
from funding.models import CniKind, Transport, Weighting
from funding.services import Plan

Choices = list[tuple[Any, Any]]
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


YES_NO = [("true", _("Ja")), ("false", _("Nej"))]


class ApplicationForm(ServiceForm):
    """The plan of seed 004; `year` only when the application is made."""

    year = forms.TypedChoiceField(label=_("Ansökan gäller år"), coerce=int, choices=())
    nurse_hours_per_week = forms.DecimalField(
        label=_("Sjukskötersketid för programmet (timmar per vecka)"),
        max_digits=5,
        decimal_places=1,
        localize=True,
        widget=decimal_input(),
    )
    social_services_contacted = forms.TypedChoiceField(
        label=_("Har ni kontakt med socialtjänsten om hembesöken?"),
        choices=YES_NO,
        coerce=lambda v: v == "true",
        widget=Radios,
    )
    social_services_contact = forms.CharField(
        label=_("Kontakt hos socialtjänsten"),
        max_length=200,
        required=False,
        help_text=_("Familjestödjare eller kurator som har utrymme för hembesöken."),
    )
    planned_visits = forms.IntegerField(
        label=_("Planerade utökade hembesök under året"),
        min_value=0,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    programme = forms.ChoiceField(
        label=_("Omfattning"),
        choices=[("full", _("Hela programmet")), ("partial", _("Delar av programmet"))],
        initial="full",
        widget=Radios,
    )
    planned_slots = forms.MultipleChoiceField(
        label=_("Planerade besök (vid delar av programmet)"),
        required=False,
        choices=(),
        widget=Checkboxes,
    )
    target_families = forms.CharField(
        label=_("Vilka familjer ska erbjudas programmet?"),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    start_date = forms.DateField(label=_("Planerad start"), widget=DateInput)
    transport = forms.ChoiceField(
        label=_("Transport till hembesöken"),
        choices=[("", _("Välj …")), *Transport.choices],
    )

    def __init__(
        self,
        *args: Any,
        years: Choices | None = None,
        slots: Choices | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if years is None:
            del self.fields["year"]
        else:
            year_field = self.fields["year"]
            assert isinstance(year_field, forms.TypedChoiceField)
            year_field.choices = years
        slot_field = self.fields["planned_slots"]
        assert isinstance(slot_field, forms.MultipleChoiceField)
        slot_field.choices = list(slots or [])
        if not slots:
            del self.fields["planned_slots"]

    def plan(self) -> Plan:
        data = self.cleaned_data
        return Plan(
            nurse_hours_per_week=data["nurse_hours_per_week"],
            social_services_contacted=data["social_services_contacted"],
            social_services_contact=data["social_services_contact"],
            planned_visits=data["planned_visits"],
            programme=data["programme"],
            planned_slots=list(data.get("planned_slots") or []),
            target_families=data["target_families"],
            start_date=data["start_date"],
            transport=data["transport"],
        )


# --- Decisions --------------------------------------------------------------------------------
class RequestChangesForm(ServiceForm):
    comment = forms.CharField(
        label=_("Vad ska kompletteras?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Skriv vad som ska kompletteras.")},
    )


class ApproveForm(ServiceForm):
    comment = forms.CharField(
        label=_("Kommentar till BVC:n"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    effective_from = forms.DateField(
        label=_("Gäller från"),
        required=False,
        widget=DateInput,
        help_text=_("Tomt: det senare av beslutsdagen och planens startdatum."),
    )


class RejectForm(ServiceForm):
    reason = forms.CharField(
        label=_("Skäl till avslaget"),
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Ange skälet till avslaget.")},
    )


# --- The scheme ---------------------------------------------------------------------------------
class SchemeForm(OrganisationChoiceMixin, ServiceForm):
    from_year = forms.IntegerField(
        label=_("Från år"),
        min_value=2000,
        max_value=2100,
        help_text=_("Gäller från detta år tills ett senare år får en egen ordning."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    threshold = forms.DecimalField(
        label=_("Tröskel för barn-CNI"),
        max_digits=6,
        decimal_places=2,
        min_value=0,
        localize=True,
        help_text=_("Bara BVC med barn-CNI över tröskeln kan ansöka (Region Örebro: 2,00)."),
        widget=decimal_input(),
    )
    weighting = forms.ChoiceField(
        label=_("Fördelning av den fasta potten"),
        choices=Weighting.choices,
        initial=Weighting.CNI_X_LISTED,
        widget=Radios,
    )

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_organisations(organisations)
        self.order_fields(["organisation", "from_year", "threshold", "weighting"])


# --- CNI import ---------------------------------------------------------------------------------
class CniImportForm(OrganisationChoiceMixin, forms.Form):
    file = forms.FileField(
        label=_("Fil (CSV eller Excel)"),
        help_text=_(
            "Första raden rubriker: hsa_id eller centre (BVC:ns exakta namn), child_cni och "
            "eventuellt listed_children. CSV med semikolon eller komma; decimalkomma går bra."
        ),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": ".csv,.xlsx,text/csv,"
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        ),
    )
    kind = forms.ChoiceField(
        label=_("Typ av värde"),
        choices=CniKind.choices,
        initial=CniKind.CHILD_CNI,
        widget=Radios,
    )
    source = forms.CharField(label=_("Källa"), max_length=100, initial="SCB")
    reference_date = forms.DateField(label=_("Referensdatum"), widget=DateInput)
    scale = forms.CharField(
        label=_("Skala"),
        max_length=100,
        initial="Riksgenomsnitt 1,0",
        help_text=_("Vad värdet 1,0 betyder."),
    )

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_organisations(organisations)
        self.order_fields(["organisation", "file", "kind", "source", "reference_date", "scale"])

    def clean_file(self) -> list[cni_import.RawRow]:
        upload = self.cleaned_data["file"]
        assert isinstance(upload, UploadedFile)
        if upload.size and upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(_("Filen är större än 2 MB."))
        try:
            return cni_import.parse(upload.read())
        except cni_import.ImportFileError as exc:
            raise ValidationError(str(exc)) from exc

    def batch(self) -> cni_import.Batch:
        data = self.cleaned_data
        return cni_import.Batch(
            kind=data["kind"],
            source=data["source"].strip(),
            reference_date=data["reference_date"],
            scale=data["scale"].strip(),
        )
