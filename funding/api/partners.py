"""Partner agreements in API v1 (issue: money 7). An extra beside API.md's contract:
`GET|POST /api/v1/partner-agreements/` and `POST /api/v1/partner-agreements/{id}/allocate/`.
Finance writes, CBHV reads, like grants (`selectors.agreements_for()`); the money itself moves
through the grant's ledger (`funding.partners`)."""

from __future__ import annotations

import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.helpers import api_user, validated
from core.api.idempotency import idempotency_parameter, idempotent
from funding import partners, selectors
from funding.api.fields import money_in, money_out, year_field
from funding.api.grants import CONFLICT, LedgerAccess, LedgerRowSerializer, tx_response
from funding.models import AgreementCondition, Grant, PartnerAgreement, PartnerAgreementQuerySet


class AgreementSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(read_only=True)
    organisation = serializers.UUIDField(source="organisation_id", read_only=True)
    partner = serializers.UUIDField(source="partner_id", read_only=True)
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    title = serializers.CharField(read_only=True)
    year_from = serializers.IntegerField(read_only=True)
    year_to = serializers.IntegerField(read_only=True)
    yearly_amount = money_out()
    condition = serializers.ChoiceField(choices=AgreementCondition.choices, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class AgreementCreateSerializer(serializers.Serializer[Any]):
    partner = serializers.UUIDField()
    title = serializers.CharField(max_length=200)
    year_from = year_field()
    year_to = year_field()
    yearly_amount = money_in()
    condition = serializers.ChoiceField(
        choices=AgreementCondition.choices,
        default=AgreementCondition.NONE,
        help_text="`grant_received`: payouts under the agreement dated before the grant's "
        "receipt are refused (409).",
    )


class AgreementAllocateSerializer(serializers.Serializer[Any]):
    grant = serializers.UUIDField(help_text="A grant of the agreement's organisation and years.")


class AgreementListCreate(generics.ListAPIView[PartnerAgreement]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = AgreementSerializer
    cursor_ordering = ("-created_at", "-id")
    queryset = PartnerAgreement.objects.none()

    def get_queryset(self) -> PartnerAgreementQuerySet:
        return selectors.agreements_for(user=self.request.user)

    @extend_schema(summary="Agreements with partners (finance, CBHV)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Record an agreement with a partner of the caller's organisation (finance)",
        request=AgreementCreateSerializer,
        parameters=[idempotency_parameter(required=False)],
        responses={201: AgreementSerializer},
    )
    def post(self, request: Request) -> Response:
        user = api_user(request)
        data = validated(AgreementCreateSerializer, request.data)
        partner = selectors.finance_partner(user=user, pk=data.pop("partner"))
        if partner is None:
            raise ValidationError({"partner": [_("Samverkansparten finns inte bland dina.")]})

        def run() -> Response:
            agreement = partners.agreement_create(user=user, partner=partner, **data)
            return Response(AgreementSerializer(agreement).data, status=status.HTTP_201_CREATED)

        return idempotent(request, run)


class AgreementAllocate(generics.GenericAPIView[PartnerAgreement]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = LedgerRowSerializer
    queryset = PartnerAgreement.objects.none()

    @extend_schema(
        summary="Allocate the agreement's yearly amount to its partner on a grant (once per grant)",
        request=AgreementAllocateSerializer,
        parameters=[idempotency_parameter(required=False)],
        responses={201: LedgerRowSerializer, 409: CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        user = api_user(request)
        agreement = get_object_or_404(selectors.agreements_for(user=user), pk=pk)
        if not selectors.is_finance_of(user=user, of=agreement):
            raise PermissionDenied(_("Bara ekonomi i organisationen fördelar pengar."))
        data = validated(AgreementAllocateSerializer, request.data)
        grant = Grant.objects.for_user(user).filter(pk=data["grant"]).first()
        if grant is None:
            raise ValidationError({"grant": [_("Bidraget finns inte bland dina.")]})

        def run() -> Response:
            tx = partners.agreement_allocate(user=user, agreement=agreement, grant=grant)
            return tx_response(tx)

        return idempotent(request, run)
