"""Grants and their ledger in API v1 (API.md, "Grants and ledger"; DOMAIN.md 4.3): the grant
list and a grant with its figures, its ledger, allocations, the fixed allocation, payouts,
reversals, carry-over, close and repayments.

Finance writes, CBHV reads; other roles get 403. Every view answers in API.md's order: 401
(DRF's authentication), 403 (`LedgerAccess`: the role may never do this), 404 (the grant
through `selectors.grants_for()`), 403 again when the caller sees the grant only as CBHV and
writes (`selectors.is_finance_of()`), 400 (the input, including a recipient or transaction that
is not the grant's: the services' ValidationError), 409 (their `Conflict`: a closed grant, a
date after use-by, already reversed). The rules are in `funding.ledger` and
`funding.allocation`; the views parse, resolve ids and call one service.

Input serializers only parse and type-check (money as `core.api.fields.MoneyField`); output
serializers take the dicts built here (figures computed from the ledger) and render money as
strings with two decimals.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import IntegrityError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.fields import MoneyField
from core.api.helpers import api_user, has_role, reject_empty, validated
from core.api.idempotency import idempotency_parameter, idempotent
from core.dates import MAX_YEAR, MIN_YEAR
from core.exceptions import Conflict
from core.models import Centre, Partner, Role
from funding import allocation, ledger, selectors
from funding.api.fields import money_in, money_out, money_text, year_field
from funding.models import (
    Funder,
    Grant,
    LedgerTransaction,
    LedgerTransactionQuerySet,
    PayoutCategory,
    RecipientType,
    TxKind,
)

TEXT_MAX = 5000


STATUSES = [("open", "open"), ("closed", "closed")]


# --- Serializers: grants ------------------------------------------------------------------------
class GrantQuerySerializer(serializers.Serializer[Any]):
    organisation = serializers.UUIDField(required=False)
    year = year_field(required=False)
    funder = serializers.ChoiceField(choices=Funder.choices, required=False)
    status = serializers.ChoiceField(choices=STATUSES, required=False)


class GrantCreateSerializer(serializers.Serializer[Any]):
    organisation = serializers.UUIDField()
    funder = serializers.ChoiceField(choices=Funder.choices)
    reference = serializers.CharField(max_length=60)
    year = year_field()
    amount = money_in()
    requisitioned_on = serializers.DateField(required=False, allow_null=True)
    received_on = serializers.DateField()
    use_by = serializers.DateField()
    report_due = serializers.DateField()
    conditions = serializers.CharField(
        required=False, allow_blank=True, max_length=TEXT_MAX, default=""
    )


class GrantSerializer(serializers.Serializer[Any]):
    """A grant with its figures, all from the ledger: `balance` = amount − paid_out −
    carried_over − repaid; `unused` = amount − paid_out (frozen at close); `repayment_due` is
    0.00 while open, after close unused − carried_over − repaid."""

    id = serializers.UUIDField(read_only=True)
    organisation = serializers.UUIDField(read_only=True)
    funder = serializers.ChoiceField(choices=Funder.choices, read_only=True)
    reference = serializers.CharField(read_only=True)
    year = serializers.IntegerField(read_only=True)
    amount = money_out(help_text="Received: receipts, including carry-overs from earlier grants.")
    allocated = money_out()
    paid_out = money_out()
    carried_over = money_out()
    repaid = money_out()
    balance = money_out()
    unused = money_out()
    repayment_due = money_out()
    status = serializers.ChoiceField(choices=STATUSES, read_only=True)
    requisitioned_on = serializers.DateField(read_only=True, allow_null=True)
    received_on = serializers.DateField(read_only=True)
    use_by = serializers.DateField(read_only=True)
    report_due = serializers.DateField(read_only=True)
    conditions = serializers.CharField(read_only=True)
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)


# --- Serializers: the ledger --------------------------------------------------------------------
class LedgerRowSerializer(serializers.Serializer[Any]):
    """A transaction, signed from the grant's side (receipts positive; payouts, carry-overs and
    repayments negative; a reversal the opposite of what it reverses; allocations positive)."""

    id = serializers.UUIDField(read_only=True)
    kind = serializers.ChoiceField(choices=TxKind.choices, read_only=True)
    category = serializers.CharField(
        read_only=True, help_text="Payout category, or empty (`fixed`, `partner_transfer`, ...)."
    )
    date = serializers.DateField(read_only=True)
    amount = money_out()
    recipient_type = serializers.CharField(
        read_only=True, help_text="`centre`, `partner`, `organisation`, or empty."
    )
    recipient = serializers.UUIDField(read_only=True, allow_null=True)
    reference = serializers.CharField(read_only=True)
    reverses = serializers.UUIDField(read_only=True, allow_null=True)
    created_by = serializers.CharField(read_only=True, help_text="The username.")
    created_at = serializers.DateTimeField(read_only=True)


class GrantCarryOverResultSerializer(serializers.Serializer[Any]):
    carry_over = LedgerRowSerializer(read_only=True)
    receipt = LedgerRowSerializer(read_only=True, help_text="The receipt on `to_grant`.")
    to_grant = serializers.UUIDField(read_only=True)


class GrantAllocationSerializer(serializers.Serializer[Any]):
    recipient_type = serializers.ChoiceField(
        choices=[(RecipientType.CENTRE.value, "centre"), (RecipientType.PARTNER.value, "partner")]
    )
    recipient = serializers.UUIDField()
    amount = money_in()
    purpose = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class GrantPayoutSerializer(serializers.Serializer[Any]):
    recipient_type = serializers.ChoiceField(choices=RecipientType.choices)
    recipient = serializers.UUIDField(
        help_text="A centre or partner of the grant's organisation, or the organisation itself."
    )
    category = serializers.ChoiceField(choices=PayoutCategory.choices)
    amount = money_in()
    date = serializers.DateField()
    reference = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class GrantReversalSerializer(serializers.Serializer[Any]):
    transaction = serializers.UUIDField()
    reason = serializers.CharField(max_length=200)


class GrantCarryOverSerializer(serializers.Serializer[Any]):
    amount = money_in()
    # The later grant, when made, runs to 31 December and reports by 1 March the year after.
    to_year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR - 1)
    # It becomes the made grant's reference with " (year)" appended (60 characters at most).
    decision_reference = serializers.CharField(max_length=50)


class GrantRepaymentSerializer(serializers.Serializer[Any]):
    amount = money_in()
    date = serializers.DateField()
    reference = serializers.CharField(max_length=200, help_text="The funder's invoice.")


# --- Permissions and helpers ----------------------------------------------------------------------
class LedgerAccess(BasePermission):
    """Finance and CBHV read; only finance writes."""

    message = "Bara ekonomi hanterar bidrag; CBHV kan läsa dem."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return has_role(request, Role.FINANCE, Role.CBHV)
        return has_role(request, Role.FINANCE)


def grant_for_finance(request: Request, pk: uuid.UUID) -> Grant:
    """The grant in the path (404 outside the caller's scope), for finance of its organisation
    (403 for a caller who sees it only as CBHV)."""
    grant = get_object_or_404(selectors.grants_for(user=request.user), pk=pk)
    if not selectors.is_finance_of(user=request.user, of=grant):
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


def _grant_response(grant: Grant, *, status_code: int = status.HTTP_200_OK) -> Response:
    shown = ledger.with_figures(Grant.objects.filter(pk=grant.pk)).get()
    return Response(GrantSerializer(grant_row(shown)).data, status=status_code)


def tx_response(tx: LedgerTransaction) -> Response:
    shown = LedgerTransaction.objects.with_legs().get(pk=tx.pk)
    return Response(LedgerRowSerializer(ledger_row(shown)).data, status=status.HTTP_201_CREATED)


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
        return selectors.grants_for(
            user=self.request.user,
            organisation_id=query.get("organisation"),
            year=query.get("year"),
            funder=query.get("funder"),
            status=query.get("status"),
        )

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
        organisation = (
            selectors.organisations_where(user=user, roles=[Role.FINANCE])
            .filter(pk=data.pop("organisation"))
            .first()
        )
        if organisation is None:
            raise ValidationError({"organisation": [_("Organisationen finns inte bland dina.")]})

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
        grant = get_object_or_404(selectors.grants_for(user=request.user), pk=pk)
        return Response(GrantSerializer(grant_row(grant)).data)


class GrantLedger(generics.ListAPIView[LedgerTransaction]):
    permission_classes = [IsAuthenticated, LedgerAccess]
    serializer_class = LedgerRowSerializer
    cursor_ordering = ("created_at", "id")
    queryset = LedgerTransaction.objects.none()

    def get_queryset(self) -> LedgerTransactionQuerySet:
        grant = get_object_or_404(
            selectors.grants_for(user=self.request.user), pk=self.kwargs["pk"]
        )
        return selectors.grant_transactions(grant=grant)

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
        grant = grant_for_finance(request, pk)
        data = validated(GrantAllocationSerializer, request.data)
        recipient = ledger.recipient_of(grant, data["recipient_type"], data["recipient"])
        assert isinstance(recipient, Centre | Partner)  # the serializer takes no other type

        def run() -> Response:
            tx = ledger.allocation_post(
                user=api_user(request),
                grant=grant,
                recipient=recipient,
                amount=data["amount"],
                purpose=data["purpose"],
            )
            return tx_response(tx)

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
        grant = grant_for_finance(request, pk)
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
            return tx_response(tx)

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
        grant = grant_for_finance(request, pk)
        data = validated(GrantReversalSerializer, request.data)
        original = selectors.grant_transactions(grant=grant).filter(pk=data["transaction"]).first()
        if original is None:
            raise ValidationError({"transaction": [_("Transaktionen finns inte i bidraget.")]})

        def run() -> Response:
            tx = ledger.reversal_post(
                user=api_user(request), grant=grant, original=original, reason=data["reason"]
            )
            return tx_response(tx)

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
        grant = grant_for_finance(request, pk)
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
            shown = LedgerTransaction.objects.with_legs().filter(pk__in=[out.pk, into.pk])
            rows = {tx.pk: tx for tx in shown}
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
        grant = grant_for_finance(request, pk)
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
        grant = grant_for_finance(request, pk)
        data = validated(GrantRepaymentSerializer, request.data)

        def run() -> Response:
            tx = ledger.repayment_post(
                user=api_user(request),
                grant=grant,
                amount=data["amount"],
                date=data["date"],
                reference=data["reference"],
            )
            return tx_response(tx)

        return idempotent(request, run, required=True)


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
        grant = grant_for_finance(request, pk)
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
                    "child_cni": money_text(line.child_cni),
                    "listed_children": line.listed_children,
                    "weight": str(line.weight),
                    "amount": money_text(line.amount),
                }
                for line in lines
            ],
            "total": money_text(sum((line.amount for line in lines), Decimal("0"))),
        }
        return Response(
            FixedAllocationResultSerializer(body).data,
            status=status.HTTP_200_OK if preview else status.HTTP_201_CREATED,
        )
