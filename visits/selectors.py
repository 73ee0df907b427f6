"""Reads: the nurse's worklist (one query in the database) and an enrolment's schedule.

A schedule is never stored: it is the enrolment's template slots against the child's birth date.
`TemplateSlot.window()` does that arithmetic in Python for one enrolment; `worklist()` does the
same in SQL for all of them (`birth_date + earliest_age_days`), so the worklist is one SELECT
with a LIMIT whatever the page size. A test holds the two together.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.expressions import Func

from visits.models import (
    Enrolment,
    TemplateSlot,
    Visit,
    VisitStatus,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.db.models.sql.compiler import SQLCompiler

    from core.models import User


class DatePlusDays(Func):
    """`date + integer` in PostgreSQL: the date that many days later."""

    output_field = models.DateField()

    def as_sql(self, compiler: SQLCompiler, connection: Any, **extra: Any) -> tuple[str, Any]:  # type: ignore[override]
        date_sql, date_params = compiler.compile(self.source_expressions[0])
        days_sql, days_params = compiler.compile(self.source_expressions[1])
        return f"({date_sql} + {days_sql})", (*date_params, *days_params)


class EqualsAny(Func):
    """`value = ANY(array)`."""

    output_field = models.BooleanField()

    def as_sql(self, compiler: SQLCompiler, connection: Any, **extra: Any) -> tuple[str, Any]:  # type: ignore[override]
        value_sql, value_params = compiler.compile(self.source_expressions[0])
        array_sql, array_params = compiler.compile(self.source_expressions[1])
        return f"({value_sql} = ANY({array_sql}))", (*value_params, *array_params)


class ScheduleStatus(models.TextChoices):
    UPCOMING = "upcoming", "Kommande"
    DUE = "due", "Aktuell"
    OVERDUE = "overdue", "Försenad"
    DONE = "done", "Genomförd"
    MISSED = "missed", "Missad"


def worklist(
    user: User | AnonymousUser,
    *,
    today: datetime.date,
    centres: Iterable[uuid.UUID] | None = None,
    status: str | None = None,
    slot: str | None = None,
) -> models.QuerySet[Enrolment]:
    """Slots due or overdue at the user's centres, oldest first: one row per (enrolment, slot)
    of an active enrolment with no completed visit for the slot.

    Rows are Enrolment objects annotated with `slot_key`, `slot_label`, `due_from`, `due_to`
    and `status`, with the child and centre joined in (no query per row)."""
    qs = (
        Enrolment.objects.for_user(user)
        .active()
        .annotate(
            slot_key=F("template__slots__key"),
            slot_label=F("template__slots__label"),
            slot_target=F("template__slots__target_age_days"),
            due_from=DatePlusDays(F("child__birth_date"), F("template__slots__earliest_age_days")),
            due_to=DatePlusDays(F("child__birth_date"), F("template__slots__latest_age_days")),
            in_plan=EqualsAny(F("template__slots__key"), F("planned_slots")),
            slot_done=Exists(
                Visit.objects.filter(
                    enrolment_id=OuterRef("pk"),
                    slot=OuterRef("slot_key"),
                    status=VisitStatus.COMPLETED,
                )
            ),
        )
        .filter(Q(programme="full") | Q(in_plan=True))
        .filter(slot_done=False, due_from__lte=today)
        .annotate(
            status=models.Case(
                models.When(due_to__lt=today, then=models.Value(ScheduleStatus.OVERDUE.value)),
                default=models.Value(ScheduleStatus.DUE.value),
                output_field=models.CharField(),
            )
        )
        .select_related("child", "centre")
        .order_by("due_from", "due_to", "id", "slot_target")
    )
    if centres is not None:
        qs = qs.filter(centre_id__in=list(centres))
    if status == ScheduleStatus.DUE:
        qs = qs.filter(due_to__gte=today)
    elif status == ScheduleStatus.OVERDUE:
        qs = qs.filter(due_to__lt=today)
    if slot:
        qs = qs.filter(slot_key=slot)
    return qs


@dataclass(frozen=True)
class ScheduleEntry:
    slot: TemplateSlot
    due_from: datetime.date
    due_to: datetime.date
    status: str
    visit: Visit | None

    @property
    def late(self) -> bool:
        return self.visit is not None and self.visit.date > self.due_to


def enrolment_schedule(enrolment: Enrolment, *, today: datetime.date) -> list[ScheduleEntry]:
    """The enrolment's slots with their windows and states. Expects `template__slots` and
    `visits` prefetched where many enrolments are read (see `with_schedule()`)."""
    done = {
        v.slot: v for v in enrolment.visits.all() if v.status == VisitStatus.COMPLETED and v.slot
    }
    # API.md: overdue is past the window on an active enrolment, missed the same on an ended
    # (or declined) one. Offered but not yet accepted: a passed window is missed too.
    entries = []
    for slot in enrolment.template.slots.all():
        if not enrolment.includes_slot(slot.key):
            continue
        due_from, due_to = slot.window(enrolment.child.birth_date)
        visit = done.get(slot.key)
        if visit is not None:
            status = ScheduleStatus.DONE
        elif today > due_to:
            status = ScheduleStatus.OVERDUE if enrolment.is_active else ScheduleStatus.MISSED
        elif today >= due_from:
            status = ScheduleStatus.DUE
        else:
            status = ScheduleStatus.UPCOMING
        entries.append(ScheduleEntry(slot, due_from, due_to, status.value, visit))
    return entries


def with_schedule(qs: models.QuerySet[Enrolment]) -> models.QuerySet[Enrolment]:
    return qs.select_related("child", "centre", "template").prefetch_related(
        "template__slots", "visits"
    )


def visits_with_late(qs: models.QuerySet[Visit]) -> models.QuerySet[Visit]:
    """Annotate `slot_due_to` (the last day of the visit's slot window, null for extra visits),
    so `late` needs no query per row."""
    latest = TemplateSlot.objects.filter(
        template_id=OuterRef("enrolment__template_id"), key=OuterRef("slot")
    ).values("latest_age_days")[:1]
    return qs.annotate(
        slot_due_to=DatePlusDays(F("enrolment__child__birth_date"), Subquery(latest))
    )
