"""Paying a month (API.md `POST /api/v1/compensation/pay/`), locked months and adjustments
(API.md "Visits": locked months), and the statements (`GET /api/v1/compensation/`)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.exceptions import Conflict
from core.models import Role
from funding import ledger
from funding.applications import application_approve, application_submit
from funding.compensation import month_pay, next_open_month, statements
from funding.models import (
    CompensationAdjustment,
    LedgerTransaction,
    PaidMonth,
    PayoutCategory,
    TxKind,
)
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import draft
from tests.funding.test_compensation import (
    ORD,
    PV,
    ZERO,
    approve,
    at,
    comp,
    d,
    enrolment,
    rule,
    visit,
)
from visits.services import VisitInput, visit_log, visit_update

pytestmark = pytest.mark.django_db

TODAY = d(9, 15)


@pytest.fixture
def org():
    org = OrganisationFactory()
    rule(org)
    return org


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


@pytest.fixture
def grant(org, finance):
    with at(d(1, 5)):
        return ledger.grant_create(
            user=finance,
            organisation=org,
            funder="socialstyrelsen",
            reference="26RS1",
            year=2026,
            amount=Decimal("100000"),
            received_on=d(1, 5),
            use_by=d(12, 31),
            report_due=d(3, 1, 2027),
        )


@pytest.fixture
def a(org):
    return CentreFactory(organisation=org, name="A")


@pytest.fixture
def b(org):
    return CentreFactory(organisation=org, name="B")


def pay(finance, grant, month, year=2026, today=TODAY):
    with at(today):
        return month_pay(user=finance, grant=grant, year=year, month=month)


def row(centre, month, year=2026):
    rows = [
        r for r in statements(centre.organisation, year, month, centre) if r.centre_id == centre.pk
    ]
    return rows[0] if rows else None


# --- Statements ---------------------------------------------------------------------------------
def test_statement_rows(org, a, b):
    visit(a, d(8, 3))
    visit(a, d(8, 4))
    visit(a, d(8, 5), social_services_present=False)
    visit(a, d(8, 6), place="clinic")
    visit(b, d(8, 7), social_services_present=False)
    visit(a, d(7, 1))
    with CaptureQueriesContext(connection) as ctx:
        rows = statements(org, 2026)
    assert len(ctx.captured_queries) == 1
    got = {(r.centre_name, r.month): r for r in rows}
    aug = got[("A", d(8, 1))]
    assert (aug.visits, aug.programme_variable, aug.ordinary, aug.adjustments) == (
        3,
        2 * PV,
        ORD,
        ZERO,
    )
    assert aug.total == 2 * PV + ORD and not aug.locked
    assert got[("B", d(8, 1))].total == ORD
    assert got[("A", d(7, 1))].programme_variable == PV
    assert [r.month for r in statements(org, 2026, 8)] == [d(8, 1), d(8, 1)]
    assert [r.centre_name for r in statements(org, 2026, 8, b)] == ["B"]
    assert statements(org, 2025) == []


def test_statement_of_a_fixed_centre_lists_its_ordinary_visits(org):
    centre = CentreFactory(organisation=org)
    approve(centre, effective_from=d(1, 1))
    visit(centre, d(8, 3))
    r = row(centre, 8)
    assert (r.visits, r.programme_variable, r.ordinary) == (1, ZERO, ORD)


# --- month_pay ----------------------------------------------------------------------------------
def test_pay_posts_one_payout_per_centre_and_locks(org, finance, grant, a, b):
    visit(a, d(8, 3))
    visit(a, d(8, 4))
    visit(a, d(8, 5), social_services_present=False)  # ordinary: never from the grant
    visit(b, d(8, 6))
    quiet = CentreFactory(organisation=org)  # paid nothing, locked all the same
    result = pay(finance, grant, 8)
    assert sorted((p.centre_id, p.amount) for p in result.payouts) == sorted(
        [(a.pk, 2 * PV), (b.pk, PV)]
    )
    assert result.total == 3 * PV
    payouts = LedgerTransaction.objects.filter(grant=grant, kind=TxKind.PAYOUT)
    assert payouts.count() == 2
    assert {t.category for t in payouts} == {PayoutCategory.PROGRAMME_VARIABLE}
    assert {t.recipient_type for t in payouts} == {"centre"}
    assert {t.date for t in payouts} == {TODAY}
    assert ledger.figures(grant).paid_out == 3 * PV
    # One lock per centre of the organisation, each with its payout.
    locks = PaidMonth.objects.filter(organisation=org, month=d(8, 1))
    assert locks.count() == org.centres.count()
    assert {lock.payout.recipient_id for lock in locks if lock.payout} == {a.pk, b.pk}
    assert row(a, 8).locked and row(b, 8).locked
    with pytest.raises(Conflict):
        visit(quiet, d(8, 20))
    with pytest.raises(Conflict):
        pay(finance, grant, 8)
    assert LedgerTransaction.objects.filter(grant=grant, kind=TxKind.PAYOUT).count() == 2


def test_pay_beyond_balance_posts_nothing(org, finance, a, b):
    with at(d(1, 5)):
        small = ledger.grant_create(
            user=finance,
            organisation=org,
            funder="socialstyrelsen",
            reference="26RS2",
            year=2026,
            amount=Decimal("3000"),
            received_on=d(1, 5),
            use_by=d(12, 31),
            report_due=d(3, 1, 2027),
        )
    visit(a, d(8, 3))
    visit(b, d(8, 3))
    with pytest.raises(ValidationError):
        pay(finance, small, 8)
    assert not LedgerTransaction.objects.filter(grant=small, kind=TxKind.PAYOUT).exists()
    assert not PaidMonth.objects.exists()


def test_a_month_is_paid_only_once_it_is_over(finance, grant, a):
    """Finding: finance could pay the current month on the 3rd, and every later visit of that
    month was refused as paid and locked."""
    for month in (9, 10):  # the current month (TODAY is 15 September) and a later one
        with pytest.raises(Conflict) as exc:
            pay(finance, grant, month)
        assert "inte slut" in str(exc.value.detail)
    assert not PaidMonth.objects.exists()
    pay(finance, grant, 9, today=d(10, 1))
    assert PaidMonth.objects.filter(month=d(9, 1)).exists()


# --- Locked months and adjustments ----------------------------------------------------------------
def test_change_in_locked_month_refused_unless_adjustment(org, finance, grant, a):
    v = visit(a, d(8, 3))
    pay(finance, grant, 8)
    with at(TODAY), pytest.raises(Conflict):
        visit_update(user=v.nurse, visit=v, changes={"social_services_present": False})
    assert comp(v) == ("programme_variable", PV)
    with at(TODAY):
        visit_update(
            user=v.nurse, visit=v, changes={"social_services_present": False}, adjustment=True
        )
    assert comp(v) == ("ordinary", ORD)  # the visit as it is now
    adjustment = CompensationAdjustment.objects.get(visit=v)
    assert (adjustment.month, adjustment.amount, adjustment.source_month) == (
        d(9, 1),
        -PV,
        d(8, 1),
    )
    aug = row(a, 8)
    assert (aug.programme_variable, aug.ordinary) == (PV, ORD)  # paid pv never changes
    sep = row(a, 9)
    assert (sep.adjustments, sep.visits, sep.total) == (-PV, 0, -PV)
    # Changing it back cancels out.
    with at(TODAY):
        visit_update(
            user=v.nurse, visit=v, changes={"social_services_present": True}, adjustment=True
        )
    assert row(a, 9).adjustments == ZERO


def test_moving_a_visit_out_of_a_locked_month(finance, grant, a):
    v = visit(a, d(8, 3))
    pay(finance, grant, 8)
    with at(TODAY), pytest.raises(Conflict):
        visit_update(user=v.nurse, visit=v, changes={"date": d(9, 2)})
    with at(TODAY):
        visit_update(user=v.nurse, visit=v, changes={"date": d(9, 2)}, adjustment=True)
    # Still 2 500 kr: nothing to adjust; August's pv stays as paid, September counts the visit.
    assert row(a, 8).programme_variable == PV
    sep = row(a, 9)
    assert (sep.visits, sep.programme_variable, sep.adjustments) == (1, ZERO, ZERO)


def test_new_visit_in_locked_month_as_adjustment(finance, grant, a):
    visit(a, d(8, 3))
    pay(finance, grant, 8)
    with pytest.raises(Conflict):
        visit(a, d(8, 10))
    e = enrolment(a)
    with at(TODAY):
        visit_log(
            user=member(Role.NURSE, centre=a),
            enrolment=e,
            data=VisitInput(
                date=d(8, 10), place="home", status="completed", social_services_present=True
            ),
            adjustment=True,
        )
    assert row(a, 8).programme_variable == PV
    assert row(a, 9).adjustments == PV


def test_negative_net_moves_to_next_open_month(org, finance, grant, a, b):
    v = visit(a, d(8, 3))
    visit(b, d(8, 4))
    pay(finance, grant, 8)
    with at(TODAY):
        visit_update(user=v.nurse, visit=v, changes={"status": "cancelled"}, adjustment=True)
    visit(b, d(9, 1))
    result = pay(finance, grant, 9, today=d(10, 2))  # a: −2 500 in September; b: +2 500
    assert [(p.centre_id, p.amount) for p in result.payouts] == [(b.pk, PV)]
    assert result.moved == {a.pk: -PV}
    assert next_open_month(org.pk, d(10, 2)) == d(10, 1)
    sep = row(a, 9)
    assert (sep.adjustments, sep.locked) == (ZERO, True)  # nets to zero, nothing paid
    assert row(a, 10).adjustments == -PV
    assert ledger.figures(grant).paid_out == 3 * PV


def test_decision_in_a_paid_month_becomes_an_adjustment(org, finance, grant):
    centre = CentreFactory(organisation=org)
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    cbhv = member(Role.CBHV, organisation=org)
    with at(d(1, 10)):
        app = application_submit(
            user=manager, application=draft(centre, by=manager, year=2026, start_date=d(1, 1))
        )
    aug = visit(centre, d(8, 3))
    visit(centre, d(9, 3))
    pay(finance, grant, 8)
    with at(TODAY):
        application_approve(user=cbhv, application=app, effective_from=d(8, 1))
    assert comp(aug) == ("ordinary", ORD)
    assert row(centre, 8).programme_variable == PV  # as paid
    sep = row(centre, 9)
    assert (sep.programme_variable, sep.ordinary, sep.adjustments) == (ZERO, ORD, -PV)
