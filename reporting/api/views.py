"""Report runs in API v1 (API.md, "Reports"; issue 18, items 1 and 7).

Every view answers in API.md's order: 401 (DRF's authentication), 403 (`ReportAccess`: a role
that never requests or reads reports; a role that may not request this kind or submit this
report), 404 (the run in the path outside the caller's reports: `services.runs_for_user`, so a
nurse, another organisation or another centre's manager gets 404 like a missing run), 400 (the
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
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.helpers import api_user, messages, reject_empty, validated
from core.api.idempotency import idempotency_parameter, idempotent
from core.exceptions import Conflict
from core.scoping import scope_of
from reporting import services
from reporting.api.serializers import (
    ReportConflictSerializer,
    ReportQuerySerializer,
    ReportRequestSerializer,
    ReportRunSerializer,
)
from reporting.models import ReportKind, ReportRun, RunStatus
from reporting.views import download_response, visible_runs


class ReportAccess(BasePermission):
    """Finance, CBHV and centre managers work with reports; other roles never do."""

    message = "Bara ekonomi, CBHV och vårdcentralschefer hanterar rapporter."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and scope_of(user).has_role(*services.REPORT_ROLES)
        )


def run_row(request: Request, run: ReportRun) -> dict[str, Any]:
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


def _run_response(request: Request, run: ReportRun, status_code: int = 200) -> Response:
    shown = visible_runs(api_user(request)).get(pk=run.pk)  # its state now (eager runs are done)
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
        runs = visible_runs(api_user(self.request))
        if "kind" in query:
            runs = runs.filter(kind=query["kind"])
        if "year" in query:
            runs = runs.filter(year=query["year"])
        if "status" in query:
            runs = runs.filter(status=query["status"])
        return runs

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
            and kind not in services.requestable_kinds(user)
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
                user,
                data["kind"],
                data["year"],
                grant=data.get("grant"),
                centre=data.get("centre"),
                organisation=data.get("organisation"),
            )
            return _run_response(request, report, status.HTTP_202_ACCEPTED)

        return idempotent(request, run)


class ReportDetail(generics.GenericAPIView[ReportRun]):
    permission_classes = [IsAuthenticated, ReportAccess]
    serializer_class = ReportRunSerializer
    queryset = ReportRun.objects.none()

    @extend_schema(summary="A report run: its state, checksum and download URL when done")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        run = get_object_or_404(visible_runs(api_user(request)), pk=pk)
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
        run = get_object_or_404(visible_runs(user), pk=pk)
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
        if not scope_of(user).has_role(*services.SUBMIT_ROLES):
            raise PermissionDenied(_("Du kan inte lämna in rapporter."))  # finance: before 404
        run = get_object_or_404(visible_runs(user), pk=pk)

        def submit() -> Response:
            submitted, _changed = services.report_submit(user, run)
            return _run_response(request, submitted)

        return idempotent(request, submit)
