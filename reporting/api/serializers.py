"""Input and output serializers of report runs and deadlines (API.md, "Reports").

Input serializers only parse and type-check; the rules (who may request what, ids in scope, a
centre with fixed compensation) are in `reporting.services` and `reporting.permissions`.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers
from rest_framework.request import Request

from core.dates import MAX_YEAR, MIN_YEAR
from reporting.deadlines import DeadlineKind, DeadlineStatus
from reporting.models import ReportKind, ReportRun, RunStatus


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


def run_row(request: Request, run: ReportRun) -> dict[str, Any]:
    """A run as `ReportRunSerializer` shows it (the file's absolute URL once it is done)."""
    done = run.status == RunStatus.DONE
    return {
        "id": run.pk,
        "kind": run.kind,
        "year": run.year,
        "status": run.status,
        "error": run.error if run.status == RunStatus.FAILED else None,
        "sha256": run.sha256 or None,
        "file": (
            request.build_absolute_uri(reverse("api-report-file", args=[run.pk])) if done else None
        ),
        "submitted_at": run.submitted_at,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "organisation": run.organisation_id,
        "grant": run.grant_id,
        "centre": run.centre_id,
        "started_at": run.started_at,
        "content_type": run.content_type or None,
        "size": run.size,
        "requested_by": run.requested_by.username,
        "submitted_by": run.submitted_by.username if run.submitted_by else None,
    }


# --- Deadlines (API.md `GET /api/v1/deadlines/`) ------------------------------------------------
class DeadlineSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text="Stable id of the deadline (kind and subject ids).")
    kind = serializers.ChoiceField(choices=DeadlineKind.values)
    title = serializers.CharField(help_text="What is due, in Swedish.")
    subject = serializers.CharField()
    organisation = serializers.UUIDField()
    due = serializers.DateField()
    status = serializers.ChoiceField(choices=DeadlineStatus.values)
    report = serializers.UUIDField(
        allow_null=True, help_text="The submitted report run that answers it."
    )


class DeadlineQuerySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=DeadlineStatus.values, required=False)
    kind = serializers.ChoiceField(choices=DeadlineKind.values, required=False)
    organisation = serializers.UUIDField(required=False)
