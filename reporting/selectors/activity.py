"""Programme activity and reach (DOMAIN.md 5 and 6), as plain data: what the Socialstyrelsen,
Hälsoval and SKL reports show of the visits and enrolments, and what the programme dashboard
reads. Everything is aggregated in the database, in a fixed number of queries whatever the
data's size; counts stay ints here and the small-number rule (`shown`) is applied where they are
presented.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import ExtractMonth, Lower, Trim

from core.dates import year_bounds
from core.models import Centre
from funding.models import CniValue
from visits.models import (
    ZV509,
    Child,
    Eligibility,
    EndReason,
    Enrolment,
    InterpreterMode,
    SlotKind,
    TemplateSlot,
    Visit,
    VisitStatus,
)

SMALL = 5  # counts of 1–4 children or families are shown as "<5" (DOMAIN.md 5)


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


def programme_activity(
    organisation_id: uuid.UUID, year: int, centre_ids: Iterable[uuid.UUID] | None = None
) -> Activity:
    """Reach and activity of an organisation's programme (or some of its centres) in a year:
    seven queries."""
    first, last = year_bounds(year)
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
    first, last = year_bounds(year)
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
        "last": year_bounds(year)[1],
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
    first, last = year_bounds(year)
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
