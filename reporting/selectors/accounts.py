"""The money in the reports (DOMAIN.md 4 and 5.1), as plain data: a grant's financial account
and its own record (requisition, repayments, the year boundary, the rates), a centre's
compensation and fixed allocation of a year, and its approved plan against what was done. All
from the ledger, the compensation statements and the visits, in a fixed number of queries.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypedDict, cast

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django_stubs_ext import WithAnnotations

from core.dates import year_bounds
from core.models import Centre, Partner
from core.money import ZERO
from funding import ledger
from funding.allocation import fixed_reference
from funding.compensation import StatementRow, settled_next_year, statements
from funding.models import (
    Account,
    Application,
    CompensationRule,
    Grant,
    LedgerLeg,
    LedgerTransaction,
    PayoutCategory,
    RecipientType,
    TxKind,
)
from reporting.selectors.activity import Activity, BasisReach, programme_activity, reach_by_basis
from visits.models import TemplateSlot, Visit, VisitPlace, VisitStatus


# --- The grant's financial account -------------------------------------------------------------
@dataclass(frozen=True)
class RecipientLine:
    recipient_type: str
    name: str
    allocated: Decimal
    paid: Decimal


@dataclass(frozen=True)
class GrantAccount:
    figures: ledger.GrantFigures
    paid_by_category: dict[str, Decimal]  # every category, 0.00 where nothing was paid
    recipients: list[RecipientLine] = field(default_factory=list)

    @property
    def used(self) -> Decimal:
        return self.figures.paid_out


def grant_account(grant: Grant) -> GrantAccount:
    """Received, used per category, allocated to and paid to whom, carried over, unused, to
    repay and repaid, all from the ledger: four queries."""
    state = ledger.figures(grant)
    legs = LedgerLeg.objects.filter(transaction__grant=grant)
    by_category = dict(
        legs.filter(account=Account.PAID)
        .values_list("transaction__category")
        .annotate(s=Sum("amount"))
        .order_by()
        .values_list("transaction__category", "s")
    )
    per_recipient = (
        legs.filter(
            account__in=[Account.ALLOCATED, Account.PAID],
            transaction__recipient_id__isnull=False,
        )
        .exclude(transaction__recipient_type=RecipientType.ORGANISATION)
        .values("transaction__recipient_type", "transaction__recipient_id")
        .annotate(
            allocated=Coalesce(Sum("amount", filter=Q(account=Account.ALLOCATED)), ZERO),
            paid=Coalesce(Sum("amount", filter=Q(account=Account.PAID)), ZERO),
        )
        .order_by()
    )
    rows = list(per_recipient)
    ids = {row["transaction__recipient_id"] for row in rows if row["transaction__recipient_id"]}
    names: dict[uuid.UUID | None, str] = {
        **dict(Centre.objects.filter(pk__in=ids).values_list("pk", "name")),
        **dict(Partner.objects.filter(pk__in=ids).values_list("pk", "name")),
    }
    recipients = sorted(
        (
            RecipientLine(
                recipient_type=row["transaction__recipient_type"],
                name=names.get(row["transaction__recipient_id"]) or "–",
                allocated=row["allocated"],
                paid=row["paid"],
            )
            for row in rows
        ),
        key=lambda line: (line.recipient_type, line.name),
    )
    return GrantAccount(
        figures=state,
        paid_by_category={c: by_category.get(c, ZERO) for c in PayoutCategory.values},
        recipients=recipients,
    )


# --- A centre's annual account (Hälsovalsenheten) ----------------------------------------------
@dataclass(frozen=True)
class CentreAccount:
    centre: str
    year: int
    activity: Activity
    compensated_visits: int
    programme_variable: Decimal
    ordinary: Decimal
    adjustments: Decimal
    # The centre's fixed compensation of the year (DOMAIN.md 4.2): allocations whose purpose is
    # `fixed_reference(year)`, net of their reversals, on whichever grant they were posted.
    fixed_allocated: Decimal
    fixed_paid: Decimal
    fixed_grants: list[str] = field(default_factory=list)  # where an allocation stands
    # Adjustments from the year's visits booked in a month of a later year (API.md "Money at the
    # edges"): counted in the month they are settled in, so not in the figures above.
    settled_next_year: list[StatementRow] = field(default_factory=list)

    @property
    def compensation_total(self) -> Decimal:
        return self.programme_variable + self.ordinary + self.adjustments

    @property
    def settled_next_year_total(self) -> Decimal:
        return sum((row.adjustments for row in self.settled_next_year), ZERO)


def _fixed_allocation_filter(year: int) -> Q:
    """Legs of the year's fixed allocations and of the reversals of those allocations (a
    reversal carries its reason as reference, so it is found through what it reverses)."""
    reference = fixed_reference(year)
    return Q(transaction__kind=TxKind.ALLOCATION, transaction__reference=reference) | Q(
        transaction__kind=TxKind.REVERSAL,
        transaction__reverses__kind=TxKind.ALLOCATION,
        transaction__reverses__reference=reference,
    )


def centre_account(centre: Centre, year: int) -> CentreAccount:
    """A centre's compensation of the year: its visits' compensation by the statements, its
    fixed allocation and what was paid of it, and the adjustments settled next year: ten
    queries (seven of them the activity)."""
    activity = programme_activity(centre.organisation_id, year, [centre.pk])
    rows = statements(centre.organisation_id, year, centre=centre)
    fixed_allocation = Q(account=Account.ALLOCATED) & _fixed_allocation_filter(year)
    # Fixed payouts are bounded by the allocation on the same grant (funding.ledger), so the
    # year's are those on the grants that hold the year's fixed allocation to the centre.
    fixed_grants = LedgerTransaction.objects.filter(
        kind=TxKind.ALLOCATION,
        reference=fixed_reference(year),
        recipient_type=RecipientType.CENTRE,
        recipient_id=centre.pk,
    ).values("grant_id")
    fixed = LedgerLeg.objects.filter(
        transaction__grant__organisation_id=centre.organisation_id,
        transaction__recipient_type=RecipientType.CENTRE,
        transaction__recipient_id=centre.pk,
    ).aggregate(
        allocated=Coalesce(Sum("amount", filter=fixed_allocation), ZERO),
        paid=Coalesce(
            Sum(
                "amount",
                filter=Q(
                    account=Account.PAID,
                    transaction__category=PayoutCategory.FIXED,
                    transaction__grant_id__in=fixed_grants,
                ),
            ),
            ZERO,
        ),
        # The grants where an allocation of the year stands (not reversed).
        grants=ArrayAgg(
            "transaction__grant__reference",
            filter=Q(
                account=Account.ALLOCATED,
                transaction__kind=TxKind.ALLOCATION,
                transaction__reference=fixed_reference(year),
                transaction__reversed_by__isnull=True,
            ),
            distinct=True,
            order_by="transaction__grant__reference",
            default=Value([]),
        ),
    )
    return CentreAccount(
        centre=centre.name,
        year=year,
        activity=activity,
        compensated_visits=sum(r.visits for r in rows),
        programme_variable=sum((r.programme_variable for r in rows), ZERO),
        ordinary=sum((r.ordinary for r in rows), ZERO),
        adjustments=sum((r.adjustments for r in rows), ZERO),
        fixed_allocated=fixed["allocated"],
        fixed_paid=fixed["paid"],
        fixed_grants=list(fixed["grants"]),
        settled_next_year=settled_next_year(centre.organisation_id, year, centre=centre),
    )


def fixed_period(application: Application) -> tuple[datetime.date, datetime.date] | None:
    """The days of its year on which `application` gave its centre fixed compensation
    (`Application.fixed_period()`, the row form of `Application.objects.fixed_on(day)`); None
    when there is no such day."""
    return application.fixed_period()


# --- The approved plan against what was done (Hälsovalsenheten) --------------------------------
@dataclass(frozen=True)
class CentrePlan:
    """A centre's approved plan for the year (DOMAIN.md 4.2) beside what its visits show."""

    fixed_from: datetime.date
    fixed_until: datetime.date
    withdrawn_on: datetime.date | None
    planned_visits: int
    nurse_hours_per_week: Decimal
    target_families: str
    programme: str  # "full" or "partial"
    programme_label: str
    planned_slots: list[str]  # labels, for a partial programme
    start_date: datetime.date
    home_visits: int  # completed home visits in the year
    home_visits_fixed: int  # of those, in the period with fixed compensation
    first_home_visit: datetime.date | None  # the first in that period
    slots_visited: list[str]  # labels of the slots with a completed visit in the year
    offered_by_basis: list[BasisReach]


def _slot_labels(organisation_id: uuid.UUID) -> dict[str, str]:
    """Slot key → label in the organisation's templates (the latest version's label)."""
    labels: dict[str, str] = {}
    for key, label in (
        TemplateSlot.objects.filter(template__organisation_id=organisation_id)
        .order_by("template__version", "target_age_days")
        .values_list("key", "label")
    ):
        labels[key] = label
    return labels


def centre_plan(centre: Centre, year: int) -> CentrePlan | None:
    """The plan of the centre's application that gave it fixed compensation in the year
    (`fixed_in_year`), against its completed home visits and reach: four queries. None when the
    centre had no fixed compensation in the year."""
    application = (
        Application.objects.filter(centre=centre, year=year).fixed_in_year().order_by("pk").first()
    )
    period = application.fixed_period() if application is not None else None
    if application is None or period is None:
        return None
    first, last = year_bounds(year)
    in_period = Q(date__range=period)
    done = Visit.objects.filter(
        centre=centre,
        date__range=(first, last),
        status=VisitStatus.COMPLETED,
    ).aggregate(
        home=Count("id", filter=Q(place=VisitPlace.HOME)),
        home_fixed=Count("id", filter=Q(place=VisitPlace.HOME) & in_period),
        first=Min("date", filter=Q(place=VisitPlace.HOME) & in_period),
        slots=ArrayAgg("slot", filter=~Q(slot=""), distinct=True, default=Value([])),
    )
    labels = _slot_labels(centre.organisation_id)
    order = {key: i for i, key in enumerate(labels)}

    def named(keys: Iterable[str]) -> list[str]:
        return [labels.get(k, k) for k in sorted(keys, key=lambda k: (order.get(k, 10**6), k))]

    return CentrePlan(
        fixed_from=period[0],
        fixed_until=period[1],
        withdrawn_on=application.withdrawn_on,
        planned_visits=application.planned_visits,
        nurse_hours_per_week=application.nurse_hours_per_week,
        target_families=application.target_families,
        programme=application.programme,
        programme_label=application.get_programme_display(),
        planned_slots=named(application.planned_slots or []),
        start_date=application.start_date,
        home_visits=done["home"],
        home_visits_fixed=done["home_fixed"],
        first_home_visit=done["first"],
        slots_visited=named(done["slots"]),
        offered_by_basis=reach_by_basis(centre.organisation_id, year, [centre.pk]),
    )


# --- Rates ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RatePeriod:
    """An organisation's per-visit rates (a `CompensationRule`) over part of a year."""

    valid_from: datetime.date
    valid_to: datetime.date
    programme_variable: Decimal
    ordinary: Decimal


def rates_in_year(organisation_id: uuid.UUID, year: int) -> list[RatePeriod]:
    """The rules in force during the year, each cut to the days of the year it priced (the
    one in force on 1 January, then every one from a later day of the year): two queries."""
    first, last = year_bounds(year)
    in_force_first = CompensationRule.objects.in_force(organisation_id, first)
    rules = list(
        CompensationRule.objects.filter(
            organisation_id=organisation_id, valid_from__gt=first, valid_from__lte=last
        ).order_by("valid_from")
    )
    if in_force_first is not None:
        rules.insert(0, in_force_first)
    periods: list[RatePeriod] = []
    for rule, following in zip(rules, [*rules[1:], None], strict=False):
        periods.append(
            RatePeriod(
                valid_from=max(rule.valid_from, first),
                valid_to=(following.valid_from - datetime.timedelta(days=1)) if following else last,
                programme_variable=rule.programme_variable,
                ordinary=rule.ordinary,
            )
        )
    return periods


# --- The grant's own record: requisition, repayments, the year boundary ------------------------
@dataclass(frozen=True)
class Repayment:
    date: datetime.date
    reference: str  # the funder's invoice
    amount: Decimal
    reversed: bool  # corrected by a reversal (its amount is then no longer repaid)


@dataclass(frozen=True)
class GrantRecord:
    requisitioned_on: datetime.date | None
    repayments: list[Repayment]
    # Adjustments from the grant year's visits booked in a later year (API.md "Money at the
    # edges"): paid and counted in the month they are settled in, on that month's grant.
    settled_next_year: list[StatementRow]
    rates: list[RatePeriod]

    @property
    def settled_next_year_total(self) -> Decimal:
        return sum((row.adjustments for row in self.settled_next_year), ZERO)


class _RepaymentFigures(TypedDict):
    repaid: Decimal | None
    is_reversed: bool


def grant_record(grant: Grant) -> GrantRecord:
    """What the funder's form asks besides the account: four queries."""
    # The cast names the annotations: django-stubs drops them from a custom QuerySet's rows
    # under strict (disallow_any_generics), so `tx.repaid` would be unknown.
    rows = cast(
        "QuerySet[WithAnnotations[LedgerTransaction, _RepaymentFigures]]",
        LedgerTransaction.objects.filter(grant=grant, kind=TxKind.REPAYMENT)
        .annotate(
            repaid=Sum("legs__amount", filter=Q(legs__account=Account.REPAID)),
            is_reversed=Exists(LedgerTransaction.objects.filter(reverses=OuterRef("pk"))),
        )
        .order_by("date", "created_at"),
    )
    repayments = [
        Repayment(
            date=tx.date,
            reference=tx.reference,
            amount=tx.repaid or ZERO,
            reversed=tx.is_reversed,
        )
        for tx in rows
    ]
    return GrantRecord(
        requisitioned_on=grant.requisitioned_on,
        repayments=repayments,
        settled_next_year=settled_next_year(grant.organisation_id, grant.year),
        rates=rates_in_year(grant.organisation_id, grant.year),
    )


# The SKL agreements (seed 000) aimed at groups with lower vaccination coverage, so the final
# report is to show MMR coverage among enrolled children "once outcomes are recorded" (DOMAIN.md
# 5.1). Outcomes are not recorded yet (their own issue): the SKL report leaves the figure out
# rather than show one that is not derived from recorded data.
