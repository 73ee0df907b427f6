"""The figures of the reports (DOMAIN.md 5 and 6), as plain data: the PDFs read them today, the
programme dashboard will read the same functions. Everything is aggregated in the database, in a
fixed number of queries whatever the data's size; counts stay ints here and the small-number
rule (`shown`) is applied where they are presented.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, ExtractMonth, Lower, Trim

from core.models import Centre, Partner
from core.money import ZERO
from funding import ledger
from funding.allocation import fixed_reference
from funding.compensation import StatementRow, settled_next_year, statements
from funding.models import (
    Account,
    Application,
    CniValue,
    CompensationRule,
    Grant,
    LedgerLeg,
    LedgerTransaction,
    PayoutCategory,
    RecipientType,
    TxKind,
)
from visits.models import (
    Child,
    Eligibility,
    EndReason,
    Enrolment,
    InterpreterMode,
    SlotKind,
    TemplateSlot,
    Visit,
    VisitPlace,
    VisitStatus,
)

SMALL = 5  # counts of 1–4 children or families are shown as "<5" (DOMAIN.md 5)
ZV509 = "ZV509"


def shown(n: int) -> str:
    """A count of children or families as a report may show it: 1–4 → "<5", 0 stays 0. Only for
    a count on its own: one shown with its total or parts goes through `reporting.suppression`,
    which also hides what subtraction would give back."""
    return f"<{SMALL}" if 0 < n < SMALL else str(n)


def share(part: int, whole: int) -> str:
    """A share in per cent with one decimal, Swedish style ("37,5 %"); "–" without a whole,
    or when either count is small (a share of 3 out of 3 would reveal the hidden count). Of two
    counts that `reporting.suppression` decided: `suppression.share`."""
    from reporting.suppression import percent  # the one rule, in the module without Django

    return percent(part, whole)


# --- Reach and activity ------------------------------------------------------------------------
@dataclass(frozen=True)
class SlotCount:
    key: str
    label: str
    visits: int


@dataclass(frozen=True)
class MonthCount:
    month: int  # 1–12
    with_social_services: int
    without_social_services: int


@dataclass(frozen=True)
class Activity:
    year: int
    offered: int  # families offered the programme in the year (one enrolment per child)
    accepted: int  # of those, accepted
    children_enrolled: int  # children in the programme at some time of the year
    completed_visits: int
    home_visits: int
    home_with_social_services: int  # completed home visits with ZV509
    with_social_services: int  # completed visits with social services present, at any place
    interpreter_visits: int
    interpreter_by_mode: dict[str, int]
    with_dental: int
    with_preschool: int
    with_maternal_health: int
    contacts_started: dict[str, int]
    per_slot: list[SlotCount]
    extra_visits: int  # visits outside the template's slots
    per_month: list[MonthCount]
    centres: list[str]  # participating centres (with at least one completed visit)

    @property
    def social_services_share(self) -> str:
        return share(self.home_with_social_services, self.home_visits)


def _year_bounds(year: int) -> tuple[datetime.date, datetime.date]:
    return datetime.date(year, 1, 1), datetime.date(year, 12, 31)


def programme_activity(
    organisation_id: uuid.UUID, year: int, centre_ids: Iterable[uuid.UUID] | None = None
) -> Activity:
    """Reach and activity of an organisation's programme (or some of its centres) in a year:
    seven queries."""
    first, last = _year_bounds(year)
    enrolments = Enrolment.objects.filter(centre__organisation_id=organisation_id)
    visits: QuerySet[Visit] = Visit.objects.filter(
        centre__organisation_id=organisation_id, date__range=(first, last), status="completed"
    )
    if centre_ids is not None:
        ids = list(centre_ids)
        enrolments = enrolments.filter(centre_id__in=ids)
        visits = visits.filter(centre_id__in=ids)

    reach = enrolments.aggregate(
        offered=Count("id", filter=Q(offered_on__range=(first, last))),
        accepted=Count("id", filter=Q(accepted_on__range=(first, last))),
        enrolled=Count(
            "child_id",
            distinct=True,
            filter=Q(accepted_on__lte=last) & (Q(ended_on__isnull=True) | Q(ended_on__gte=first)),
        ),
    )
    home = Q(place="home")
    counts = visits.aggregate(
        completed=Count("id"),
        home=Count("id", filter=home),
        home_ss=Count("id", filter=home & Q(kva_codes__contains=[ZV509])),
        with_ss=Count("id", filter=Q(social_services_present=True)),
        interpreter=Count("id", filter=~Q(interpreter_mode="none")),
        in_person=Count("id", filter=Q(interpreter_mode="in_person")),
        phone=Count("id", filter=Q(interpreter_mode="phone")),
        video=Count("id", filter=Q(interpreter_mode="video")),
        dental=Count("id", filter=Q(participants__contains=["dental"])),
        preschool=Count("id", filter=Q(participants__contains=["preschool"])),
        maternal=Count("id", filter=Q(participants__contains=["maternal_health"])),
        c_preschool=Count("id", filter=Q(contacts_started__contains=["preschool"])),
        c_maternal=Count("id", filter=Q(contacts_started__contains=["maternal_health"])),
        c_dental=Count("id", filter=Q(contacts_started__contains=["dental"])),
        c_social=Count("id", filter=Q(contacts_started__contains=["social_services"])),
    )
    by_slot = dict(
        visits.exclude(slot="")
        .values_list("slot")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("slot", "n")
    )
    extra = visits.filter(slot="").count()
    # Slot labels and order from the organisation's templates (the latest label per key).
    labels: dict[str, tuple[int, str]] = {}
    for key, label, age in (
        TemplateSlot.objects.filter(template__organisation_id=organisation_id)
        .order_by("template__version", "target_age_days")
        .values_list("key", "label", "target_age_days")
    ):
        labels[key] = (age, label)
    slot_keys = sorted(set(labels) | set(by_slot), key=lambda k: (labels.get(k, (10**6, k))[0], k))
    per_month_rows: dict[int, tuple[int, int]] = {
        row["m"]: (row["ss"], row["other"])
        for row in visits.filter(home)
        .annotate(m=ExtractMonth("date"))
        .values("m")
        .annotate(
            ss=Count("id", filter=Q(kva_codes__contains=[ZV509])),
            other=Count("id", filter=~Q(kva_codes__contains=[ZV509])),
        )
        .order_by("m")
    }
    centres = sorted(
        Centre.objects.filter(pk__in=visits.values("centre_id")).values_list("name", flat=True)
    )
    return Activity(
        year=year,
        offered=reach["offered"],
        accepted=reach["accepted"],
        children_enrolled=reach["enrolled"],
        completed_visits=counts["completed"],
        home_visits=counts["home"],
        home_with_social_services=counts["home_ss"],
        with_social_services=counts["with_ss"],
        interpreter_visits=counts["interpreter"],
        interpreter_by_mode={
            "in_person": counts["in_person"],
            "phone": counts["phone"],
            "video": counts["video"],
        },
        with_dental=counts["dental"],
        with_preschool=counts["preschool"],
        with_maternal_health=counts["maternal"],
        contacts_started={
            "preschool": counts["c_preschool"],
            "maternal_health": counts["c_maternal"],
            "dental": counts["c_dental"],
            "social_services": counts["c_social"],
        },
        per_slot=[
            SlotCount(key=k, label=labels.get(k, (0, k))[1], visits=by_slot.get(k, 0))
            for k in slot_keys
        ],
        extra_visits=extra,
        per_month=[
            MonthCount(
                month=m,
                with_social_services=per_month_rows.get(m, (0, 0))[0],
                without_social_services=per_month_rows.get(m, (0, 0))[1],
            )
            for m in range(1, 13)
        ],
        centres=centres,
    )


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
    """The days of its year on which `application` gave its centre fixed compensation: the
    days for which `Application.objects.fixed_on(day)` holds (a test holds the two together),
    from `effective_from` up to the day before `withdrawn_on`, else to 31 December. None when
    there is no such day."""
    if not application.approved or application.effective_from is None:
        return None
    first, last = _year_bounds(application.year)
    start = max(application.effective_from, first)
    end = last
    if application.withdrawn_on is not None:
        end = min(end, application.withdrawn_on - datetime.timedelta(days=1))
    return (start, end) if start <= end else None


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
    period = fixed_period(application) if application is not None else None
    if application is None or period is None:
        return None
    first, last = _year_bounds(year)
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
    first, last = _year_bounds(year)
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


# --- What the funders judge the programme by (DOMAIN.md 5.1) ---------------------------------
# Förordning 2025:74 § 2 prioritises children with known risk factors: listed first.
BASES = [
    Eligibility.RISK_FACTORS,
    Eligibility.FIRST_TIME_PARENTS,
    Eligibility.FIRST_CHILD_IN_SWEDEN,
]


@dataclass(frozen=True)
class BasisReach:
    basis: str
    label: str
    offered: int  # enrolments offered in the year with this basis (one may have several)
    accepted: int  # of those, accepted in the year


def reach_by_basis(
    organisation_id: uuid.UUID, year: int, centre_ids: Iterable[uuid.UUID] | None = None
) -> list[BasisReach]:
    """Families offered and accepting in the year, by eligibility basis: one query."""
    first, last = _year_bounds(year)
    enrolments = Enrolment.objects.filter(centre__organisation_id=organisation_id)
    if centre_ids is not None:
        enrolments = enrolments.filter(centre_id__in=list(centre_ids))
    counts = enrolments.aggregate(
        **{
            f"{basis}_offered": Count(
                "id", filter=Q(offered_on__range=(first, last), eligibility__contains=[basis])
            )
            for basis in BASES
        },
        **{
            f"{basis}_accepted": Count(
                "id", filter=Q(accepted_on__range=(first, last), eligibility__contains=[basis])
            )
            for basis in BASES
        },
    )
    return [
        BasisReach(
            basis=basis.value,
            label=str(basis.label),
            offered=counts[f"{basis}_offered"],
            accepted=counts[f"{basis}_accepted"],
        )
        for basis in BASES
    ]


@dataclass(frozen=True)
class VisitSplit:
    """Completed visits of the year by the kind of their slot in the enrolment's template (the
    grant pays for expansion only): ordinary slots, extra slots, and visits outside the
    template (no slot, or a key the template does not have), which are extra too."""

    ordinary: int
    extra_slots: int
    outside_template: int

    @property
    def extra(self) -> int:
        return self.extra_slots + self.outside_template


@dataclass(frozen=True)
class Completion:
    """Visits per child, and the share of children who completed every slot of their template.

    `cohort`: children with an accepted enrolment in the organisation whose last slot's window
    (birth date + the template's latest "senast" age) closed on or before 31 December of the
    year, by the template of their latest accepted enrolment; `completed_all`: of those, the
    children with a completed visit at every slot of that template (in any of their enrolments
    in the organisation, dated on or before 31 December). Children on a partial programme are
    counted; an enrolment that ended early counts as not completed."""

    completed_visits: int
    children_visited: int  # children with at least one completed visit in the year
    cohort: int
    completed_all: int

    @property
    def visits_per_child(self) -> str:
        """One decimal, Swedish style; "–" when either count is small or zero."""
        if self.children_visited < SMALL or self.completed_visits < SMALL:
            return "–"
        ratio = Decimal(self.completed_visits) / Decimal(self.children_visited)
        return f"{ratio:.1f}".replace(".", ",")

    @property
    def completed_share(self) -> str:
        return share(self.completed_all, self.cohort)


# How the reports name each early end (EndReason's labels name the state, not the event).
ENDED_EARLY = {
    EndReason.MOVED: "flyttade",
    EndReason.DECLINED: "avböjde fortsatt deltagande",
    EndReason.DECEASED: "barnet avled",
    EndReason.OTHER: "annan orsak",
}


@dataclass(frozen=True)
class Departures:
    """Families who said no or left before the programme was done, in the year."""

    declined: int  # offers declined in the year
    ended_early: list[tuple[str, int]]  # (reason label, enrolments ended in the year)


@dataclass(frozen=True)
class LanguageCount:
    language: str
    visits: int  # completed visits with an interpreter
    languages: int = 1  # more for the group of other languages


OTHER_LANGUAGES = "Övriga språk"


def _group_small_languages(rows: list[LanguageCount]) -> list[LanguageCount]:
    """Languages with fewer than SMALL visits are shown together as "Övriga språk", and the
    smallest of the other languages join them until that group is at least SMALL: the
    languages add up to the year's interpreter visits, so a single hidden count could be had
    back by subtraction (DOMAIN.md 5, secondary suppression). `rows`: most visits first."""
    shown_rows = [row for row in rows if row.visits >= SMALL]
    grouped = [row for row in rows if row.visits < SMALL]
    while shown_rows and 0 < sum(row.visits for row in grouped) < SMALL:
        grouped.append(shown_rows.pop())
    if not grouped:
        return shown_rows
    return [
        *shown_rows,
        LanguageCount(
            language=OTHER_LANGUAGES,
            visits=sum(row.visits for row in grouped),
            languages=len(grouped),
        ),
    ]


@dataclass(frozen=True)
class CentreCni:
    name: str
    child_cni: Decimal | None
    reference_date: datetime.date | None
    source: str


@dataclass(frozen=True)
class ProgrammeDetails:
    year: int
    split: VisitSplit
    slot_kinds: dict[str, str]  # slot key → kind in the organisation's templates (latest)
    by_basis: list[BasisReach]
    completion: Completion
    departures: Departures
    interpreter_languages: list[LanguageCount]
    centres: list[CentreCni]


COMPLETION_SQL = """
WITH enrolled AS (
    SELECT e.id, e.child_id, e.centre_id, e.template_id, e.accepted_on
      FROM {enrolment} e
      JOIN {centre} c ON c.id = e.centre_id
     WHERE c.organisation_id = %(organisation)s
       AND e.accepted_on IS NOT NULL AND e.accepted_on <= %(last)s
), latest AS (
    SELECT DISTINCT ON (child_id) child_id, centre_id, template_id
      FROM enrolled
     ORDER BY child_id, accepted_on DESC, id
), cohort AS (
    SELECT l.child_id, l.template_id,
           (SELECT count(*) FROM {slot} s WHERE s.template_id = l.template_id) AS slots
      FROM latest l
      JOIN {child} ch ON ch.id = l.child_id
     WHERE ch.birth_date + (
               SELECT max(s.latest_age_days) FROM {slot} s WHERE s.template_id = l.template_id
           ) <= %(last)s
       {centre_filter}
)
SELECT count(*),
       count(*) FILTER (
           WHERE co.slots > 0 AND co.slots <= (
               SELECT count(DISTINCT v.slot)
                 FROM {visit} v
                 JOIN enrolled e ON e.id = v.enrolment_id
                WHERE e.child_id = co.child_id
                  AND v.status = %(completed)s
                  AND v.date <= %(last)s
                  AND v.slot IN (SELECT s.key FROM {slot} s WHERE s.template_id = co.template_id)
           )
       )
  FROM cohort co
"""


def _completion_cohort(
    organisation_id: uuid.UUID, year: int, centre_ids: list[uuid.UUID] | None
) -> tuple[int, int]:
    """(cohort, completed_all) of `Completion`: one query."""
    params: dict[str, Any] = {
        "organisation": organisation_id,
        "last": _year_bounds(year)[1],
        "completed": VisitStatus.COMPLETED.value,
    }
    centre_filter = ""
    if centre_ids is not None:
        # The centre of the child's latest enrolment; visits at earlier centres still count.
        centre_filter = "AND l.centre_id = ANY(%(centres)s)"
        params["centres"] = centre_ids
    sql = COMPLETION_SQL.format(
        enrolment=Enrolment._meta.db_table,
        centre=Centre._meta.db_table,
        slot=TemplateSlot._meta.db_table,
        child=Child._meta.db_table,
        visit=Visit._meta.db_table,
        centre_filter=centre_filter,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cohort, completed_all = cursor.fetchone()
    return int(cohort), int(completed_all)


def programme_details(
    organisation_id: uuid.UUID, year: int, centre_ids: Iterable[uuid.UUID] | None = None
) -> ProgrammeDetails:
    """What the Socialstyrelsen report is judged by beyond `programme_activity` (DOMAIN.md 5.1):
    ordinary and extra visits, reach by eligibility basis, visits per child and the share
    completing every slot, families who declined or ended early, interpreter use by language
    and the participating centres with their child CNI: eight queries.

    Counts stay ints: where a report shows them beside the activity's counts (the split beside
    the visits per slot, the languages beside the interpreter visits), it presents them through
    the activity's suppression decisions (`reporting.pdf`), so nothing hidden there comes back
    here."""
    first, last = _year_bounds(year)
    ids = list(centre_ids) if centre_ids is not None else None
    visits: QuerySet[Visit] = Visit.objects.filter(
        centre__organisation_id=organisation_id,
        date__range=(first, last),
        status=VisitStatus.COMPLETED,
    )
    enrolments = Enrolment.objects.filter(centre__organisation_id=organisation_id)
    if ids is not None:
        visits = visits.filter(centre_id__in=ids)
        enrolments = enrolments.filter(centre_id__in=ids)

    slot_kind = Subquery(
        TemplateSlot.objects.filter(
            template_id=OuterRef("enrolment__template_id"), key=OuterRef("slot")
        ).values("kind")[:1]
    )
    counts = visits.annotate(slot_kind=slot_kind).aggregate(
        completed=Count("id"),
        children=Count("enrolment__child_id", distinct=True),
        ordinary=Count("id", filter=Q(slot_kind=SlotKind.ORDINARY)),
        extra=Count("id", filter=Q(slot_kind=SlotKind.EXTRA)),
        outside=Count("id", filter=Q(slot_kind__isnull=True)),
    )
    slot_kinds: dict[str, str] = dict(
        TemplateSlot.objects.filter(template__organisation_id=organisation_id)
        .order_by("template__version", "target_age_days")
        .values_list("key", "kind")
    )
    cohort, completed_all = _completion_cohort(organisation_id, year, ids)

    early = list(ENDED_EARLY)
    ended = enrolments.aggregate(
        declined=Count("id", filter=Q(declined_on__range=(first, last))),
        **{
            f"ended_{reason.value}": Count(
                "id", filter=Q(ended_on__range=(first, last), end_reason=reason)
            )
            for reason in early
        },
    )
    languages = [
        LanguageCount(
            language=(row["language"] or "").capitalize() or "Språk ej angivet",
            visits=row["visits"],
        )
        for row in visits.exclude(interpreter_mode=InterpreterMode.NONE)
        .annotate(language=Lower(Trim("interpreter_language")))
        .values("language")
        .annotate(visits=Count("id"))
        .order_by("-visits", "language")
    ]
    participating = list(
        Centre.objects.filter(pk__in=visits.values("centre_id"))
        .order_by("name")
        .values_list("pk", "name")
    )
    cni = {
        value.centre_id: value
        for value in CniValue.objects.current_for([pk for pk, _name in participating])
    }
    return ProgrammeDetails(
        year=year,
        split=VisitSplit(
            ordinary=counts["ordinary"],
            extra_slots=counts["extra"],
            outside_template=counts["outside"],
        ),
        slot_kinds=slot_kinds,
        by_basis=reach_by_basis(organisation_id, year, ids),
        completion=Completion(
            completed_visits=counts["completed"],
            children_visited=counts["children"],
            cohort=cohort,
            completed_all=completed_all,
        ),
        departures=Departures(
            declined=ended["declined"],
            ended_early=[(ENDED_EARLY[reason], ended[f"ended_{reason.value}"]) for reason in early],
        ),
        interpreter_languages=_group_small_languages(languages),
        centres=[
            CentreCni(
                name=name,
                child_cni=cni[pk].value if pk in cni else None,
                reference_date=cni[pk].reference_date if pk in cni else None,
                source=cni[pk].source if pk in cni else "",
            )
            for pk, name in participating
        ],
    )


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


def grant_record(grant: Grant) -> GrantRecord:
    """What the funder's form asks besides the account: four queries."""
    repayments = [
        Repayment(
            date=tx.date,
            reference=tx.reference,
            amount=tx.repaid or ZERO,
            reversed=tx.is_reversed,
        )
        for tx in LedgerTransaction.objects.filter(grant=grant, kind=TxKind.REPAYMENT)
        .annotate(
            repaid=Sum("legs__amount", filter=Q(legs__account=Account.REPAID)),
            is_reversed=Exists(LedgerTransaction.objects.filter(reverses=OuterRef("pk"))),
        )
        .order_by("date", "created_at")
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
