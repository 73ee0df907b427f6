"""Per-visit compensation (DOMAIN.md 4.1): the table cell by cell, the centre's fixed status on
the visit date (also when it changes mid-year or is withdrawn), rates by valid_from, and
recomputation when a visit, a decision or a rate changes."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from core.models import Centre, Organisation, Role
from funding.applications import application_approve, application_submit, application_withdraw
from funding.compensation import (
    HOOK,
    compensation_for,
    compensation_of,
    recompute_centre,
    rule_set,
)
from funding.models import CompensationRule, VisitCompensation
from funding.selectors import centres_with_fixed_compensation
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import draft
from tests.visits.factories import ChildFactory, EnrolmentFactory, log_visit
from visits import extension
from visits.models import Visit
from visits.services import visit_update

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
YEAR = 2026
PV = Decimal("2500.00")
ORD = Decimal("1800.00")
ZERO = Decimal("0.00")


def d(month: int, day: int, year: int = YEAR) -> datetime.date:
    return datetime.date(year, month, day)


def noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, 12, 0, tzinfo=STOCKHOLM)


def at(day: datetime.date) -> time_machine.travel:
    return time_machine.travel(noon(day), tick=False)


# --- Helpers shared with test_month_payment ---------------------------------------------------
def rule(
    org: Organisation,
    valid_from: datetime.date | None = None,
    pv: str = "2500",
    ordinary: str = "1800",
) -> CompensationRule:
    return CompensationRule.objects.create(
        organisation=org,
        valid_from=valid_from or d(1, 1, 2023),
        programme_variable=Decimal(pv),
        ordinary=Decimal(ordinary),
    )


def approve(centre: Centre, effective_from: datetime.date, on: datetime.date | None = None):
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    cbhv = member(Role.CBHV, organisation=centre.organisation)
    with at(on or d(1, 10)):
        app = draft(centre, by=manager, year=YEAR, start_date=d(1, 1))
        app = application_submit(user=manager, application=app)
        app = application_approve(user=cbhv, application=app, effective_from=effective_from)
    app._manager = manager  # type: ignore[attr-defined]
    return app


def enrolment(centre: Centre):
    child = ChildFactory(current_centre=centre, birth_date=d(11, 1, 2025))
    return EnrolmentFactory(child=child)


def visit(centre: Centre, day: datetime.date, today: datetime.date | None = None, **fields):
    fields.setdefault("social_services_present", True)
    with at(today or max(day, d(9, 15))):
        return log_visit(enrolment(centre), date=day, **fields)


def comp(v: Visit) -> tuple[str, Decimal]:
    row = VisitCompensation.objects.get(visit=v)
    return row.type, row.amount


@pytest.fixture(autouse=True)
def _hook_registered():
    assert HOOK in extension._hooks  # FundingConfig.ready() registers it


@pytest.fixture
def org():
    org = OrganisationFactory()
    rule(org)
    return org


@pytest.fixture
def free(org):
    """A centre without fixed compensation."""
    return CentreFactory(organisation=org)


@pytest.fixture
def fixed(org):
    """A centre with fixed compensation the whole year."""
    centre = CentreFactory(organisation=org)
    approve(centre, effective_from=d(1, 1))
    return centre


# --- The pure rule ----------------------------------------------------------------------------
RULE = CompensationRule(programme_variable=PV, ordinary=ORD, valid_from=d(1, 1, 2023))


@given(
    status=st.sampled_from(["completed", "cancelled", "no_show"]),
    place=st.sampled_from(["home", "clinic", "other"]),
    social=st.booleans(),
    is_fixed=st.booleans(),
)
def test_rule_is_the_table(status, place, social, is_fixed):
    centre_id = uuid.uuid4()
    v = Visit(
        centre_id=centre_id,
        date=d(3, 3),
        status=status,
        place=place,
        social_services_present=social,
    )
    kind, amount, used = compensation_for(v, {centre_id} if is_fixed else set(), RULE)
    if status != "completed" or place != "home":
        assert (kind, amount, used) == ("none", ZERO, None)
    elif social and not is_fixed:
        assert (kind, amount, used) == ("programme_variable", PV, RULE)
    else:
        assert (kind, amount, used) == ("ordinary", ORD, RULE)


def test_rule_without_rates_in_force_pays_nothing():
    v = Visit(centre_id=uuid.uuid4(), date=d(3, 3), status="completed", place="home")
    assert compensation_for(v, set(), None) == ("none", ZERO, None)


# --- The table, cell by cell, through the visit service ----------------------------------------
@pytest.mark.parametrize(
    ("centre_kind", "fields", "expected"),
    [
        ("free", {"social_services_present": True}, ("programme_variable", PV)),
        ("fixed", {"social_services_present": True}, ("ordinary", ORD)),
        ("free", {"social_services_present": False}, ("ordinary", ORD)),
        ("fixed", {"social_services_present": False}, ("ordinary", ORD)),
        ("free", {"place": "clinic"}, ("none", ZERO)),
        ("fixed", {"place": "clinic"}, ("none", ZERO)),
        ("free", {"place": "other"}, ("none", ZERO)),
        ("free", {"status": "cancelled"}, ("none", ZERO)),
        ("fixed", {"status": "cancelled"}, ("none", ZERO)),
        ("free", {"status": "no_show"}, ("none", ZERO)),
        ("fixed", {"status": "no_show"}, ("none", ZERO)),
    ],
)
def test_table_cell(request, centre_kind, fields, expected):
    centre = request.getfixturevalue(centre_kind)
    v = visit(centre, d(3, 10), **fields)
    assert comp(v) == expected
    v.refresh_from_db()
    assert compensation_of(v) == {"type": expected[0], "amount": f"{expected[1]:.2f}"}


def test_fixed_status_changes_mid_year(org):
    centre = CentreFactory(organisation=org)
    approve(centre, effective_from=d(6, 1))
    assert comp(visit(centre, d(5, 31))) == ("programme_variable", PV)
    assert comp(visit(centre, d(6, 1))) == ("ordinary", ORD)


def test_withdrawal_ends_fixed_status_the_day_before(org):
    centre = CentreFactory(organisation=org)
    app = approve(centre, effective_from=d(1, 1))
    before = visit(centre, d(6, 30), today=d(7, 1))
    same_day = visit(centre, d(7, 1), today=d(7, 1))
    assert comp(same_day) == ("ordinary", ORD)  # still fixed when it was logged
    with at(d(7, 1)):
        application_withdraw(user=app._manager, application=app)
    assert comp(before) == ("ordinary", ORD)
    assert comp(same_day) == ("programme_variable", PV)  # recomputed by the withdrawal
    assert comp(visit(centre, d(8, 3))) == ("programme_variable", PV)


def test_approval_recomputes_earlier_visits(org):
    centre = CentreFactory(organisation=org)
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    cbhv = member(Role.CBHV, organisation=org)
    with at(d(1, 10)):
        app = application_submit(
            user=manager, application=draft(centre, by=manager, year=YEAR, start_date=d(1, 1))
        )
    early = visit(centre, d(1, 20), today=d(3, 1))
    feb = visit(centre, d(2, 20), today=d(3, 1))
    assert comp(feb) == ("programme_variable", PV)
    with at(d(3, 1)):
        application_approve(user=cbhv, application=app, effective_from=d(2, 1))
    assert comp(feb) == ("ordinary", ORD)
    assert comp(early) == ("programme_variable", PV)


def test_recompute_agrees_with_fixed_on(org):
    """recompute_centre decides fixed status in Python: it must agree with fixed_on()."""
    centre = CentreFactory(organisation=org)
    app = approve(centre, effective_from=d(3, 1))
    days = [d(2, 28), d(3, 1), d(6, 30), d(7, 1), d(7, 2)]
    visits = [visit(centre, day, today=d(7, 2)) for day in days[:-1]]
    with at(d(7, 1)):
        application_withdraw(user=app._manager, application=app)
    visits.append(visit(centre, days[-1], today=d(7, 2)))
    VisitCompensation.objects.filter(visit__in=visits).delete()
    recompute_centre(centre, d(1, 1), d(12, 31))
    for v in visits:
        expected = (
            "ordinary"
            if centre.pk in centres_with_fixed_compensation(v.date)
            else ("programme_variable")
        )
        assert comp(v)[0] == expected, v.date


def test_another_years_approval_does_not_count(org):
    centre = CentreFactory(organisation=org)
    approve(centre, effective_from=d(1, 1))
    assert comp(visit(centre, d(12, 15, 2025), today=d(9, 15))) == ("programme_variable", PV)


# --- Rates are data ---------------------------------------------------------------------------
def test_rate_in_force_on_the_visit_date(org, free):
    rule(org, valid_from=d(5, 1), pv="3000", ordinary="2000")
    assert comp(visit(free, d(4, 30))) == ("programme_variable", PV)
    assert comp(visit(free, d(5, 1))) == ("programme_variable", Decimal("3000.00"))
    assert comp(visit(free, d(5, 1), social_services_present=False)) == (
        "ordinary",
        Decimal("2000.00"),
    )
    assert VisitCompensation.objects.get(visit__date=d(4, 30)).rule.valid_from == d(1, 1, 2023)


def test_rate_change_recomputes(org, free):
    april, may = visit(free, d(4, 30)), visit(free, d(5, 2))
    rule_set(
        user=None,
        organisation=org,
        valid_from=d(5, 1),
        programme_variable=Decimal("3100"),
        ordinary=Decimal("1900"),
    )
    assert comp(april) == ("programme_variable", PV)
    assert comp(may) == ("programme_variable", Decimal("3100.00"))


def test_other_organisations_rates_do_not_apply(free):
    other = OrganisationFactory()
    rule(other, valid_from=d(1, 1), pv="9999")
    assert comp(visit(free, d(3, 3))) == ("programme_variable", PV)


def test_no_rule_no_compensation():
    centre = CentreFactory()
    assert comp(visit(centre, d(3, 3))) == ("none", ZERO)


def test_rule_amounts_not_negative(org):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        rule_set(
            user=None,
            organisation=org,
            valid_from=d(2, 1),
            programme_variable=Decimal("-1"),
            ordinary=ORD,
        )


# --- A visit change recomputes ---------------------------------------------------------------
def test_visit_change_recomputes(free):
    v = visit(free, d(3, 10))
    nurse = v.nurse
    with at(d(9, 15)):
        visit_update(user=nurse, visit=v, changes={"social_services_present": False})
    assert comp(v) == ("ordinary", ORD)
    with at(d(9, 15)):
        visit_update(user=nurse, visit=v, changes={"status": "cancelled"})
    assert comp(v) == ("none", ZERO)
    with at(d(9, 15)):
        visit_update(
            user=nurse,
            visit=v,
            changes={"status": "completed", "social_services_present": True, "date": d(4, 2)},
        )
    row = VisitCompensation.objects.get(visit=v)
    assert (row.type, row.amount, row.month) == ("programme_variable", PV, d(4, 1))


def test_the_visits_api_shows_each_visits_compensation(api_client_for):
    """API.md "Visits": `compensation` {type, amount} on create, detail and list, as strings."""
    from tests.visits.factories import EnrolmentFactory, nurse_at, zv509

    zv509()
    enrolment = EnrolmentFactory()
    CompensationRule.objects.create(
        organisation=enrolment.centre.organisation,
        valid_from=datetime.date(2020, 1, 1),
        programme_variable=Decimal("2500.00"),
        ordinary=Decimal("1800.00"),
    )
    client = api_client_for(nurse_at(enrolment.centre))
    body = {
        "enrolment": str(enrolment.pk),
        "date": str(enrolment.child.birth_date + datetime.timedelta(days=60)),
        "place": "home",
        "status": "completed",
        "slot": "2m",
        "social_services_present": True,
    }
    created = client.post("/api/v1/visits/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["compensation"] == {"type": "programme_variable", "amount": "2500.00"}
    visit_id = created.json()["id"]
    patched = client.patch(
        f"/api/v1/visits/{visit_id}/", {"social_services_present": False}, format="json"
    )
    assert patched.json()["compensation"] == {"type": "ordinary", "amount": "1800.00"}
    listed = client.get("/api/v1/visits/").json()["results"]
    assert [v["compensation"] for v in listed] == [{"type": "ordinary", "amount": "1800.00"}]
