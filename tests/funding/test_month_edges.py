"""API.md "Money at the edges" for month payments: a reversed month payment reopens that
centre's month (and only it), paying the month again pays the open centres and is 409 only when
none is; the year boundary is disclosed in the year's statements; the pay page offers only
months that are over and open."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from core.exceptions import Conflict
from core.models import Role
from funding import ledger
from funding.applications import application_approve, application_submit
from funding.compensation import (
    month_pay,
    payable_months,
    settled_next_year,
    statements,
)
from funding.models import CompensationAdjustment, PaidMonth
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import draft
from tests.funding.test_compensation import PV, ZERO, at, d, rule, visit
from visits.services import visit_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    org = OrganisationFactory()
    rule(org)
    return org


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


def make_grant(org, finance, year=2026, reference="26RS1"):
    with at(d(1, 5, year)):
        return ledger.grant_create(
            user=finance,
            organisation=org,
            funder="socialstyrelsen",
            reference=reference,
            year=year,
            amount=Decimal("100000"),
            received_on=d(1, 5, year),
            use_by=d(12, 31, year),
            report_due=d(3, 1, year + 1),
        )


@pytest.fixture
def grant(org, finance):
    return make_grant(org, finance)


@pytest.fixture
def a(org):
    return CentreFactory(organisation=org, name="A")


@pytest.fixture
def b(org):
    return CentreFactory(organisation=org, name="B")


def pay(finance, grant, month, today, year=2026):
    with at(today):
        return month_pay(user=finance, grant=grant, year=year, month=month)


def row(centre, month, year=2026):
    found = [r for r in statements(centre.organisation, year, month) if r.centre_id == centre.pk]
    return found[0] if found else None


# --- Reversal of a month payment --------------------------------------------------------------
def test_reversing_a_month_payout_reopens_that_centres_month_only(org, finance, grant, a, b):
    """Finding: reversing a month-payment payout left the month locked with no way to pay it
    again, and the ledger and the statements disagreed silently."""
    visit(a, d(8, 3))
    visit(b, d(8, 4))
    payment = pay(finance, grant, 8, d(9, 2))
    assert (row(a, 8).locked, row(a, 8).paid) == (True, PV)
    tx_a = next(p.transaction for p in payment.payouts if p.centre_id == a.pk)
    with at(d(9, 3)):
        ledger.reversal_post(user=finance, grant=grant, original=tx_a, reason="Fel konto")
    # A's month is open again and its statement records the reversal; B's stays locked.
    assert (row(a, 8).locked, row(a, 8).paid, row(a, 8).programme_variable) == (False, ZERO, PV)
    assert (row(b, 8).locked, row(b, 8).paid) == (True, PV)
    assert payable_months(org.pk, d(9, 3)) == [d(8, 1)]
    # Paying the month again pays A alone.
    again = pay(finance, grant, 8, d(9, 4))
    assert [(p.centre_id, p.amount) for p in again.payouts] == [(a.pk, PV)]
    assert (row(a, 8).locked, row(a, 8).paid) == (True, PV)
    assert ledger.figures(grant).paid_out == 2 * PV
    # Now no centre's month is open: 409.
    with pytest.raises(Conflict, match="redan betald"):
        pay(finance, grant, 8, d(9, 5))
    assert PaidMonth.objects.filter(centre=a, month=d(8, 1)).count() == 2


def test_a_visit_in_a_reopened_month_needs_no_adjustment(org, finance, grant, a):
    v = visit(a, d(8, 3))
    payment = pay(finance, grant, 8, d(9, 2))
    with at(d(9, 3)):
        ledger.reversal_post(
            user=finance, grant=grant, original=payment.payouts[0].transaction, reason="Fel"
        )
        visit_update(user=v.nurse, visit=v, changes={"social_services_present": False})
    assert row(a, 8).programme_variable == ZERO
    assert not CompensationAdjustment.objects.exists()


def test_the_database_refuses_a_second_lock_on_a_locked_centre_month(org, finance, grant, a):
    from django.db import DatabaseError, transaction

    visit(a, d(8, 3))
    pay(finance, grant, 8, d(9, 2))
    with pytest.raises(DatabaseError, match="already paid"), transaction.atomic():
        PaidMonth.objects.create(
            organisation=org, centre=a, month=d(8, 1), grant=grant, paid_by=finance
        )


# --- The year boundary ------------------------------------------------------------------------
def test_an_adjustment_after_the_years_last_month_is_paid_is_listed_as_settled_next_year(
    org, finance, a
):
    """Finding: a retroactive approval turned paid 2 500 kr visits into 1 800 kr ones; the
    −2 500 kr correction landed in January of the next year, from the next grant, and the
    year's statements counted both amounts without saying so."""
    grant = make_grant(org, finance)
    next_grant = make_grant(org, finance, year=2027, reference="27RS1")
    manager = member(Role.CENTRE_MANAGER, centre=a)
    with at(d(1, 10)):
        app = application_submit(
            user=manager, application=draft(a, by=manager, year=2026, start_date=d(1, 1))
        )
    visit(a, d(6, 3), today=d(6, 3))
    pay(finance, grant, 6, d(7, 2))
    pay(finance, next_grant, 12, d(1, 8, 2027))  # December, from the next year's grant
    with at(d(1, 12, 2027)):
        application_approve(
            user=member(Role.CBHV, organisation=org), application=app, effective_from=d(6, 1)
        )
    settled = settled_next_year(org, 2026)
    assert [(r.month, r.settled_in, r.adjustments) for r in settled] == [
        (d(6, 1), d(1, 1, 2027), -PV)
    ]
    # The year's own statement still shows what June paid; the correction is counted in
    # January 2027, where it is paid.
    assert row(a, 6).programme_variable == PV
    assert row(a, 1, 2027).adjustments == -PV
    assert settled_next_year(org, 2027) == []


def test_the_api_lists_settled_next_year_rows(org, finance, a, api_client_for):
    grant = make_grant(org, finance)
    v = visit(a, d(11, 3), today=d(11, 3))
    pay(finance, grant, 11, d(12, 2))
    with at(d(1, 15, 2027)):
        visit_update(
            user=v.nurse, visit=v, changes={"status": "cancelled", "kva_codes": []}, adjustment=True
        )
        body = api_client_for(finance).get(f"/api/v1/compensation/?year=2026&organisation={org.pk}")
    assert body.status_code == 200
    rows = body.json()["results"]
    assert [r for r in rows if r["settled_in"]] == [
        {
            "centre": str(a.pk),
            "month": "2026-11",
            "visits": 0,
            "programme_variable": "0.00",
            "ordinary": "0.00",
            "adjustments": "-2500.00",
            "total": "-2500.00",
            "locked": False,
            "paid": "0.00",
            "settled_in": "2027-01",
        }
    ]
    november = [r for r in rows if r["month"] == "2026-11" and not r["settled_in"]]
    assert [(r["programme_variable"], r["paid"], r["locked"]) for r in november] == [
        ("2500.00", "2500.00", True)
    ]


# --- The pay page -----------------------------------------------------------------------------
def test_the_pay_page_offers_only_months_over_and_open_and_preselects_the_grant(
    client, org, finance, grant, a
):
    visit(a, d(7, 3))
    visit(a, d(8, 3))
    visit(a, d(9, 3), today=d(9, 15))
    pay(finance, grant, 7, d(8, 2))
    client.force_login(finance)
    with at(d(9, 20)):
        html = client.get(reverse("funding:compensation_pay")).content.decode()
    offered = html.lower().split("månader att betala")[1].split("</section>")[0]
    assert "augusti 2026" in offered
    assert "juli 2026" not in offered and "september 2026" not in offered
    assert f'value="{grant.pk}" selected' in html
    assert payable_months(org.pk, d(9, 20)) == [d(8, 1)]


# --- The visit page -----------------------------------------------------------------------------
def test_the_visit_page_shows_the_visits_compensation_and_its_adjustments(
    client, org, finance, grant, a
):
    v = visit(a, d(8, 3))
    client.force_login(v.nurse)
    url = reverse("visits:visit_detail", args=[v.pk])
    with at(d(9, 1)):
        page = client.get(url).content.decode().replace("\xa0", " ")
    assert "Rörlig ersättning från programmet: 2 500,00 kr" in page
    pay(finance, grant, 8, d(9, 2))
    with at(d(9, 3)):
        visit_update(
            user=v.nurse, visit=v, changes={"social_services_present": False}, adjustment=True
        )
        client.force_login(v.nurse)  # a new day's session (sessions end when idle)
        response = client.get(url)
    assert response.status_code == 200, response
    page = response.content.decode().replace("\xa0", " ")
    assert "Ordinarie ersättning: 1 800,00 kr" in page
    assert "Justering −2 500,00 kr bokförd i 2026-09 (avser betald månad 2026-08)" in page


def test_paying_beyond_the_balance_answers_400_before_the_months_state(org, finance, a):
    """API.md's order: the input's limit (400) before the state (409), as for payouts."""
    with at(d(1, 5)):
        small = ledger.grant_create(
            user=finance,
            organisation=org,
            funder="socialstyrelsen",
            reference="SMALL",
            year=2026,
            amount=Decimal("1000"),
            received_on=d(1, 5),
            use_by=d(12, 31),
            report_due=d(3, 1, 2027),
        )
    visit(a, d(9, 3), today=d(9, 10))
    with pytest.raises(ValidationError) as exc:
        pay(finance, small, 9, d(9, 15))  # the current month, and 2 500 kr on a 1 000 kr grant
    assert "grant" in exc.value.message_dict
    big = make_grant(org, finance, reference="BIG")
    with pytest.raises(Conflict, match="inte slut"):
        pay(finance, big, 9, d(9, 15))
