"""The nurse's worklist (API.md "Children and enrolments"): slots due or overdue of accepted,
open enrolments at the nurse's centres, oldest first, read in one SELECT with a LIMIT."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from core.models import Centre, Organisation, Role, User
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.visits.factories import (
    EnrolmentFactory,
    ProgrammeTemplateFactory,
    log_visit,
    nurse_at,
)
from visits import selectors
from visits.models import Enrolment, SlotKind, SlotPlace, TemplateSlot
from visits.selectors import worklist

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 15, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
TODAY = NOW.date()
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _frozen_today() -> Iterator[None]:
    with time_machine.travel(NOW):
        yield


@pytest.fixture
def organisation() -> Organisation:
    return OrganisationFactory()


@pytest.fixture
def centre(organisation: Organisation) -> Centre:
    return CentreFactory(organisation=organisation)


@pytest.fixture
def nurse(centre: Centre) -> User:
    return nurse_at(centre)


def enrol(centre: Centre, age_days: int, **kwargs: Any) -> Enrolment:
    """An accepted enrolment at `centre` of a child `age_days` old today."""
    return EnrolmentFactory(
        child__current_centre=centre, child__birth_date=TODAY - age_days * DAY, **kwargs
    )


def rows(user: User, **filters: Any) -> list[tuple[uuid.UUID, str, str]]:
    return [(r.pk, r.slot_key, r.status) for r in worklist(user, today=TODAY, **filters)]


# --- Which enrolments -------------------------------------------------------------------------
def test_only_accepted_open_enrolments_reach_the_worklist(centre: Centre, nurse: User) -> None:
    active = enrol(centre, 60)
    enrol(centre, 60, accepted_on=None)  # offered, no answer yet
    enrol(centre, 60, accepted_on=None, declined_on=TODAY - 59 * DAY)
    enrol(centre, 60, ended_on=TODAY - DAY, end_reason="other")

    assert {enrolment_id for enrolment_id, _, _ in rows(nurse)} == {active.pk}


# --- Which slots ------------------------------------------------------------------------------
def test_only_due_and_overdue_slots_are_listed(centre: Centre, nurse: User) -> None:
    # 60 days old: 1-2w (3–17) overdue, 2m (47–75) due, 4m (108–136) and later upcoming.
    enrolment = enrol(centre, 60)

    assert rows(nurse) == [(enrolment.pk, "1-2w", "overdue"), (enrolment.pk, "2m", "due")]


def test_a_completed_visit_takes_its_slot_off_the_worklist(centre: Centre, nurse: User) -> None:
    enrolment = enrol(centre, 60)
    log_visit(enrolment, nurse, date=TODAY - 50 * DAY, slot="1-2w")

    assert rows(nurse) == [(enrolment.pk, "2m", "due")]


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_a_visit_that_did_not_happen_does_not_complete_the_slot(
    centre: Centre, nurse: User, status: str
) -> None:
    enrolment = enrol(centre, 60)
    log_visit(enrolment, nurse, date=TODAY - 50 * DAY, slot="1-2w", status=status)

    assert rows(nurse) == [(enrolment.pk, "1-2w", "overdue"), (enrolment.pk, "2m", "due")]


def test_an_extra_visit_without_slot_completes_nothing(centre: Centre, nurse: User) -> None:
    enrolment = enrol(centre, 60)
    log_visit(enrolment, nurse, date=TODAY - 50 * DAY)

    assert len(rows(nurse)) == 2


@pytest.mark.parametrize(
    ("age_days", "expected"),
    [(46, None), (47, "due"), (75, "due"), (76, "overdue")],
    ids=["day-before-window", "first-day", "last-day", "day-after-window"],
)
def test_window_edges_on_the_worklist(
    centre: Centre, nurse: User, age_days: int, expected: str | None
) -> None:
    enrolment = enrol(centre, age_days)  # slot 2m: 47–75 days

    found = [status for _, key, status in rows(nurse) if key == "2m"]

    assert found == ([expected] if expected else [])
    assert rows(nurse, slot="2m") == ([(enrolment.pk, "2m", expected)] if expected else [])


def test_partial_programme_lists_only_its_planned_slots(centre: Centre, nurse: User) -> None:
    # 300 days old: 1-2w, 2m, 4m and 8m are overdue.
    enrolment = enrol(centre, 300, programme="partial", planned_slots=["2m", "8m"])

    assert rows(nurse) == [(enrolment.pk, "2m", "overdue"), (enrolment.pk, "8m", "overdue")]


# --- Order and filters ------------------------------------------------------------------------
def test_rows_are_oldest_first_by_due_from_then_due_to(
    organisation: Organisation, centre: Centre, nurse: User
) -> None:
    template = ProgrammeTemplateFactory(
        organisation=organisation,
        slots=[
            # Same window start; b ends first although its target age is later.
            ("a", "A", SlotKind.EXTRA, SlotPlace.HOME, 2, 0, 10),
            ("b", "B", SlotKind.EXTRA, SlotPlace.HOME, 4, 0, 5),
            ("c", "C", SlotKind.EXTRA, SlotPlace.HOME, 2, 2, 3),
        ],
    )
    younger = enrol(centre, 19, template=template)  # created first: order is not insertion
    older = enrol(centre, 20, template=template)

    listed = [(r.pk, r.slot_key, r.due_from, r.due_to) for r in worklist(nurse, today=TODAY)]

    assert listed == [
        (older.pk, "b", TODAY - 20 * DAY, TODAY - 15 * DAY),
        (older.pk, "a", TODAY - 20 * DAY, TODAY - 10 * DAY),
        (younger.pk, "b", TODAY - 19 * DAY, TODAY - 14 * DAY),
        (younger.pk, "a", TODAY - 19 * DAY, TODAY - 9 * DAY),
        (older.pk, "c", TODAY - 18 * DAY, TODAY - 17 * DAY),
        (younger.pk, "c", TODAY - 17 * DAY, TODAY - 16 * DAY),
    ]


def test_status_filter(centre: Centre, nurse: User) -> None:
    enrolment = enrol(centre, 60)

    assert rows(nurse, status="due") == [(enrolment.pk, "2m", "due")]
    assert rows(nurse, status="overdue") == [(enrolment.pk, "1-2w", "overdue")]


def test_slot_filter(centre: Centre, nurse: User) -> None:
    first = enrol(centre, 60)
    second = enrol(centre, 300)

    assert rows(nurse, slot="2m") == [(second.pk, "2m", "overdue"), (first.pk, "2m", "due")]
    assert rows(nurse, slot="15m") == []


def test_centre_filter(organisation: Organisation, centre: Centre) -> None:
    second_centre = CentreFactory(organisation=organisation)
    nurse = nurse_at(centre)
    member(Role.NURSE, centre=second_centre, user=nurse)
    here = enrol(centre, 60)
    there = enrol(second_centre, 60)
    foreign_centre = CentreFactory()
    enrol(foreign_centre, 60)

    assert {r[0] for r in rows(nurse)} == {here.pk, there.pk}
    assert {r[0] for r in rows(nurse, centres=[centre.pk])} == {here.pk}
    assert {r[0] for r in rows(nurse, centres=[second_centre.pk])} == {there.pk}
    assert rows(nurse, centres=[foreign_centre.pk]) == []


# --- Scope ------------------------------------------------------------------------------------
def test_other_centres_and_organisations_never_appear(
    organisation: Organisation, centre: Centre, nurse: User
) -> None:
    colleague_centre = CentreFactory(organisation=organisation)
    other_organisation_centre = CentreFactory()
    mine = enrol(centre, 60)
    colleagues = enrol(colleague_centre, 60)
    outsiders = enrol(other_organisation_centre, 60)

    assert {r[0] for r in rows(nurse)} == {mine.pk}
    assert {r[0] for r in rows(nurse_at(colleague_centre))} == {colleagues.pk}
    assert {r[0] for r in rows(nurse_at(other_organisation_centre))} == {outsiders.pk}


def test_the_centre_manager_sees_the_worklist_and_cbhv_does_not(
    organisation: Organisation, centre: Centre
) -> None:
    enrolment = enrol(centre, 60)
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    cbhv = member(Role.CBHV, organisation=organisation)

    assert {r[0] for r in rows(manager)} == {enrolment.pk}
    assert rows(cbhv) == []


def test_a_moved_child_leaves_the_old_centres_worklist(
    organisation: Organisation, centre: Centre, nurse: User
) -> None:
    from visits.services import enrolment_end

    enrolment = enrol(centre, 60)
    new_centre = CentreFactory(organisation=organisation)

    enrolment_end(
        user=nurse, enrolment=enrolment, ended_on=TODAY, reason="moved", moved_to=new_centre
    )

    assert rows(nurse) == []
    assert rows(nurse_at(new_centre)) == []  # until the new centre enrols the child


# --- One query --------------------------------------------------------------------------------
def test_a_page_of_a_long_worklist_is_one_select_with_a_limit(
    centre: Centre, nurse: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20 children of 600 days: all six Örebro slots overdue, 120 rows.
    for _ in range(20):
        enrol(centre, 600)
    assert worklist(nurse, today=TODAY).count() == 120
    nurse = User.objects.get(pk=nurse.pk)  # a fresh user: scope not loaded yet

    def no_python_schedule(*args: object, **kwargs: object) -> None:
        raise AssertionError("the worklist must not build schedules in Python")

    monkeypatch.setattr(TemplateSlot, "window", no_python_schedule)
    monkeypatch.setattr(selectors, "enrolment_schedule", no_python_schedule)

    with CaptureQueriesContext(connection) as queries:
        qs = worklist(nurse, today=TODAY)
        page = list(qs[:50])
        shown = [(r.child.masked, r.centre.name, r.slot_label, r.due_from) for r in page]

    assert isinstance(qs, QuerySet)
    assert len(shown) == 50
    sql = [q["sql"] for q in queries.captured_queries]
    enrolment_queries = [s for s in sql if "visits_enrolment" in s]
    assert len(enrolment_queries) == 1, sql
    assert enrolment_queries[0].lstrip().upper().startswith("SELECT")
    assert enrolment_queries[0].rstrip().endswith("LIMIT 50"), enrolment_queries[0]
    others = [s for s in sql if "visits_enrolment" not in s]
    assert all("core_membership" in s for s in others), others
    assert len(sql) <= 2


def test_one_row_and_fifty_rows_take_the_same_number_of_queries(
    centre: Centre, nurse: User
) -> None:
    def count() -> int:
        user = User.objects.get(pk=nurse.pk)
        with CaptureQueriesContext(connection) as queries:
            shown = [(r.child.masked, r.centre.name) for r in worklist(user, today=TODAY)[:50]]
        assert shown
        return len(queries.captured_queries)

    enrol(centre, 10)  # 1-2w only: one row
    assert worklist(nurse, today=TODAY).count() == 1
    one = count()
    for _ in range(10):
        enrol(centre, 600)

    assert worklist(nurse, today=TODAY).count() == 61
    assert count() == one
