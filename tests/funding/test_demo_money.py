"""The demo's money (issue: money 10; API.md "Demo data"), checked through the API as finance
would see it and against the stored visits."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.models import Centre, Partner, User
from funding.compensation import month_of
from funding.models import Grant, PaidMonth, PartnerAgreement, VisitCompensation

pytestmark = pytest.mark.django_db
D = Decimal


def _grants(client):
    rows = client.get("/api/v1/grants/?page_size=200").data["results"]
    return {row["reference"]: row for row in rows}


def test_the_2023_grant_is_paid_from_2023_visits_closed_and_repaid(demo, api_client_for):
    finance = api_client_for(User.objects.get(username="finance"))
    grant = _grants(finance)["23RS9581"]
    assert (grant["amount"], grant["year"], grant["status"]) == ("1349000.00", 2023, "closed")
    assert (grant["use_by"], grant["report_due"]) == ("2023-12-31", "2024-03-01")
    assert D(grant["repaid"]) == D(grant["unused"]) > 0
    assert grant["repayment_due"] == "0.00"
    assert grant["balance"] == "0.00"
    ledger = finance.get(f"/api/v1/grants/{grant['id']}/ledger/?page_size=200").data["results"]
    programme_variable = sum(
        (D(row["amount"]) for row in ledger if row["category"] == "programme_variable"), D(0)
    )
    # What the 2023 grant paid is what January to November 2023 earned at centres without
    # fixed money; December is paid when it is over, in January, from the 2024 grant.
    orebro = VisitCompensation.objects.filter(centre__organisation__name="Region Örebro län")
    earned = orebro.filter(pv_month__year=2023, pv_month__month__lte=11).aggregate(
        s=Sum("pv_amount")
    )["s"]
    assert earned > 0
    assert -programme_variable == earned
    assert all(row["date"] <= "2023-12-31" for row in ledger if row["kind"] == "payout")
    december = orebro.filter(pv_month=datetime.date(2023, 12, 1)).aggregate(s=Sum("pv_amount"))
    next_ledger = finance.get(
        f"/api/v1/grants/{_grants(finance)['24RS0316']['id']}/ledger/?page_size=200"
    ).data["results"]
    paid_december = [r for r in next_ledger if r["reference"] == "Rörlig ersättning 2023-12"]
    assert {r["date"] for r in paid_december} == {"2024-01-20"}
    assert -sum(D(r["amount"]) for r in paid_december) == december["s"]
    repayment = [row for row in ledger if row["kind"] == "repayment"]
    assert len(repayment) == 1 and repayment[0]["reference"].startswith("Socialstyrelsens faktura")


def test_the_current_year_is_open_with_a_fixed_allocation_and_past_months_paid(
    demo, api_client_for
):
    today = timezone.localdate()
    finance = api_client_for(User.objects.get(username="finance"))
    current = [g for g in _grants(finance).values() if g["year"] == today.year]
    assert len(current) == 1 and current[0]["status"] == "open"
    allocation = finance.get(f"/api/v1/grants/{current[0]['id']}/ledger/?page_size=200").data[
        "results"
    ]
    fixed = [r for r in allocation if r["kind"] == "allocation" and r["recipient_type"] == "centre"]
    assert sum(D(r["amount"]) for r in fixed) == D("600000")
    paid = set(
        PaidMonth.objects.locked()
        .filter(organisation__name="Region Örebro län")
        .values_list("month", flat=True)
    )
    this_month = month_of(today)
    last_month = month_of(this_month - datetime.timedelta(days=1))
    # Last month awaits payment, as finance finds it at the start of a month; the one before
    # is paid.
    assert this_month not in paid and last_month not in paid
    assert month_of(last_month - datetime.timedelta(days=1)) in paid
    assert max(paid) < last_month
    statements = finance.get(
        f"/api/v1/compensation/?year={today.year}&month={today.month}&page_size=200"
    ).data["results"]
    assert statements and not any(row["locked"] for row in statements)


def test_linkoping_has_its_grant_and_the_conditional_leanlink_agreement(demo, api_client_for):
    leanlink = PartnerAgreement.objects.get(partner__name="Leanlink")
    assert leanlink.condition == "grant_received"
    assert leanlink.yearly_amount == D("700000")
    clerk = api_client_for(User.objects.get(username="finance_linkoping"))
    grants = _grants(clerk)
    assert set(grants) == {"Dnr 2021/0880"}
    assert grants["Dnr 2021/0880"]["amount"] == "880000.00"
    assert grants["Dnr 2021/0880"]["paid_out"] == "700000.00"
    # Örebro's finance never sees Linköping's money, and the other way round.
    assert "Dnr 2021/0880" not in _grants(api_client_for(User.objects.get(username="finance")))
    assert Partner.objects.get(name="Leanlink").organisation.name == "Linköpings kommun"


def test_the_approved_centre_earns_no_programme_variable_while_it_has_fixed_compensation(demo):
    from funding.models import Application

    approved = Application.objects.get(centre__name="Vivalla/Lundby", approved=True)
    during = VisitCompensation.objects.filter(
        centre=approved.centre,
        visit__date__gte=approved.effective_from,
        visit__date__year=approved.year,
    )
    assert during.filter(visit__kva_codes__contains=["ZV509"], visit__place="home").exists()
    assert not during.filter(type="programme_variable").exists()
    assert not during.filter(pv_amount__gt=0).exists()


# --- Submitted reports, the SKL agreement and Region Östergötland (issue 22, item 8) -----------
def _deadlines(client):
    response = client.get("/api/v1/deadlines/?page_size=200")
    assert response.status_code == 200 and response.data["next"] is None
    return response.data["results"]


def test_the_reports_of_closed_years_are_submitted_by_cbhv_not_overdue(demo, api_client_for):
    cbhv = api_client_for(User.objects.get(username="cbhv"))
    reports = {d["subject"]: d for d in _deadlines(cbhv) if d["kind"] == "grant_report"}
    for subject, due in (
        ("SKL (Sveriges Kommuner och Landsting) SKL 18/03311 (2018)", "2019-02-15"),
        ("Socialstyrelsen 23RS9581 (2023)", "2024-03-01"),
        ("Socialstyrelsen 24RS0316 (2024)", "2025-03-01"),
        ("Socialstyrelsen 25RS0298 (2025)", "2026-03-01"),
    ):
        deadline = reports.pop(subject)
        assert (deadline["due"], deadline["status"]) == (due, "submitted"), subject
        run = cbhv.get(f"/api/v1/reports/{deadline['report']}/").data
        assert (run["status"], run["submitted_by"]) == ("done", "cbhv"), subject
        assert run["sha256"] and run["content_type"] == "application/pdf"
        # Rendered once the grant was closed: the submitted file is not "Preliminär".
        grant = Grant.objects.get(pk=run["grant"])
        assert grant.closed_at is not None and grant.closed_at <= parse_datetime(run["started_at"])
    # What is left is this year's report (and later years'), not yet due: open.
    assert reports and {d["status"] for d in reports.values()} == {"open"}
    assert not [d for d in _deadlines(cbhv) if d["status"] == "overdue"]


def test_the_submitted_reports_have_every_section_written_as_a_marked_example(demo):
    from reporting.narratives import SECTIONS
    from reporting.selectors import current_narratives
    from reporting.subjects import Subject

    for reference, kind in (("23RS9581", "socialstyrelsen"), ("SKL 18/03311", "skl")):
        grant = Grant.objects.get(reference=reference)
        texts = current_narratives(Subject(kind, grant.organisation, grant.year, grant))
        assert set(texts) == {key for key, _heading in SECTIONS[kind]}
        assert all("Exempeltext i demodata." in v.text for v in texts.values())
        assert {v.written_by.username for v in texts.values()} == {"cbhv"}
    # The 2018 report says why its activity tables are empty (the demo's visits start in 2023).
    skl = Grant.objects.get(reference="SKL 18/03311")
    reached = current_narratives(Subject("skl", skl.organisation, 2018, skl))["reached"].text
    assert "från 2023" in reached


def test_the_2018_skl_grant_is_paid_in_2018_closed_repaid_and_reported(demo, api_client_for):
    finance = api_client_for(User.objects.get(username="finance"))
    grant = _grants(finance)["SKL 18/03311"]
    assert (grant["funder"], grant["year"], grant["status"]) == ("skl", 2018, "closed")
    assert (grant["use_by"], grant["report_due"]) == ("2018-12-31", "2019-02-15")
    assert (grant["amount"], grant["paid_out"], grant["unused"]) == (
        "3570000.00",
        "3430000.00",
        "140000.00",
    )
    assert (grant["repaid"], grant["repayment_due"], grant["balance"]) == (
        "140000.00",
        "0.00",
        "0.00",
    )
    rows = finance.get(f"/api/v1/grants/{grant['id']}/ledger/?page_size=200").data["results"]
    payouts = [r for r in rows if r["kind"] == "payout"]
    assert len(payouts) == 6 and all(r["date"].startswith("2018-") for r in payouts)
    assert [r["date"] for r in rows if r["kind"] == "repayment"] == ["2019-03-29"]
    cbhv = api_client_for(User.objects.get(username="cbhv"))
    runs = cbhv.get("/api/v1/reports/?kind=skl").data["results"]
    assert [(r["year"], r["grant"], r["submitted_by"]) for r in runs] == [
        (2018, grant["id"], "cbhv")
    ]


OSTERGOTLAND_SHARES = {
    # child CNI × listed children 0–5 of the four centres with the highest care load
    # (funding/demo.py), 4 750 000 kr shared by largest remainder.
    "Hageby": "1516253.00",
    "Navestad": "1278811.00",
    "Berga": "994400.00",
    "Ryd": "960536.00",
}


def test_ostergotland_has_6_25_msek_a_year_with_1_5_to_folktandvarden(demo, api_client_for):
    today = timezone.localdate()
    finance = api_client_for(User.objects.get(username="finance_ostergotland"))
    grants = _grants(finance)
    # Its finance user sees its own grants only, one a year from 2021.
    assert set(grants) == {f"RÖ HSN {year}" for year in range(2021, today.year + 1)}
    dental = Partner.objects.get(organisation__name="Region Östergötland", name="Folktandvården")
    names = {
        str(pk): name
        for pk, name in Centre.objects.filter(organisation=dental.organisation).values_list(
            "pk", "name"
        )
    }
    for reference, grant in grants.items():
        year = grant["year"]
        assert (grant["funder"], grant["amount"], grant["allocated"]) == (
            "region",
            "6250000.00",
            "6250000.00",
        ), reference
        assert grant["use_by"] == f"{year}-12-31"
        rows = finance.get(f"/api/v1/grants/{grant['id']}/ledger/?page_size=200").data["results"]
        allocations = [r for r in rows if r["kind"] == "allocation"]
        assert [
            (r["recipient"], r["amount"]) for r in allocations if r["recipient_type"] == "partner"
        ] == [(str(dental.pk), "1500000.00")], reference
        assert {
            names[r["recipient"]]: r["amount"]
            for r in allocations
            if r["recipient_type"] == "centre"
        } == OSTERGOTLAND_SHARES, reference
        assert all(r["date"].startswith(f"{year}-") for r in rows), reference
        if year < today.year:
            assert (grant["status"], grant["paid_out"], grant["balance"]) == (
                "closed",
                "6250000.00",
                "0.00",
            ), reference
        else:
            assert grant["status"] == "open"
    # Its deadlines are its grants' use-by dates (its own money owes no funder a report).
    deadlines = _deadlines(finance)
    assert {d["kind"] for d in deadlines} == {"use_by"}
    assert {d["organisation"] for d in deadlines} == {str(dental.organisation_id)}


def test_orebro_and_ostergotland_never_see_each_others_money(demo, api_client_for):
    finance = api_client_for(User.objects.get(username="finance"))
    cbhv = api_client_for(User.objects.get(username="cbhv"))
    assert not [ref for ref in _grants(finance) if ref.startswith("RÖ HSN")]
    assert not [d for d in _deadlines(cbhv) if "RÖ HSN" in d["subject"]]
    ostergotland = api_client_for(User.objects.get(username="finance_ostergotland"))
    assert not {"23RS9581", "SKL 18/03311", "Dnr 2021/0880"} & set(_grants(ostergotland))
    assert ostergotland.get("/api/v1/reports/").data["results"] == []
    dental = Partner.objects.get(organisation__name="Region Östergötland")
    partners = ostergotland.get("/api/v1/partners/").json()["results"]
    assert [(p["id"], p["name"]) for p in partners] == [(str(dental.pk), "Folktandvården")]
