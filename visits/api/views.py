"""The visits part of API v1: reference data, children, enrolments, the worklist, visits and
the access log (API.md).

Every view answers in API.md's order: 401 (DRF's authentication), 403 (the role may never do
this: `visits.api.permissions`), 404 (the path object through `Model.objects.for_user()`), 400
(the input, including ids in the body outside the caller's scope), 409 (the services'
`Conflict`). The rules themselves are in `visits.services`; the views resolve ids and call one
service. A child's data is read only through `visits.selectors`, which scope it and log the
read (the services log their own writes).
"""

from __future__ import annotations

import uuid
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, mixins, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.helpers import api_user, validated
from core.models import Centre, User
from visits import selectors, services
from visits.api.permissions import NurseWrites, SeesChildren
from visits.api.serializers import (
    ChildCreatedSerializer,
    ChildCreateSerializer,
    ChildListItemSerializer,
    ChildSerializer,
    ChildUpdateSerializer,
    EnrolmentCreateSerializer,
    EnrolmentEndSerializer,
    EnrolmentListItemSerializer,
    EnrolmentSerializer,
    EnrolmentUpdateSerializer,
    KvaCodeSerializer,
    ProgrammeTemplateSerializer,
    VisitCreateSerializer,
    VisitSerializer,
    VisitUpdateSerializer,
    WorklistRowSerializer,
)
from visits.filters import VisitFilter, WorklistFilter
from visits.models import (
    Child,
    Enrolment,
    KvaCode,
    ProgrammeTemplate,
    Visit,
)


# --- Helpers ----------------------------------------------------------------------------------
class FilterBackend(DjangoFilterBackend):
    """django-filter, except that a typed parameter sent empty (`?date_to=`) is a 400 rather
    than no filter: the schema says it is a date, a UUID or one of an enum."""

    def get_filterset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            empty = {
                name: ["Ange ett värde eller utelämna parametern."]
                for name, filter_ in filterset.filters.items()
                if not isinstance(filter_, django_filters.CharFilter)
                and request.query_params.get(name) == ""
            }
            if empty:
                raise ValidationError(empty)
        return filterset


class _ChildDataList(mixins.ListModelMixin, generics.GenericAPIView[Any]):
    # A list that shows children's data: every child on the page is logged as read, in one
    # insert per page (Patientdatalagen; DOMAIN.md 7), by `selectors.read_page()`.

    log_what = ""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = selectors.read_page(
            user=api_user(request),
            rows=self.filter_queryset(self.get_queryset()),
            what=self.log_what,
            paginate=lambda rows: selectors.Rows(list(self.paginate_queryset(rows) or [])),
        )
        return self.get_paginated_response(self.get_serializer(page.rows, many=True).data)


DUPLICATE_CHILD = OpenApiResponse(
    inline_serializer(
        "ChildConflict",
        {
            "detail": serializers.CharField(),
            "id": serializers.UUIDField(
                required=False, help_text="The child already registered in the organisation."
            ),
        },
    ),
    description="Already registered in that organisation.",
)


# --- Reference data ---------------------------------------------------------------------------
class KvaCodeList(generics.ListAPIView[KvaCode]):
    """KVÅ codes with their periods of validity (any authenticated user)."""

    serializer_class = KvaCodeSerializer
    cursor_ordering = ("code", "valid_from")
    queryset = KvaCode.objects.all()


class ProgrammeTemplateList(generics.ListAPIView[ProgrammeTemplate]):
    """The current version of each programme template of the caller's organisations."""

    serializer_class = ProgrammeTemplateSerializer
    cursor_ordering = ("name", "id")
    queryset = ProgrammeTemplate.objects.none()

    def get_queryset(self) -> QuerySet[ProgrammeTemplate]:
        return (
            ProgrammeTemplate.objects.for_user(self.request.user)
            .current()
            .prefetch_related("slots")
        )


# --- Children ---------------------------------------------------------------------------------
def _registration_centre(user: User, centre_id: uuid.UUID | None) -> Centre:
    """The centre a child is registered at: the one given, among the caller's own, or the
    caller's only centre."""
    mine = selectors.child_centre_ids(user)
    if centre_id is None:
        if len(mine) != 1:
            raise ValidationError({"centre": ["Ange BVC: du arbetar vid flera."]})
        (centre_id,) = mine
    elif centre_id not in mine:
        raise ValidationError({"centre": ["BVC:n finns inte bland dina."]})
    return Centre.objects.select_related("organisation").get(pk=centre_id)


class ChildListCreate(_ChildDataList):
    """Children of the caller's centres (nurses and centre managers). Each child shown is
    logged as read."""

    permission_classes = [IsAuthenticated, SeesChildren]
    serializer_class = ChildListItemSerializer
    cursor_ordering = ("-created_at", "-id")
    queryset = Child.objects.none()
    log_what = "child list"

    def get_queryset(self) -> QuerySet[Child]:
        return selectors.children_for_list(user=self.request.user)

    @extend_schema(
        summary="Children of the caller's centres (masked identities)",
        responses=ChildListItemSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        summary="Register a child",
        request=ChildCreateSerializer,
        responses={201: ChildCreatedSerializer, 409: DUPLICATE_CHILD},
    )
    def post(self, request: Request) -> Response:
        user = api_user(request)
        data = validated(ChildCreateSerializer, request.data)
        centre = _registration_centre(user, data.get("centre"))
        child = services.child_register(
            user=user,
            centre=centre,
            identity_type=data["identity_type"],
            identity=data["identity"],
            birth_date=data.get("birth_date"),
            given_name=data.get("given_name", ""),
            family_name=data.get("family_name", ""),
        )
        return Response(ChildCreatedSerializer(child).data, status=status.HTTP_201_CREATED)


class ChildDetail(generics.GenericAPIView[Child]):
    """A child of the caller's centres; each read is logged."""

    permission_classes = [IsAuthenticated, SeesChildren]
    serializer_class = ChildSerializer
    queryset = Child.objects.none()

    @extend_schema(summary="A child (the whole identity only for its centre's nurses)")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        child = selectors.child_for_read(user=user, pk=pk, what="child")
        full = selectors.is_nurse_at(user=user, centre_id=child.current_centre_id)
        return Response(ChildSerializer(child, context={"full": full}).data)

    @extend_schema(
        summary="Change a child's names or protected identity (its centre's nurses)",
        request=ChildUpdateSerializer,
        responses=ChildSerializer,
    )
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        child = selectors.child_for_change(user=user, pk=pk)
        if not selectors.is_nurse_at(user=user, centre_id=child.current_centre_id):
            raise PermissionDenied("Bara BVC:ns sjuksköterskor ändrar barnets uppgifter.")
        data = validated(ChildUpdateSerializer, request.data)
        # child_update() logs the change when there is one; an answer without a change is a read.
        changes = any(getattr(child, name) != value for name, value in data.items())
        services.child_update(user=user, child=child, **data)
        if not changes:
            selectors.record_read(user=user, rows=[child], what="child")
        return Response(ChildSerializer(child, context={"full": True}).data)


# --- Enrolments -------------------------------------------------------------------------------
ENROLMENT_FIELDS = (
    "accepted_on",
    "declined_on",
    "programme",
    "planned_slots",
    "language",
    "interpreter_needed",
)


def _enrolment_response(enrolment: Enrolment, *, status_code: int = 200) -> Response:
    context = {"today": timezone.localdate()}
    return Response(EnrolmentSerializer(enrolment, context=context).data, status=status_code)


class EnrolmentListCreate(_ChildDataList):
    """Enrolments made at the caller's centres (history stays with the centre that made it).
    Each child shown is logged as read."""

    permission_classes = [IsAuthenticated, SeesChildren]
    serializer_class = EnrolmentListItemSerializer
    cursor_ordering = ("-created_at", "-id")
    queryset = Enrolment.objects.none()
    log_what = "enrolment list"

    def get_queryset(self) -> QuerySet[Enrolment]:
        return selectors.enrolments_for_list(user=self.request.user)

    @extend_schema(
        summary="Enrolments made at the caller's centres",
        responses=EnrolmentListItemSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        summary="Enrol a child in a programme",
        request=EnrolmentCreateSerializer,
        responses={201: EnrolmentSerializer},
    )
    def post(self, request: Request) -> Response:
        user = api_user(request)
        data = validated(EnrolmentCreateSerializer, request.data)
        child = selectors.child_in_scope(user=user, pk=data.pop("child"))
        centre = selectors.child_centres(user).filter(pk=data.pop("centre")).first()
        template = ProgrammeTemplate.objects.for_user(user).filter(pk=data.pop("template")).first()
        errors = {}
        if child is None:
            errors["child"] = ["Barnet finns inte vid dina BVC:er."]
        if centre is None:
            errors["centre"] = ["BVC:n finns inte bland dina."]
        if template is None:
            errors["template"] = ["Programmallen finns inte i din organisation."]
        if errors:
            raise ValidationError(errors)
        assert child is not None and centre is not None and template is not None
        enrolment = services.enrolment_create(
            user=user, child=child, centre=centre, template=template, **data
        )
        return _enrolment_response(enrolment, status_code=status.HTTP_201_CREATED)


class EnrolmentDetail(generics.GenericAPIView[Enrolment]):
    """An enrolment made at one of the caller's centres; each read is logged."""

    permission_classes = [IsAuthenticated, SeesChildren]
    serializer_class = EnrolmentSerializer
    queryset = Enrolment.objects.none()

    @extend_schema(summary="An enrolment with its schedule")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        enrolment = selectors.enrolment_for_read(user=api_user(request), pk=pk, what="enrolment")
        return _enrolment_response(enrolment)

    @extend_schema(
        summary="Change an enrolment (acceptance, programme, language)",
        request=EnrolmentUpdateSerializer,
        responses=EnrolmentSerializer,
    )
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        enrolment = selectors.enrolment_for_change(user=user, pk=pk)
        data = validated(EnrolmentUpdateSerializer, request.data)
        before = [getattr(enrolment, name) for name in ENROLMENT_FIELDS]
        services.enrolment_update(user=user, enrolment=enrolment, **data)
        # enrolment_update() logs a change; an answer without one is a read.
        if [getattr(enrolment, name) for name in ENROLMENT_FIELDS] == before:
            selectors.record_read(user=user, rows=[enrolment], what="enrolment")
        return _enrolment_response(enrolment)


class EnrolmentEnd(generics.GenericAPIView[Enrolment]):
    """Ending an enrolment; `moved` with `moved_to` makes that centre the child's own."""

    permission_classes = [IsAuthenticated, SeesChildren]
    serializer_class = EnrolmentSerializer
    queryset = Enrolment.objects.none()

    @extend_schema(
        summary="End an enrolment; `moved` with `moved_to` moves the child to that centre",
        request=EnrolmentEndSerializer,
        responses=EnrolmentSerializer,
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        enrolment = selectors.enrolment_for_change(user=user, pk=pk)
        data = validated(EnrolmentEndSerializer, request.data)
        moved_to = None
        if data.get("moved_to") is not None:
            # Any active centre of the caller's organisations: the family moves away from hers.
            moved_to = Centre.objects.for_user(user).active().filter(pk=data["moved_to"]).first()
            if moved_to is None:
                raise ValidationError({"moved_to": ["BVC:n finns inte i din organisation."]})
        services.enrolment_end(
            user=user,
            enrolment=enrolment,
            ended_on=data["ended_on"],
            reason=data["reason"],
            moved_to=moved_to,
        )
        return _enrolment_response(enrolment)


# --- Worklist ---------------------------------------------------------------------------------
class Worklist(_ChildDataList):
    """Slots due or overdue at the caller's centres, oldest first (by `due_from`, then
    `due_to`). Each child shown is logged as read."""

    # One query in the database, ordered and paginated there (visits.selectors.worklist).

    permission_classes = [IsAuthenticated, SeesChildren]
    serializer_class = WorklistRowSerializer
    filter_backends = [FilterBackend]
    filterset_class = WorklistFilter
    cursor_ordering = ("due_from", "due_to", "id", "slot_target")
    queryset = Enrolment.objects.none()
    log_what = "worklist"

    def get_queryset(self) -> QuerySet[Enrolment]:
        return selectors.worklist(self.request.user, today=timezone.localdate())

    @extend_schema(summary="The nurse's worklist: due and overdue visits")
    def get(self, request: Request) -> Response:
        return self.list(request)


# --- Visits -----------------------------------------------------------------------------------
VISIT_FIELDS = (
    "date",
    "place",
    "status",
    "social_services_present",
    "participants",
    "kva_codes",
    "contacts_started",
)


def _visit_input(data: dict[str, Any]) -> dict[str, Any]:
    """API.md's visit fields as `visits.services.VisitInput` names (only those sent)."""
    changes = {name: data[name] for name in VISIT_FIELDS if name in data}
    if "slot" in data:
        changes["slot"] = data["slot"] or ""
    if "interpreter" in data:
        changes["interpreter_mode"] = data["interpreter"]["mode"]
        changes["interpreter_language"] = data["interpreter"].get("language") or ""
    return changes


def _visit_response(visit: Visit, *, status_code: int = 200) -> Response:
    shown = selectors.visit_as_saved(visit=visit)
    return Response(VisitSerializer(shown).data, status=status_code)


class VisitListCreate(_ChildDataList):
    """Visits made at the caller's centres, newest first; only nurses log them. Each child
    shown is logged as read."""

    permission_classes = [IsAuthenticated, NurseWrites]
    serializer_class = VisitSerializer
    filter_backends = [FilterBackend]
    filterset_class = VisitFilter
    cursor_ordering = ("-date", "-id")
    queryset = Visit.objects.none()
    log_what = "visit list"

    def get_queryset(self) -> QuerySet[Visit]:
        return selectors.visits_for_list(user=self.request.user)

    @extend_schema(summary="Visits made at the caller's centres, newest first")
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        summary="Log a visit (nurses)",
        request=VisitCreateSerializer,
        responses={201: VisitSerializer},
    )
    def post(self, request: Request) -> Response:
        user = api_user(request)
        data = validated(VisitCreateSerializer, request.data)
        # Visits are written by the nurses of the enrolment's centre (a centre manager there
        # reads them): another centre's enrolment is outside the scope of this action.
        enrolment = selectors.enrolment_for_visit_log(user=user, pk=data["enrolment"])
        if enrolment is None:
            raise ValidationError({"enrolment": ["Inskrivningen finns inte vid dina BVC:er."]})
        visit = services.visit_log(
            user=user,
            enrolment=enrolment,
            data=services.VisitInput(**_visit_input(data)),
            adjustment=data["adjustment"],
        )
        return _visit_response(visit, status_code=status.HTTP_201_CREATED)


class VisitDetail(generics.GenericAPIView[Visit]):
    """A visit made at one of the caller's centres; only its centre's nurses change it."""

    permission_classes = [IsAuthenticated, NurseWrites]
    serializer_class = VisitSerializer
    queryset = Visit.objects.none()

    @extend_schema(summary="A visit")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        visit = selectors.visit_for_read(user=api_user(request), pk=pk, what="visit")
        return Response(VisitSerializer(visit).data)

    @extend_schema(
        summary="Change a visit (nurses of its centre); what follows is recomputed",
        request=VisitUpdateSerializer,
        responses=VisitSerializer,
    )
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        visit = selectors.visit_for_change(user=user, pk=pk)
        if not selectors.is_nurse_at(user=user, centre_id=visit.centre_id):
            raise PermissionDenied("Bara BVC:ns sjuksköterskor ändrar besök.")
        data = validated(VisitUpdateSerializer, request.data)
        services.visit_update(
            user=user,
            visit=visit,
            changes=_visit_input(data),
            adjustment=data.get("adjustment", False),
        )
        return _visit_response(visit)
