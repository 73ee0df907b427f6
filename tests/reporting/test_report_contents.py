"""What each report must show (DOMAIN.md 5.1; issue 22, items 2 and 5): literal figures from
small constructed data and from the demo, through the shared selectors and in the PDF text.

- Hälsovalsenheten: the centre's fixed allocation of its year (only allocations whose purpose is
  that year's fixed compensation, net of reversals, on whichever grant), the period it had fixed
  compensation (the days `fixed_on` holds), the approved plan against what was done, the rates
  in force and the adjustments settled next year.
- Socialstyrelsen: ordinary and extra visits by slot kind, reach by eligibility basis, visits
  per child and the share completing every slot, families who declined or ended early,
  interpreter use by language, the participating centres' child CNI, the requisition date, each
  repayment's date and invoice, adjustments settled next year and the sign-off.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import Centre, Role, User
from funding import ledger
from funding.allocation import fixed_allocation_compute, fixed_allocation_post
from funding.applications import application_approve, application_submit, application_withdraw
from funding.models import Application, Grant, LedgerTransaction, TxKind
from reporting import pdf, selectors, suppression
from reporting.models import ReportKind, ReportRun
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import cni, draft
from tests.funding.test_compensation import PV, at, d, rule
from tests.funding.test_compensation import visit as joint_visit
from tests.funding.test_month_edges import make_grant, pay
from tests.reporting.test_pdf import grant_run, text_of
from tests.visits.factories import ChildFactory, EnrolmentFactory, log_visit, nurse_at
from visits.models import EndReason, Enrolment

pytestmark = pytest.mark.django_db
Z = Decimal("0.00")


def line_with(text: str, *needles: str) -> str:
    """The first PDF text line holding every needle (pypdf keeps a table row on one line)."""
    return next(row for row in text.splitlines() if all(n in row for n in needles))


def halsoval_run(centre: Centre, year: int, by: User | None = None) -> ReportRun:
    return ReportRun(
        kind=ReportKind.HALSOVAL,
        organisation=centre.organisation,
        year=year,
        centre=centre,
        requested_by=by or member(Role.CENTRE_MANAGER, centre=centre),
    )


def socialstyrelsen_run(grant: Grant) -> ReportRun:
    return ReportRun(
        kind=ReportKind.SOCIALSTYRELSEN,
        organisation=grant.organisation,
        year=grant.year,
        grant=grant,
        requested_by=member(Role.CBHV, organisation=grant.organisation),
    )


# --- Hälsovalsenheten: the fixed allocation --------------------------------------------------
@pytest.fixture
def org():
    org = OrganisationFactory()
    rule(org)
    return org


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


def approved(centre: Centre, *, effective_from: datetime.date, **plan: object) -> Application:
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    with at(d(1, 10)):
        app = draft(centre, by=manager, year=2026, **{"start_date": d(1, 1), **plan})
        app = application_submit(user=manager, application=app)
        app = application_approve(
            user=member(Role.CBHV, organisation=centre.organisation),
            application=app,
            effective_from=effective_from,
        )
    app._manager = manager  # type: ignore[attr-defined]
    return app


def test_the_fixed_allocation_is_the_years_fixed_compensation_net_of_reversals(org, finance):
    """Finding: "Fast ersättning, fördelad" summed every allocation to the centre on any grant of
    the year (Vivalla showed 4 417 310 kr instead of 600 000; centres without fixed compensation
    showed millions). Now: only allocations whose purpose is the year's fixed compensation, net
    of their reversals, on whichever grant of the organisation they were posted."""
    a = CentreFactory(organisation=org, name="A")
    b = CentreFactory(organisation=org, name="B")
    c = CentreFactory(organisation=org, name="C")  # no fixed compensation
    cni(a, "3.00", 100)  # weight 300
    cni(b, "2.50", 300)  # weight 750
    approved(a, effective_from=d(2, 1))
    approved(b, effective_from=d(2, 1))
    first = make_grant(org, finance, reference="26RS1")
    second = make_grant(org, finance, reference="26REG")
    with at(d(2, 1)):
        # 70 000 kr by 300 : 750 → 20 000 and 50 000, posted on the first grant ...
        fixed_allocation_post(user=finance, grant=first, year=2026, pool=70_000, date=d(2, 1))
        # ... reversed there, and posted again on the second grant.
        for tx in LedgerTransaction.objects.filter(grant=first, kind=TxKind.ALLOCATION):
            ledger.reversal_post(user=finance, grant=first, original=tx, reason="Fel bidrag")
        fixed_allocation_post(user=finance, grant=second, year=2026, pool=70_000, date=d(2, 1))
        # Commitments that are not fixed compensation.
        ledger.allocation_post(
            user=finance, grant=first, recipient=a, amount=Decimal("5000"), purpose="Utbildning"
        )
        ledger.allocation_post(
            user=finance, grant=first, recipient=c, amount=Decimal("30000"), purpose="Samordning"
        )
    with at(d(3, 31)):
        ledger.payout_post(
            user=finance,
            grant=second,
            recipient_type="centre",
            recipient_id=a.pk,
            category="fixed",
            amount=Decimal("5000"),
            date=d(3, 31),
        )
    account = selectors.centre_account(a, 2026)
    assert (account.fixed_allocated, account.fixed_paid, account.fixed_grants) == (
        Decimal("20000.00"),
        Decimal("5000.00"),
        ["26REG"],
    )
    assert selectors.centre_account(b, 2026).fixed_allocated == Decimal("50000.00")
    other = selectors.centre_account(c, 2026)
    assert (other.fixed_allocated, other.fixed_paid, other.fixed_grants) == (Z, Z, [])
    assert selectors.centre_account(a, 2025).fixed_allocated == Z

    text, _pages = text_of(pdf.render_halsoval(halsoval_run(a, 2026), {}).content)
    assert line_with(text, "Fast ersättning, fördelad").endswith("(bidrag 26REG) 20 000,00 kr")
    assert line_with(text, "Fast ersättning, utbetald").endswith("5 000,00 kr")
    text, _pages = text_of(pdf.render_halsoval(halsoval_run(c, 2026), {}).content)
    assert line_with(text, "Fast ersättning, fördelad").endswith("0,00 kr")
    assert "BVC:n hade ingen fast ersättning 2026." in text


def test_the_demo_vivalla_account_shows_its_600_000_kr(demo):
    """The demo posts a 600 000 kr pool over the centres approved for the current year. Only
    Vivalla/Lundby is approved (Varberga's application is submitted, Mikaeli's a draft), so its
    weight 2.87 × 612 is the whole: it gets all 600 000 kr; a centre without fixed compensation
    has 0.00."""
    year = timezone.localdate().year
    vivalla = Centre.objects.get(name="Vivalla/Lundby")
    lines = fixed_allocation_compute(
        organisation_id=vivalla.organisation_id, year=year, pool=600_000
    )
    assert [(line.centre.name, line.weight, line.amount) for line in lines] == [
        ("Vivalla/Lundby", Decimal("1756.44"), Decimal("600000.00"))
    ]
    account = selectors.centre_account(vivalla, year)
    assert (account.fixed_allocated, account.fixed_grants) == (Decimal("600000.00"), ["26RS0305"])
    for name in ("Adolfsberg", "Varberga", "Mikaeli"):
        assert selectors.centre_account(Centre.objects.get(name=name), year).fixed_allocated == Z

    manager = User.objects.get(username="manager_vivalla")
    text, _pages = text_of(pdf.render_halsoval(halsoval_run(vivalla, year, manager), {}).content)
    assert line_with(text, "Fast ersättning, fördelad").endswith("(bidrag 26RS0305) 600 000,00 kr")
    assert f"BVC:n hade fast ersättning {year}-02-01 – {year}-12-31." in text
    flat = " ".join(text.split())
    assert re.search(
        r"140 planerade Genomförda hembesök: (x|<5|\d+) under perioden med fast ersättning, "
        r"(x|<5|\d+) under hela året",
        flat,
    )
    assert "8,0 timmar per vecka" in flat and f"Start {year}-02-01" in flat
    adolfsberg = Centre.objects.get(name="Adolfsberg")
    manager = User.objects.get(username="manager_adolfsberg")
    text, _pages = text_of(pdf.render_halsoval(halsoval_run(adolfsberg, year, manager), {}).content)
    assert line_with(text, "Fast ersättning, fördelad").endswith("0,00 kr")


# --- Hälsovalsenheten: the period and the plan -----------------------------------------------
def test_the_fixed_period_is_the_days_fixed_on_holds(org):
    centre = CentreFactory(organisation=org)
    app = approved(centre, effective_from=d(4, 1))
    with at(d(10, 15)):
        app = application_withdraw(user=app._manager, application=app)
    assert selectors.fixed_period(app) == (d(4, 1), d(10, 14))
    fixed = Application.objects.filter(pk=app.pk)
    assert fixed.fixed_on(d(4, 1)).exists() and fixed.fixed_on(d(10, 14)).exists()
    assert not fixed.fixed_on(d(3, 31)).exists() and not fixed.fixed_on(d(10, 15)).exists()
    # Withdrawn on the day it took effect: it never gave fixed compensation.
    other = approved(CentreFactory(organisation=org), effective_from=d(1, 10))
    with at(d(1, 10)):
        other = application_withdraw(user=other._manager, application=other)
    assert selectors.fixed_period(other) is None
    assert selectors.centre_plan(other.centre, 2026) is None


def test_the_account_sets_the_approved_plan_against_what_was_done(org):
    centre = CentreFactory(organisation=org, name="Vivalla")
    app = approved(
        centre,
        effective_from=d(4, 1),
        planned_visits=12,
        programme="partial",
        planned_slots=["2m", "4m"],
        nurse_hours_per_week=Decimal("6.5"),
        target_families="Familjer med kända riskfaktorer",
        start_date=d(3, 1),
    )
    with at(d(10, 15)):
        application_withdraw(user=app._manager, application=app)
    nurse = nurse_at(centre)
    risk = EnrolmentFactory(
        child=ChildFactory(current_centre=centre, birth_date=d(2, 1)),
        offered_on=d(2, 10),
        accepted_on=d(2, 12),
        eligibility=["risk_factors", "first_time_parents"],
    )
    with at(d(11, 20)):
        for day, slot, place in (
            (d(3, 10), "1-2w", "home"),  # before the period
            (d(4, 2), "2m", "home"),
            (d(5, 5), "4m", "home"),
            (d(6, 5), "", "clinic"),
            (d(10, 20), "8m", "home"),  # after the withdrawal
        ):
            log_visit(risk, nurse, date=day, slot=slot, place=place)
    plan = selectors.centre_plan(centre, 2026)
    assert plan is not None
    assert (plan.fixed_from, plan.fixed_until, plan.withdrawn_on) == (d(4, 1), d(10, 14), d(10, 15))
    assert (plan.planned_visits, plan.nurse_hours_per_week, plan.programme) == (
        12,
        Decimal("6.5"),
        "partial",
    )
    assert plan.planned_slots == ["2 månader", "4 månader"]
    assert (plan.home_visits, plan.home_visits_fixed, plan.first_home_visit) == (4, 2, d(4, 2))
    assert plan.slots_visited == ["1–2 veckor", "2 månader", "4 månader", "8 månader"]
    assert [(r.basis, r.offered, r.accepted) for r in plan.offered_by_basis] == [
        ("risk_factors", 1, 1),
        ("first_time_parents", 1, 1),
        ("first_child_in_sweden", 0, 0),
    ]

    text, _pages = text_of(pdf.render_halsoval(halsoval_run(centre, 2026), {}).content)
    flat = " ".join(text.split())
    assert (
        "BVC:n hade fast ersättning 2026-04-01 – 2026-10-14 (ansökan återtogs 2026-10-15)" in flat
    )
    assert "140 planerade" not in flat and "12 planerade" in flat
    assert "Genomförda hembesök: <5 under perioden med fast ersättning, <5 under hela året" in flat
    assert "6,5 timmar per vecka" in flat
    assert "Delar av programmet: 2 månader, 4 månader" in flat
    assert "Familjer med kända riskfaktorer" in flat
    assert "kända riskfaktorer <5, förstagångsföräldrar <5, första barnet i sverige 0" in flat
    assert "Första hembesöket under perioden 2026-04-02" in flat


def test_the_periods_home_visits_are_hidden_when_the_rest_of_the_year_would_show(org):
    """The year's home visits are shown in the activity; the period's part of them is "x" when
    the visits outside the period (the difference) would be 1–4."""
    centre = CentreFactory(organisation=org)
    approved(centre, effective_from=d(4, 1))
    plan = selectors.centre_plan(centre, 2026)
    empty = selectors.programme_activity(org.pk, 2026, [centre.pk])
    months = [selectors.MonthCount(m, 0, 20 if m == 5 else 0) for m in range(1, 13)]
    twenty = dataclasses.replace(
        empty, completed_visits=20, home_visits=20, extra_visits=20, per_month=months
    )
    assert (
        pdf._plan_visits(dataclasses.replace(plan, home_visits=20, home_visits_fixed=17), twenty)
        == "x"
    )
    assert (
        pdf._plan_visits(dataclasses.replace(plan, home_visits=20, home_visits_fixed=15), twenty)
        == "15"
    )
    assert (
        pdf._plan_visits(dataclasses.replace(plan, home_visits=20, home_visits_fixed=20), twenty)
        == "20"
    )
    assert (
        pdf._plan_visits(dataclasses.replace(plan, home_visits=0, home_visits_fixed=0), empty)
        == "0"
    )
    assert pdf._plan_visits(None, empty) == ""


def test_the_account_and_the_grant_report_list_adjustments_settled_next_year(org, finance):
    """API.md "The year boundary": a retroactive approval in January 2027 turns a paid June
    2026 joint visit into an ordinary one; the −2 500 kr is booked in January 2027 and listed
    in the 2026 account and grant report as settled next year, not counted in 2026."""
    a = CentreFactory(organisation=org, name="A")
    grant = make_grant(org, finance)
    next_grant = make_grant(org, finance, year=2027, reference="27RS1")
    manager = member(Role.CENTRE_MANAGER, centre=a)
    with at(d(1, 10)):
        app = application_submit(
            user=manager, application=draft(a, by=manager, year=2026, start_date=d(1, 1))
        )
    joint_visit(a, d(6, 3), today=d(6, 3))
    pay(finance, grant, 6, d(7, 2))
    pay(finance, next_grant, 12, d(1, 8, 2027))
    with at(d(1, 12, 2027)):
        application_approve(
            user=member(Role.CBHV, organisation=org), application=app, effective_from=d(6, 1)
        )
    account = selectors.centre_account(a, 2026)
    assert [(r.month, r.settled_in, r.adjustments) for r in account.settled_next_year] == [
        (d(6, 1), d(1, 1, 2027), -PV)
    ]
    assert (account.programme_variable, account.adjustments) == (PV, Z)
    text, _pages = text_of(pdf.render_halsoval(halsoval_run(a, 2026), {}).content)
    assert line_with(text, "2026-06 2027-01").endswith("−2 500,00 kr")
    assert "räknas i den månad de regleras" in " ".join(text.split())

    record = selectors.grant_record(grant)
    assert [(r.centre_name, r.month, r.settled_in) for r in record.settled_next_year] == [
        ("A", d(6, 1), d(1, 1, 2027))
    ]
    text, _pages = text_of(pdf.render_socialstyrelsen(socialstyrelsen_run(grant), {}).content)
    assert line_with(text, "A 2026-06 2027-01").endswith("−2 500,00 kr")


# --- Rates are data ---------------------------------------------------------------------------
def test_the_reports_take_the_rate_in_force_and_say_when_it_changed(org, finance):
    """Finding: the PDFs hard-coded "(2 500 kr)"."""
    rule(org, valid_from=d(6, 1), pv="2700", ordinary="1850")
    centre = CentreFactory(organisation=org)
    rates = selectors.rates_in_year(org.pk, 2026)
    assert [(r.valid_from, r.valid_to, r.programme_variable, r.ordinary) for r in rates] == [
        (d(1, 1), d(5, 31), Decimal("2500.00"), Decimal("1800.00")),
        (d(6, 1), d(12, 31), Decimal("2700.00"), Decimal("1850.00")),
    ]
    assert [r.programme_variable for r in selectors.rates_in_year(org.pk, 2027)] == [
        Decimal("2700.00")
    ]
    assert selectors.rates_in_year(org.pk, 2022) == []
    grant = make_grant(org, finance)
    text, _pages = text_of(pdf.render_socialstyrelsen(socialstyrelsen_run(grant), {}).content)
    flat = " ".join(text.split())
    assert "(2 500 kr per besök, 2 700 kr från 2026-06-01)" in flat
    assert "Ersättningsnivån ändrades under året 2026-06-01" in flat
    assert line_with(text, "2026-06-01 – 2026-12-31").endswith("2 700,00 kr 1 850,00 kr")
    text, _pages = text_of(pdf.render_halsoval(halsoval_run(centre, 2026), {}).content)
    assert "rörlig från programmet (2 500 kr per besök, 2 700 kr från 2026-06-01)" in (
        " ".join(text.split())
    )
    assert "(2 500 kr)" not in text


# --- Socialstyrelsen: what the grant's conditions are judged by --------------------------------
# The Örebro template (tests/visits/factories.SLOTS): 1-2w and 8m ordinary, the rest extra.
AGES = {"1-2w": 10, "2m": 61, "4m": 122, "8m": 243, "12m": 365, "15m": 456}


def programme(
    centre: Centre,
    born: datetime.date,
    slots: list[str],
    interpreter: dict[str, tuple[str, str]] | None = None,
    **enrolment: object,
) -> Enrolment:
    """A child at `centre` with completed home visits at `slots`, each on its target day;
    `interpreter`: slot → (mode, language) for the visits that had one."""
    child = ChildFactory(current_centre=centre, birth_date=born)
    e = EnrolmentFactory(child=child, **{"offered_on": born, "accepted_on": born, **enrolment})
    nurse = nurse_at(centre)
    for key in slots:
        mode, language = (interpreter or {}).get(key, ("none", ""))
        log_visit(
            e,
            nurse,
            date=born + datetime.timedelta(days=AGES[key]),
            slot=key,
            interpreter_mode=mode,
            interpreter_language=language,
        )
    return e


@pytest.fixture
def programme_2026(org):
    """2026 in figures that are easy to count (every visit through `visit_log`):

    - X: 6 children born 2025-01-01 with all six slots (12m and 15m fall in 2026; three of them
      with an Arabic interpreter), 4 with all but 15m (12m in 2026; one ended early, "other").
      Their last window (15m, day 486) closed on 2026-05-02: the completion cohort, 6 of 10.
    - Y: 5 children born 2026-03-01 (risk factors and first-time parents) with 1-2w, 2m, 4m and
      8m in 2026 (Somali interpreter 5 times, Tigrinya once), two visits outside the template
      (Dari); one family declined an offer in 2026.
    - Z: child CNI but no visits, so not a participating centre.
    """
    x = CentreFactory(organisation=org, name="X")
    y = CentreFactory(organisation=org, name="Y")
    z = CentreFactory(organisation=org, name="Z")
    cni(x, "2.87", 612)
    cni(z, "3.10", 100)
    born = d(1, 1, 2025)
    arabic = {"12m": ("in_person", " Arabiska"), "15m": ("in_person", "arabiska")}
    somali = ("video", "somaliska")
    with at(d(12, 20)):
        for i in range(6):
            programme(x, born, list(AGES), arabic if i < 3 else None, eligibility=["risk_factors"])
        four = [
            programme(x, born, [k for k in AGES if k != "15m"], eligibility=["first_time_parents"])
            for _ in range(4)
        ]
        Enrolment.objects.filter(pk=four[0].pk).update(ended_on=d(6, 1), end_reason="other")
        interpreters: list[dict[str, tuple[str, str]]] = [
            {"1-2w": somali},
            {"1-2w": somali},
            {"1-2w": somali},
            {"1-2w": somali, "2m": somali},
            {"2m": ("phone", "Tigrinja")},
        ]
        young = [
            programme(
                y,
                d(3, 1),
                ["1-2w", "2m", "4m", "8m"],
                used,
                eligibility=["risk_factors", "first_time_parents"],
            )
            for used in interpreters
        ]
        for e in young[:2]:
            log_visit(e, date=d(9, 1), interpreter_mode="phone", interpreter_language="dari")
        EnrolmentFactory(
            child=ChildFactory(current_centre=y, birth_date=d(3, 20)),
            offered_on=d(3, 25),
            accepted_on=None,
            declined_on=d(4, 1),
            eligibility=["first_child_in_sweden"],
        )
    return x, y, z


def test_the_grant_report_details_from_constructed_data(org, finance, programme_2026):
    details = selectors.programme_details(org.pk, 2026)
    split = details.split
    # Ordinary: Y's 1-2w and 8m (10). Extra slots: X's 12m and 15m (6 × 2 + 4) and Y's 2m and
    # 4m (10). Outside the template: Y's two.
    assert (split.ordinary, split.extra_slots, split.outside_template, split.extra) == (
        10,
        26,
        2,
        28,
    )
    assert details.slot_kinds == {
        "1-2w": "ordinary",
        "2m": "extra",
        "4m": "extra",
        "8m": "ordinary",
        "12m": "extra",
        "15m": "extra",
    }
    assert [(r.basis, r.offered, r.accepted) for r in details.by_basis] == [
        ("risk_factors", 5, 5),
        ("first_time_parents", 5, 5),
        ("first_child_in_sweden", 1, 0),
    ]
    completion = details.completion
    assert (completion.completed_visits, completion.children_visited) == (38, 15)
    assert completion.visits_per_child == "2,5"  # 38 / 15
    assert (completion.cohort, completion.completed_all) == (10, 6)
    assert completion.completed_share == "60,0 %"
    x, y, _z = programme_2026
    assert selectors.programme_details(org.pk, 2026, [x.pk]).completion.cohort == 10
    assert selectors.programme_details(org.pk, 2026, [y.pk]).completion.cohort == 0
    assert details.departures.declined == 1
    assert dict(details.departures.ended_early) == {
        "flyttade": 0,
        "avböjde fortsatt deltagande": 0,
        "barnet avled": 0,
        "annan orsak": 1,
    }
    # Arabiska 6 and Somaliska 5 stand alone; Dari 2 and Tigrinja 1 are hidden together, and
    # their 3 would come back from the total: the smallest shown language joins them.
    assert [(r.language, r.visits, r.languages) for r in details.interpreter_languages] == [
        ("Arabiska", 6, 1),
        ("Övriga språk", 8, 3),
    ]
    assert [(c.name, c.child_cni) for c in details.centres] == [
        ("X", Decimal("2.87")),
        ("Y", None),
    ]

    grant = make_grant(org, finance)
    text, _pages = text_of(pdf.render_socialstyrelsen(socialstyrelsen_run(grant), {}).content)
    # The activity hides the 1–2 weeks slot ("x") so that the 2 outside the template cannot be
    # worked out from the completed visits: the ordinary visits, which hold it, and the extra
    # total, which holds the 2, are "x" too; the extra slots are the sum of exact cells.
    assert line_with(text, "1–2 veckor").endswith(" x")
    assert line_with(text, "Ordinarie besökstillfällen i mallen").endswith(" x")
    assert line_with(text, "Extra besökstillfällen i mallen").endswith(" 26")
    assert line_with(text, "Besök utanför mallen (extra)").endswith(" <5")
    assert line_with(text, "Extra besök totalt").endswith(" x")
    assert line_with(text, "Kända riskfaktorer").endswith(" 5 5")
    assert line_with(text, "Första barnet i Sverige").endswith(" <5 0")
    assert line_with(text, "Barn med minst ett genomfört besök").endswith(" 15")
    assert line_with(text, "Genomförda besök per sådant barn").endswith(" 2,5")
    assert line_with(text, "Barn vars program skulle vara avslutat senast 2026-12-31").endswith(
        " 10"
    )
    assert line_with(text, "varav med genomfört besök vid alla").endswith(" 6 (60,0 %)")
    assert line_with(text, "Tackade nej till erbjudandet").endswith(" <5")
    assert line_with(text, "Avslutade i förtid: annan orsak").endswith(" <5")
    assert line_with(text, "Avslutade i förtid: barnet avled").endswith(" 0")
    assert line_with(text, "Arabiska").endswith(" 6")
    assert line_with(text, "Övriga språk (3 språk)").endswith(" 8")
    assert line_with(text, "X ", "SCB") == "X 2,87 SCB, 2025-12-31"
    assert line_with(text, "inget barn-CNI registrerat") == "Y – inget barn-CNI registrerat"
    assert not any(row.startswith("Z ") for row in text.splitlines())
    assert "Rekvirerat (inget datum registrerat)" in text


def test_counts_beside_the_activitys_are_shown_through_its_decisions(org):
    """The split and the languages regroup counts the activity shows: a sum is exact only when
    the activity shows each of its parts exactly, and the languages only while the activity's
    interpreter total is shown."""
    exact, small = suppression.primary(10), suppression.primary(3)
    hidden = suppression.Shown(suppression.State.HIDDEN)
    assert pdf._regrouped([exact, suppression.primary(0)], 10) == "10"
    assert pdf._regrouped([exact, small], 13) == "x"
    assert pdf._regrouped([exact, hidden], 17) == "x"
    assert pdf._regrouped([], 0) == "0"
    assert pdf._regrouped([exact], 11) == "x"  # the kinds disagree with the per-slot counts


def test_ended_early_names_every_reason_but_completed():
    assert set(selectors.ENDED_EARLY) == set(EndReason) - {EndReason.COMPLETED}


def test_the_selectors_query_count_does_not_grow_with_centres_or_visits(org, programme_2026):
    x, _y, _z = programme_2026
    org_finance = member(Role.FINANCE, organisation=org)
    grant = make_grant(org, org_finance)
    approved(x, effective_from=d(2, 1))

    def counts() -> list[int]:
        found = []
        for call in (
            lambda: selectors.programme_details(org.pk, 2026),
            lambda: selectors.centre_account(x, 2026),
            lambda: selectors.centre_plan(x, 2026),
            lambda: selectors.grant_record(grant),
        ):
            with CaptureQueriesContext(connection) as queries:
                call()
            found.append(len(queries))
        return found

    few = counts()
    assert few == [8, 10, 4, 4]
    # More centres, children, visits, languages, repayments-to-be: the same number of queries.
    with at(d(12, 20)):
        for i in range(4):
            centre = CentreFactory(organisation=org, name=f"Ny {i}")
            cni(centre, "2.20", 50)
            for _ in range(3):
                e = programme(centre, d(3, 1), ["1-2w", "2m"], eligibility=["risk_factors"])
                log_visit(
                    e,
                    date=d(9, 2),
                    slot="",
                    interpreter_mode="phone",
                    interpreter_language=f"språk {i}",
                )
            programme(x, d(2, 1), ["1-2w", "2m", "4m"])
        ledger.allocation_post(
            user=org_finance, grant=grant, recipient=x, amount=Decimal("100"), purpose="Övrigt"
        )
    assert counts() == few


# --- Socialstyrelsen on the demo: requisition, repayment, sign-off -----------------------------
def test_the_demo_grant_report_shows_requisition_repayment_and_sign_off(demo):
    run = grant_run("23RS9581")
    text, pages = text_of(pdf.render_socialstyrelsen(run, {}).content)
    flat = " ".join(text.split())
    assert pages <= 6
    assert "Bidragsår 2023 · Rekvirerat 2022-12-26 · Redovisas senast 2024-03-01" in flat
    assert line_with(text, "2024-04-15").endswith(
        "Socialstyrelsens faktura 2024-9581 666 500,00 kr"
    )
    assert "(2 500 kr per besök)" in line_with(text, "Rörlig ersättning")
    assert "Inga justeringar från 2023 regleras nästa år." in text
    # The sign-off: who submits and where the rest is recorded (a file cannot hold its checksum).
    assert "Rapporten lämnas in i Hembesök av CBHV." in flat
    assert "kontrollsumma (SHA-256), och visas på rapportens sida i Hembesök" in flat
    assert "en PDF kan inte innehålla sin egen kontrollsumma" in flat
    assert f"Rapport-id {run.pk} (står på rapportens sida i Hembesök)" in flat
    assert "Eva Nilsson" not in flat  # no person's name in the file
    # The participating centres with their child CNI.
    assert line_with(text, "Vivalla/Lundby", "SCB").endswith("2,87 SCB, 2025-12-31")
    assert line_with(text, "Adolfsberg", "SCB").endswith("0,58 SCB, 2025-12-31")


def test_the_report_page_shows_the_sign_off_of_a_submitted_report(demo, client):
    submitted = ReportRun.objects.filter(
        kind=ReportKind.SOCIALSTYRELSEN, grant__reference="23RS9581", submitted_at__isnull=False
    ).get()
    client.force_login(User.objects.get(username="cbhv"))
    html = client.get(reverse("reporting:run", args=[submitted.pk])).content.decode()
    signoff = html[html.index('id="signoff-title"') :]
    assert "Inlämnad av" in signoff and submitted.submitted_by.get_full_name() in signoff
    assert submitted.submitted_at is not None
    assert timezone.localtime(submitted.submitted_at).strftime("%Y-%m-%d %H:%M") in signoff
    assert submitted.sha256 in signoff and str(submitted.pk) in signoff
    assert html.count(submitted.sha256) == 1


def test_the_skl_report_leaves_mmr_out_and_says_why(demo):
    text, _pages = text_of(
        pdf.render_skl(grant_run("23RS9581", kind=ReportKind.SKL), {"results": "Fler."}).content
    )
    flat = " ".join(text.split())
    assert "Vaccinationstäckning (MMR)" in text and "det görs ännu inte" in flat
    assert re.fullmatch(r"Kända riskfaktorer (<5|\d+) (<5|\d+|0)", line_with(text, "Kända riskf"))
    assert "Rapporten lämnas in i Hembesök av CBHV." in flat
