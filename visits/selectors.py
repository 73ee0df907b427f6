"""Reads: a child's data within the user's scope and logged, the nurse's worklist (one query in
the database) and an enrolment's schedule.

**Reads of a child's data** (Patientdatalagen; DOMAIN.md 7) go through this module and nowhere
else: views never reach `Child`, `Enrolment` or `Visit` through `.objects` (a test holds them to
it), so a new view cannot forget the access log. `*_for_read()` finds one object within the
user's scope (404 outside, nothing in the access log; an object that exists outside the scope
goes to the security log, `visits.security_log`) and logs the read; `*_for_change()` finds it for a
write, whose service logs the write; `read_page()` paginates a list and logs every child on the
page in one insert; `record_read()` logs what a write's answer shows when nothing was written (a
form shown again, a PATCH that changed nothing). The care unit of each row is the centre through
which the child is in the user's scope: a child's current centre, or the centre that made the
enrolment or visit (history stays where it was made).

**Schedules** are never stored: an enrolment's template slots against the child's birth date.
`TemplateSlot.window()` does that arithmetic in Python for one enrolment; `worklist()` does the
same in SQL for all of them (`birth_date + earliest_age_days`), so the worklist is one SELECT
with a LIMIT whatever the page size. A test holds the two together.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from django.db import models
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import Func
from django.http import Http404

from core.models import Centre, Role
from core.scoping import scope_of
from visits.access_log import log_children
from visits.extension import describer_select_related
from visits.models import (
    CHILD_ROLES,
    AccessAction,
    Child,
    Enrolment,
    ProgrammeTemplate,
    TemplateSlot,
    Visit,
    VisitStatus,
)
from visits.security_log import log_denied_read

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


def is_nurse_at(*, user: User, centre_id: uuid.UUID) -> bool:
    """A nurse of the centre: the role that changes children's data, enrolments and visits
    there (API.md, "Who sees a child"); centre managers read. No query (the scope is loaded)."""
    return scope_of(user).has_role_at(Role.NURSE, centre_id=centre_id)


def has_role_at(*, user: User, role: str, centre_id: uuid.UUID) -> bool:
    """The user holds `role` at the centre (in force). No query (the scope is loaded)."""
    return scope_of(user).has_role_at(role, centre_id=centre_id)


def child_centre_ids(user: User | AnonymousUser) -> set[uuid.UUID]:
    """The centres where the user works with children (nurse or centre manager): whose children
    she sees. No query."""
    return set(scope_of(user).centre_ids(*CHILD_ROLES))


def nurse_centre_ids(user: User | AnonymousUser) -> set[uuid.UUID]:
    """The centres where the user is a nurse (changes children's data there). No query."""
    return set(scope_of(user).centre_ids(Role.NURSE))


def works_at_several_centres(user: User | AnonymousUser) -> bool:
    """More than one centre's children: lists then offer a centre filter and name the centre."""
    return len(child_centre_ids(user)) > 1


def child_visible(*, user: User | AnonymousUser, child: Child) -> bool:
    """The child's page is in the user's scope (its current centre is one of hers)."""
    return child.current_centre_id in child_centre_ids(user)


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


# --- Reads of a child's data: scoped, and logged -------------------------------------------------
ChildData = Child | Enrolment | Visit
Row = TypeVar("Row", bound=ChildData)


class Paged(Protocol):
    """A page of rows (visits.views.Page, or the API's `Rows`)."""

    @property
    def rows(self) -> Sequence[Any]: ...


P = TypeVar("P", bound=Paged)


@dataclass(frozen=True)
class Rows:
    rows: list[Any]


def _entry(row: ChildData) -> tuple[Child, uuid.UUID | None]:
    """The child a row shows, and the care unit through which it is in the user's scope."""
    if isinstance(row, Child):
        return row, row.current_centre_id
    if isinstance(row, Enrolment):
        return row.child, row.centre_id
    return row.enrolment.child, row.centre_id


def record_read(*, user: User, rows: Iterable[ChildData], what: str) -> None:
    """Log each child shown by `rows` as read by `user`: one insert, one row per child."""
    log_children(
        user=user, action=AccessAction.READ, entries=[_entry(row) for row in rows], what=what
    )


def read_page(
    *, user: User, rows: QuerySet[Row], what: str, paginate: Callable[[QuerySet[Row]], P]
) -> P:
    """One page of `rows` (scoped by one of the list selectors below, then filtered), with
    every child on it logged as read in one insert (lists count as reads of every child shown).
    """
    page = paginate(rows)
    record_read(user=user, rows=page.rows, what=what)
    return page


def _children(user: User | AnonymousUser) -> QuerySet[Child]:
    return Child.objects.for_user(user).select_related("current_centre", "organisation")


def _enrolments(user: User | AnonymousUser) -> QuerySet[Enrolment]:
    return with_schedule(Enrolment.objects.for_user(user))


def _visits(user: User | AnonymousUser) -> QuerySet[Visit]:
    return visits_with_late(
        Visit.objects.for_user(user).select_related(
            "enrolment__child",
            "enrolment__template",
            "centre",
            "nurse",
            *describer_select_related(),
        )
    )


def _in_scope_or_404(
    scoped: QuerySet[Row], *, user: User | AnonymousUser, pk: uuid.UUID, kind: str
) -> Row:
    """The object `pk` of `scoped` (the user's scope), or 404. An object that exists outside
    the scope answers the same 404 as a missing one (API.md), and the attempt is written to
    the security log; a missing id is not."""
    try:
        return scoped.get(pk=pk)
    except scoped.model.DoesNotExist:
        pass
    if scoped.model._default_manager.filter(pk=pk).exists():
        log_denied_read(user=user, kind=kind, object_id=pk)
    raise Http404(f"No {kind} matches the given query.")


def child_for_read(*, user: User, pk: uuid.UUID, what: str = "child") -> Child:
    """A child whose current centre is one of the user's (404 otherwise), its read logged."""
    child = child_for_change(user=user, pk=pk)
    record_read(user=user, rows=[child], what=what)
    return child


def child_for_change(*, user: User, pk: uuid.UUID) -> Child:
    """A child in the user's scope (404 otherwise) for a write; the service logs the write."""
    return _in_scope_or_404(_children(user), user=user, pk=pk, kind="child")


def child_in_scope(*, user: User, pk: uuid.UUID | str) -> Child | None:
    """The child of an id given in a form or body, if it is in the user's scope (not logged:
    the caller writes through a service, or says only that it exists)."""
    return _children(user).filter(pk=pk).first()


def enrolment_for_read(*, user: User, pk: uuid.UUID, what: str = "enrolment") -> Enrolment:
    """An enrolment made at one of the user's centres (404 otherwise), with its schedule's
    template and visits; the read of its child logged."""
    enrolment = enrolment_for_change(user=user, pk=pk)
    record_read(user=user, rows=[enrolment], what=what)
    return enrolment


def enrolment_for_change(*, user: User, pk: uuid.UUID) -> Enrolment:
    return _in_scope_or_404(_enrolments(user), user=user, pk=pk, kind="enrolment")


def enrolment_for_visit_log(*, user: User, pk: uuid.UUID | str) -> Enrolment | None:
    """An enrolment of a centre where the user is a nurse (a centre manager there reads its
    visits but does not log them), for a new visit; None outside."""
    return (
        Enrolment.objects.for_user(user, Role.NURSE)
        .select_related("child", "template", "centre")
        .filter(pk=pk)
        .first()
    )


def visit_for_read(*, user: User, pk: uuid.UUID, what: str = "visit") -> Visit:
    """A visit made at one of the user's centres (404 otherwise), with `slot_due_to`
    (`visits_with_late`); the read of its child logged."""
    visit = visit_for_change(user=user, pk=pk)
    record_read(user=user, rows=[visit], what=what)
    return visit


def visit_for_change(*, user: User, pk: uuid.UUID) -> Visit:
    return _in_scope_or_404(_visits(user), user=user, pk=pk, kind="visit")


def visit_as_saved(*, visit: Visit) -> Visit:
    """A visit as it is stored after a write, with what its answer shows (`late`, what the
    higher apps describe). The write is logged by its service; this is its answer."""
    return (
        visits_with_late(Visit.objects.filter(pk=visit.pk))
        .select_related("nurse", *describer_select_related())
        .get()
    )


# Lists: scoped QuerySets to filter and hand to `read_page()`.
def children_for_list(*, user: User | AnonymousUser) -> QuerySet[Child]:
    return Child.objects.for_user(user).select_related("current_centre")


def enrolments_for_list(*, user: User | AnonymousUser) -> QuerySet[Enrolment]:
    return Enrolment.objects.for_user(user).select_related("child")


def visits_for_list(*, user: User | AnonymousUser) -> QuerySet[Visit]:
    """Visits made at the user's centres, with `slot_due_to` and the slot's `slot_label`."""
    slot_label = TemplateSlot.objects.filter(
        template_id=OuterRef("enrolment__template_id"), key=OuterRef("slot")
    ).values("label")[:1]
    return visits_with_late(
        Visit.objects.for_user(user).select_related(
            "enrolment__child", "centre", "nurse", *describer_select_related()
        )
    ).annotate(slot_label=Subquery(slot_label))


def child_enrolments(*, user: User, child: Child) -> list[Enrolment]:
    """The child's enrolments made at the user's centres, newest first (shown with the child,
    whose read is logged)."""
    return list(
        Enrolment.objects.for_user(user)
        .filter(child=child)
        .select_related("centre", "template")
        .order_by("-offered_on", "-created_at")
    )


def child_has_open_enrolment(child: Child) -> bool:
    return child.enrolments.filter(ended_on__isnull=True, declined_on__isnull=True).exists()


# --- Choices around a child: centres and templates ---------------------------------------------
def child_centres(user: User | AnonymousUser) -> QuerySet[Centre]:
    """The centres where the user works with children (nurse or centre manager)."""
    return Centre.objects.filter(pk__in=child_centre_ids(user))


def templates_for_child(*, user: User, child: Child) -> QuerySet[ProgrammeTemplate]:
    """The current programme templates that the child can be enrolled in: its organisation's."""
    return (
        ProgrammeTemplate.objects.for_user(user)
        .current()
        .filter(organisation_id=child.organisation_id)
        .prefetch_related("slots")
    )


def move_destinations(*, enrolment: Enrolment) -> QuerySet[Centre]:
    """The active centres a child can move to when its enrolment ends: the others of its
    organisation."""
    return Centre.objects.filter(
        organisation_id=enrolment.child.organisation_id, active=True
    ).exclude(pk=enrolment.centre_id)
