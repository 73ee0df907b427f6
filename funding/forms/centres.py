"""Forms of the centre pages: the yearly scheme and the CNI import (CBHV, admins). They parse
input only; the rules are in `funding.centres` and `funding.cni_import`. Field names are the
API's (API.md, "Browser pages")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from core.forms import DateInput, OrganisationChoiceMixin, Radios, ServiceForm, decimal_input
from core.models import Organisation
from funding import cni_import
from funding.models import CniKind, Weighting

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


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
