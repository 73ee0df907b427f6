"""Which centres have fixed compensation on a date (API.md): the application for the date's
year was approved, effective_from ≤ D, and it was not withdrawn on or before D. The money
work decides per visit date from this, so every edge is pinned here."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from core.models import Role
from funding.applications import (
    application_approve,
    application_reject,
    application_request_changes,
    application_submit,
    application_withdraw,
)
from funding.models import Application, ApplicationStatus
from funding.selectors import centres_with_fixed_compensation, has_fixed_compensation
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import draft

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
YEAR = 2026
ONE_DAY = datetime.timedelta(days=1)


def d(month: int, day: int, year: int = YEAR) -> datetime.date:
    return datetime.date(year, month, day)


def noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, 12, 0, tzinfo=STOCKHOLM)


@pytest.fixture(autouse=True)
def _early_in_the_year():
    """Applications are made "today": early in the year, so every date of it lies ahead."""
    with time_machine.travel(noon(d(1, 10)), tick=False):
        yield


@pytest.fixture
def org():
    return OrganisationFactory()


@pytest.fixture
def cbhv(org):
    return member(Role.CBHV, organisation=org)


class Centre:
    """A centre with its manager, and what it takes to bring its application somewhere."""

    def __init__(self, org, cbhv) -> None:
        self.centre = CentreFactory(organisation=org)
        self.manager = member(Role.CENTRE_MANAGER, centre=self.centre)
        self.cbhv = cbhv

    def submitted(self, year: int = YEAR, start: datetime.date | None = None) -> Application:
        app = draft(self.centre, by=self.manager, year=year, start_date=start or d(1, 1, year))
        return application_submit(user=self.manager, application=app)

    def approved(
        self,
        *,
        on: datetime.date | None = None,
        effective_from: datetime.date | None = None,
        start: datetime.date | None = None,
        year: int = YEAR,
    ) -> Application:
        app = self.submitted(year, start)
        with time_machine.travel(noon(on or d(1, 10)), tick=False):
            return application_approve(
                user=self.cbhv, application=app, effective_from=effective_from
            )

    def withdraw(self, app: Application, at: datetime.datetime) -> Application:
        with time_machine.travel(at, tick=False):
            return application_withdraw(user=self.manager, application=app)

    def fixed(self, day: datetime.date) -> bool:
        has = has_fixed_compensation(self.centre, day)
        # The bulk form answers the same, for this centre and among all.
        assert (self.centre.pk in centres_with_fixed_compensation(day)) == has
        assert (self.centre.pk in centres_with_fixed_compensation(day, [self.centre.pk])) == has
        return has


@pytest.fixture
def centre(org, cbhv):
    return Centre(org, cbhv)


@pytest.fixture
def other(org, cbhv):
    return Centre(org, cbhv)


def days_of(year: int = YEAR) -> list[datetime.date]:
    """The first, the 15th and the last day of every month (a query each, so not all 365)."""
    days = []
    for month in range(1, 13):
        first = d(month, 1, year)
        last = (d(month + 1, 1, year) if month < 12 else d(1, 1, year + 1)) - ONE_DAY
        days += [first, d(month, 15, year), last]
    return days


# --- Approved -------------------------------------------------------------------------------
def test_fixed_compensation_begins_on_the_effective_date(centre):
    centre.approved(effective_from=d(4, 10))

    assert not centre.fixed(d(4, 9))
    assert centre.fixed(d(4, 10))
    assert centre.fixed(d(4, 11))


def test_by_default_it_begins_on_the_decision_date(centre):
    centre.approved(on=d(3, 5), start=d(2, 1))

    assert not centre.fixed(d(3, 4))
    assert centre.fixed(d(3, 5))


def test_by_default_it_begins_on_a_later_planned_start(centre):
    centre.approved(on=d(3, 5), start=d(5, 1))

    assert not centre.fixed(d(4, 30))
    assert centre.fixed(d(5, 1))


def test_the_decision_date_is_the_stockholm_date(centre):
    app = centre.submitted(start=d(1, 1))
    # 00:30 on 1 April in Stockholm is still 31 March in UTC.
    with time_machine.travel(datetime.datetime(YEAR, 4, 1, 0, 30, tzinfo=STOCKHOLM), tick=False):
        application_approve(user=centre.cbhv, application=app)

    assert not centre.fixed(d(3, 31))
    assert centre.fixed(d(4, 1))


def test_it_lasts_to_the_end_of_the_year_and_not_into_the_next(centre):
    centre.approved(effective_from=d(1, 1))

    assert not centre.fixed(d(12, 31, YEAR - 1))
    assert centre.fixed(d(1, 1))
    assert centre.fixed(d(12, 31))
    assert not centre.fixed(d(1, 1, YEAR + 1))


def test_it_holds_on_exactly_the_days_from_the_effective_date_to_new_years_eve(centre):
    centre.approved(effective_from=d(9, 15))

    days = [d(9, 14), d(9, 15), *days_of()]

    assert {day for day in days if has_fixed_compensation(centre.centre, day)} == {
        day for day in days if day >= d(9, 15)
    }


# --- Withdrawn -------------------------------------------------------------------------------
def test_it_ends_the_day_before_the_withdrawal(centre):
    app = centre.approved(effective_from=d(2, 1))

    centre.withdraw(app, noon(d(8, 20)))

    assert centre.fixed(d(2, 1))
    assert centre.fixed(d(8, 19))
    assert not centre.fixed(d(8, 20))
    assert not centre.fixed(d(8, 21))
    assert not centre.fixed(d(12, 31))


def test_a_withdrawal_late_in_the_evening_counts_on_its_stockholm_day(centre):
    app = centre.approved(effective_from=d(2, 1))

    # 23:30 in Stockholm on 20 August is 21:30 UTC the same day.
    centre.withdraw(app, datetime.datetime(YEAR, 8, 20, 23, 30, tzinfo=STOCKHOLM))

    assert centre.fixed(d(8, 19))
    assert not centre.fixed(d(8, 20))


def test_a_withdrawal_just_after_midnight_counts_on_its_stockholm_day(centre):
    app = centre.approved(effective_from=d(2, 1))

    # 00:30 in Stockholm on 21 August is still 20 August in UTC.
    centre.withdraw(app, datetime.datetime(YEAR, 8, 21, 0, 30, tzinfo=STOCKHOLM))

    assert centre.fixed(d(8, 20))
    assert not centre.fixed(d(8, 21))


def test_a_withdrawal_on_the_effective_date_gives_no_day(centre):
    app = centre.approved(effective_from=d(5, 1))

    centre.withdraw(app, noon(d(5, 1)))

    assert not centre.fixed(d(5, 1))
    assert not any(has_fixed_compensation(centre.centre, day) for day in days_of())


def test_a_withdrawal_before_the_effective_date_gives_no_day(centre):
    app = centre.approved(on=d(1, 10), start=d(6, 1))

    centre.withdraw(app, noon(d(3, 1)))

    assert not any(has_fixed_compensation(centre.centre, day) for day in days_of())


def test_a_withdrawal_stored_directly_is_read_the_same_way(centre):
    app = centre.approved(effective_from=d(2, 1))
    Application.objects.filter(pk=app.pk).update(
        status=ApplicationStatus.WITHDRAWN,
        withdrawn_at=noon(d(10, 1)),
        withdrawn_on=d(10, 1),
    )

    assert centre.fixed(d(9, 30))
    assert not centre.fixed(d(10, 1))


# --- Never --------------------------------------------------------------------------------
def never(centre) -> None:
    assert not any(has_fixed_compensation(centre.centre, day) for day in days_of())
    assert not any(has_fixed_compensation(centre.centre, day) for day in days_of(YEAR + 1))


def test_a_draft_never_gives_fixed_compensation(centre):
    draft(centre.centre, by=centre.manager, year=YEAR)

    never(centre)


def test_a_submitted_application_never_does(centre):
    centre.submitted()

    never(centre)


def test_an_application_sent_back_for_changes_never_does(centre):
    application_request_changes(user=centre.cbhv, application=centre.submitted(), comment="Mer")

    never(centre)


def test_a_rejected_application_never_does(centre):
    application_reject(user=centre.cbhv, application=centre.submitted(), reason="Nej")

    never(centre)


def test_an_application_withdrawn_before_any_decision_never_does(centre):
    centre.withdraw(centre.submitted(), noon(d(6, 1)))

    never(centre)


def test_a_centre_without_an_application_never_does(centre):
    never(centre)
    assert centres_with_fixed_compensation(d(6, 1)) == set()


# --- Whose and which year -----------------------------------------------------------------
def test_another_centres_approval_does_not_count(centre, other):
    centre.approved(effective_from=d(1, 1))

    assert not other.fixed(d(6, 1))
    assert centres_with_fixed_compensation(d(6, 1)) == {centre.centre.pk}
    assert centres_with_fixed_compensation(d(6, 1), [other.centre.pk]) == set()


def test_a_centre_of_another_organisation_is_its_own(centre):
    stranger = Centre(OrganisationFactory(), None)
    stranger.cbhv = member(Role.CBHV, organisation=stranger.centre.organisation)
    stranger.approved(effective_from=d(3, 1))

    assert not centre.fixed(d(6, 1))
    assert stranger.fixed(d(6, 1))


def test_next_years_application_does_not_count_this_year(centre):
    centre.approved(year=YEAR + 1, start=d(1, 1, YEAR + 1))

    assert not centre.fixed(d(12, 31))
    assert centre.fixed(d(1, 1, YEAR + 1))
    assert centre.fixed(d(12, 31, YEAR + 1))
    assert not centre.fixed(d(1, 1, YEAR + 2))


def test_each_year_is_decided_by_its_own_application(centre):
    this_year = centre.approved(effective_from=d(3, 1))
    centre.submitted(year=YEAR + 1, start=d(1, 1, YEAR + 1))  # not decided
    centre.withdraw(this_year, noon(d(11, 1)))

    assert centre.fixed(d(10, 31))
    assert not centre.fixed(d(11, 1))
    assert not centre.fixed(d(2, 1, YEAR + 1))


def test_the_bulk_answer_lists_exactly_the_centres_with_fixed_compensation(
    org, cbhv, centre, other
):
    third = Centre(org, cbhv)
    centre.approved(effective_from=d(2, 1))
    withdrawn = other.approved(effective_from=d(2, 1))
    other.withdraw(withdrawn, noon(d(7, 1)))
    third.approved(effective_from=d(9, 1))

    assert centres_with_fixed_compensation(d(1, 31)) == set()
    assert centres_with_fixed_compensation(d(6, 30)) == {centre.centre.pk, other.centre.pk}
    assert centres_with_fixed_compensation(d(7, 1)) == {centre.centre.pk}
    assert centres_with_fixed_compensation(d(9, 1)) == {centre.centre.pk, third.centre.pk}
    assert centres_with_fixed_compensation(d(9, 1), [third.centre.pk, other.centre.pk]) == {
        third.centre.pk
    }
    assert centres_with_fixed_compensation(d(9, 1), []) == set()
