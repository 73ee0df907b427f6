"""Compensation rules in API v1 (API.md "Money at the edges", "Rates are data"; DOMAIN.md 4.1).

CBHV, finance, administrators and centre managers read their organisations' rules (centre
managers too: the rates price the statements they see and the accounts they sign); CBHV and
administrators add one; every other role gets 403, also finance and centre managers posting.
The order of API.md: 401 (DRF's authentication), 403 (`RateAccess`), 400 (the input, and an
organisation in the body where the caller may not add rules), 409 (`compensation.rule_set()`'s
Conflict: a date in or before a paid month, a rule already from that date). The rule itself is
the service's; the list is one query (`funding.rate_views.rules_for()`, shared with the page).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.helpers import api_user, has_role, reject_empty, validated
from core.api.idempotency import idempotency_parameter, idempotent
from core.models import Organisation
from core.scoping import scope_of
from funding import compensation
from funding.api.rate_serializers import (
    CompensationRuleSerializer,
    RuleCreateSerializer,
    RuleQuerySerializer,
)
from funding.models import CompensationRule
from funding.views.rates import RATE_READERS, RATE_WRITERS, rules_for, valid_to


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
        "valid_to": valid_to(rule),
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

    def get_queryset(self) -> QuerySet[CompensationRule]:
        reject_empty(self.request, RuleQuerySerializer().fields)
        query = validated(RuleQuerySerializer, self.request.query_params)
        return rules_for(
            scope_of(self.request.user).organisation_ids(*RATE_READERS),
            organisation_id=query.get("organisation"),
            year=query.get("year"),
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
        writable = scope_of(user).organisation_ids(*RATE_WRITERS)
        if data["organisation"] not in writable:
            raise ValidationError(
                {
                    "organisation": [
                        _("Organisationen finns inte bland dem du sätter ersättning för.")
                    ]
                }
            )
        organisation = Organisation.objects.get(pk=data["organisation"])

        def run() -> Response:
            rule = compensation.rule_set(
                user=user,
                organisation=organisation,
                valid_from=data["valid_from"],
                programme_variable=data["programme_variable"],
                ordinary=data["ordinary"],
            )
            shown = rules_for([organisation.pk]).get(pk=rule.pk)
            return Response(
                CompensationRuleSerializer(rule_row(shown)).data, status=status.HTTP_201_CREATED
            )

        return idempotent(request, run)
