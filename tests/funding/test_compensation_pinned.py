"""Per-visit compensation, paid months and paying a month pinned by literal values (issue 23,
item 5; DOMAIN.md 4.1, seed 004: Region Örebro pays 2 500 kr for a completed home visit with
social services at a centre without fixed compensation, 1 800 kr for any other completed home
visit). Each test names what a user or finance gets back: the amounts, the months, the exact
message of a refusal and the field it is on, so that a changed rule, boundary or text fails."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from core.exceptions import Conflict
from core.models import Organisation, Role, User
from funding import ledger
from funding.compensation import (
    DESCRIBER,
    PAGE_DESCRIBER,
    StatementRow,
    VisitCompensationView,
    compensation_for,
    compensation_of,
    month_is_over,
    month_of,
    month_pay,
    next_month,
    next_open_month,
    paid_months,
    payable,
    payable_months,
    recompute_application,
    recompute_centre,
    rule_set,
    settled_next_year,
    statements,
)
from funding.models import (
    CompensationAdjustment,
    CompensationRule,
    Grant,
    LedgerTransaction,
    PaidMonth,
    VisitCompensation,
)
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import draft
from tests.funding.test_compensation import ORD, PV, ZERO, approve, at, comp, d, rule, visit
from tests.funding.test_month_edges import make_grant
from visits.models import Visit
from visits.services import visit_update

pytestmark = pytest.mark.django_db

DECIMALS = "Ange beloppet i kronor och ören (högst två decimaler)."
NEGATIVE = "Beloppet kan inte vara negativt."


@pytest.fixture
def org() -> Organisation:
    org = OrganisationFactory()
    rule(org)  # 2 500 / 1 800 kr from 2023
    return org


@pytest.fixture
def finance(org: Organisation) -> User:
    return member(Role.FINANCE, organisation=org)


@pytest.fixture
def grant(org: Organisation, finance: User) -> Grant:
    return make_grant(org, finance)  # 100 000 kr, 2026, usable to 31 December


@pytest.fixture
def a(org):
    return CentreFactory(organisation=org, name="A")


@pytest.fixture
def b(org):
    return CentreFactory(organisation=org, name="B")


def pay(finance, grant, month, today, year=2026):
    with at(today):
        return month_pay(user=finance, grant=grant, year=year, month=month)


def conflict_of(call) -> str:
    with pytest.raises(Conflict) as exc:
        call()
    return str(exc.value.detail)


def change(v: Visit, today: datetime.date, adjustment: bool = False, **changes) -> Visit:
    with at(today):
        return visit_update(user=v.nurse, visit=v, changes=changes, adjustment=adjustment)


def advisory_locks() -> list[str]:
    """The advisory locks this connection holds (to the end of the test's transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT mode FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
            "ORDER BY mode"
        )
        return [row[0] for row in cursor.fetchall()]


# --- Months -----------------------------------------------------------------------------------
@pytest.mark.parametrize("year", [2024, 2026])
def test_next_month_of_every_month_of_a_year(year: int) -> None:
    firsts = [datetime.date(year, m, 1) for m in range(1, 13)]
    assert [next_month(first) for first in firsts] == [*firsts[1:], datetime.date(year + 1, 1, 1)]
    assert month_of(datetime.date(year, 2, 29 if year == 2024 else 28)) == firsts[1]
    assert month_of(datetime.date(year, 12, 31)) == firsts[11]


def test_a_month_is_over_from_the_first_of_the_next() -> None:
    assert month_is_over(d(8, 1), d(9, 1))
    assert not month_is_over(d(8, 1), d(8, 31))
    assert not month_is_over(d(9, 1), d(9, 1))
    with at(d(9, 1)):
        assert month_is_over(d(8, 1))
        assert not month_is_over(d(9, 1))


# --- The rule ---------------------------------------------------------------------------------
def test_the_rule_in_force_on_the_visit_date_is_looked_up_when_not_given(org, a) -> None:
    may = rule(org, valid_from=d(5, 1), pv="3000", ordinary="2000")
    first = CompensationRule.objects.get(organisation=org, valid_from=d(1, 1, 2023))
    april, on_the_day = visit(a, d(4, 30)), visit(a, d(5, 1))

    assert compensation_for(april, set()) == ("programme_variable", PV, first)
    assert compensation_for(on_the_day, set()) == ("programme_variable", Decimal("3000.00"), may)
    assert compensation_for(on_the_day, [a.pk]) == ("ordinary", Decimal("2000.00"), may)
    assert compensation_for(on_the_day, [uuid.uuid4()])[0] == "programme_variable"


def test_without_a_rule_in_force_on_the_visit_date_nothing_is_paid(a) -> None:
    v = visit(a, d(3, 3))
    CompensationRule.objects.filter(organisation=a.organisation).update(valid_from=d(3, 4))
    assert compensation_for(v, set()) == ("none", ZERO, None)


def test_the_rules_amounts_come_back_in_kronor_and_ore() -> None:
    centre_id = uuid.uuid4()
    rates = CompensationRule(
        programme_variable=Decimal("2500"), ordinary=Decimal("1800.5"), valid_from=d(1, 1)
    )
    joint = Visit(
        centre_id=centre_id,
        date=d(3, 3),
        status="completed",
        place="home",
        social_services_present=True,
    )
    kind, amount, _rule = compensation_for(joint, set(), rates)
    assert (kind, str(amount)) == ("programme_variable", "2500.00")
    kind, amount, _rule = compensation_for(joint, {centre_id}, rates)
    assert (kind, str(amount)) == ("ordinary", "1800.50")


# --- Rates (rule_set) -------------------------------------------------------------------------
OCTOBER_1 = d(10, 1)


def set_rule(org, valid_from=OCTOBER_1, pv="3000", ordinary="2000", user=None):
    return rule_set(
        user=user,
        organisation=org,
        valid_from=valid_from,
        programme_variable=Decimal(pv),
        ordinary=Decimal(ordinary),
    )


@pytest.mark.parametrize(
    ("pv", "ordinary", "errors"),
    [
        ("12.345", "1800", {"programme_variable": [DECIMALS]}),
        ("2500", "0.001", {"ordinary": [DECIMALS]}),
        ("NaN", "1800", {"programme_variable": [DECIMALS]}),
        ("2500", "Infinity", {"ordinary": [DECIMALS]}),
        ("-0.01", "1800", {"programme_variable": [NEGATIVE]}),
        ("2500", "-1800", {"ordinary": [NEGATIVE]}),
        ("-1", "1.234", {"programme_variable": [NEGATIVE], "ordinary": [DECIMALS]}),
        (
            "123456789.50",
            "1800",
            {"programme_variable": ["Säkerställ att det inte är mer än 10 siffror totalt."]},
        ),
    ],
)
def test_a_wrong_amount_is_refused_on_its_field_and_nothing_is_stored(org, pv, ordinary, errors):
    with pytest.raises(ValidationError) as exc:
        set_rule(org, pv=pv, ordinary=ordinary)
    assert exc.value.message_dict == errors
    assert CompensationRule.objects.filter(organisation=org).count() == 1


@pytest.mark.parametrize(
    ("pv", "ordinary", "stored"),
    [
        ("0", "0.01", ("0.00", "0.01")),
        ("2500.5", "1800.10", ("2500.50", "1800.10")),
        ("3E+3", "100", ("3000.00", "100.00")),
    ],
)
def test_amounts_in_kronor_and_ore_are_stored_with_two_decimals(org, finance, pv, ordinary, stored):
    created = set_rule(org, pv=pv, ordinary=ordinary, user=finance)
    assert (str(created.programme_variable), str(created.ordinary)) == stored
    created.refresh_from_db()
    assert (str(created.programme_variable), str(created.ordinary)) == stored
    assert (created.valid_from, created.created_by, created.organisation) == (
        d(10, 1),
        finance,
        org,
    )


def test_a_second_rule_from_the_same_date_is_a_conflict(org):
    set_rule(org, valid_from=d(5, 1))
    assert conflict_of(lambda: set_rule(org, valid_from=d(5, 1), pv="3100")) == (
        "Det finns redan en regel från 2026-05-01. En regel ändras inte i efterhand; lägg till "
        "en ny från ett senare datum."
    )
    assert CompensationRule.objects.get(
        organisation=org, valid_from=d(5, 1)
    ).programme_variable == (Decimal("3000.00"))
    # Another organisation's rule from that date is its own.
    set_rule(OrganisationFactory(), valid_from=d(5, 1))


def test_a_rule_may_start_no_earlier_than_the_month_after_the_latest_paid(org, finance, grant, a):
    pay(finance, grant, 7, d(8, 3))
    pay(finance, grant, 8, d(9, 2))
    message = (
        "Månaden 2026-08 är betald och låst; nya ersättningsnivåer kan gälla tidigast från "
        "2026-09-01."
    )
    for valid_from in (d(8, 31), d(8, 1), d(7, 15), d(1, 1)):
        assert conflict_of(lambda day=valid_from: set_rule(org, valid_from=day)) == message
    assert CompensationRule.objects.filter(organisation=org).count() == 1
    assert set_rule(org, valid_from=d(9, 1)).valid_from == d(9, 1)
    # Another organisation's paid months do not bind this one.
    other = OrganisationFactory()
    CentreFactory(organisation=other)
    assert set_rule(other, valid_from=d(8, 1)).valid_from == d(8, 1)


def test_a_new_rule_reprices_its_visits_up_to_the_day_before_the_next_rule(org, a):
    april = visit(a, d(4, 30))
    may = visit(a, d(5, 1))
    sep = visit(a, d(9, 30), social_services_present=False)
    october = visit(a, d(10, 1))
    # Rules for October and December stored directly: the October visit keeps its price until
    # something reprices it, so a rule from May that repriced it would show.
    rule(org, valid_from=d(12, 1), pv="5000", ordinary="4000")
    rule(org, valid_from=d(10, 1), pv="4000", ordinary="3000")

    set_rule(org, valid_from=d(5, 1), pv="3100", ordinary="1900")

    assert comp(april) == ("programme_variable", PV)
    assert comp(may) == ("programme_variable", Decimal("3100.00"))
    assert comp(sep) == ("ordinary", Decimal("1900.00"))
    assert comp(october) == ("programme_variable", PV)
    assert VisitCompensation.objects.get(visit=may).rule.valid_from == d(5, 1)


def test_the_last_rule_reprices_every_later_visit(org, a, b):
    visits = [visit(a, d(6, 1)), visit(b, d(9, 14)), visit(a, d(9, 15))]
    set_rule(org, valid_from=d(6, 1), pv="2600")
    assert [comp(v) for v in visits] == [("programme_variable", Decimal("2600.00"))] * 3


# --- Locks --------------------------------------------------------------------------------------
def test_saving_a_visit_holds_the_organisations_lock_shared(a):
    visit(a, d(8, 3))
    assert advisory_locks() == ["ShareLock"]


def test_paying_a_month_holds_it_exclusively(org, finance, grant, a):
    pay(finance, grant, 8, d(9, 2))
    assert advisory_locks() == ["ExclusiveLock"]


def test_a_new_rule_holds_it_exclusively(org):
    set_rule(org)
    assert advisory_locks() == ["ExclusiveLock"]


# --- Paid and open months ---------------------------------------------------------------------
def test_paid_months_and_the_next_open_month(org, finance, grant, a):
    other_org_centre = CentreFactory()
    pay(finance, grant, 8, d(9, 2))
    pay(finance, grant, 9, d(10, 1))

    assert paid_months(a.pk, [d(7, 1), d(8, 1), d(9, 1), d(10, 1)]) == {d(8, 1), d(9, 1)}
    assert paid_months(other_org_centre.pk, [d(8, 1), d(9, 1)]) == set()
    assert next_open_month(a.pk, d(8, 20)) == d(10, 1)
    assert next_open_month(a.pk, d(9, 30)) == d(10, 1)
    assert next_open_month(a.pk, d(7, 31)) == d(7, 1)
    assert next_open_month(a.pk, d(10, 2)) == d(10, 1)
    assert next_open_month(other_org_centre.pk, d(8, 20)) == d(8, 1)
    with at(d(8, 20)):
        assert next_open_month(a.pk) == d(10, 1)


def test_the_payable_months_are_over_compensated_and_open(org, finance, grant, a):
    may = visit(a, d(5, 5), today=d(5, 5))
    pay(finance, grant, 5, d(6, 2))  # May: paid and locked
    visit(a, d(6, 10), today=d(6, 10), place="clinic")  # June: nothing to pay
    july = visit(a, d(7, 10), today=d(7, 10))
    payment = pay(finance, grant, 7, d(8, 3))
    change(july, d(8, 20), adjustment=True, status="cancelled")  # −2 500 kr in August
    with at(d(8, 21)):
        ledger.reversal_post(
            user=finance, grant=grant, original=payment.payouts[0].transaction, reason="Fel"
        )  # July open again: its paid 2 500 kr is still counted there
    visit(a, d(9, 9), today=d(9, 9), social_services_present=False)  # September: 1 800 kr
    visit(a, d(10, 2), today=d(10, 2))  # October: the current month
    change(may, d(10, 3), adjustment=True, social_services_present=False)  # −2 500 kr, October

    assert payable_months(org.pk, d(10, 15)) == [d(7, 1), d(8, 1), d(9, 1)]
    with at(d(10, 15)):
        assert payable_months(org.pk) == [d(7, 1), d(8, 1), d(9, 1)]
    assert payable_months(org.pk, d(11, 1)) == [d(7, 1), d(8, 1), d(9, 1), d(10, 1)]
    assert payable_months(OrganisationFactory().pk, d(10, 15)) == []


# --- Changes in paid months ---------------------------------------------------------------------
PAID_AND_LOCKED = (
    "Månaden {} är betald och låst. Markera ändringen som en justering; skillnaden bokas då i "
    "nästa öppna månad."
)


def test_a_change_touching_a_paid_month_names_the_earliest_paid_month(org, finance, grant, a):
    july, august, september = visit(a, d(7, 3)), visit(a, d(8, 3)), visit(a, d(9, 3))
    pay(finance, grant, 7, d(9, 5))
    pay(finance, grant, 8, d(9, 5))

    assert conflict_of(lambda: visit(a, d(8, 10))) == PAID_AND_LOCKED.format("2026-08")
    assert conflict_of(lambda: change(september, d(9, 15), date=d(7, 20))) == (
        PAID_AND_LOCKED.format("2026-07")
    )
    assert conflict_of(lambda: change(august, d(9, 15), date=d(9, 10))) == (
        PAID_AND_LOCKED.format("2026-08")
    )
    assert conflict_of(lambda: change(august, d(9, 15), date=d(7, 20))) == (
        PAID_AND_LOCKED.format("2026-07")
    )
    assert conflict_of(lambda: change(july, d(9, 15), participants=["dental"])) == (
        PAID_AND_LOCKED.format("2026-07")
    )
    assert not CompensationAdjustment.objects.exists()


def test_an_adjustment_books_the_difference_in_the_next_open_month_with_its_reason(
    org, finance, grant, a
):
    v = visit(a, d(8, 3))
    pay(finance, grant, 8, d(9, 2))
    change(v, d(9, 15), adjustment=True, participants=["dental"])  # the same 2 500 kr
    assert not CompensationAdjustment.objects.exists()

    change(v, d(9, 15), adjustment=True, social_services_present=False)
    change(v, d(9, 16), adjustment=True, place="clinic")

    assert [
        (x.month, x.source_month, x.amount, x.visit_id, x.centre_id, x.reason)
        for x in CompensationAdjustment.objects.order_by("created_at")
    ] == [
        (d(9, 1), d(8, 1), -PV, v.pk, a.pk, "Ändrat besök 2026-08-03 i betald månad 2026-08"),
    ]
    row = VisitCompensation.objects.get(visit=v)
    assert (row.type, row.amount, row.month, row.pv_month, row.pv_amount) == (
        "none",
        ZERO,
        d(8, 1),
        d(8, 1),
        PV,
    )
    # Back to a joint home visit: the adjustments of the visit add up to nothing.
    change(v, d(9, 17), adjustment=True, place="home", social_services_present=True)
    assert sum(x.amount for x in CompensationAdjustment.objects.filter(visit=v)) == ZERO
    assert CompensationAdjustment.objects.filter(visit=v).count() == 2


def test_a_new_visit_in_a_paid_month_is_all_adjustment(org, finance, grant, a):
    from tests.funding.test_compensation import enrolment
    from visits.services import VisitInput, visit_log

    pay(finance, grant, 8, d(9, 2))
    with at(d(9, 15)):
        v = visit_log(
            user=member(Role.NURSE, centre=a),
            enrolment=enrolment(a),
            data=VisitInput(
                date=d(8, 10), place="home", status="completed", social_services_present=True
            ),
            adjustment=True,
        )
    row = VisitCompensation.objects.get(visit=v)
    assert (row.type, row.amount, row.pv_month, row.pv_amount) == (
        "programme_variable",
        PV,
        d(8, 1),
        ZERO,
    )
    assert [(x.month, x.amount, x.reason) for x in CompensationAdjustment.objects.all()] == [
        (d(9, 1), PV, "Ändrat besök 2026-08-10 i betald månad 2026-08")
    ]


# --- Recomputation ----------------------------------------------------------------------------
def test_recompute_centre_counts_the_visits_of_its_range(org, a, b):
    visits = [visit(a, day) for day in (d(3, 1), d(3, 2), d(4, 1))]
    visit(b, d(3, 2))
    VisitCompensation.objects.filter(visit__in=visits).delete()

    assert recompute_centre(a, d(3, 2), d(4, 1)) == 2
    assert recompute_centre(a, d(3, 2)) == 2
    assert recompute_centre(a, d(3, 1), d(3, 1)) == 1
    assert recompute_centre(a, d(4, 2)) == 0
    assert [comp(v) for v in visits] == [("programme_variable", PV)] * 3


def test_recompute_application_reprices_from_the_change_to_new_years_eve(org):
    centre = CentreFactory(organisation=org)
    app = approve(centre, effective_from=d(3, 1))
    for day in (d(2, 28), d(3, 1), d(12, 31), d(1, 1, 2027)):
        visit(centre, day)

    assert recompute_application(app) == 2
    with at(d(7, 1)):
        from funding.applications import application_withdraw

        application_withdraw(user=app._manager, application=app)
    app.refresh_from_db()
    assert recompute_application(app) == 1
    assert recompute_application(draft(CentreFactory(organisation=org), year=2026)) == 0


# --- What the visit shows ---------------------------------------------------------------------
def test_a_visit_shows_its_compensation_in_the_api_and_on_its_page(org, finance, grant, a):
    assert (DESCRIBER.field, DESCRIBER.select_related) == ("compensation", ("compensation",))
    assert (PAGE_DESCRIBER.field, PAGE_DESCRIBER.select_related) == ("compensation_page", ())
    v = visit(a, d(8, 3))
    pay(finance, grant, 8, d(9, 2))
    change(v, d(9, 15), adjustment=True, social_services_present=False)
    change(v, d(9, 16), adjustment=True, social_services_present=True)
    v = Visit.objects.select_related("compensation").get(pk=v.pk)

    assert DESCRIBER.describe(v) == {"type": "programme_variable", "amount": "2500.00"}
    page = PAGE_DESCRIBER.describe(v)
    assert (page.label, page.amount) == ("Rörlig ersättning från programmet", PV)
    assert [x.amount for x in page.adjustments] == [-PV, PV]  # in the order they were booked

    cancelled = Visit.objects.get(pk=visit(a, d(9, 3), status="cancelled").pk)
    assert DESCRIBER.describe(cancelled) == {"type": "none", "amount": "0.00"}
    assert PAGE_DESCRIBER.describe(cancelled) == VisitCompensationView(
        label="Ingen ersättning", amount=ZERO, adjustments=[]
    )

    w = Visit.objects.get(pk=visit(a, d(9, 4)).pk)
    assert DESCRIBER.describe(w) == {"type": "programme_variable", "amount": "2500.00"}
    assert PAGE_DESCRIBER.describe(w) == VisitCompensationView(
        label="Rörlig ersättning från programmet", amount=PV, adjustments=[]
    )
    x = Visit.objects.get(pk=visit(a, d(9, 5), social_services_present=False).pk)
    assert compensation_of(x) == {"type": "ordinary", "amount": "1800.00"}
    assert PAGE_DESCRIBER.describe(x).label == "Ordinarie ersättning"


def test_a_visit_without_a_computed_row_shows_none() -> None:
    unsaved = Visit(date=d(3, 3), place="home", status="completed")
    assert compensation_of(unsaved) == {"type": "none", "amount": "0.00"}
    assert PAGE_DESCRIBER.describe(unsaved) == VisitCompensationView(
        label="Ingen ersättning", amount=ZERO, adjustments=[]
    )


# --- Statements -------------------------------------------------------------------------------
def test_a_statement_rows_total_and_net(org) -> None:
    r = StatementRow(
        centre_id=uuid.uuid4(),
        centre_name="A",
        month=d(8, 1),
        visits=3,
        programme_variable=Decimal("5000.00"),
        ordinary=Decimal("1800.00"),
        adjustments=Decimal("-700.00"),
        locked=False,
    )
    assert (r.total, r.net_programme_variable) == (Decimal("6100.00"), Decimal("4300.00"))
    assert (r.paid, r.settled_in) == (ZERO, None)


def test_statements_of_a_year_a_month_and_a_centre(org, finance, grant, a, b):
    visit(a, d(1, 1), today=d(1, 2))
    visit(a, d(12, 31), today=d(1, 2, 2027))
    visit(a, d(1, 1, 2027), today=d(1, 2, 2027))
    visit(b, d(12, 5), today=d(1, 2, 2027), social_services_present=False)
    visit(CentreFactory(), d(12, 6), today=d(1, 2, 2027))  # another organisation
    pay(finance, grant, 1, d(2, 1))

    def shape(rows):
        return [
            (r.centre_name, r.month, r.visits, r.programme_variable, r.ordinary, r.locked, r.paid)
            for r in rows
        ]

    assert shape(statements(org, 2026)) == [
        ("A", d(1, 1), 1, PV, ZERO, True, PV),
        ("A", d(12, 1), 1, PV, ZERO, False, ZERO),
        ("B", d(12, 1), 1, ZERO, ORD, False, ZERO),
    ]
    assert shape(statements(org.pk, 2026, 12)) == shape(statements(org, 2026))[1:]
    assert shape(statements(org, 2026, 12, b.pk)) == [("B", d(12, 1), 1, ZERO, ORD, False, ZERO)]
    assert shape(statements(org, 2026, 12, a)) == [("A", d(12, 1), 1, PV, ZERO, False, ZERO)]
    assert shape(statements(org, 2026, 11)) == []
    assert shape(statements(org, 2027)) == [("A", d(1, 1, 2027), 1, PV, ZERO, False, ZERO)]
    assert [r.centre_id for r in statements(org, 2026, 1)] == [a.pk]


def test_adjustments_settled_in_the_next_year(org, finance, a, b):
    next_grant = make_grant(org, finance, year=2027, reference="27RS1")
    december = visit(a, d(12, 10), today=d(12, 10))
    other = visit(b, d(12, 11), today=d(12, 11))
    pay(finance, next_grant, 12, d(1, 8, 2027))
    change(december, d(1, 10, 2027), adjustment=True, social_services_present=False)
    # B's change is undone in the same month: nothing to settle.
    change(other, d(1, 10, 2027), adjustment=True, social_services_present=False)
    change(other, d(1, 11, 2027), adjustment=True, social_services_present=True)
    # January is paid; A's December visit changes back in February: settled there.
    pay(finance, next_grant, 1, d(2, 2, 2027), year=2027)
    change(december, d(2, 10, 2027), adjustment=True, social_services_present=True)

    def settled(amount: Decimal, month: datetime.date) -> StatementRow:
        return StatementRow(
            centre_id=a.pk,
            centre_name="A",
            month=d(12, 1),
            visits=0,
            programme_variable=ZERO,
            ordinary=ZERO,
            adjustments=amount,
            locked=False,
            settled_in=month,
        )

    expected = [settled(-PV, d(1, 1, 2027)), settled(PV, d(2, 1, 2027))]
    assert settled_next_year(org, 2026) == expected
    assert settled_next_year(org.pk, 2026, 12) == expected
    assert settled_next_year(org, 2026, 12, a.pk) == expected
    assert settled_next_year(org, 2026, 12, b) == []
    assert settled_next_year(org, 2026, 11) == []
    assert settled_next_year(org, 2027) == []
    assert settled_next_year(OrganisationFactory(), 2026) == []


# --- Paying a month ---------------------------------------------------------------------------
@pytest.mark.parametrize("month", [0, 13, -1])
def test_a_month_outside_1_to_12_is_refused_on_month(finance, grant, month):
    with pytest.raises(ValidationError) as exc:
        pay(finance, grant, month, d(9, 15))
    assert exc.value.message_dict == {"month": ["Ange en månad 1–12."]}


def test_january_and_december_are_months(finance, grant, a):
    assert pay(finance, grant, 1, d(9, 15)).month == d(1, 1)
    assert conflict_of(lambda: pay(finance, grant, 12, d(9, 15))) == (
        "Månaden 2026-12 är inte slut; den kan betalas från 2027-01-01."
    )


def test_a_month_beyond_the_grants_balance_is_refused_on_grant(org, finance, a, b):
    with at(d(1, 5)):
        small = ledger.grant_create(
            user=finance,
            organisation=org,
            funder="socialstyrelsen",
            reference="26RS2",
            year=2026,
            amount=Decimal("2500"),
            received_on=d(1, 5),
            use_by=d(12, 31),
            report_due=d(3, 1, 2027),
        )
    visit(a, d(8, 3))
    visit(b, d(8, 4))
    with pytest.raises(ValidationError) as exc:
        pay(finance, small, 8, d(9, 2))
    assert exc.value.message_dict == {
        "grant": ["Månaden kostar 5000.00 men bidraget har 2500.00 kvar."]
    }
    assert not PaidMonth.objects.exists()
    visit(b, d(7, 4), social_services_present=False)
    visit(a, d(7, 3))
    assert pay(finance, small, 7, d(9, 2)).total == PV  # exactly the balance


def test_the_grants_state_refuses_a_payment(org, finance, grant, a):
    visit(a, d(11, 3), today=d(11, 3))
    assert conflict_of(lambda: pay(finance, grant, 11, d(1, 1, 2027))) == (
        "Bidraget får inte användas efter 2026-12-31."
    )
    assert pay(finance, grant, 11, d(12, 31)).total == PV  # on its last day
    with at(d(12, 31)):
        ledger.grant_close(user=finance, grant=grant)
    assert conflict_of(lambda: pay(finance, grant, 10, d(12, 31))) == "Bidraget är avslutat."


def test_an_organisation_without_centres_has_nothing_to_pay(org, finance, grant):
    assert conflict_of(lambda: pay(finance, grant, 8, d(9, 2))) == (
        "Organisationen har inga BVC att betala."
    )


def test_a_month_paid_for_every_centre_is_paid(org, finance, grant, a):
    pay(finance, grant, 8, d(9, 2))
    assert (
        conflict_of(lambda: pay(finance, grant, 8, d(9, 3))) == "Månaden 2026-08 är redan betald."
    )


def test_paying_a_month_posts_and_locks_what_it_says(org, finance, grant):
    # Payouts are posted in the order of the centres' ids, not of their names or amounts.
    a = CentreFactory(organisation=org, name="A", id=uuid.UUID(int=2))
    b = CentreFactory(organisation=org, name="B", id=uuid.UUID(int=1))
    quiet = CentreFactory(organisation=org, name="C")
    visit(a, d(8, 3))
    visit(b, d(8, 4))
    visit(b, d(8, 5))
    visit(a, d(8, 6), social_services_present=False)

    result = month_pay(user=finance, grant=grant, year=2026, month=8, today=d(9, 3))

    expected = [(b.pk, 2 * PV), (a.pk, PV)]
    assert [(p.centre_id, p.amount) for p in result.payouts] == expected
    assert (result.month, result.total, result.moved) == (d(8, 1), 3 * PV, {})
    assert [
        (t.recipient_type, t.recipient_id, t.category, t.date, t.reference, t.created_by_id)
        for t in (p.transaction for p in result.payouts)
    ] == [
        (
            "centre",
            centre_id,
            "programme_variable",
            d(9, 3),
            "Rörlig ersättning 2026-08",
            finance.pk,
        )
        for centre_id, _amount in expected
    ]
    by_centre = {p.centre_id: p.transaction.pk for p in result.payouts}
    assert {
        (lock.centre_id, lock.month, lock.grant_id, lock.payout_id, lock.paid_by_id)
        for lock in PaidMonth.objects.filter(organisation=org)
    } == {
        (a.pk, d(8, 1), grant.pk, by_centre[a.pk], finance.pk),
        (b.pk, d(8, 1), grant.pk, by_centre[b.pk], finance.pk),
        (quiet.pk, d(8, 1), grant.pk, None, finance.pk),
    }
    assert ledger.figures(grant).balance == Decimal("100000.00") - 3 * PV


def test_a_negative_net_moves_to_the_next_open_month_and_a_zero_net_stays(
    org, finance, grant, a, b
):
    minus, zero = visit(a, d(8, 3)), visit(b, d(8, 4))
    pay(finance, grant, 8, d(9, 2))
    change(minus, d(9, 15), adjustment=True, status="cancelled")  # A: −2 500 in September
    change(zero, d(9, 15), adjustment=True, status="cancelled")  # B: −2 500 in September ...
    visit(b, d(9, 20), today=d(9, 20))  # ... and a new 2 500 kr visit: nets to zero

    result = pay(finance, grant, 9, d(10, 2))

    assert (result.payouts, result.moved) == ([], {a.pk: -PV})
    assert [
        (x.centre_id, x.month, x.source_month, x.amount, x.visit_id, x.reason)
        for x in CompensationAdjustment.objects.filter(visit__isnull=True).order_by("amount")
    ] == [
        (a.pk, d(10, 1), d(9, 1), -PV, None, "Negativt netto från 2026-09"),
        (a.pk, d(9, 1), d(9, 1), PV, None, "Negativt netto flyttat till nästa öppna månad"),
    ]
    rows = {(r.centre_name, r.month): r for r in statements(org, 2026)}
    assert rows[("A", d(9, 1))].net_programme_variable == ZERO
    assert rows[("B", d(9, 1))].net_programme_variable == ZERO
    assert rows[("A", d(10, 1))].adjustments == -PV


def test_what_paying_pays_each_centre(org) -> None:
    def r(n: int, net: str, pv: str = "0") -> StatementRow:
        return StatementRow(
            centre_id=uuid.UUID(int=n),
            centre_name="X",
            month=d(8, 1),
            visits=1,
            programme_variable=Decimal(pv),
            ordinary=ORD,
            adjustments=Decimal(net) - Decimal(pv),
            locked=False,
        )

    rows = [r(1, "0.01"), r(2, "0", pv="2500"), r(3, "-1", pv="10")]
    assert payable(rows) == {rows[0].centre_id: Decimal("0.01")}


def test_only_open_centres_are_paid_again(org, finance, grant, a, b):
    visit(a, d(8, 3))
    visit(b, d(8, 4))
    first = pay(finance, grant, 8, d(9, 2))
    tx_b = next(p.transaction for p in first.payouts if p.centre_id == b.pk)
    with at(d(9, 3)):
        ledger.reversal_post(user=finance, grant=grant, original=tx_b, reason="Fel konto")
    again = pay(finance, grant, 8, d(9, 4))
    assert [(p.centre_id, p.amount) for p in again.payouts] == [(b.pk, PV)]
    assert (
        LedgerTransaction.objects.filter(pk__in=[p.transaction.pk for p in again.payouts]).count()
        == 1
    )
