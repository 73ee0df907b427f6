"""Input and output serializers of the fixed-compensation part of API v1 (API.md, "Centres and
reference data", "Fixed-compensation applications").

Input serializers only parse and type-check; the rules (the plan, states) are in
`funding.applications`, eligibility and who may decide in `funding.selectors`. Request and
response serializers of one resource share a component name (`Application`,
`ApplicationRequest`, `PatchedApplicationRequest`), so each choice set is named once in the
schema.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core.dates import MAX_YEAR, MIN_YEAR
from funding.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    TransitionKind,
    Transport,
)
from funding.selectors import CentreRow

PROGRAMMES = [("full", "Hela programmet"), ("partial", "Delar av programmet")]
TEXT_MAX = 5000


# --- Centres ----------------------------------------------------------------------------------
class CentreQuerySerializer(serializers.Serializer[Any]):
    year = serializers.IntegerField(
        required=False,
        min_value=MIN_YEAR,
        max_value=MAX_YEAR,
        help_text="The year of `eligible_for_fixed` and `fixed_compensation` (default: this year).",
    )


class CentreSerializer(serializers.Serializer[CentreRow]):
    """A centre with its current child CNI and its fixed compensation for the year: a
    `funding.selectors.CentreRow`."""

    id = serializers.UUIDField(source="centre.id", read_only=True)
    name = serializers.CharField(source="centre.name", read_only=True)
    organisation = serializers.UUIDField(source="centre.organisation_id", read_only=True)
    hsa_id = serializers.CharField(source="centre.hsa_id", read_only=True)
    active = serializers.BooleanField(source="centre.active", read_only=True)
    year = serializers.IntegerField(read_only=True)
    child_cni = serializers.DecimalField(
        max_digits=6, decimal_places=2, read_only=True, allow_null=True
    )
    cni_reference_date = serializers.DateField(read_only=True, allow_null=True)
    listed_children = serializers.IntegerField(read_only=True, allow_null=True)
    fixed_threshold = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        read_only=True,
        help_text="The child CNI a centre must be above to apply, in the year's scheme.",
    )
    eligible_for_fixed = serializers.BooleanField(read_only=True)
    fixed_compensation = serializers.BooleanField(read_only=True)
    fixed_from = serializers.DateField(read_only=True, allow_null=True)


# --- Applications: input ----------------------------------------------------------------------
class _PlanFields(serializers.Serializer[Any]):
    """The plan of seed 004 (`funding.applications.Plan`)."""

    nurse_hours_per_week = serializers.DecimalField(max_digits=5, decimal_places=1)
    social_services_contacted = serializers.BooleanField()
    social_services_contact = serializers.CharField(max_length=200, allow_blank=True, default="")
    planned_visits = serializers.IntegerField(min_value=1, max_value=100_000)
    programme = serializers.ChoiceField(choices=PROGRAMMES)
    planned_slots = serializers.ListField(
        child=serializers.CharField(max_length=20), max_length=50, default=list
    )
    target_families = serializers.CharField(max_length=TEXT_MAX)
    start_date = serializers.DateField()
    transport = serializers.ChoiceField(choices=Transport.choices)


@extend_schema_serializer(component_name="Application")
class ApplicationCreateSerializer(_PlanFields):
    centre = serializers.UUIDField(help_text="One of the caller's own centres.")
    year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)


@extend_schema_serializer(component_name="Application")
class ApplicationUpdateSerializer(_PlanFields):
    """`PATCH`: the plan's fields sent are changed, the others kept."""


class RequestChangesSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(max_length=TEXT_MAX, help_text="What the centre should add.")


class ApproveSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(max_length=TEXT_MAX, allow_blank=True, default="")
    effective_from = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="In the application's year; default the later of today and the plan's start.",
    )


class RejectSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=TEXT_MAX)


# --- Applications: output ---------------------------------------------------------------------
def _username(**kwargs: Any) -> serializers.SlugRelatedField[Any]:
    return serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, **kwargs
    )


class TransitionSerializer(serializers.ModelSerializer[ApplicationTransition]):
    kind = serializers.ChoiceField(choices=TransitionKind.choices, read_only=True)
    by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ApplicationTransition
        fields = ["kind", "by", "at", "comment"]
        read_only_fields = fields


APPLICATION_FIELDS = [
    "id",
    "centre",
    "centre_name",
    "year",
    "status",
    "created_by",
    "created_at",
    "submitted_by",
    "submitted_at",
    "decided_by",
    "decided_at",
    "effective_from",
    "withdrawn_at",
    "decision_comment",
    "nurse_hours_per_week",
    "social_services_contacted",
    "social_services_contact",
    "planned_visits",
    "programme",
    "planned_slots",
    "target_families",
    "start_date",
    "transport",
]


@extend_schema_serializer(component_name="Application")
class ApplicationSerializer(serializers.ModelSerializer[Application]):
    """An application with its plan, its decision and its history (list items too: one shape
    for every answer, at one extra query per page)."""

    centre = serializers.UUIDField(source="centre_id", read_only=True)
    centre_name = serializers.CharField(source="centre.name", read_only=True)
    status = serializers.ChoiceField(choices=ApplicationStatus.choices, read_only=True)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    submitted_by = _username()
    decided_by = _username(help_text="The decider's username.")
    nurse_hours_per_week = serializers.DecimalField(max_digits=5, decimal_places=1, read_only=True)
    programme = serializers.ChoiceField(choices=PROGRAMMES, read_only=True)
    planned_slots = serializers.ListField(child=serializers.CharField(), read_only=True)
    transport = serializers.ChoiceField(choices=Transport.choices, read_only=True)
    history = TransitionSerializer(
        many=True,
        read_only=True,
        source="transitions.all",
        help_text="Each transition with who, when and why, oldest first; a resubmission after "
        "changes were requested is `resubmitted`.",
    )

    class Meta:
        model = Application
        fields = [*APPLICATION_FIELDS, "history"]
        read_only_fields = fields
