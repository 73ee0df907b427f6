"""Log review in API v1 (API.md, "Log review and the patient's log extract"): the access log
with its filters, random samples with findings, and the patient's log extract. Log reviewers
only (403 for every other role); the rules are in `visits.log_review`."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.helpers import api_user, field_errors, validated
from visits import log_review
from visits.api.permissions import ReviewsAccessLog
from visits.api.serializers import IDENTITY_TYPES, AccessLogEntrySerializer
from visits.models import AccessAction, AccessLog, AccessLogFinding, AccessLogSample, FindingVerdict


def _bad_input(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(field_errors(exc.message_dict))


class _WithFromTo(serializers.Serializer[Any]):
    # `from` is a Python keyword, so the period's fields cannot be class attributes.
    from_required = False

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=self.from_required, help_text="From this day."
        )
        fields["to"] = serializers.DateField(
            required=self.from_required, help_text="To this day, inclusive."
        )
        return fields


# --- The access log with its filters ----------------------------------------------------------
class AccessLogFilterSerializer(_WithFromTo):
    """The query of `GET /access-log/` (`from` and `to` are calendar dates, inclusive)."""

    child = serializers.UUIDField(required=False)
    user = serializers.CharField(required=False, max_length=150, help_text="A username.")
    centre = serializers.UUIDField(required=False, help_text="A care unit in your scope.")
    action = serializers.ChoiceField(required=False, choices=AccessAction.choices)


class AccessLogList(generics.ListAPIView[AccessLog]):
    """The access log, newest first, for the log reviewer (Patientdatalagen), filtered by
    child, user, centre, action and period."""

    # Scope (`visits.log_review`): the rows of care units (centres) of the reviewer's
    # organisations, and the rows without a care unit (downloads of aggregate reports) written
    # by members of those organisations.

    permission_classes = [IsAuthenticated, ReviewsAccessLog]
    serializer_class = AccessLogEntrySerializer
    cursor_ordering = ("-at", "-id")
    queryset = AccessLog.objects.none()

    def get_queryset(self) -> QuerySet[AccessLog]:
        # A plain dict, not the QueryDict: DRF would read `?from=` as "not sent".
        query = validated(AccessLogFilterSerializer, self.request.query_params.dict())
        try:
            return log_review.access_log_search(
                user=api_user(self.request),
                query=log_review.LogQuery(
                    child=query.get("child"),
                    user=query.get("user"),
                    centre=query.get("centre"),
                    action=query.get("action"),
                    start=query.get("from"),
                    end=query.get("to"),
                ),
            )
        except DjangoValidationError as exc:
            raise _bad_input(exc) from None

    @extend_schema(
        summary="The access log (log reviewers)",
        parameters=[AccessLogFilterSerializer],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


# --- Samples ----------------------------------------------------------------------------------
class SampleCreateSerializer(_WithFromTo):
    from_required = True
    size = serializers.IntegerField(min_value=1, max_value=log_review.SAMPLE_MAX_SIZE)


class SampleRowSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    time = serializers.DateTimeField(source="at")
    user = serializers.CharField(source="username")
    care_unit = serializers.UUIDField(allow_null=True)
    action = serializers.ChoiceField(choices=AccessAction.choices)
    child = serializers.UUIDField(source="child_id", allow_null=True)


class FindingSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField(source="row_id")
    verdict = serializers.ChoiceField(choices=FindingVerdict.choices)
    remark = serializers.CharField()
    reviewed_by = serializers.CharField(source="reviewed_by.username")
    reviewed_at = serializers.DateTimeField()


class SampleSerializer(serializers.Serializer[AccessLogSample]):
    id = serializers.UUIDField()
    size = serializers.IntegerField()
    seed = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(source="period_from")
        fields["to"] = serializers.DateField(source="period_to")
        return fields


def _sample_detail(sample: AccessLogSample) -> dict[str, Any]:
    data = dict(SampleSerializer(sample).data)
    data["rows"] = SampleRowSerializer(log_review.sample_rows(sample), many=True).data
    data["findings"] = FindingSerializer(log_review.sample_findings(sample), many=True).data
    return data


class SampleListCreate(generics.ListAPIView[AccessLogSample]):
    """Random samples of the access log for the recurring follow-up (newest first)."""

    permission_classes = [IsAuthenticated, ReviewsAccessLog]
    serializer_class = SampleSerializer
    cursor_ordering = ("-created_at", "-id")
    queryset = AccessLogSample.objects.none()

    def get_queryset(self) -> QuerySet[AccessLogSample]:
        return log_review.samples_for_reviewer(api_user(self.request)).select_related("created_by")

    @extend_schema(summary="Samples of the access log (log reviewers)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Draw a random sample of a period's log rows",
        request=SampleCreateSerializer,
        responses={201: SampleSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(SampleCreateSerializer, request.data)
        try:
            sample = log_review.access_log_sample_create(
                user=api_user(request), start=data["from"], end=data["to"], size=data["size"]
            )
        except DjangoValidationError as exc:
            raise _bad_input(exc) from None
        return Response(_sample_detail(sample), status=status.HTTP_201_CREATED)


def _sample_for(request: Request, pk: uuid.UUID) -> AccessLogSample:
    return get_object_or_404(
        log_review.samples_for_reviewer(api_user(request)).select_related("created_by"), pk=pk
    )


class SampleDetail(generics.GenericAPIView[AccessLogSample]):
    permission_classes = [IsAuthenticated, ReviewsAccessLog]
    serializer_class = SampleSerializer
    queryset = AccessLogSample.objects.none()

    @extend_schema(summary="One sample with its rows and findings")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return Response(_sample_detail(_sample_for(request, pk)))


class FindingCreateSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField()
    verdict = serializers.ChoiceField(choices=FindingVerdict.choices)
    remark = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class FindingCreate(generics.GenericAPIView[AccessLogFinding]):
    """A verdict on one row of a sample. Append-only: reviewing a row again adds a finding and
    the latest counts."""

    permission_classes = [IsAuthenticated, ReviewsAccessLog]
    serializer_class = FindingSerializer
    queryset = AccessLogFinding.objects.none()

    @extend_schema(
        summary="Record a finding on a sample's row",
        request=FindingCreateSerializer,
        responses={201: FindingSerializer},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        # A body that cannot be parsed at all (too deep, a lone surrogate) is refused before
        # the lookup, as on the other write routes; it says nothing about the sample.
        request.data  # noqa: B018
        sample = _sample_for(request, pk)
        data = validated(FindingCreateSerializer, request.data)
        try:
            finding = log_review.access_log_finding_create(
                user=api_user(request),
                sample=sample,
                row_id=data["row"],
                verdict=data["verdict"],
                remark=data["remark"],
            )
        except DjangoValidationError as exc:
            raise _bad_input(exc) from None
        return Response(FindingSerializer(finding).data, status=status.HTTP_201_CREATED)


# --- The patient's log extract ----------------------------------------------------------------
class ExtractRequestSerializer(_WithFromTo):
    identity_type = serializers.ChoiceField(choices=IDENTITY_TYPES)
    identity = serializers.CharField(max_length=32, trim_whitespace=True)
    format = serializers.ChoiceField(
        choices=["json", "pdf"],
        required=False,
        default="json",
        help_text="pdf: 202 with a report run (kind log_extract) that renders the extract.",
    )
    organisation = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="One of your organisations: the extract covers its log only. Required for "
        "a PDF when you review the log of more than one.",
    )


class ExtractAccessSerializer(serializers.Serializer[Any]):
    time = serializers.DateTimeField()
    care_unit = serializers.UUIDField(allow_null=True)
    care_unit_hsa_id = serializers.CharField()
    action = serializers.ChoiceField(choices=AccessAction.choices)


class ExtractSerializer(serializers.Serializer[Any]):
    child_masked = serializers.CharField()
    accesses = ExtractAccessSerializer(many=True)


class LogExtract(generics.GenericAPIView[Any]):
    """The patient's log extract (Patientdatalagen 8 kap. 5 §): which care units accessed the
    child's data and when, newest first, never who. The identity travels in the body only.
    As a PDF it is a report run (rendered by `reporting` through `visits.extension`), read by
    the log reviewers of its organisation only."""

    permission_classes = [IsAuthenticated, ReviewsAccessLog]
    serializer_class = ExtractSerializer
    queryset = AccessLog.objects.none()

    @extend_schema(
        summary="The patient's log extract",
        description='With `"format": "pdf"`: 202 with a report run (`kind: "log_extract"`) as '
        "`GET /api/v1/reports/{id}/` shows it; its file is downloadable by the log reviewers "
        "of its organisation only. Every request makes a new run. No `Idempotency-Key`: the "
        "body holds an identity number, and no hash of it is stored.",
        request=ExtractRequestSerializer,
        responses={
            200: ExtractSerializer,
            202: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="The report run, as GET /api/v1/reports/{id}/ shows it.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(ExtractRequestSerializer, request.data)
        arguments: dict[str, Any] = {
            "user": api_user(request),
            "identity_type": data["identity_type"],
            "identity": data["identity"],
            "start": data.get("from"),
            "end": data.get("to"),
            "organisation": data.get("organisation"),
        }
        try:
            if data["format"] == "pdf":
                run_id = log_review.log_extract_pdf_request(**arguments)
                body = log_review.log_extract_pdf_run(request, run_id)
                return Response(body, status=status.HTTP_202_ACCEPTED)
            extract = log_review.log_extract(**arguments)
        except DjangoValidationError as exc:
            raise _bad_input(exc) from None
        return Response(ExtractSerializer(extract).data)
