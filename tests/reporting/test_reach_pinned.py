"""Reach as the reports count it (DOMAIN.md 6: offered, accepted, enrolled, completed), pinned on
hand-made families whose four counts all differ, so that counting one figure as another, or
moving a year boundary by a day, changes a number (issue 23, item 5).

The families of 2025 (X is the only centre; the Örebro template of seed 004, last window
closing at 486 days):

    family  offered     accepted    declined    ended                   basis
    A       2025-01-01  2025-01-10                                      risk
    B       2025-03-01  2025-03-05              2025-06-01 (moved)      first-time
    C       2025-12-31  2025-12-31                                      first-time
    D       2025-05-01              2025-05-03                          risk, first in Sweden
    E       2025-12-20  2026-01-05                                      all three
    F       2024-12-31  2025-01-02                                      first in Sweden
    G       2023-06-10  2023-06-10              2025-01-01 (moved)      first-time
    H       2023-06-10  2023-06-10              2024-12-31 (moved)      first-time
    I       2024-01-02  2024-01-05              2025-04-15 (completed)  first-time
    J       2026-01-01  2026-01-01                                      first-time

(I has a completed visit at every slot of the template.)

2025: offered A B C D E (5); accepted A B C F (4); enrolled at some time of the year A B C F G I
(6: G's enrolment ends on 1 January, H's ended on 31 December before); of the children whose
programme should be done by 2025-12-31 (G, H, I: 3), I completed every slot (1).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
import time_machine

from core.models import Centre
from reporting.selectors import programme_activity, programme_details, reach_by_basis
from tests.core.factories import CentreFactory
from tests.visits.factories import SLOTS, ChildFactory, EnrolmentFactory, log_visit, nurse_at
from visits.models import Enrolment

pytestmark = pytest.mark.django_db

# "Today" after every date of the data, so each visit is in the past when it is logged.
NOW = datetime.datetime(2026, 2, 1, 12, 0, tzinfo=datetime.UTC)
RISK, FIRST_TIME, FIRST_IN_SWEDEN = "risk_factors", "first_time_parents", "first_child_in_sweden"


def d(year: int, month: int, day: int) -> datetime.date:
    return datetime.date(year, month, day)


def family(
    centre: Centre,
    *,
    born: datetime.date,
    offered: datetime.date,
    accepted: datetime.date | None = None,
    declined: datetime.date | None = None,
    ended: datetime.date | None = None,
    reason: str = "",
    basis: list[str] | None = None,
) -> Enrolment:
    return EnrolmentFactory(
        child=ChildFactory(current_centre=centre, birth_date=born),
        offered_on=offered,
        accepted_on=accepted,
        declined_on=declined,
        ended_on=ended,
        end_reason=reason,
        eligibility=basis or [FIRST_TIME],
    )


@pytest.fixture(autouse=True)
def _after_the_data() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def x() -> Centre:
    x = CentreFactory(name="X")
    f = family
    f(x, born=d(2024, 12, 28), offered=d(2025, 1, 1), accepted=d(2025, 1, 10), basis=[RISK])  # A
    f(
        x,
        born=d(2025, 2, 20),
        offered=d(2025, 3, 1),
        accepted=d(2025, 3, 5),
        ended=d(2025, 6, 1),
        reason="moved",
    )  # B
    f(x, born=d(2025, 12, 20), offered=d(2025, 12, 31), accepted=d(2025, 12, 31))  # C
    f(
        x,
        born=d(2025, 4, 25),
        offered=d(2025, 5, 1),
        declined=d(2025, 5, 3),
        basis=[RISK, FIRST_IN_SWEDEN],
    )  # D
    f(
        x,
        born=d(2025, 12, 10),
        offered=d(2025, 12, 20),
        accepted=d(2026, 1, 5),
        basis=[RISK, FIRST_TIME, FIRST_IN_SWEDEN],
    )  # E
    f(
        x,
        born=d(2024, 12, 10),
        offered=d(2024, 12, 31),
        accepted=d(2025, 1, 2),
        basis=[FIRST_IN_SWEDEN],
    )  # F
    for ended in (d(2025, 1, 1), d(2024, 12, 31)):  # G, H
        f(
            x,
            born=d(2023, 6, 1),
            offered=d(2023, 6, 10),
            accepted=d(2023, 6, 10),
            ended=ended,
            reason="moved",
        )
    i = f(
        x,
        born=d(2024, 1, 1),
        offered=d(2024, 1, 2),
        accepted=d(2024, 1, 5),
        ended=d(2025, 4, 15),
        reason="completed",
    )
    nurse = nurse_at(x)
    for key, _label, _kind, _place, target_days, _earliest, _latest in SLOTS:
        # 2024-01-11, 2024-03-02, 2024-05-02, 2024-08-31, 2024-12-31 and 2025-04-01.
        log_visit(i, nurse, date=d(2024, 1, 1) + datetime.timedelta(days=target_days), slot=key)
    f(x, born=d(2025, 12, 28), offered=d(2026, 1, 1), accepted=d(2026, 1, 1))  # J
    return x


def test_offered_accepted_enrolled_and_completed_are_four_different_counts(x: Centre) -> None:
    activity = programme_activity(x.organisation_id, 2025)
    completion = programme_details(x.organisation_id, 2025).completion

    assert activity.offered == 5
    assert activity.accepted == 4
    assert activity.children_enrolled == 6
    assert (completion.cohort, completion.completed_all) == (3, 1)


def test_the_year_before_counts_its_own_offers_and_the_enrolment_ending_on_31_december(
    x: Centre,
) -> None:
    activity = programme_activity(x.organisation_id, 2024)
    completion = programme_details(x.organisation_id, 2024).completion

    # Offered F (31 December) and I; accepted I; enrolled G, H and I; nobody's programme due.
    assert (activity.offered, activity.accepted, activity.children_enrolled) == (2, 1, 3)
    assert (completion.cohort, completion.completed_all) == (2, 0)


def test_reach_by_basis_counts_offers_and_acceptances_of_the_year_per_basis(x: Centre) -> None:
    by_basis = reach_by_basis(x.organisation_id, 2025)

    # Risk factors: offered A D E, accepted A. First-time parents: offered B C E, accepted B C.
    # First child in Sweden: offered D E, accepted F (offered the year before).
    assert [(r.basis, r.offered, r.accepted) for r in by_basis] == [
        (RISK, 3, 1),
        (FIRST_TIME, 3, 2),
        (FIRST_IN_SWEDEN, 2, 1),
    ]


def test_an_enrolment_ending_on_1_january_is_enrolled_that_year() -> None:
    x = CentreFactory()
    family(
        x,
        born=d(2023, 6, 1),
        offered=d(2023, 6, 10),
        accepted=d(2023, 6, 10),
        ended=d(2025, 1, 1),
        reason="moved",
    )

    assert programme_activity(x.organisation_id, 2025).children_enrolled == 1
    assert programme_activity(x.organisation_id, 2026).children_enrolled == 0


def test_an_enrolment_ending_on_31_december_is_not_enrolled_the_next_year() -> None:
    x = CentreFactory()
    family(
        x,
        born=d(2023, 6, 1),
        offered=d(2023, 6, 10),
        accepted=d(2023, 6, 10),
        ended=d(2024, 12, 31),
        reason="moved",
    )

    assert programme_activity(x.organisation_id, 2024).children_enrolled == 1
    assert programme_activity(x.organisation_id, 2025).children_enrolled == 0


def test_an_enrolment_accepted_on_31_december_is_enrolled_that_year_and_not_the_year_before() -> (
    None
):
    x = CentreFactory()
    family(x, born=d(2025, 12, 20), offered=d(2025, 12, 31), accepted=d(2025, 12, 31))

    assert programme_activity(x.organisation_id, 2025).children_enrolled == 1
    assert programme_activity(x.organisation_id, 2024).children_enrolled == 0


def test_a_child_enrolled_twice_in_the_year_is_one_child_enrolled() -> None:
    """A family that moves gets a new enrolment at the new centre: still one child."""
    x = CentreFactory()
    y = CentreFactory(organisation=x.organisation)
    first = family(
        x,
        born=d(2024, 11, 1),
        offered=d(2024, 11, 5),
        accepted=d(2024, 11, 5),
        ended=d(2025, 5, 1),
        reason="moved",
    )
    EnrolmentFactory(
        child=first.child, centre=y, offered_on=d(2025, 5, 2), accepted_on=d(2025, 5, 2)
    )

    activity = programme_activity(x.organisation_id, 2025)

    assert (activity.offered, activity.accepted, activity.children_enrolled) == (1, 1, 1)


def test_cooperation_and_contacts_count_the_completed_visits_that_had_them() -> None:
    x = CentreFactory()
    enrolment = family(x, born=d(2025, 1, 1), offered=d(2025, 1, 5), accepted=d(2025, 1, 5))
    nurse = nurse_at(x)
    for month, participants, contacts in (
        (2, ["dental"], ["preschool", "dental"]),
        (3, ["dental", "preschool"], ["social_services"]),
        (4, ["maternal_health"], ["maternal_health"]),
        (5, [], []),
    ):
        log_visit(
            enrolment,
            nurse,
            date=d(2025, month, 1),
            participants=participants,
            contacts_started=contacts,
        )
    for status in ("cancelled", "no_show"):
        log_visit(enrolment, nurse, date=d(2025, 6, 1), status=status)

    activity = programme_activity(x.organisation_id, 2025)

    assert (activity.completed_visits, activity.home_visits) == (4, 4)
    assert (activity.with_dental, activity.with_preschool, activity.with_maternal_health) == (
        2,
        1,
        1,
    )
    assert activity.contacts_started == {
        "preschool": 1,
        "maternal_health": 1,
        "dental": 1,
        "social_services": 1,
    }
