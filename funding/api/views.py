"""The fixed-compensation part of API v1: centres with their child CNI and fixed compensation,
and applications with their decisions (API.md, "Centres and reference data",
"Fixed-compensation applications").

Every view answers in API.md's order: 401 (DRF's authentication), 403 (the role may never do
this: the permission classes below), 404 (the path object through `Application.objects.
for_user()`), 403 again where the caller sees the application but may not act on it (another
centre's application for a nurse who is also CBHV; a CBHV's own application), 400 (the input,
including a centre in the body that is not the caller's), 409 (the services' `Conflict`). The
rules themselves are in `funding.services`; the views resolve ids and call one service.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    DecimalField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import views as core_views
from core.api.helpers import api_user, has_role, reject_empty, validated
from core.models import CENTRE_ROLES, Centre, Role, User
from core.scoping import scope_of
from funding import services
from funding.api.serializers import (
    ApplicationCreateSerializer,
    ApplicationSerializer,
    ApplicationUpdateSerializer,
    ApproveSerializer,
    CentreQuerySerializer,
    CentreSerializer,
    RejectSerializer,
    RequestChangesSerializer,
)
from funding.filters import ApplicationFilter
from funding.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    CniValue,
    FixedCompensationScheme,
)


# --- Helpers ----------------------------------------------------------------------------------
class CentreStaffWrites(BasePermission):
    """Anyone reads (within their scope); only nurses and centre managers write: they draft,
    change, submit and withdraw their centre's applications."""

    message = "Bara BVC:ns sjuksköterskor och vårdcentralschef hanterar ansökningar."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return has_role(request, *CENTRE_ROLES)


class Decides(BasePermission):
    message = "Bara CBHV beslutar om ansökningar."

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request, Role.CBHV)


# --- Centres ----------------------------------------------------------------------------------
def _figures_year(request: Request) -> int:
    reject_empty(request, ["year"])
    query = validated(CentreQuerySerializer, request.query_params)
    return int(query.get("year") or timezone.localdate().year)


def with_fixed_figures(centres: QuerySet[Centre], year: int) -> QuerySet[Centre]:
    """Each centre with its current child CNI (the latest by reference date, then import), the
    threshold of its organisation's scheme in force for `year`, whether the CNI is above it, and
    its fixed compensation for `year` (an application approved and not withdrawn), all as
    subqueries of the one query that lists the centres."""
    current_cni = (
        CniValue.objects.child_cni()
        .filter(centre=OuterRef("pk"))
        .order_by("-reference_date", "-created_at")
    )
    threshold = (
        FixedCompensationScheme.objects.filter(
            organisation=OuterRef("organisation_id"), from_year__lte=year
        )
        .order_by("-from_year")
        .values("threshold")[:1]
    )
    # One per centre and year (a unique constraint), so no order is needed.
    approved = Application.objects.filter(
        centre=OuterRef("pk"), year=year, status=ApplicationStatus.APPROVED
    ).order_by()
    return centres.annotate(
        figures_year=Value(year, output_field=IntegerField()),
        child_cni=Subquery(current_cni.values("value")[:1]),
        cni_reference_date=Subquery(current_cni.values("reference_date")[:1]),
        listed_children=Subquery(current_cni.values("listed_children")[:1]),
        fixed_threshold=Coalesce(
            Subquery(threshold),
            Value(services.DEFAULT_THRESHOLD),
            output_field=DecimalField(max_digits=6, decimal_places=2),
        ),
        fixed_compensation=Exists(approved),
        fixed_from=Subquery(approved.values("effective_from")[:1]),
    ).annotate(
        # Seed 004: above the threshold, as `services.centre_eligibility()` decides at submission.
        eligible_for_fixed=Case(
            When(child_cni__gt=F("fixed_threshold"), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


class CentreList(core_views.CentreList):
    """The caller's organisations' centres (core decides which) with their figures."""

    serializer_class = CentreSerializer  # type: ignore[assignment]

    def get_queryset(self) -> QuerySet[Centre]:
        return with_fixed_figures(super().get_queryset(), _figures_year(self.request))

    @extend_schema(
        summary="Centres with their child CNI and fixed compensation for the year",
        parameters=[CentreQuerySerializer],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class CentreDetail(core_views.CentreDetail):
    serializer_class = CentreSerializer  # type: ignore[assignment]

    def get_object(self) -> Centre:
        centres = super().get_queryset()
        # The path first (404), then the query (400).
        if not centres.filter(pk=self.kwargs["pk"]).exists():
            raise Http404
        return with_fixed_figures(centres, _figures_year(self.request)).get(pk=self.kwargs["pk"])

    @extend_schema(
        summary="A centre with its child CNI and fixed compensation for the year",
        parameters=[CentreQuerySerializer],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


# --- Applications -----------------------------------------------------------------------------
def _shown(applications: QuerySet[Application]) -> QuerySet[Application]:
    """What an answer shows of each application, in two queries whatever their number."""
    return applications.select_related(
        "centre", "created_by", "submitted_by", "decided_by"
    ).prefetch_related(Prefetch("transitions", ApplicationTransition.objects.select_related("by")))


def _applications(user: User | Any) -> QuerySet[Application]:
    return _shown(Application.objects.for_user(user))


def _application(request: Request, pk: uuid.UUID) -> Application:
    """The path's application, if the caller sees it (else 404, like a missing one)."""
    return get_object_or_404(
        Application.objects.for_user(request.user).select_related("centre"), pk=pk
    )


def _for_centre_staff(request: Request, pk: uuid.UUID) -> Application:
    """The application, for an action of its centre: only its own nurses and manager act for a
    centre (a nurse who is also CBHV sees other centres' applications, and may not act there)."""
    application = _application(request, pk)
    if application.centre_id not in scope_of(request.user).centre_ids(*CENTRE_ROLES):
        raise PermissionDenied(_("Bara BVC:ns egna sjuksköterskor och chef hanterar ansökan."))
    return application


def _for_decider(request: Request, pk: uuid.UUID) -> Application:
    """The application, for a decision: CBHV of its organisation, and not one's own (API.md;
    the services check the same, this answers 403 before the input is looked at)."""
    user = api_user(request)
    application = _application(request, pk)
    if not scope_of(user).has_role_in(
        Role.CBHV, organisation_id=application.centre.organisation_id
    ):
        raise PermissionDenied(_("Bara CBHV i organisationen beslutar om ansökan."))
    if services.is_own_application(user, application):
        raise PermissionDenied(_("Ingen beslutar om en ansökan från sin egen BVC."))
    return application


def _detail(application: Application, *, status_code: int = status.HTTP_200_OK) -> Response:
    shown = _shown(Application.objects.filter(pk=application.pk)).get()
    return Response(ApplicationSerializer(shown).data, status=status_code)


APPLICATION_CONFLICT = OpenApiResponse(
    description="The application's state forbids it (or, on create, the centre already has "
    "an application for the year)."
)


class ApplicationListCreate(generics.ListAPIView[Application]):
    permission_classes = [IsAuthenticated, CentreStaffWrites]
    serializer_class = ApplicationSerializer
    filterset_class = ApplicationFilter
    cursor_ordering = ("-created_at", "-id")
    queryset = Application.objects.none()

    def get_queryset(self) -> QuerySet[Application]:
        return _applications(self.request.user)

    @extend_schema(summary="Fixed-compensation applications in the caller's scope, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        reject_empty(request, ApplicationFilter.base_filters)
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Draft an application for one of the caller's centres",
        request=ApplicationCreateSerializer,
        responses={201: ApplicationSerializer, 409: APPLICATION_CONFLICT},
    )
    def post(self, request: Request) -> Response:
        user = api_user(request)
        data = validated(ApplicationCreateSerializer, request.data)
        centre = (
            Centre.objects.filter(pk__in=scope_of(user).centre_ids(*CENTRE_ROLES))
            .filter(pk=data.pop("centre"))
            .first()
        )
        if centre is None:
            raise ValidationError({"centre": [_("BVC:n finns inte bland dina.")]})
        year = data.pop("year")
        application = services.application_create(
            user=user, centre=centre, year=year, plan=services.Plan(**data)
        )
        return _detail(application, status_code=status.HTTP_201_CREATED)


class ApplicationDetail(generics.GenericAPIView[Application]):
    permission_classes = [IsAuthenticated, CentreStaffWrites]
    serializer_class = ApplicationSerializer
    queryset = Application.objects.none()

    @extend_schema(summary="An application with its history")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        application = get_object_or_404(_applications(request.user), pk=pk)
        return Response(ApplicationSerializer(application).data)

    @extend_schema(
        summary="Change the plan (in draft or when changes are requested; the centre's staff)",
        request=ApplicationUpdateSerializer,
        responses={200: ApplicationSerializer, 409: APPLICATION_CONFLICT},
    )
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        application = _for_centre_staff(request, pk)
        changes = validated(ApplicationUpdateSerializer, request.data, partial=True)
        current = {name: getattr(application, name) for name in services.PLAN_FIELDS}
        plan = services.Plan(**{**current, **changes})
        services.application_update(user=user, application=application, plan=plan)
        return _detail(application)


class ApplicationSubmit(generics.GenericAPIView[Application]):
    permission_classes = [IsAuthenticated, CentreStaffWrites]
    serializer_class = ApplicationSerializer
    queryset = Application.objects.none()

    @extend_schema(
        summary="Submit to CBHV (also after changes were requested); the centre must be "
        "eligible (400 on `centre`)",
        request=None,
        responses={200: ApplicationSerializer, 409: APPLICATION_CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        application = _for_centre_staff(request, pk)
        services.application_submit(user=api_user(request), application=application)
        return _detail(application)


class ApplicationWithdraw(generics.GenericAPIView[Application]):
    permission_classes = [IsAuthenticated, CentreStaffWrites]
    serializer_class = ApplicationSerializer
    queryset = Application.objects.none()

    @extend_schema(
        summary="Withdraw (the centre; from any state but rejected). An approved application "
        "keeps its decision: fixed compensation ends the day before `withdrawn_at`",
        request=None,
        responses={200: ApplicationSerializer, 409: APPLICATION_CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        application = _for_centre_staff(request, pk)
        services.application_withdraw(user=api_user(request), application=application)
        return _detail(application)


class ApplicationRequestChanges(generics.GenericAPIView[Application]):
    permission_classes = [IsAuthenticated, Decides]
    serializer_class = ApplicationSerializer
    queryset = Application.objects.none()

    @extend_schema(
        summary="Ask the centre for changes (CBHV)",
        request=RequestChangesSerializer,
        responses={200: ApplicationSerializer, 409: APPLICATION_CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        application = _for_decider(request, pk)
        data = validated(RequestChangesSerializer, request.data)
        services.application_request_changes(
            user=api_user(request), application=application, comment=data["comment"]
        )
        return _detail(application)


class ApplicationApprove(generics.GenericAPIView[Application]):
    permission_classes = [IsAuthenticated, Decides]
    serializer_class = ApplicationSerializer
    queryset = Application.objects.none()

    @extend_schema(
        summary="Approve (CBHV; never one's own application)",
        request=ApproveSerializer,
        responses={200: ApplicationSerializer, 409: APPLICATION_CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        application = _for_decider(request, pk)
        data = validated(ApproveSerializer, request.data)
        effective_from = data.get("effective_from")
        # The input before the state (API.md's order); application_approve() holds the rule.
        if effective_from is not None and effective_from.year != application.year:
            raise ValidationError(
                {"effective_from": [_("Datumet ska ligga i ansökningsåret %s.") % application.year]}
            )
        services.application_approve(
            user=api_user(request),
            application=application,
            comment=data["comment"],
            effective_from=effective_from,
        )
        return _detail(application)


class ApplicationReject(generics.GenericAPIView[Application]):
    permission_classes = [IsAuthenticated, Decides]
    serializer_class = ApplicationSerializer
    queryset = Application.objects.none()

    @extend_schema(
        summary="Reject with a reason (CBHV; never one's own application)",
        request=RejectSerializer,
        responses={200: ApplicationSerializer, 409: APPLICATION_CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        application = _for_decider(request, pk)
        data = validated(RejectSerializer, request.data)
        services.application_reject(
            user=api_user(request), application=application, reason=data["reason"]
        )
        return _detail(application)
