"""Input and output serializers of report runs (API.md, "Reports").

Input serializers only parse and type-check; the rules (who may request what, ids in scope, a
centre with fixed compensation) are in `reporting.services`.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.dates import MAX_YEAR, MIN_YEAR
from reporting.models import ReportKind, RunStatus


def year_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR, **kwargs)


class ReportRequestSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=ReportKind.choices)
    year = year_field()
    grant = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Required for socialstyrelsen, skl, auditor_bundle and sie: a grant of that year",
    )
    centre = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Required for halsoval: a centre with fixed compensation that year.",
    )
    organisation = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="For finance exports, when the caller works in more than one organisation.",
    )


class ReportQuerySerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=ReportKind.choices, required=False)
    year = year_field(required=False)
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)


class ReportRunSerializer(serializers.Serializer[Any]):
    """A run; `file` is the download URL once it is done, else null."""

    id = serializers.UUIDField(read_only=True)
    kind = serializers.ChoiceField(choices=ReportKind.choices, read_only=True)
    year = serializers.IntegerField(read_only=True)
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)
    error = serializers.CharField(
        read_only=True, allow_null=True, help_text="Why the run failed (null unless failed)."
    )
    sha256 = serializers.CharField(read_only=True, allow_null=True)
    file = serializers.URLField(read_only=True, allow_null=True)
    submitted_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    organisation = serializers.UUIDField(read_only=True)
    grant = serializers.UUIDField(read_only=True, allow_null=True)
    centre = serializers.UUIDField(read_only=True, allow_null=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    content_type = serializers.CharField(read_only=True, allow_null=True)
    size = serializers.IntegerField(read_only=True, allow_null=True)
    requested_by = serializers.CharField(read_only=True, help_text="Username.")
    submitted_by = serializers.CharField(read_only=True, allow_null=True, help_text="Username.")


class ReportConflictSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(read_only=True)
