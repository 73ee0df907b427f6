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

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, ExtractMonth

from core.models import Centre, Partner
from core.money import ZERO
from funding import ledger
from funding.compensation import statements
from funding.models import Account, Grant, LedgerLeg, PayoutCategory, RecipientType
from visits.models import Enrolment, TemplateSlot, Visit

SMALL = 5  # counts of 1–4 children or families are shown as "<5" (DOMAIN.md 5)
ZV509 = "ZV509"


def shown(n: int) -> str:
    """A count of children or families as a report may show it: 1–4 → "<5", 0 stays 0."""
    return f"<{SMALL}" if 0 < n < SMALL else str(n)


def share(part: int, whole: int) -> str:
    """A share in per cent with one decimal, Swedish style ("37,5 %"); "–" without a whole,
    or when either count is small (a share of 3 out of 3 would reveal the hidden count)."""
    if whole == 0 or 0 < part < SMALL or whole < SMALL:
        return "–"
    return f"{Decimal(part * 100) / Decimal(whole):.1f}".replace(".", ",") + " %"


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
    fixed_allocated: Decimal
    fixed_paid: Decimal

    @property
    def compensation_total(self) -> Decimal:
        return self.programme_variable + self.ordinary + self.adjustments


def centre_account(centre: Centre, year: int) -> CentreAccount:
    activity = programme_activity(centre.organisation_id, year, [centre.pk])
    rows = statements(centre.organisation_id, year, centre=centre)
    fixed = LedgerLeg.objects.filter(
        transaction__grant__organisation_id=centre.organisation_id,
        transaction__grant__year=year,
        transaction__recipient_type=RecipientType.CENTRE,
        transaction__recipient_id=centre.pk,
    ).aggregate(
        # Allocations to the centre net of their reversals (fixed compensation is the only
        # commitment to a centre).
        allocated=Coalesce(Sum("amount", filter=Q(account=Account.ALLOCATED)), ZERO),
        paid=Coalesce(
            Sum(
                "amount",
                filter=Q(account=Account.PAID, transaction__category=PayoutCategory.FIXED),
            ),
            ZERO,
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
    )
