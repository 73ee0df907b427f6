"""Input and output serializers of the visits part of API v1 (API.md, "Children and enrolments",
"Visits", "Access log").

Input serializers only parse and type-check; the domain rules are in `visits.services`. Output
serializers decide what a caller may see of a child (full identity, protected identity).

Request and response serializers of one resource share a component name (`Visit`,
`VisitRequest`, `PatchedVisitRequest`), so each choice set is named once in the schema.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from visits.extension import describe_visit
from visits.identity import IdentityType
from visits.models import (
    AccessAction,
    AccessLog,
    Child,
    Contact,
    Eligibility,
    EndReason,
    Enrolment,
    InterpreterMode,
    KvaCode,
    Participant,
    Programme,
    ProgrammeTemplate,
    SlotKind,
    SlotPlace,
    TemplateSlot,
    Visit,
    VisitPlace,
    VisitStatus,
)
from visits.selectors import ScheduleEntry, ScheduleStatus, enrolment_schedule

# API.md fixes this string for every list and export, whatever language the request asks for
# (the model's label is translatable).
PROTECTED_IDENTITY = "Skyddad identitet"

IDENTITY_TYPES = [(t.value, t.label) for t in IdentityType]
WORKLIST_STATUSES = [
    (ScheduleStatus.DUE.value, ScheduleStatus.DUE.label),
    (ScheduleStatus.OVERDUE.value, ScheduleStatus.OVERDUE.label),
]


def masked(child: Child) -> str:
    """What lists show of a child's identity: never the whole number; nothing when protected."""
    return PROTECTED_IDENTITY if child.protected else child.identity_value.masked


@extend_schema_field(OpenApiTypes.STR)
class MaskedIdentityField(serializers.Field[Child, str, str, Any]):
    """The masked identity of the child at `source` (read only)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Child) -> str:
        return masked(value)


# --- Reference data ---------------------------------------------------------------------------
class KvaCodeSerializer(serializers.Serializer[KvaCode]):
    code = serializers.CharField()
    title = serializers.CharField()
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(allow_null=True)


class TemplateSlotSerializer(serializers.Serializer[TemplateSlot]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    kind = serializers.ChoiceField(choices=SlotKind.choices)
    place = serializers.ChoiceField(choices=SlotPlace.choices)
    target_age_days = serializers.IntegerField()
    earliest_age_days = serializers.IntegerField()
    latest_age_days = serializers.IntegerField()


class ProgrammeTemplateSerializer(serializers.Serializer[ProgrammeTemplate]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    organisation = serializers.UUIDField(source="organisation_id")
    version = serializers.IntegerField()
    slots = TemplateSlotSerializer(many=True, source="slots.all")


# --- Children ---------------------------------------------------------------------------------
@extend_schema_serializer(component_name="Child")
class ChildCreateSerializer(serializers.Serializer[Any]):
    identity_type = serializers.ChoiceField(choices=IDENTITY_TYPES)
    identity = serializers.CharField(max_length=100)
    birth_date = serializers.DateField(
        required=False, help_text="Required for reservnummer; else it must match the number."
    )
    given_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    family_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    centre = serializers.UUIDField(
        required=False,
        help_text="The child's centre; required when the caller works at more than one.",
    )


@extend_schema_serializer(component_name="Child")
class ChildUpdateSerializer(serializers.Serializer[Any]):
    given_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    family_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    protected = serializers.BooleanField(required=False)


class ChildCreatedSerializer(serializers.Serializer[Child]):
    id = serializers.UUIDField()
    identity_type = serializers.ChoiceField(choices=IDENTITY_TYPES)
    identity_masked = MaskedIdentityField(source="*")
    birth_date = serializers.DateField()
    organisation = serializers.UUIDField(source="organisation_id")
    current_centre = serializers.UUIDField(source="current_centre_id")


class ChildListItemSerializer(serializers.Serializer[Child]):
    """What every list shows: masked identity; no names for a protected child."""

    id = serializers.UUIDField()
    identity_type = serializers.ChoiceField(choices=IDENTITY_TYPES)
    identity_masked = MaskedIdentityField(source="*")
    birth_date = serializers.DateField()
    given_name = serializers.SerializerMethodField()
    family_name = serializers.SerializerMethodField()
    current_centre = serializers.UUIDField(source="current_centre_id")

    def get_given_name(self, child: Child) -> str:
        return "" if child.protected else child.given_name

    def get_family_name(self, child: Child) -> str:
        return "" if child.protected else child.family_name


class ChildSerializer(serializers.Serializer[Child]):
    """A child. Only nurses of its current centre see the whole identity number and, when the
    identity is protected, its names and masked number."""

    # Context `full`: the caller is a nurse of the child's current centre.

    id = serializers.UUIDField()
    identity_type = serializers.ChoiceField(choices=IDENTITY_TYPES)
    identity_masked = serializers.SerializerMethodField()
    identity = serializers.SerializerMethodField(
        help_text="The whole number: only for nurses of the child's current centre, else null."
    )
    birth_date = serializers.DateField()
    given_name = serializers.SerializerMethodField()
    family_name = serializers.SerializerMethodField()
    organisation = serializers.UUIDField(source="organisation_id")
    current_centre = serializers.UUIDField(source="current_centre_id")
    protected = serializers.BooleanField()

    def _full(self) -> bool:
        return bool(self.context.get("full"))

    def _hidden(self, child: Child) -> bool:
        return child.protected and not self._full()

    def get_identity_masked(self, child: Child) -> str:
        return PROTECTED_IDENTITY if self._hidden(child) else child.identity_value.masked

    def get_identity(self, child: Child) -> str | None:
        return child.identity if self._full() else None

    def get_given_name(self, child: Child) -> str:
        return "" if self._hidden(child) else child.given_name

    def get_family_name(self, child: Child) -> str:
        return "" if self._hidden(child) else child.family_name


# --- Enrolments -------------------------------------------------------------------------------
@extend_schema_serializer(component_name="Enrolment")
class EnrolmentCreateSerializer(serializers.Serializer[Any]):
    child = serializers.UUIDField()
    centre = serializers.UUIDField()
    template = serializers.UUIDField()
    offered_on = serializers.DateField()
    accepted_on = serializers.DateField(required=False, allow_null=True)
    eligibility = serializers.ListField(child=serializers.ChoiceField(choices=Eligibility.choices))
    programme = serializers.ChoiceField(choices=Programme.choices)
    planned_slots = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, default=list
    )
    language = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    interpreter_needed = serializers.BooleanField(required=False, default=False)


@extend_schema_serializer(component_name="Enrolment")
class EnrolmentUpdateSerializer(serializers.Serializer[Any]):
    accepted_on = serializers.DateField(required=False, allow_null=True)
    declined_on = serializers.DateField(required=False, allow_null=True)
    programme = serializers.ChoiceField(choices=Programme.choices, required=False)
    planned_slots = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False
    )
    language = serializers.CharField(max_length=60, required=False, allow_blank=True)
    interpreter_needed = serializers.BooleanField(required=False)


class EnrolmentEndSerializer(serializers.Serializer[Any]):
    ended_on = serializers.DateField()
    reason = serializers.ChoiceField(choices=EndReason.choices)
    moved_to = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="With `moved`: a centre of the same organisation, the child's new centre.",
    )


class ScheduleEntrySerializer(serializers.Serializer[ScheduleEntry]):
    slot = serializers.CharField(source="slot.key")
    label = serializers.CharField(source="slot.label")  # type: ignore[assignment]
    # Values only (no labels): the slot's kind and place are the template's, named there.
    kind = serializers.ChoiceField(choices=[(v, v) for v in SlotKind.values], source="slot.kind")
    place = serializers.ChoiceField(choices=[(v, v) for v in SlotPlace.values], source="slot.place")
    due_from = serializers.DateField()
    due_to = serializers.DateField()
    status = serializers.ChoiceField(choices=ScheduleStatus.choices)
    visit = serializers.UUIDField(source="visit.pk", allow_null=True)
    late = serializers.BooleanField()


class EnrolmentListItemSerializer(serializers.Serializer[Enrolment]):
    id = serializers.UUIDField()
    child = serializers.UUIDField(source="child_id")
    child_masked = MaskedIdentityField(source="child")
    centre = serializers.UUIDField(source="centre_id")
    template = serializers.UUIDField(source="template_id")
    programme = serializers.ChoiceField(choices=Programme.choices)
    offered_on = serializers.DateField()
    accepted_on = serializers.DateField(allow_null=True)
    declined_on = serializers.DateField(allow_null=True)
    ended_on = serializers.DateField(allow_null=True)
    end_reason = serializers.SerializerMethodField()
    active = serializers.BooleanField(source="is_active")

    # Values only: the labelled choice set is named once, as the request's `reason`.
    @extend_schema_field(
        serializers.ChoiceField(choices=[(v, v) for v in EndReason.values], allow_null=True)
    )
    def get_end_reason(self, enrolment: Enrolment) -> str | None:
        return enrolment.end_reason or None


class EnrolmentSerializer(EnrolmentListItemSerializer):
    """An enrolment with its schedule: the template's slots against the child's birth date."""

    # Context `today`: the day the schedule's states are computed for.

    eligibility = serializers.ListField(child=serializers.ChoiceField(choices=Eligibility.choices))
    planned_slots = serializers.ListField(child=serializers.CharField())
    language = serializers.CharField()
    interpreter_needed = serializers.BooleanField()
    moved_to = serializers.UUIDField(source="moved_to_id", allow_null=True)
    schedule = serializers.SerializerMethodField()

    @extend_schema_field(ScheduleEntrySerializer(many=True))
    def get_schedule(self, enrolment: Enrolment) -> list[dict[str, Any]]:
        entries = enrolment_schedule(enrolment, today=self.context["today"])
        return [ScheduleEntrySerializer(entry).data for entry in entries]


# --- Worklist ---------------------------------------------------------------------------------
class WorklistRowSerializer(serializers.Serializer[Enrolment]):
    """A slot due or overdue: one row per enrolment and slot."""

    # Rows of visits.selectors.worklist(): an enrolment annotated with one slot.

    enrolment = serializers.UUIDField(source="id")
    child_masked = MaskedIdentityField(source="child")
    centre = serializers.UUIDField(source="centre_id")
    slot = serializers.CharField(source="slot_key")
    label = serializers.CharField(source="slot_label")  # type: ignore[assignment]
    due_from = serializers.DateField()
    due_to = serializers.DateField()
    status = serializers.ChoiceField(choices=WORKLIST_STATUSES)


# --- Visits -----------------------------------------------------------------------------------
@extend_schema_serializer(component_name="Interpreter")
class InterpreterInputSerializer(serializers.Serializer[Any]):
    mode = serializers.ChoiceField(choices=InterpreterMode.choices)
    language = serializers.CharField(
        max_length=60, required=False, allow_blank=True, allow_null=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The object replaces the visit's interpreter as a whole, so `mode` is required in a
        # PATCH too (DRF makes a nested serializer of a partial update partial as well).
        if "mode" not in attrs:
            raise serializers.ValidationError(
                {"mode": [serializers.Field.default_error_messages["required"]]}
            )
        return attrs


class CompensationSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["programme_variable", "ordinary", "none"])
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


@extend_schema_serializer(component_name="Interpreter")
class InterpreterSerializer(serializers.Serializer[Visit]):
    mode = serializers.ChoiceField(choices=InterpreterMode.choices, source="interpreter_mode")
    language = serializers.SerializerMethodField()

    def get_language(self, visit: Visit) -> str | None:
        return visit.interpreter_language or None


class _VisitFieldsSerializer(serializers.Serializer[Any]):
    """The fields of a visit that a nurse types (API.md, "Visits")."""

    date = serializers.DateField()
    place = serializers.ChoiceField(choices=VisitPlace.choices)
    status = serializers.ChoiceField(choices=VisitStatus.choices)
    slot = serializers.CharField(
        max_length=20,
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="A slot key of the enrolment's template; null for an extra visit.",
    )
    social_services_present = serializers.BooleanField(required=False, default=False)
    participants = serializers.ListField(
        child=serializers.ChoiceField(choices=Participant.choices), required=False, default=list
    )
    interpreter = InterpreterInputSerializer(required=False)
    kva_codes = serializers.ListField(
        child=serializers.CharField(max_length=10), required=False, default=list
    )
    contacts_started = serializers.ListField(
        child=serializers.ChoiceField(choices=Contact.choices), required=False, default=list
    )
    adjustment = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Marks a change in a paid month as an adjustment (with the money work).",
    )


@extend_schema_serializer(component_name="Visit")
class VisitCreateSerializer(_VisitFieldsSerializer):
    enrolment = serializers.UUIDField()


@extend_schema_serializer(component_name="Visit")
class VisitUpdateSerializer(_VisitFieldsSerializer):
    """PATCH: only the fields sent change (no defaults apply)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class VisitSerializer(serializers.Serializer[Visit]):
    """A visit, with the username of the nurse who logged it."""

    # Expects `slot_due_to` annotated (visits.selectors.visits_with_late) and the nurse joined.

    id = serializers.UUIDField()
    enrolment = serializers.UUIDField(source="enrolment_id")
    centre = serializers.UUIDField(source="centre_id")
    date = serializers.DateField()
    place = serializers.ChoiceField(choices=VisitPlace.choices)
    status = serializers.ChoiceField(choices=VisitStatus.choices)
    slot = serializers.SerializerMethodField()
    social_services_present = serializers.BooleanField()
    participants = serializers.ListField(child=serializers.ChoiceField(choices=Participant.choices))
    interpreter = InterpreterSerializer(source="*")
    kva_codes = serializers.ListField(child=serializers.CharField())
    contacts_started = serializers.ListField(child=serializers.ChoiceField(choices=Contact.choices))
    nurse = serializers.CharField(source="nurse.username")
    late = serializers.SerializerMethodField(
        help_text="A completed visit for a slot, made after the slot's window."
    )
    compensation = serializers.SerializerMethodField(
        help_text="What the visit earns its centre (DOMAIN.md 4.1), from the rule in force."
    )

    @extend_schema_field(CompensationSerializer)
    def get_compensation(self, visit: Visit) -> object:
        # Filled by the funding app through visits.extension; visits never imports it.
        return describe_visit(visit, "compensation", {"type": "none", "amount": "0.00"})

    def get_slot(self, visit: Visit) -> str | None:
        return visit.slot or None

    def get_late(self, visit: Visit) -> bool:
        due_to = getattr(visit, "slot_due_to", None)
        return visit.status == VisitStatus.COMPLETED and due_to is not None and visit.date > due_to


# --- Access log -------------------------------------------------------------------------------
class AccessLogEntrySerializer(serializers.Serializer[AccessLog]):
    time = serializers.DateTimeField(source="at")
    user = serializers.CharField(source="username")
    care_unit = serializers.UUIDField(
        allow_null=True,
        help_text="The centre through which the child is in the user's scope.",
    )
    action = serializers.ChoiceField(choices=AccessAction.choices)
    child = serializers.UUIDField(source="child_id", allow_null=True)
    what = serializers.CharField()
