"""Partner agreements (issue: money 7; seed 003) and the payout's category/recipient check."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.exceptions import Conflict
from core.models import Role
from funding import ledger, partners
from funding.models import AgreementCondition, LedgerTransaction
from tests.core.factories import CentreFactory, OrganisationFactory, PartnerFactory, member
from tests.funding.test_ledger import make_grant, pay

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def org():
    return OrganisationFactory()


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


@pytest.fixture
def leanlink(org):
    return PartnerFactory(organisation=org, name="Leanlink")


def agreement(finance, partner, condition=AgreementCondition.GRANT_RECEIVED, amount="700000"):
    return partners.agreement_create(
        user=finance,
        partner=partner,
        title="Pilotverksamhet Skäggetorp",
        year_from=2021,
        year_to=2022,
        yearly_amount=D(amount),
        condition=condition,
    )


def grant_2021(org, finance, amount="880000"):
    # received 2021-03-01 (make_grant), use by 2021-12-31
    return make_grant(org, finance, reference="Dnr 2021-1", amount=amount, year=2021)


def transfer(grant, finance, partner, amount, date):
    return pay(
        grant,
        finance,
        amount,
        category="partner_transfer",
        recipient_type="partner",
        recipient_id=partner.pk,
        date=date,
    )


def test_conditional_agreement_refuses_a_payout_before_the_receipt(org, finance, leanlink):
    grant = grant_2021(org, finance)
    partners.agreement_allocate(user=finance, agreement=agreement(finance, leanlink), grant=grant)
    with pytest.raises(ValidationError) as exc:
        transfer(grant, finance, leanlink, "350000", datetime.date(2021, 2, 28))
    assert exc.value.message_dict["date"] == [
        "Datumet ligger före bidragets mottagande (2021-03-01)."
    ]
    assert ledger.figures(grant).paid_out == 0
    tx = transfer(grant, finance, leanlink, "350000", datetime.date(2021, 3, 1))
    assert ledger.transaction_amount(tx) == D("-350000.00")
    assert ledger.figures(grant).paid_out == D("350000.00")


def test_no_payout_precedes_the_receipt_whatever_the_agreement_says(org, finance, leanlink):
    grant = grant_2021(org, finance)
    partners.agreement_allocate(
        user=finance,
        agreement=agreement(finance, leanlink, condition=AgreementCondition.NONE),
        grant=grant,
    )
    with pytest.raises(ValidationError) as exc:
        transfer(grant, finance, leanlink, "100000", datetime.date(2021, 2, 1))
    assert "date" in exc.value.message_dict
    assert ledger.figures(grant).paid_out == D("0")


def test_agreement_payouts_are_bounded_by_the_allocation(org, finance, leanlink):
    grant = grant_2021(org, finance)
    partners.agreement_allocate(user=finance, agreement=agreement(finance, leanlink), grant=grant)
    transfer(grant, finance, leanlink, "600000", datetime.date(2021, 6, 1))
    with pytest.raises(ValidationError) as exc:
        transfer(grant, finance, leanlink, "100000.01", datetime.date(2021, 7, 1))
    assert "amount" in exc.value.message_dict
    transfer(grant, finance, leanlink, "100000", datetime.date(2021, 7, 1))
    assert ledger.recipient_open_allocation(grant, "partner", leanlink.pk) == 0


def test_allocating_an_agreement_twice_on_a_grant_is_a_conflict(org, finance, leanlink):
    grant = grant_2021(org, finance)
    deal = agreement(finance, leanlink)
    tx = partners.agreement_allocate(user=finance, agreement=deal, grant=grant)
    assert tx.reference == "Pilotverksamhet Skäggetorp 2021"
    assert ledger.transaction_amount(tx) == D("700000.00")
    with pytest.raises(Conflict):
        partners.agreement_allocate(user=finance, agreement=deal, grant=grant)
    assert LedgerTransaction.objects.filter(grant=grant, kind="allocation").count() == 1


def test_agreement_allocation_needs_a_grant_of_a_covered_year(org, finance, leanlink):
    grant = make_grant(org, finance, reference="Dnr 2023", year=2023)
    with pytest.raises(ValidationError) as exc:
        partners.agreement_allocate(
            user=finance, agreement=agreement(finance, leanlink), grant=grant
        )
    assert "grant" in exc.value.message_dict
    other = make_grant(OrganisationFactory(), finance, reference="Dnr X", year=2021)
    with pytest.raises(ValidationError):
        partners.agreement_allocate(
            user=finance, agreement=agreement(finance, leanlink), grant=other
        )


@pytest.mark.parametrize(
    "field,values",
    [("year_to", {"year_from": 2022, "year_to": 2021}), ("yearly_amount", {"yearly_amount": D(0)})],
)
def test_agreement_input_is_checked(finance, leanlink, field, values):
    fields = {
        "title": "Avtal",
        "year_from": 2021,
        "year_to": 2022,
        "yearly_amount": D("1"),
        **values,
    }
    with pytest.raises(ValidationError) as exc:
        partners.agreement_create(user=finance, partner=leanlink, **fields)
    assert field in exc.value.message_dict


@pytest.mark.parametrize(
    "category,recipient_type",
    [
        ("partner_transfer", "centre"),
        ("fixed", "partner"),
        ("programme_variable", "organisation"),
        ("coordination", "centre"),
    ],
)
def test_payout_category_must_suit_the_recipient(org, finance, category, recipient_type):
    grant = make_grant(org, finance)
    recipient = {
        "centre": CentreFactory(organisation=org).pk,
        "partner": PartnerFactory(organisation=org).pk,
        "organisation": org.pk,
    }[recipient_type]
    with pytest.raises(ValidationError) as exc:
        pay(
            grant,
            finance,
            "10",
            category=category,
            recipient_type=recipient_type,
            recipient_id=recipient,
        )
    assert "recipient_type" in exc.value.message_dict
    assert ledger.figures(grant).paid_out == 0


def test_api_agreements(org, finance, leanlink, api_client_for):
    client = api_client_for(finance)
    response = client.post(
        "/api/v1/partner-agreements/",
        {
            "partner": str(leanlink.pk),
            "title": "Leanlink pilot",
            "year_from": 2021,
            "year_to": 2022,
            "yearly_amount": "700000.00",
            "condition": "grant_received",
        },
        format="json",
    )
    assert response.status_code == 201, response.data
    assert response.data["yearly_amount"] == "700000.00"
    grant = grant_2021(org, finance)
    allocate = f"/api/v1/partner-agreements/{response.data['id']}/allocate/"
    first = client.post(allocate, {"grant": str(grant.pk)}, format="json")
    assert first.status_code == 201
    assert first.data["amount"] == "700000.00"
    assert client.post(allocate, {"grant": str(grant.pk)}, format="json").status_code == 409
    payout = client.post(
        f"/api/v1/grants/{grant.pk}/payouts/",
        {
            "recipient_type": "partner",
            "recipient": str(leanlink.pk),
            "category": "partner_transfer",
            "amount": "1000",
            "date": "2021-01-15",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert payout.status_code == 400 and "date" in payout.data
    listed = client.get("/api/v1/partner-agreements/")
    assert [row["title"] for row in listed.data["results"]] == ["Leanlink pilot"]
    # CBHV reads, may not write; another organisation sees nothing.
    cbhv = api_client_for(member(Role.CBHV, organisation=org))
    assert cbhv.get("/api/v1/partner-agreements/").data["results"]
    assert cbhv.post(allocate, {"grant": str(grant.pk)}, format="json").status_code == 403
    stranger = api_client_for(member(Role.FINANCE, organisation=OrganisationFactory()))
    assert stranger.get("/api/v1/partner-agreements/").data["results"] == []
    assert stranger.post(allocate, {"grant": str(grant.pk)}, format="json").status_code == 404


def test_a_payout_too_large_and_too_early_answers_400_before_409(org, finance, leanlink):
    grant = grant_2021(org, finance)
    partners.agreement_allocate(user=finance, agreement=agreement(finance, leanlink), grant=grant)
    with pytest.raises(ValidationError) as exc:
        transfer(grant, finance, leanlink, "700000.01", datetime.date(2021, 1, 2))
    assert "amount" in exc.value.message_dict


def test_the_agreement_list_costs_the_same_for_1_and_20_agreements(org, finance, api_client_for):
    client = api_client_for(finance)
    counts = []
    for n in (1, 19):
        for i in range(n):
            agreement(finance, PartnerFactory(organisation=org, name=f"Part {len(counts)}-{i}"))
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/api/v1/partner-agreements/", {"page_size": 200})
        counts.append((len(response.json()["results"]), len(ctx.captured_queries)))
    assert [c[0] for c in counts] == [1, 20]
    assert counts[0][1] == counts[1][1]
