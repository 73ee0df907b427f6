"""Forms of the application pages: the plan and CBHV's decisions. They parse input only; the
rules are in `funding.applications`, whose ValidationError (a dict by field) each form shows on
its fields with `add_service_errors()`. Field names and values are the API's (API.md, "Browser
pages")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import Checkboxes, DateInput, Radios, ServiceForm, decimal_input
from funding.applications import Plan
from funding.models import Transport

Choices = list[tuple[Any, Any]]


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
