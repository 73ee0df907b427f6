"""The demo's money (issue: money 10; API.md "Demo data"), checked through the API as finance
would see it and against the stored visits."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from core.models import Partner, User
from funding.compensation import month_of
from funding.models import PaidMonth, PartnerAgreement, VisitCompensation

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
