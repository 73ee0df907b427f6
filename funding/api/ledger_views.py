"""Grants and their ledger in API v1 (API.md, "Grants and ledger"; DOMAIN.md 4.3).

Finance writes, CBHV reads; other roles get 403. Every view answers in API.md's order: 401
(DRF's authentication), 403 (`LedgerAccess`: the role may never do this), 404 (the grant
through `Grant.objects.for_user()`), 403 again when the caller sees the grant only as CBHV and
writes, 400 (the input, including a recipient or transaction that is not the grant's), 409 (the
ledger's `Conflict`: a closed grant, a date after use-by, already reversed). The rules are in
`funding.ledger`; the views resolve ids and call one service.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError
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
from core.api.idempotency import idempotency_parameter, idempotent
from core.exceptions import Conflict
from core.models import Centre, Organisation, Partner, Role
from core.scoping import scope_of
from funding import ledger
from funding.api.ledger_serializers import (
    GrantAllocationSerializer,
    GrantCarryOverResultSerializer,
    GrantCarryOverSerializer,
    GrantCreateSerializer,
    GrantPayoutSerializer,
    GrantQuerySerializer,
    GrantRepaymentSerializer,
    GrantReversalSerializer,
    GrantSerializer,
    LedgerRowSerializer,
)
from funding.models import Grant, LedgerLeg, LedgerTransaction


class LedgerAccess(BasePermission):
    """Finance and CBHV read; only finance writes."""

    message = "Bara ekonomi hanterar bidrag; CBHV kan läsa dem."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return has_role(request, Role.FINANCE, Role.CBHV)
        return has_role(request, Role.FINANCE)


# --- Helpers ----------------------------------------------------------------------------------
def _grants(request: Request) -> QuerySet[Grant]:
    return ledger.with_figures(Grant.objects.for_user(request.user))


def _grant_for_finance(request: Request, pk: uuid.UUID) -> Grant:
    """The grant in the path (404 outside the caller's scope), for finance of its organisation
    (403 for a caller who sees it only as CBHV)."""
    grant = get_object_or_404(Grant.objects.for_user(request.user), pk=pk)
    if not scope_of(request.user).has_role_in(Role.FINANCE, organisation_id=grant.organisation_id):
        raise PermissionDenied(_("Bara ekonomi i bidragets organisation hanterar bidraget."))
    return grant


def grant_row(grant: Grant) -> dict[str, Any]:
    """The grant with its figures (from `with_figures()` annotations when present)."""
    state = ledger.figures(grant)
    return {
        "id": grant.pk,
        "organisation": grant.organisation_id,
        "funder": grant.funder,
        "reference": grant.reference,
        "year": grant.year,
        "amount": state.amount,
        "allocated": state.allocated,
        "paid_out": state.paid_out,
        "carried_over": state.carried_over,
        "repaid": state.repaid,
        "balance": state.balance,
        "unused": state.unused,
        "repayment_due": state.repayment_due,
        "status": "closed" if state.closed else "open",
        "requisitioned_on": grant.requisitioned_on,
        "received_on": grant.received_on,
        "use_by": grant.use_by,
        "report_due": grant.report_due,
        "conditions": grant.conditions,
        "closed_at": grant.closed_at,
        "created_at": grant.created_at,
    }


def ledger_row(tx: LedgerTransaction) -> dict[str, Any]:
    return {
        "id": tx.pk,
        "kind": tx.kind,
        "category": tx.category,
        "date": tx.date,
        "amount": ledger.transaction_amount(tx),
        "recipient_type": tx.recipient_type,
        "recipient": tx.recipient_id,
        "reference": tx.reference,
        "reverses": tx.reverses_id,
        "created_by": tx.created_by.username,
        "created_at": tx.created_at,
    }


def _transactions() -> QuerySet[LedgerTransaction]:
    return LedgerTransaction.objects.select_related("created_by").prefetch_related(
        Prefetch("legs", queryset=LedgerLeg.objects.order_by("id"))
    )


def _grant_response(grant: Grant, *, status_code: int = status.HTTP_200_OK) -> Response:
    shown = ledger.with_figures(Grant.objects.filter(pk=grant.pk)).get()
    return Response(GrantSerializer(grant_row(shown)).data, status=status_code)


def _tx_response(tx: LedgerTransaction) -> Response:
    shown = _transactions().get(pk=tx.pk)
    return Response(LedgerRowSerializer(ledger_row(shown)).data, status=status.HTTP_201_CREATED)


def _recipient(grant: Grant, recipient_type: str, recipient_id: uuid.UUID) -> Centre | Partner:
    """A centre or partner of the grant's organisation (allocations), else 400 on `recipient`."""
    found = ledger.recipient_of(grant, recipient_type, recipient_id)
    assert isinstance(found, Centre | Partner)  # the input's recipient_type is centre or partner
    return found


CONFLICT = OpenApiResponse(description="The grant is closed (or another state conflict).")


# --- Grants -----------------------------------------------------------------------------------
class GrantListCreate(generics.ListAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = GrantSerializer
    cursor_ordering = ("-created_at", "-id")
    queryset = Grant.objects.none()

    def get_queryset(self) -> QuerySet[Grant]:
        reject_empty(self.request, GrantQuerySerializer().fields)
        query = validated(GrantQuerySerializer, self.request.query_params)
        grants = _grants(self.request)
        if "organisation" in query:
            grants = grants.filter(organisation_id=query["organisation"])
        if "year" in query:
            grants = grants.filter(year=query["year"])
        if "funder" in query:
            grants = grants.filter(funder=query["funder"])
        if "status" in query:
            grants = grants.filter(closed_at__isnull=query["status"] == "open")
        return grants

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            rows = args[0]
            args = ([grant_row(g) for g in rows] if kwargs.get("many") else grant_row(rows),)
        return super().get_serializer(*args, **kwargs)

    @extend_schema(
        summary="Grants of the caller's organisations with their figures (finance, CBHV)",
        parameters=[GrantQuerySerializer],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Register a grant and post its receipt (finance); a second `reference` from "
        "the same funder → 409",
        request=GrantCreateSerializer,
        parameters=[idempotency_parameter(required=False)],
        responses={201: GrantSerializer, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        user = api_user(request)
        data = validated(GrantCreateSerializer, request.data)
        organisation_id = data.pop("organisation")
        organisations = scope_of(user).organisation_ids(Role.FINANCE)
        if organisation_id not in organisations:
            raise ValidationError({"organisation": [_("Organisationen finns inte bland dina.")]})
        organisation = Organisation.objects.get(pk=organisation_id)

        def run() -> Response:
            grant = ledger.grant_create(user=user, organisation=organisation, **data)
            return _grant_response(grant, status_code=status.HTTP_201_CREATED)

        return idempotent(request, run)


class GrantDetail(generics.GenericAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = GrantSerializer
    queryset = Grant.objects.none()

    @extend_schema(summary="A grant with its figures")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        grant = get_object_or_404(_grants(request), pk=pk)
        return Response(GrantSerializer(grant_row(grant)).data)


class GrantLedger(generics.ListAPIView[LedgerTransaction]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = LedgerRowSerializer
    cursor_ordering = ("created_at", "id")
    queryset = LedgerTransaction.objects.none()

    def get_queryset(self) -> QuerySet[LedgerTransaction]:
        grant = get_object_or_404(Grant.objects.for_user(self.request.user), pk=self.kwargs["pk"])
        return _transactions().filter(grant=grant)

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            rows = args[0]
            args = ([ledger_row(tx) for tx in rows] if kwargs.get("many") else ledger_row(rows),)
        return super().get_serializer(*args, **kwargs)

    @extend_schema(summary="The grant's ledger, oldest first; amounts signed from its side")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class GrantAllocations(generics.GenericAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = LedgerRowSerializer
    queryset = Grant.objects.none()

    @extend_schema(
        summary="Allocate part of the grant to a centre or partner of its organisation",
        request=GrantAllocationSerializer,
        parameters=[idempotency_parameter(required=False)],
        responses={201: LedgerRowSerializer, 409: CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        grant = _grant_for_finance(request, pk)
        data = validated(GrantAllocationSerializer, request.data)
        recipient = _recipient(grant, data["recipient_type"], data["recipient"])

        def run() -> Response:
            tx = ledger.allocation_post(
                user=api_user(request),
                grant=grant,
                recipient=recipient,
                amount=data["amount"],
                purpose=data["purpose"],
            )
            return _tx_response(tx)

        return idempotent(request, run)


class GrantPayouts(generics.GenericAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = LedgerRowSerializer
    queryset = Grant.objects.none()

    @extend_schema(
        summary="Pay from the grant (never beyond the balance, nor beyond the recipient's open "
        "allocation for `fixed` and `partner_transfer`; 409 when closed or after use-by)",
        request=GrantPayoutSerializer,
        parameters=[idempotency_parameter(required=True)],
        responses={201: LedgerRowSerializer, 409: CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        grant = _grant_for_finance(request, pk)
        data = validated(GrantPayoutSerializer, request.data)

        def run() -> Response:
            tx = ledger.payout_post(
                user=api_user(request),
                grant=grant,
                recipient_type=data["recipient_type"],
                recipient_id=data["recipient"],
                category=data["category"],
                amount=data["amount"],
                date=data["date"],
                reference=data["reference"],
            )
            return _tx_response(tx)

        return idempotent(request, run, required=True)


class GrantReversals(generics.GenericAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = LedgerRowSerializer
    queryset = Grant.objects.none()

    @extend_schema(
        summary="Correct a transaction of the grant with one of opposite sign (409 when the "
        "grant is closed or the transaction already reversed)",
        request=GrantReversalSerializer,
        parameters=[idempotency_parameter(required=False)],
        responses={201: LedgerRowSerializer, 409: CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        grant = _grant_for_finance(request, pk)
        data = validated(GrantReversalSerializer, request.data)
        original = (
            LedgerTransaction.objects.filter(grant=grant, pk=data["transaction"])
            .prefetch_related("legs")
            .first()
        )
        if original is None:
            raise ValidationError({"transaction": [_("Transaktionen finns inte i bidraget.")]})

        def run() -> Response:
            tx = ledger.reversal_post(
                user=api_user(request), grant=grant, original=original, reason=data["reason"]
            )
            return _tx_response(tx)

        return idempotent(request, run)


class GrantCarryOver(generics.GenericAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = GrantCarryOverResultSerializer
    queryset = Grant.objects.none()

    @extend_schema(
        summary="Carry unused money to a later year by the funder's decision: a `carry_over` "
        "here and a `receipt` on the oldest open grant from the same funder for `to_year` "
        "(made if there is none)",
        request=GrantCarryOverSerializer,
        parameters=[idempotency_parameter(required=False)],
        responses={201: GrantCarryOverResultSerializer, 409: CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        grant = _grant_for_finance(request, pk)
        data = validated(GrantCarryOverSerializer, request.data)

        def run() -> Response:
            try:
                out, into = ledger.carry_over_post(
                    user=api_user(request),
                    grant=grant,
                    amount=data["amount"],
                    to_year=data["to_year"],
                    decision_reference=data["decision_reference"],
                )
            except IntegrityError as exc:
                # The later grant it would make has a reference the funder already used.
                raise Conflict(
                    _("Bidragsgivaren har redan ett beslut med det diarienumret.")
                ) from exc
            rows = {tx.pk: tx for tx in _transactions().filter(pk__in=[out.pk, into.pk])}
            body = {
                "carry_over": ledger_row(rows[out.pk]),
                "receipt": ledger_row(rows[into.pk]),
                "to_grant": into.grant_id,
            }
            return Response(
                GrantCarryOverResultSerializer(body).data, status=status.HTTP_201_CREATED
            )

        return idempotent(request, run)


class GrantClose(generics.GenericAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = GrantSerializer
    queryset = Grant.objects.none()

    @extend_schema(
        summary="Close the grant: freeze `unused`; closing again answers the same figures",
        request=None,
        responses={200: GrantSerializer},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        grant = _grant_for_finance(request, pk)
        ledger.grant_close(user=api_user(request), grant=grant)
        return _grant_response(grant)


class GrantRepayments(generics.GenericAPIView[Grant]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = LedgerRowSerializer
    queryset = Grant.objects.none()

    @extend_schema(
        summary="Record money repaid to the funder against its invoice (also after close)",
        request=GrantRepaymentSerializer,
        parameters=[idempotency_parameter(required=True)],
        responses={201: LedgerRowSerializer, 409: CONFLICT},
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        grant = _grant_for_finance(request, pk)
        data = validated(GrantRepaymentSerializer, request.data)

        def run() -> Response:
            tx = ledger.repayment_post(
                user=api_user(request),
                grant=grant,
                amount=data["amount"],
                date=data["date"],
                reference=data["reference"],
            )
            return _tx_response(tx)

        return idempotent(request, run, required=True)
