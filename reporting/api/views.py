"""Report runs and deadlines in API v1 (API.md, "Reports"; issue 18, items 1, 7 and 9).

Every view answers in API.md's order: 401 (DRF's authentication), 403 (`reporting.permissions`:
a role that never requests or reads reports; a role that may not request this kind or submit
this report), 404 (the run in the path outside the caller's reports: `selectors.report_runs`,
so a nurse, another organisation or another centre's manager gets 404 like a missing run), 400 (the
input, including a grant or centre outside scope; an empty text section on submit), 409 (a
submitted report is never replaced; submitting a run that is not done or whose period is not
over; an auditor bundle for an open grant). Rendering happens in Celery after commit, never here.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.helpers import api_user, messages, reject_empty, validated
from core.api.idempotency import idempotency_parameter, idempotent
from core.api.pagination import CursorPagination
from core.exceptions import Conflict
from reporting import permissions, selectors, services
from reporting.api.serializers import (
    DeadlineQuerySerializer,
    DeadlineSerializer,
    ReportConflictSerializer,
    ReportQuerySerializer,
    ReportRequestSerializer,
    ReportRunSerializer,
    run_row,
)
from reporting.deadlines import SortedDeadlines, deadlines_for, matching
from reporting.downloads import download_response
from reporting.models import ReportKind, ReportRun, RunStatus
from reporting.permissions import ReportAccess, RunReadAccess, SeesDeadlines


def _run_response(request: Request, run: ReportRun, status_code: int = 200) -> Response:
    # Its state now (an eager run is already done).
    shown = selectors.report_runs(user=api_user(request)).get(pk=run.pk)
    return Response(ReportRunSerializer(run_row(request, shown)).data, status=status_code)


# 409s of unsafe methods are documented by core.api.schema.add_error_responses; a GET's here.
NOT_DONE = OpenApiResponse(response=ReportConflictSerializer, description="The run is not done.")
FILE_TYPES = {
    "application/pdf": OpenApiTypes.BINARY,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": OpenApiTypes.BINARY,
    "application/zip": OpenApiTypes.BINARY,
    "text/csv": OpenApiTypes.BINARY,
    "application/octet-stream": OpenApiTypes.BINARY,
}


class ReportListCreate(generics.ListAPIView[ReportRun]):
    permission_classes = [IsAuthenticated, ReportAccess]
    serializer_class = ReportRunSerializer
    cursor_ordering = ("-created_at", "-id")
    queryset = ReportRun.objects.none()

    def get_queryset(self) -> QuerySet[ReportRun]:
        reject_empty(self.request, ReportQuerySerializer().fields)
        query = validated(ReportQuerySerializer, self.request.query_params)
        return selectors.report_runs(
            user=api_user(self.request),
            kind=query.get("kind"),
            year=query.get("year"),
            status=query.get("status"),
        )

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            rows = args[0]
            args = (
                [run_row(self.request, r) for r in rows]
                if kwargs.get("many")
                else run_row(self.request, rows),
            )
        return super().get_serializer(*args, **kwargs)

    @extend_schema(
        summary="The caller's report runs, newest first (finance, CBHV; a centre manager her "
        "centre's accounts)",
        parameters=[ReportQuerySerializer],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Request a report: 202 with the run (queued; rendered in Celery after commit). "
        "The same request while a run is queued or running → that run; submitted → 409",
        request=ReportRequestSerializer,
        parameters=[idempotency_parameter(required=False)],
        responses={202: ReportRunSerializer},
    )
    def post(self, request: Request) -> Response:
        user = api_user(request)
        serializer = ReportRequestSerializer(data=request.data)
        valid = serializer.is_valid()
        kind = request.data.get("kind") if isinstance(request.data, dict) else None
        if (
            isinstance(kind, str)
            and kind in ReportKind.values
            and kind not in permissions.requestable_kinds(user)
        ):
            raise PermissionDenied(_("Du kan inte beställa den här rapporten."))
        if not valid:
            errors = serializer.errors
            if isinstance(errors, dict):
                raise ValidationError({str(f): messages(v) for f, v in errors.items()})
            raise ValidationError({"non_field_errors": messages(errors)})
        data = serializer.validated_data

        def run() -> Response:
            report, _created = services.report_request(
                user=user,
                kind=data["kind"],
                year=data["year"],
                grant=data.get("grant"),
                centre=data.get("centre"),
                organisation=data.get("organisation"),
            )
            return _run_response(request, report, status.HTTP_202_ACCEPTED)

        return idempotent(request, run)


class ReportDetail(generics.GenericAPIView[ReportRun]):
    # A log reviewer follows her log extract's run here (API.md "Log review").
    permission_classes = [IsAuthenticated, RunReadAccess]
    serializer_class = ReportRunSerializer
    queryset = ReportRun.objects.none()

    @extend_schema(summary="A report run: its state, checksum and download URL when done")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        run = get_object_or_404(selectors.report_runs(user=api_user(request)), pk=pk)
        return Response(ReportRunSerializer(run_row(request, run)).data)


class ReportFile(generics.GenericAPIView[ReportRun]):
    """The file. Anyone not entitled to the report gets 404, whatever the role."""

    permission_classes = [IsAuthenticated]
    serializer_class = ReportRunSerializer
    queryset = ReportRun.objects.none()

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The file is not JSON: an Accept header asking for its type must not be a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Download the report as an attachment (PDF, XLSX, CSV in a ZIP, or ZIP); "
        "not cached; logged. Not yet done → 409",
        responses={
            (200, media): OpenApiResponse(response=kind, description="The file")
            for media, kind in FILE_TYPES.items()
        }
        | {409: NOT_DONE},
    )
    def get(self, request: Request, pk: uuid.UUID) -> FileResponse:
        user = api_user(request)
        run = get_object_or_404(selectors.report_runs(user=user), pk=pk)
        if run.status != RunStatus.DONE:
            raise Conflict(_("Rapporten är inte klar än."))
        return download_response(user, run)


class ReportSubmit(generics.GenericAPIView[ReportRun]):
    permission_classes = [IsAuthenticated, ReportAccess]
    serializer_class = ReportRunSerializer
    queryset = ReportRun.objects.none()

    @extend_schema(
        summary="Submit (freeze) a done report; a second submit → 200 with the same run",
        description="Only the role that writes the report's texts submits it (CBHV: "
        "Socialstyrelsen, SKL; the centre's manager: Hälsoval); others → 403. Every text "
        'section must be written, else 400 `{"narratives": ["Saknar text: <heading>", ...]}` '
        "(one message per empty section). The report's period must be over (a closed grant; "
        "for Hälsoval and SKL the year ended), else 409; so must the run's (a run made while "
        "it was open says Preliminär), and the run must be made with the current texts. "
        "Another run of the same report already submitted → 409.",
        request=None,
        parameters=[idempotency_parameter(required=False)],
        responses={200: ReportRunSerializer},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        if not permissions.submits_reports(user):
            raise PermissionDenied(_("Du kan inte lämna in rapporter."))  # finance: before 404
        run = get_object_or_404(selectors.report_runs(user=user), pk=pk)

        def submit() -> Response:
            submitted, _changed = services.report_submit(user=user, run=run)
            return _run_response(request, submitted)

        return idempotent(request, submit)


class DeadlineList(APIView):
    """Deadlines are computed, not rows: core's cursor pagination pages them through
    `SortedDeadlines`, with the same links and `page_size` as every other collection."""

    permission_classes = [IsAuthenticated, SeesDeadlines]
    pagination_class = CursorPagination
    cursor_ordering = ("position",)

    @extend_schema(
        summary="Every report due in the caller's organisations (CBHV, finance): grant reports, "
        "centre accounts and use-by dates, by due date, with their state",
        parameters=[DeadlineQuerySerializer],
        responses=DeadlineSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        reject_empty(request, DeadlineQuerySerializer().fields)
        query = validated(DeadlineQuerySerializer, request.query_params)
        deadlines = matching(
            deadlines_for(api_user(request)),
            status=query.get("status"),
            kind=query.get("kind"),
            organisation=query.get("organisation"),
        )
        paginator = CursorPagination()
        cursor = paginator.cursor_query_param in request.query_params
        page = paginator.paginate_queryset(
            SortedDeadlines(deadlines, after_cursor=cursor), request, view=self
        )
        return paginator.get_paginated_response(DeadlineSerializer(page, many=True).data)
