"""An enrolment's schedule (API.md "Children and enrolments"): windows are inclusive; `due`
inside the window, `overdue` after it on an active enrolment, `missed` after it on an ended one,
`done` with a completed visit (`late` when after the window)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import Centre, User
from tests.core.factories import CentreFactory
from tests.visits.factories import (
    ChildFactory,
    EnrolmentFactory,
    ProgrammeTemplateFactory,
    log_visit,
    nurse_at,
)
from visits.models import Enrolment, SlotKind, SlotPlace
from visits.selectors import ScheduleEntry, enrolment_schedule, with_schedule, worklist

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 15, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
DAY = datetime.timedelta(days=1)
BORN = datetime.date(2025, 1, 1)
# Slot 2m of the Örebro template: 47–75 days.
DUE_FROM = BORN + 47 * DAY  # 2025-02-17
DUE_TO = BORN + 75 * DAY  # 2025-03-17


@pytest.fixture(autouse=True)
def _frozen_today() -> Iterator[None]:
    with time_machine.travel(NOW):
        yield


@pytest.fixture
def enrolment() -> Enrolment:
    return EnrolmentFactory(child__birth_date=BORN)


def entry(enrolment: Enrolment, key: str, today: datetime.date) -> ScheduleEntry:
    fresh = with_schedule(Enrolment.objects.filter(pk=enrolment.pk)).get()
    (found,) = [e for e in enrolment_schedule(fresh, today=today) if e.slot.key == key]
    return found


def test_schedule_lists_every_slot_with_its_window(enrolment: Enrolment) -> None:
    schedule = enrolment_schedule(enrolment, today=BORN)

    assert [(e.slot.key, e.due_from, e.due_to) for e in schedule] == [
        ("1-2w", BORN + 3 * DAY, BORN + 17 * DAY),
        ("2m", BORN + 47 * DAY, BORN + 75 * DAY),
        ("4m", BORN + 108 * DAY, BORN + 136 * DAY),
        ("8m", BORN + 213 * DAY, BORN + 273 * DAY),
        ("12m", BORN + 335 * DAY, BORN + 395 * DAY),
        ("15m", BORN + 426 * DAY, BORN + 486 * DAY),
    ]


@pytest.mark.parametrize(
    ("today", "status"),
    [
        (DUE_FROM - DAY, "upcoming"),
        (DUE_FROM, "due"),
        (DUE_FROM + DAY, "due"),
        (DUE_TO, "due"),
        (DUE_TO + DAY, "overdue"),
    ],
    ids=["day-before-window", "first-day", "second-day", "last-day", "day-after-window"],
)
def test_status_at_every_edge_of_the_window(
    enrolment: Enrolment, today: datetime.date, status: str
) -> None:
    found = entry(enrolment, "2m", today)

    assert (found.status, found.visit, found.late) == (status, None, False)


def test_status_follows_the_clock_when_today_is_localdate(enrolment: Enrolment) -> None:
    stockholm = ZoneInfo("Europe/Stockholm")
    # 23:30 in Stockholm on the last day of the window is 22:30 UTC: still the last day.
    with time_machine.travel(datetime.datetime.combine(DUE_TO, datetime.time(23, 30), stockholm)):
        assert entry(enrolment, "2m", timezone.localdate()).status == "due"
    with time_machine.travel(
        datetime.datetime.combine(DUE_TO + DAY, datetime.time(0, 30), stockholm)
    ):
        assert entry(enrolment, "2m", timezone.localdate()).status == "overdue"


def test_ended_enrolment_past_the_window_is_missed() -> None:
    ended = EnrolmentFactory(child__birth_date=BORN, ended_on=DUE_FROM + DAY, end_reason="other")

    assert entry(ended, "2m", DUE_TO + DAY).status == "missed"


def test_declined_enrolment_past_the_window_is_missed() -> None:
    declined = EnrolmentFactory(child__birth_date=BORN, accepted_on=None, declined_on=BORN)

    assert entry(declined, "2m", DUE_TO + DAY).status == "missed"


def test_an_ended_enrolment_misses_a_slot_only_once_its_window_has_passed() -> None:
    # API.md: missed is "past due_to, no completed visit" on an ended enrolment.
    ended = EnrolmentFactory(child__birth_date=BORN, ended_on=BORN + DAY, end_reason="moved")

    assert entry(ended, "2m", DUE_FROM - DAY).status == "upcoming"
    assert entry(ended, "2m", DUE_TO).status == "due"
    assert entry(ended, "2m", DUE_TO + DAY).status == "missed"


def test_an_offered_but_not_accepted_enrolment_is_never_overdue() -> None:
    pending = EnrolmentFactory(child__birth_date=BORN, accepted_on=None)

    assert entry(pending, "2m", DUE_FROM - DAY).status == "upcoming"
    assert entry(pending, "2m", DUE_FROM).status == "due"
    assert entry(pending, "2m", DUE_TO + DAY).status == "missed"


def test_completed_visit_in_the_window_makes_the_slot_done_and_not_late(
    enrolment: Enrolment,
) -> None:
    visit = log_visit(enrolment, date=DUE_TO, slot="2m")

    for today in (DUE_FROM, DUE_TO + DAY, NOW.date()):
        found = entry(enrolment, "2m", today)
        assert (found.status, found.visit, found.late) == ("done", visit, False)


def test_completed_visit_after_the_window_is_done_and_late(enrolment: Enrolment) -> None:
    visit = log_visit(enrolment, date=DUE_TO + DAY, slot="2m")

    found = entry(enrolment, "2m", NOW.date())

    assert (found.status, found.visit, found.late) == ("done", visit, True)


def test_completed_visit_on_an_ended_enrolment_is_still_done() -> None:
    ended = EnrolmentFactory(child__birth_date=BORN, ended_on=NOW.date(), end_reason="other")
    log_visit(ended, date=DUE_FROM, slot="2m")

    assert entry(ended, "2m", NOW.date()).status == "done"


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_a_visit_that_did_not_happen_does_not_complete_the_slot(
    enrolment: Enrolment, status: str
) -> None:
    log_visit(enrolment, date=DUE_FROM, slot="2m", status=status)

    found = entry(enrolment, "2m", DUE_TO + DAY)

    assert (found.status, found.visit) == ("overdue", None)


def test_partial_programme_lists_only_its_planned_slots() -> None:
    partial = EnrolmentFactory(
        child__birth_date=BORN, programme="partial", planned_slots=["8m", "2m"]
    )

    schedule = enrolment_schedule(partial, today=NOW.date())

    assert [e.slot.key for e in schedule] == ["2m", "8m"]


# --- The worklist's SQL and TemplateSlot.window() agree -----------------------------------------
windows = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=800),  # earliest
        st.integers(min_value=0, max_value=200),  # target - earliest
        st.integers(min_value=0, max_value=200),  # latest - target
    ),
    min_size=1,
    max_size=4,
)


def test_worklist_windows_equal_the_python_window(db: None) -> None:
    centre: Centre = CentreFactory()
    nurse: User = nurse_at(centre)

    @settings(max_examples=30)
    @given(
        birth=st.dates(min_value=datetime.date(1990, 1, 1), max_value=datetime.date(2090, 12, 31)),
        spans=windows,
        today_offset=st.integers(min_value=0, max_value=1300),
    )
    def check(birth: datetime.date, spans: list[tuple[int, int, int]], today_offset: int) -> None:
        slots = [
            (
                f"s{i}",
                f"Slot {i}",
                SlotKind.EXTRA,
                SlotPlace.HOME,
                earliest + to_target,
                earliest,
                earliest + to_target + to_latest,
            )
            for i, (earliest, to_target, to_latest) in enumerate(spans)
        ]
        today = birth + today_offset * DAY
        with transaction.atomic():
            template = ProgrammeTemplateFactory(organisation=centre.organisation, slots=slots)
            child = ChildFactory(current_centre=centre, birth_date=birth)
            enrolment = EnrolmentFactory(child=child, template=template)

            expected = {}
            for slot in template.slots.all():
                due_from, due_to = slot.window(birth)
                if due_from <= today:
                    status = "overdue" if due_to < today else "due"
                    expected[slot.key] = (due_from, due_to, status)
            rows = {
                row.slot_key: (row.due_from, row.due_to, row.status)
                for row in worklist(nurse, today=today)
            }
            schedule = {
                e.slot.key: (e.due_from, e.due_to, e.status)
                for e in enrolment_schedule(enrolment, today=today)
                if e.status in ("due", "overdue")
            }
            transaction.set_rollback(True)

        assert rows == expected
        assert schedule == expected

    check()
