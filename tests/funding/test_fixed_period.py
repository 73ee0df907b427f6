"""Fixed compensation on a date has a row form (`Application.fixed_period()`, `gives_fixed_on()`)
and a set form (`Application.objects.fixed_on(day)`, under `selectors.centres_with_fixed_
compensation()`): they must agree on every boundary day, and the centre page shows the row form."""

from __future__ import annotations

import datetime
import re
from dataclasses import asdict

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import Role
from funding.models import Application, ApplicationStatus
from funding.selectors import centres_with_fixed_compensation
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import plan

pytestmark = pytest.mark.django_db

YEAR = 2026
S = ApplicationStatus


def d(month: int, day: int, year: int = YEAR) -> datetime.date:
    return datetime.date(year, month, day)


# name -> (status, approved, effective_from, withdrawn_on)
CASES: dict[str, tuple[str, bool, datetime.date | None, datetime.date | None]] = {
    "approved": (S.APPROVED, True, d(3, 1), None),
    "approved_from_new_year": (S.APPROVED, True, d(1, 1), None),
    "withdrawn_mid_year": (S.WITHDRAWN, True, d(3, 1), d(9, 15)),
    "withdrawn_the_day_after_it_took_effect": (S.WITHDRAWN, True, d(3, 1), d(3, 2)),
    "withdrawn_on_the_effective_date": (S.WITHDRAWN, True, d(6, 1), d(6, 1)),
    "withdrawn_before_the_effective_date": (S.WITHDRAWN, True, d(6, 1), d(3, 1)),
    "withdrawn_in_the_next_year": (S.WITHDRAWN, True, d(3, 1), d(1, 10, YEAR + 1)),
    "withdrawn_before_a_decision": (S.WITHDRAWN, False, None, d(3, 1)),
    "submitted": (S.SUBMITTED, False, None, None),
    "changes_requested": (S.CHANGES_REQUESTED, False, None, None),
    "rejected": (S.REJECTED, False, None, None),
    "draft": (S.DRAFT, False, None, None),
}


@pytest.fixture
def applications() -> dict[str, Application]:
    org = OrganisationFactory()
    manager = member(Role.CENTRE_MANAGER, centre=CentreFactory(organisation=org))
    decided = timezone.now()
    made = {}
    for name, (status, approved, effective_from, withdrawn_on) in CASES.items():
        made[name] = Application.objects.create(
            centre=CentreFactory(organisation=org),
            year=YEAR,
            created_by=manager,
            status=status,
            approved=approved,
            effective_from=effective_from,
            decided_at=decided if approved or status == S.REJECTED else None,
            decision_comment="Skäl" if status == S.REJECTED else "",
            withdrawn_on=withdrawn_on,
            **asdict(plan(start_date=d(1, 1))),
        )
    return made


def boundary_days() -> list[datetime.date]:
    days = {d(12, 31, YEAR - 1), d(1, 1), d(12, 31), d(1, 1, YEAR + 1), d(1, 10, YEAR + 1)}
    for _status, _approved, effective_from, withdrawn_on in CASES.values():
        for day in (effective_from, withdrawn_on):
            if day is not None:
                days |= {day - datetime.timedelta(days=1), day, day + datetime.timedelta(days=1)}
    return sorted(days)


def test_the_row_and_the_set_form_agree_on_every_boundary_day(applications):
    for day in boundary_days():
        in_set = set(Application.objects.fixed_on(day).values_list("pk", flat=True))
        centres = centres_with_fixed_compensation(day)
        for name, application in applications.items():
            row = application.gives_fixed_on(day)
            assert row == (application.pk in in_set), (name, day)
            assert row == (application.centre_id in centres), (name, day)
            period = application.fixed_period()
            assert row == (period is not None and period[0] <= day <= period[1]), (name, day)


def test_the_periods_are_those_of_api_md(applications):
    def period(name: str) -> tuple[datetime.date, datetime.date] | None:
        return applications[name].fixed_period()

    assert period("approved") == (d(3, 1), d(12, 31))
    assert period("withdrawn_mid_year") == (d(3, 1), d(9, 14))
    assert period("withdrawn_the_day_after_it_took_effect") == (d(3, 1), d(3, 1))
    assert period("withdrawn_in_the_next_year") == (d(3, 1), d(12, 31))
    for name in (
        "withdrawn_on_the_effective_date",
        "withdrawn_before_the_effective_date",
        "withdrawn_before_a_decision",
        "submitted",
        "changes_requested",
        "rejected",
        "draft",
    ):
        assert period(name) is None, name


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("approved", "Från 2026-03-01"),
        ("withdrawn_mid_year", "2026-03-01 – 2026-09-14"),
        ("withdrawn_before_the_effective_date", "Nej"),
        ("withdrawn_on_the_effective_date", "Nej"),
        ("rejected", "Nej"),
    ],
)
def test_the_centre_page_shows_the_days_of_fixed_compensation(client, applications, name, shown):
    application = applications[name]
    client.force_login(member(Role.CBHV, organisation=application.centre.organisation))

    html = client.get(reverse("funding:centre", args=[application.centre_id])).content.decode()

    cell = re.search(r'data-label="Fast ersättning">(.*?)</td>', html, re.S)
    assert cell
    assert cell.group(1).strip() == shown
