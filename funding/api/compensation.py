"""Compensation in API v1 (API.md, "Grants and ledger", "Money at the edges"; DOMAIN.md 4.1):
the statements per centre and month, paying a month, and the per-visit rates.

- `GET /api/v1/compensation/`: finance and CBHV of the organisation, a centre manager for her
  own centre (`selectors.statement_scope()`, the rule the page applies too); other roles 403.
- `POST /api/v1/compensation/pay/`: finance (`compensation.month_pay()`).
- `GET|POST /api/v1/compensation-rules/`: CBHV, finance, administrators and centre managers read
  their organisations' rules (the rates price the statements they see and the accounts they
  sign: `RATE_READERS`); CBHV and administrators add one (`RATE_WRITERS`); every other role
  gets 403, also finance and centre managers posting. Then 400 (the input, and an organisation
  in the body where the caller may not add rules) and 409 (`compensation.rule_set()`'s
  Conflict: a date in or before a paid month, a rule already from that date). The list is one
  query (`CompensationRule.objects.rules_for()`).

The rules are in `funding.compensation`; these views check the role (403), validate the input
(400) and call one selector or service.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.fields import MoneyField
from core.api.helpers import api_user, has_role, reject_empty, validated
from core.api.idempotency import idempotency_parameter, idempotent
from core.dates import MAX_YEAR, MIN_YEAR
from funding import compensation, selectors
from funding.api.fields import money_out, money_text, year_field
from funding.api.grants import LedgerAccess, grant_for_finance
from funding.models import (
    RATE_READERS,
    RATE_WRITERS,
    CompensationRule,
    CompensationRuleQuerySet,
    Grant,
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
        if not has_role(request, *selectors.STATEMENT_READERS):
            raise PermissionDenied(_("Bara ekonomi, CBHV och vårdcentralschefer ser ersättningar."))
        reject_empty(request, CompensationQuery().fields)
        query = validated(CompensationQuery, request.query_params)
        where = selectors.statement_scope(
            user=api_user(request),
            organisation_id=query.get("organisation"),
            centre_id=query.get("centre"),
        )
        rows, settled = selectors.statement_rows(
            where=where, year=query["year"], month=query.get("month")
        )
        rows += settled
        results = [
            {
                "centre": row.centre_id,
                "month": f"{row.month:%Y-%m}",
                "visits": row.visits,
                "programme_variable": money_text(row.programme_variable),
                "ordinary": money_text(row.ordinary),
                "adjustments": money_text(row.adjustments),
                "total": money_text(row.total),
                "locked": row.locked,
                "paid": money_text(row.paid),
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
        grant = grant_for_finance(request, data["grant"])

        def run() -> Response:
            payment = compensation.month_pay(
                user=api_user(request), grant=grant, year=data["year"], month=data["month"]
            )
            body = {
                "payouts": [
                    {"centre": p.centre_id, "amount": money_text(p.amount)} for p in payment.payouts
                ],
                "total": money_text(payment.total),
            }
            return Response(PayResultSerializer(body).data, status=status.HTTP_201_CREATED)

        return idempotent(request, run, required=True)


# --- Rates ---------------------------------------------------------------------------------------
def rate_in(**kwargs: Any) -> MoneyField:
    # max_digits as the model's column (10): a larger amount is a 400, never a database error.
    return MoneyField(
        max_digits=10,
        min_value=Decimal("0.00"),
        error_messages={"min_value": gettext_lazy("Beloppet kan inte vara negativt.")},
        **kwargs,
    )


class RuleQuerySerializer(serializers.Serializer[Any]):
    organisation = serializers.UUIDField(required=False)
    year = year_field(required=False, help_text="Rules in force on at least one day of the year.")


class RuleCreateSerializer(serializers.Serializer[Any]):
    organisation = serializers.UUIDField()
    valid_from = serializers.DateField(
        help_text="The first day the rates apply. Not in or before a paid month (409)."
    )
    programme_variable = rate_in(
        help_text="Kronor for a completed home visit with social services present at a centre "
        "without fixed compensation (Region Örebro: 2500.00)."
    )
    ordinary = rate_in(
        help_text="Kronor for any other completed home visit (Region Örebro: 1800.00)."
    )

    def validate_valid_from(self, value: datetime.date) -> datetime.date:
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            raise serializers.ValidationError(
                _("Ange ett datum från år %(min)s till %(max)s.")
                % {"min": MIN_YEAR, "max": MAX_YEAR}
            )
        return value


class CompensationRuleSerializer(serializers.Serializer[Any]):
    """A rule with its period: `valid_to` is the day before the organisation's next rule, or
    null while no later rule exists."""

    id = serializers.IntegerField(read_only=True)
    organisation = serializers.UUIDField(read_only=True)
    valid_from = serializers.DateField(read_only=True)
    valid_to = serializers.DateField(read_only=True, allow_null=True)
    programme_variable = money_out()
    ordinary = money_out()
    created_by = serializers.CharField(
        read_only=True, allow_null=True, help_text="Username of who added the rule."
    )
    created_at = serializers.DateTimeField(read_only=True)


class RateAccess(BasePermission):
    """CBHV, finance, administrators and centre managers read; CBHV and administrators add."""

    message = "Bara CBHV och administratörer lägger till ersättningsnivåer."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return has_role(request, *RATE_READERS)
        return has_role(request, *RATE_WRITERS)


def rule_row(rule: CompensationRule) -> dict[str, Any]:
    """The rule with its period (from `rules_for()`'s annotation)."""
    return {
        "id": rule.pk,
        "organisation": rule.organisation_id,
        "valid_from": rule.valid_from,
        "valid_to": rule.valid_to,
        "programme_variable": rule.programme_variable,
        "ordinary": rule.ordinary,
        "created_by": rule.created_by.username if rule.created_by else None,
        "created_at": rule.created_at,
    }


CONFLICT = OpenApiResponse(
    description="`valid_from` is in or before a paid month, or a rule from that date exists."
)


class CompensationRuleListCreate(generics.ListAPIView[CompensationRule]):
    permission_classes = [IsAuthenticated, RateAccess]
    serializer_class = CompensationRuleSerializer
    cursor_ordering = ("-valid_from", "-id")
    queryset = CompensationRule.objects.none()

    def get_queryset(self) -> CompensationRuleQuerySet:
        reject_empty(self.request, RuleQuerySerializer().fields)
        query = validated(RuleQuerySerializer, self.request.query_params)
        return CompensationRule.objects.for_user(self.request.user).rules_for(
            organisation_id=query.get("organisation"), year=query.get("year")
        )

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            rows = args[0]
            args = ([rule_row(r) for r in rows] if kwargs.get("many") else rule_row(rows),)
        return super().get_serializer(*args, **kwargs)

    @extend_schema(
        summary="Per-visit compensation rates of the caller's organisations, latest first "
        "(CBHV, finance, admin, centre managers); `year`: the rules in force during that year",
        parameters=[RuleQuerySerializer],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Add rates from a date (CBHV, admin): the visits from that date are recomputed; "
        "never in or before a paid month (409), one rule per date (409)",
        request=RuleCreateSerializer,
        parameters=[idempotency_parameter(required=False)],
        responses={201: CompensationRuleSerializer, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        user = api_user(request)
        data = validated(RuleCreateSerializer, request.data)
        organisation = (
            selectors.rate_organisations(user=user).filter(pk=data["organisation"]).first()
        )
        if organisation is None:
            raise ValidationError(
                {
                    "organisation": [
                        _("Organisationen finns inte bland dem du sätter ersättning för.")
                    ]
                }
            )

        def run() -> Response:
            rule = compensation.rule_set(
                user=user,
                organisation=organisation,
                valid_from=data["valid_from"],
                programme_variable=data["programme_variable"],
                ordinary=data["ordinary"],
            )
            shown = CompensationRule.objects.rules_for().get(pk=rule.pk)
            return Response(
                CompensationRuleSerializer(rule_row(shown)).data, status=status.HTTP_201_CREATED
            )

        return idempotent(request, run)
