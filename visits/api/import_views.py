"""The journal import in API v1 (API.md, "Importing visits from the journal system"; issue 26).

Every view answers in API.md's order: 401 (DRF's authentication), 403 (`SeesChildren`: only
nurses and centre managers import), 404 (the import in the path outside the caller's centres:
`imports_visible`), 400 (the input: the file, its size and columns, `centre`, `outcome`), 409
(a commit of an import that is not `ready`). Reading and saving happen in Celery once the
request's transaction commits (visits.imports.service); the rows are read through the service
and the children they show logged through `visits.selectors`.
"""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.helpers import api_user, reject_empty, validated
from core.api.idempotency import idempotency_parameter, idempotent
from core.models import User
from visits import selectors
from visits.api.import_serializers import (
    VisitImportCreatedSerializer,
    VisitImportRowSerializer,
    VisitImportSerializer,
    VisitImportUploadSerializer,
)
from visits.api.permissions import SeesChildren
from visits.imports.service import (
    import_centre,
    import_request,
    import_request_commit,
    import_rows,
    imports_visible,
)
from visits.models import Child, Enrolment, RowOutcome, VisitImport, VisitImportRow


def _import_for_user(user: User, pk: uuid.UUID) -> VisitImport:
    """An import of one of the user's centres; 404 otherwise, as a missing one."""
    return get_object_or_404(imports_visible(user), pk=pk)


def _import_response(user: User, pk: uuid.UUID, status_code: int = 200) -> Response:
    # Its state now (a task may have moved it on since the request began).
    shown = _import_for_user(user, pk)
    return Response(VisitImportSerializer(shown).data, status=status_code)


class VisitImportCreate(generics.GenericAPIView[VisitImport]):
    """Upload a journal export (nurses and centre managers)."""

    permission_classes = [IsAuthenticated, SeesChildren]
    parser_classes = [MultiPartParser]
    serializer_class = VisitImportCreatedSerializer
    queryset = VisitImport.objects.none()

    @extend_schema(
        summary="Upload a journal export: 202, read in Celery (follow it at its detail)",
        description="Multipart: `file` (CSV or XLSX, at most 20 MB) and `centre` when the caller "
        "works at several centres. A file over the limit, of another kind, or without a "
        "required column (named) → 400 on `file`; no centre, or one outside the caller's "
        "→ 400 on `centre`.",
        request={"multipart/form-data": VisitImportUploadSerializer},
        responses={202: VisitImportCreatedSerializer},
    )
    def post(self, request: Request) -> Response:
        user = api_user(request)
        data = validated(VisitImportUploadSerializer, request.data)
        centre = import_centre(user, data.get("centre"))
        upload = data["file"]
        visit_import = import_request(
            user=user, centre=centre, file=upload, file_name=upload.name or ""
        )
        return Response(
            VisitImportCreatedSerializer(visit_import).data, status=status.HTTP_202_ACCEPTED
        )


class VisitImportDetail(generics.GenericAPIView[VisitImport]):
    """An import of one of the caller's centres."""

    permission_classes = [IsAuthenticated, SeesChildren]
    serializer_class = VisitImportSerializer
    queryset = VisitImport.objects.none()

    @extend_schema(summary="A journal import: its state, progress and counts")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return _import_response(api_user(request), pk)


class VisitImportRows(generics.GenericAPIView[VisitImportRow]):
    """An import's rows in file order. Each child shown is logged as read."""

    permission_classes = [IsAuthenticated, SeesChildren]
    serializer_class = VisitImportRowSerializer
    cursor_ordering = ("number", "id")
    queryset = VisitImportRow.objects.none()

    @extend_schema(
        summary="A journal import's rows as the preview classified them, in file order",
        parameters=[
            OpenApiParameter(
                "outcome",
                OpenApiTypes.STR,
                enum=RowOutcome.values,
                required=False,
                description="Only the rows of this outcome.",
            )
        ],
        responses=VisitImportRowSerializer(many=True),
    )
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        visit_import = _import_for_user(user, pk)
        reject_empty(request, ["outcome"])
        rows = import_rows(visit_import, request.query_params.get("outcome", "")).select_related(
            "child", "enrolment__child"
        )
        page = list(self.paginate_queryset(rows) or [])
        # The care unit of each child shown: the centre of the enrolment the row matched (the
        # import's), else the child's own centre (a row that matched no enrolment).
        shown: list[Enrolment | Child] = [
            row.enrolment if row.enrolment is not None else row.child
            for row in page
            if row.child is not None
        ]
        selectors.record_read(user=user, rows=shown, what="visit_import_rows")
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class VisitImportCommit(generics.GenericAPIView[VisitImport]):
    """Save an import's new rows (status `ready`), in Celery, all or none."""

    permission_classes = [IsAuthenticated, SeesChildren]
    serializer_class = VisitImportSerializer
    queryset = VisitImport.objects.none()

    @extend_schema(
        summary="Commit a ready import: 202, its new rows saved in Celery in one transaction",
        description="A second commit, or one of an import that is not `ready`, → 409.",
        request=None,
        parameters=[idempotency_parameter(required=False)],
        responses={202: VisitImportSerializer},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        visit_import = _import_for_user(user, pk)

        def run() -> Response:
            import_request_commit(visit_import, user=user)
            return _import_response(user, visit_import.pk, status.HTTP_202_ACCEPTED)

        return idempotent(request, run)
