"""Forms of the report pages. They parse input only; the rules are in `reporting.services`.
Field names and values are the API's (`kind`, `year`, `grant`, `centre`, `organisation`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from core.dates import MAX_YEAR, MIN_YEAR
from core.forms import ServiceForm
from reporting.narratives import NARRATIVE_MAX_LENGTH

Choices = list[tuple[Any, Any]]


class ReportRequestForm(ServiceForm):
    kind = forms.ChoiceField(label=_("Rapport"))
    year = forms.IntegerField(label=_("År"), min_value=MIN_YEAR, max_value=MAX_YEAR)
    grant = forms.ChoiceField(
        label=_("Bidrag"),
        required=False,
        help_text=_("För återrapportering, slutrapport och revisionsunderlag."),
    )
    centre = forms.ChoiceField(
        label=_("BVC"),
        required=False,
        help_text=_("För årsredovisningen till Hälsovalsenheten."),
    )
    organisation = forms.ChoiceField(label=_("Organisation"), required=False)

    def __init__(
        self,
        *args: Any,
        kinds: Choices,
        grants: Choices,
        centres: Choices,
        organisations: Choices,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        kind_field, grant_field, centre_field, organisation_field = (
            self.fields["kind"],
            self.fields["grant"],
            self.fields["centre"],
            self.fields["organisation"],
        )
        assert isinstance(kind_field, forms.ChoiceField)
        assert isinstance(grant_field, forms.ChoiceField)
        assert isinstance(centre_field, forms.ChoiceField)
        assert isinstance(organisation_field, forms.ChoiceField)
        kind_field.choices = kinds
        if grants:
            grant_field.choices = [("", _("Inget bidrag")), *grants]
        else:
            del self.fields["grant"]
        if centres:
            centre_field.choices = [("", _("Ingen BVC")), *centres]
        else:
            del self.fields["centre"]
        if len(organisations) > 1:
            organisation_field.choices = [("", _("Välj")), *organisations]
        else:
            del self.fields["organisation"]


class NarrativeForm(ServiceForm):
    """One text area per section of the report, with the current text."""

    def __init__(
        self,
        *args: Any,
        sections: list[tuple[str, str]],
        current: Mapping[str, str],
        disabled: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        for key, heading in sections:
            self.fields[key] = forms.CharField(
                label=heading,
                required=False,
                max_length=NARRATIVE_MAX_LENGTH,
                initial=current.get(key, ""),
                disabled=disabled,
                widget=forms.Textarea(attrs={"rows": 6}),
            )
