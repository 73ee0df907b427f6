"""Fixed-compensation applications in API v1 (API.md, "Fixed-compensation applications").

Every view answers in API.md's order: 401 (DRF's authentication), 403 (the role may never do
this: the permission classes below), 404 (the path object through `selectors.applications_for()`),
403 again where the caller sees the application but may not act on it (another centre's
application for a nurse who is also CBHV; a CBHV's own application: `selectors.is_centre_staff()`
and `selectors.may_decide()`, the rules the services apply), 400 (the input, including a centre
in the body that is not the caller's), 409 (the services' `Conflict`). The rules themselves are
in `funding.applications`; the views resolve ids and call one service.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.helpers import api_user, has_role, reject_empty, validated
from core.models import CENTRE_ROLES, Role, User
from funding import applications, selectors
from funding.api.serializers import (
    ApplicationCreateSerializer,
    ApplicationSerializer,
    ApplicationUpdateSerializer,
    ApproveSerializer,
    RejectSerializer,
    RequestChangesSerializer,
)
from funding.filters import ApplicationFilter
from funding.models import Application, ApplicationTransition


# --- Permissions ------------------------------------------------------------------------------
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


# --- Applications -----------------------------------------------------------------------------
def _shown(qs: QuerySet[Application]) -> QuerySet[Application]:
    """What an answer shows of each application, in two queries whatever their number."""
    return qs.select_related("centre", "created_by", "submitted_by", "decided_by").prefetch_related(
        Prefetch("transitions", ApplicationTransition.objects.select_related("by"))
    )


def _applications(user: User | Any) -> QuerySet[Application]:
    return _shown(selectors.applications_for(user=user))


def _application(request: Request, pk: uuid.UUID) -> Application:
    """The path's application, if the caller sees it (else 404, like a missing one)."""
    return get_object_or_404(
        selectors.applications_for(user=request.user).select_related("centre"), pk=pk
    )


def _for_centre_staff(request: Request, pk: uuid.UUID) -> Application:
    """The application, for an action of its centre: only its own nurses and manager act for a
    centre (a nurse who is also CBHV sees other centres' applications, and may not act there)."""
    application = _application(request, pk)
    if not selectors.is_centre_staff(user=api_user(request), centre_id=application.centre_id):
        raise PermissionDenied(_("Bara BVC:ns egna sjuksköterskor och chef hanterar ansökan."))
    return application


def _for_decider(request: Request, pk: uuid.UUID) -> Application:
    """The application, for a decision: CBHV of its organisation, and not one's own (API.md;
    the services check the same, this answers 403 before the input is looked at)."""
    user = api_user(request)
    application = _application(request, pk)
    if not selectors.is_decider_of(user=user, application=application):
        raise PermissionDenied(_("Bara CBHV i organisationen beslutar om ansökan."))
    if not selectors.may_decide(user=user, application=application):
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
        centre = selectors.centres_staffed_by(user=user).filter(pk=data.pop("centre")).first()
        if centre is None:
            raise ValidationError({"centre": [_("BVC:n finns inte bland dina.")]})
        year = data.pop("year")
        application = applications.application_create(
            user=user, centre=centre, year=year, plan=applications.Plan(**data)
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
        plan = applications.Plan(**{**vars(applications.Plan.of(application)), **changes})
        applications.application_update(user=user, application=application, plan=plan)
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
        applications.application_submit(user=api_user(request), application=application)
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
        applications.application_withdraw(user=api_user(request), application=application)
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
        applications.application_request_changes(
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
        applications.application_approve(
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
        applications.application_reject(
            user=api_user(request), application=application, reason=data["reason"]
        )
        return _detail(application)
