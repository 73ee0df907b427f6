"""Forms of the nurse's pages. They parse input only; the rules are in `visits.services`, whose
ValidationError (a dict by field) each form maps back onto its fields with `add_service_errors()`.

Field names and values are the API's (API.md, "Browser pages"), so a form and a JSON body say
the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from core.forms import Checkboxes, DateInput, Radios, ServiceForm
from core.models import Centre
from visits.identity import IdentityType
from visits.models import (
    Contact,
    Eligibility,
    EndReason,
    InterpreterMode,
    Participant,
    Programme,
    ProgrammeTemplate,
    VisitPlace,
    VisitStatus,
)
from visits.services import VisitInput

Choices = list[tuple[str, str]]


# --- Children ---------------------------------------------------------------------------------
def _identity_type_choices() -> Choices:
    return [(t.value, t.label) for t in IdentityType]


class ChildRegisterForm(ServiceForm):
    identity_type = forms.ChoiceField(
        label=_("Typ av identitet"),
        choices=_identity_type_choices,
        initial=IdentityType.PERSONNUMMER.value,
        widget=Radios,
    )
    identity = forms.CharField(
        label=_("Identitetsnummer"),
        max_length=40,
        help_text=_("Personnummer eller samordningsnummer som ÅÅÅÅMMDD-NNNN."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "numeric"}
        ),
    )
    birth_date = forms.DateField(
        label=_("Födelsedatum"),
        required=False,
        help_text=_("Krävs för reservnummer; annars läses det ur numret."),
        widget=DateInput,
    )
    given_name = forms.CharField(label=_("Förnamn"), max_length=100, required=False)
    family_name = forms.CharField(label=_("Efternamn"), max_length=100, required=False)
    centre = forms.ModelChoiceField(
        label=_("BVC"), queryset=Centre.objects.none(), empty_label=None
    )

    def __init__(self, *args: Any, centres: QuerySet[Centre], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        centre_field = self.fields["centre"]
        assert isinstance(centre_field, forms.ModelChoiceField)
        centre_field.queryset = centres
        # With one centre there is nothing to choose (API.md: required with several).
        if len(centres) < 2:
            del self.fields["centre"]


class ChildEditForm(ServiceForm):
    given_name = forms.CharField(label=_("Förnamn"), max_length=100, required=False)
    family_name = forms.CharField(label=_("Efternamn"), max_length=100, required=False)
    protected = forms.BooleanField(
        label=_("Skyddad identitet (skyddade personuppgifter)"),
        required=False,
        help_text=_(
            "Listor och exporter visar då bara ”Skyddad identitet”, utan namn, för alla. "
            "Bara sjuksköterskorna på barnets BVC ser uppgifterna på barnets sida."
        ),
    )


# --- Enrolments -------------------------------------------------------------------------------
def slot_choices(templates: Iterable[ProgrammeTemplate]) -> Choices:
    """The slots of `templates` (slots prefetched), first label per key, in age order."""
    seen: dict[str, str] = {}
    slots = sorted(
        (slot for template in templates for slot in template.slots.all()),
        key=lambda s: (s.target_age_days, s.key),
    )
    for slot in slots:
        seen.setdefault(slot.key, slot.label)
    return list(seen.items())


class EnrolmentPlanForm(ServiceForm):
    """What a create and an edit have in common: the programme and the family's needs."""

    programme = forms.ChoiceField(
        label=_("Omfattning"), choices=Programme.choices, initial=Programme.FULL, widget=Radios
    )
    planned_slots = forms.MultipleChoiceField(
        label=_("Planerade besök"),
        required=False,
        help_text=_("Välj besöken bara när familjen tar del av en del av programmet."),
        # app.js hides the group while "Hela programmet" is chosen; without JS it stays.
        widget=Checkboxes(attrs={"data-show-if": "programme=partial"}),
    )
    language = forms.CharField(label=_("Familjens språk"), max_length=60, required=False)
    interpreter_needed = forms.BooleanField(label=_("Familjen behöver tolk"), required=False)

    def __init__(self, *args: Any, slots: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        planned = self.fields["planned_slots"]
        assert isinstance(planned, forms.MultipleChoiceField)
        planned.choices = slots

    def plan(self) -> dict[str, Any]:
        data = self.cleaned_data
        # Slots ticked for a full programme mean nothing: the service would refuse them.
        slots = list(data["planned_slots"]) if data["programme"] == Programme.PARTIAL else []
        return {
            "programme": data["programme"],
            "planned_slots": slots,
            "language": data["language"],
            "interpreter_needed": data["interpreter_needed"],
        }


class EnrolmentCreateForm(EnrolmentPlanForm):
    template = forms.ModelChoiceField(
        label=_("Programmall"), queryset=ProgrammeTemplate.objects.none(), empty_label=None
    )
    offered_on = forms.DateField(label=_("Erbjuden"), widget=DateInput)
    accepted_on = forms.DateField(
        label=_("Tackade ja"),
        required=False,
        help_text=_("Lämna tomt om familjen inte har svarat än."),
        widget=DateInput,
    )
    eligibility = forms.MultipleChoiceField(
        label=_("Grund för erbjudandet"),
        choices=Eligibility.choices,
        required=False,
        widget=Checkboxes,
    )

    field_order = [
        "template",
        "offered_on",
        "accepted_on",
        "eligibility",
        "programme",
        "planned_slots",
        "language",
        "interpreter_needed",
    ]

    def __init__(self, *args: Any, templates: QuerySet[ProgrammeTemplate], **kwargs: Any) -> None:
        super().__init__(*args, slots=slot_choices(templates), **kwargs)
        template_field = self.fields["template"]
        assert isinstance(template_field, forms.ModelChoiceField)
        template_field.queryset = templates


class EnrolmentEditForm(EnrolmentPlanForm):
    accepted_on = forms.DateField(label=_("Tackade ja"), required=False, widget=DateInput)
    declined_on = forms.DateField(label=_("Tackade nej"), required=False, widget=DateInput)

    field_order = [
        "accepted_on",
        "declined_on",
        "programme",
        "planned_slots",
        "language",
        "interpreter_needed",
    ]


class EnrolmentEndForm(ServiceForm):
    ended_on = forms.DateField(label=_("Avslutad"), widget=DateInput)
    reason = forms.ChoiceField(label=_("Orsak"), choices=EndReason.choices, widget=Radios)
    moved_to = forms.ModelChoiceField(
        label=_("Flyttar till BVC"),
        queryset=Centre.objects.none(),
        required=False,
        empty_label=_("– Välj BVC –"),
        help_text=_("Krävs när barnet flyttar. Barnet blir då synligt för den BVC:n."),
    )

    def __init__(self, *args: Any, centres: QuerySet[Centre], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        moved_to = self.fields["moved_to"]
        assert isinstance(moved_to, forms.ModelChoiceField)
        moved_to.queryset = centres


# --- Visits -----------------------------------------------------------------------------------
EXTRA_VISIT = ("", _("Extra besök utanför mallen"))


class VisitForm(ServiceForm):
    error_aliases = {"interpreter": "interpreter_mode"}

    date = forms.DateField(label=_("Datum"), widget=DateInput)
    place = forms.ChoiceField(label=_("Plats"), choices=VisitPlace.choices, widget=Radios)
    status = forms.ChoiceField(
        label=_("Status"),
        choices=VisitStatus.choices,
        initial=VisitStatus.COMPLETED,
        widget=Radios,
    )
    slot = forms.ChoiceField(label=_("Besökstillfälle"), required=False)
    social_services_present = forms.BooleanField(label=_("Socialtjänsten deltog"), required=False)
    participants = forms.MultipleChoiceField(
        label=_("Övriga deltagare"),
        choices=Participant.choices,
        required=False,
        widget=Checkboxes,
    )
    interpreter_mode = forms.ChoiceField(
        label=_("Tolk"),
        choices=InterpreterMode.choices,
        initial=InterpreterMode.NONE,
        required=False,
        help_text=_("Ange hur tolken deltog när tolk finns bland deltagarna."),
        widget=Radios,
    )
    interpreter_language = forms.CharField(label=_("Tolkspråk"), max_length=60, required=False)
    kva_codes = forms.MultipleChoiceField(
        label=_("KVÅ-koder"),
        required=False,
        help_text=_(
            "ZV509 (medverkan av socialtjänst) läggs till automatiskt för ett genomfört "
            "hembesök där socialtjänsten deltog. Inställda och uteblivna besök har inga koder."
        ),
        widget=Checkboxes,
    )
    contacts_started = forms.MultipleChoiceField(
        label=_("Kontakter som initierats"),
        choices=Contact.choices,
        required=False,
        widget=Checkboxes,
    )
    adjustment = forms.BooleanField(
        label=_("Ändring i en redan utbetald månad (justering)"),
        required=False,
        help_text=_(
            "Kryssa bara i om besöket ligger i en månad som redan är utbetald. Ändringen sparas "
            "då och skillnaden i ersättning bokas som en justering i nästa öppna månad."
        ),
    )

    def __init__(self, *args: Any, slots: Choices, kva_codes: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        slot = self.fields["slot"]
        codes = self.fields["kva_codes"]
        assert isinstance(slot, forms.ChoiceField)
        assert isinstance(codes, forms.MultipleChoiceField)
        slot.choices = [*slots, EXTRA_VISIT]
        codes.choices = kva_codes

    def to_input(self) -> VisitInput:
        data = self.cleaned_data
        return VisitInput(
            date=data["date"],
            place=data["place"],
            status=data["status"],
            slot=data["slot"] or "",
            social_services_present=data["social_services_present"],
            participants=list(data["participants"]),
            interpreter_mode=data["interpreter_mode"] or InterpreterMode.NONE,
            interpreter_language=data["interpreter_language"],
            kva_codes=list(data["kva_codes"]),
            contacts_started=list(data["contacts_started"]),
        )


def visit_changes(current: VisitInput, new: VisitInput) -> dict[str, Any]:
    """The fields the nurse changed (lists compared as sets). `visit_update()` derives the rest:
    a visit changed to cancelled loses its codes, ZV509 follows social services."""
    changes = {}
    for name, value in new.__dict__.items():
        old = getattr(current, name)
        if isinstance(value, list) and isinstance(old, list):
            if set(value) != set(old):
                changes[name] = value
        elif value != old:
            changes[name] = value
    return changes
