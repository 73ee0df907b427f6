"""Fixed allocation, compensation statements and paying a month in API v1 (API.md, "Grants and
ledger"). The rules are in `funding.allocation` and `funding.compensation`; these views check
the role (403), resolve the grant (404), validate the input (400) and call one service."""

from __future__ import annotations

import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.fields import MoneyField
from core.api.helpers import api_user, reject_empty, validated
from core.api.idempotency import idempotency_parameter, idempotent
from core.dates import MAX_YEAR
from core.models import Centre, Organisation, Role
from core.scoping import scope_of
from funding import allocation, compensation
from funding.api.ledger_views import LedgerAccess, _grant_for_finance
from funding.models import Grant


def _money(value: Any) -> str:
    return f"{value:.2f}"


# --- Fixed allocation -------------------------------------------------------------------------
class FixedAllocationInput(serializers.Serializer[Any]):
    year = serializers.IntegerField(min_value=2000, max_value=MAX_YEAR)
    pool = MoneyField(help_text="Whole kronor.")


class FixedAllocationLineSerializer(serializers.Serializer[Any]):
    centre = serializers.UUIDField()
    child_cni = serializers.CharField()
    listed_children = serializers.IntegerField(allow_null=True)
    weight = serializers.CharField(help_text="Exact, not rounded.")
    amount = serializers.CharField()


class FixedAllocationResultSerializer(serializers.Serializer[Any]):
    allocations = FixedAllocationLineSerializer(many=True)
    total = serializers.CharField()


class FixedAllocation(generics.GenericAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = FixedAllocationResultSerializer
    queryset = Grant.objects.none()

    @extend_schema(
        summary="Distribute a fixed pool among the year's approved centres by child CNI "
        "(whole kronor adding up to the pool; `?preview=true` posts nothing)",
        request=FixedAllocationInput,
        parameters=[OpenApiParameter("preview", bool, required=False)],
        responses={200: FixedAllocationResultSerializer, 201: FixedAllocationResultSerializer},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        grant = _grant_for_finance(request, pk)
        data = validated(FixedAllocationInput, request.data)
        preview = request.query_params.get("preview", "").lower() in ("1", "true", "yes")
        if preview:
            lines = allocation.fixed_allocation_preview(
                grant=grant, year=data["year"], pool=data["pool"]
            ).lines
        else:
            lines = allocation.fixed_allocation_post(
                user=api_user(request), grant=grant, year=data["year"], pool=data["pool"]
            )
        body = {
            "allocations": [
                {
                    "centre": line.centre.pk,
                    "child_cni": _money(line.child_cni),
                    "listed_children": line.listed_children,
                    "weight": str(line.weight),
                    "amount": _money(line.amount),
                }
                for line in lines
            ],
            "total": _money(sum(line.amount for line in lines)),
        }
        return Response(
            FixedAllocationResultSerializer(body).data,
            status=status.HTTP_200_OK if preview else status.HTTP_201_CREATED,
        )


# --- Compensation statements --------------------------------------------------------------------
class CompensationQuery(serializers.Serializer[Any]):
    organisation = serializers.UUIDField(required=False)
    year = serializers.IntegerField(min_value=2000, max_value=MAX_YEAR)
    month = serializers.IntegerField(min_value=1, max_value=12, required=False)
    centre = serializers.UUIDField(required=False)


class StatementSerializer(serializers.Serializer[Any]):
    centre = serializers.UUIDField()
    month = serializers.CharField(help_text="YYYY-MM")
    visits = serializers.IntegerField()
    programme_variable = serializers.CharField()
    ordinary = serializers.CharField()
    adjustments = serializers.CharField()
    total = serializers.CharField()
    locked = serializers.BooleanField()
    paid = serializers.CharField(
        help_text="Net paid from the grant for the month by month payments (payouts less their "
        "reversals)."
    )
    settled_in = serializers.CharField(
        allow_null=True,
        help_text="YYYY-MM: set on rows of this year's adjustments settled in a month of the "
        "next year (listed, not counted again); null otherwise.",
    )


class StatementPage(serializers.Serializer[Any]):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = StatementSerializer(many=True)


class CompensationList(generics.GenericAPIView[Grant]):
    """Finance and CBHV of the organisation; a centre manager for her own centre. The rows are
    computed in one aggregate query and bounded (centres × months), so one page holds them."""

    permission_classes = [IsAuthenticated]
    serializer_class = StatementSerializer
    queryset = Grant.objects.none()
    pagination_class = None

    @extend_schema(
        summary="Compensation statements per centre and month",
        parameters=[CompensationQuery],
        responses={200: StatementPage},
    )
    def get(self, request: Request) -> Response:
        scope = scope_of(request.user)
        if not scope.has_role(Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER):
            raise PermissionDenied(_("Bara ekonomi, CBHV och vårdcentralschefer ser ersättningar."))
        reject_empty(request, CompensationQuery().fields)
        query = validated(CompensationQuery, request.query_params)
        org_ids = scope.organisation_ids(Role.FINANCE, Role.CBHV)
        manager_centres = scope.centre_ids(Role.CENTRE_MANAGER)
        if query.get("organisation") is not None:
            organisation_id = query["organisation"]
        elif len(org_ids) == 1:
            organisation_id = next(iter(org_ids))
        elif not org_ids and manager_centres:
            organisation_id = Centre.objects.get(pk=next(iter(manager_centres))).organisation_id
        else:
            raise ValidationError({"organisation": [_("Ange organisation.")]})
        centre = query.get("centre")
        if organisation_id not in org_ids:
            # A centre manager sees her own centres' statements only.
            mine = Centre.objects.filter(pk__in=manager_centres, organisation_id=organisation_id)
            if not mine.exists():
                raise ValidationError({"organisation": [_("Organisationen finns inte.")]})
            if centre is None and mine.count() == 1:
                centre = mine.get().pk
            if centre not in set(mine.values_list("pk", flat=True)):
                raise ValidationError({"centre": [_("Ange din egen BVC.")]})
        elif (
            centre is not None
            and not Centre.objects.filter(pk=centre, organisation_id=organisation_id).exists()
        ):
            raise ValidationError({"centre": [_("BVC:n finns inte i organisationen.")]})
        organisation = get_object_or_404(Organisation, pk=organisation_id)
        period = {"month": query.get("month"), "centre": centre}
        rows = compensation.statements(organisation, query["year"], **period)
        rows += compensation.settled_next_year(organisation, query["year"], **period)
        results = [
            {
                "centre": row.centre_id,
                "month": f"{row.month:%Y-%m}",
                "visits": row.visits,
                "programme_variable": _money(row.programme_variable),
                "ordinary": _money(row.ordinary),
                "adjustments": _money(row.adjustments),
                "total": _money(row.total),
                "locked": row.locked,
                "paid": _money(row.paid),
                "settled_in": f"{row.settled_in:%Y-%m}" if row.settled_in else None,
            }
            for row in rows
        ]
        return Response(
            {
                "next": None,
                "previous": None,
                "results": StatementSerializer(results, many=True).data,
            }
        )


# --- Paying a month ---------------------------------------------------------------------------
class PayInput(serializers.Serializer[Any]):
    grant = serializers.UUIDField()
    year = serializers.IntegerField(min_value=2000, max_value=MAX_YEAR)
    month = serializers.IntegerField(min_value=1, max_value=12)


class PayoutLineSerializer(serializers.Serializer[Any]):
    centre = serializers.UUIDField()
    amount = serializers.CharField()


class PayResultSerializer(serializers.Serializer[Any]):
    payouts = PayoutLineSerializer(many=True)
    total = serializers.CharField()


class CompensationPay(generics.GenericAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = PayResultSerializer
    queryset = Grant.objects.none()

    @extend_schema(
        summary="Pay a month: one programme-variable payout per centre from the grant; the month "
        "is locked for every centre of the organisation",
        request=PayInput,
        parameters=[idempotency_parameter(required=True)],
        responses={201: PayResultSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(PayInput, request.data)
        grants = Grant.objects.for_user(request.user).filter(pk=data["grant"])
        if not grants.exists():
            raise ValidationError({"grant": [_("Bidraget finns inte.")]})
        grant = _grant_for_finance(request, data["grant"])

        def run() -> Response:
            payment = compensation.month_pay(
                user=api_user(request), grant=grant, year=data["year"], month=data["month"]
            )
            body = {
                "payouts": [
                    {"centre": p.centre_id, "amount": _money(p.amount)} for p in payment.payouts
                ],
                "total": _money(payment.total),
            }
            return Response(PayResultSerializer(body).data, status=status.HTTP_201_CREATED)

        return idempotent(request, run, required=True)
