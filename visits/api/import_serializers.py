"""Input and output serializers of the journal import in API v1 (API.md, "Importing visits from
the journal system"; issue 26).

The upload's serializer only parses: the file's size against IMPORT_MAX_BYTES is a property of
the request, checked before the import service copies the file to its private store; what the
file holds (its kind, its columns, its rows) is that service's business
(visits.imports.service). Output serializers show a row's child by its masked identity
only, never the number.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from rest_framework import serializers

from visits.api.serializers import masked
from visits.imports.service import import_check_size
from visits.models import ImportStatus, RowOutcome, VisitImport, VisitImportRow


# --- Input ------------------------------------------------------------------------------------
class VisitImportUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="The journal system's export: CSV (UTF-8 or Windows-1252, `;` or `,`) or "
        "XLSX, at most IMPORT_MAX_BYTES (20 MB).",
    )
    centre = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The centre the import is for; required when the caller works at several.",
    )

    def validate_file(self, value: UploadedFile[bytes]) -> UploadedFile[bytes]:
        try:
            import_check_size(value.size)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["file"]) from None
        return value


# --- Output -----------------------------------------------------------------------------------
class VisitImportCreatedSerializer(serializers.Serializer[VisitImport]):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ImportStatus.choices)


class VisitImportProgressSerializer(serializers.Serializer[VisitImport]):
    done = serializers.IntegerField(source="progress_done", help_text="Rows read so far.")
    total = serializers.IntegerField(source="progress_total", help_text="Rows in the file.")


class VisitImportCountsSerializer(serializers.Serializer[dict[str, int]]):
    rows = serializers.IntegerField()
    new = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    conflict = serializers.IntegerField()
    unmatched = serializers.IntegerField()
    invalid = serializers.IntegerField()


class VisitImportSerializer(serializers.Serializer[VisitImport]):
    """An import: its state, the preview's progress and counts, who uploaded it."""

    # Expects `created_by` joined (visits.imports.service.imports_visible).

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ImportStatus.choices)
    file_name = serializers.CharField(help_text="The name the file was uploaded with.")
    progress = VisitImportProgressSerializer(source="*")
    counts = VisitImportCountsSerializer()
    created_by = serializers.CharField(source="created_by.username", help_text="Username.")
    created_at = serializers.DateTimeField()
    committed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(
        help_text='Why the import failed (status `failed`); "" otherwise.'
    )


class VisitImportRowSerializer(serializers.Serializer[VisitImportRow]):
    """One row of the file as the preview classified it (the commit fills `visit` of `new`)."""

    # Expects `child` joined.

    row = serializers.IntegerField(source="number", help_text="The line in the file (header 1).")
    outcome = serializers.ChoiceField(choices=RowOutcome.choices)
    reason = serializers.CharField(help_text='Why the row is not `new`; "" when it is.')
    child_masked = serializers.SerializerMethodField(
        help_text='The child, masked ("Skyddad identitet" when protected); "" when the row '
        "names no registered child."
    )
    enrolment = serializers.UUIDField(source="enrolment_id", allow_null=True)
    visit = serializers.UUIDField(
        source="visit_id",
        allow_null=True,
        help_text="The stored visit the row duplicates or conflicts with, or the one its commit "
        "saved.",
    )

    def get_child_masked(self, row: VisitImportRow) -> str:
        # The child as it is now (protected since the preview: masked now); the stored mask
        # when the child is gone.
        return masked(row.child) if row.child is not None else row.child_masked
