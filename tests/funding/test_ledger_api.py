"""Grants and the ledger over HTTP (API.md, "Grants and ledger"): every endpoint's happy path
and errors in API.md's order, money as strings, scope, roles and Idempotency-Key."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.models import Role
from funding import ledger
from funding.models import Grant, LedgerTransaction
from tests.core.factories import CentreFactory, OrganisationFactory, PartnerFactory, member

pytestmark = pytest.mark.django_db

GRANTS = "/api/v1/grants/"


def _no_float(value: str) -> Any:
    raise AssertionError(f"a float in a response: {value}")


def body(response: Any) -> Any:
    return json.loads(response.content, parse_float=_no_float)


@pytest.fixture
def world(api_client_for):
    orebro = OrganisationFactory(name="Region Örebro län")
    other = OrganisationFactory(name="Linköpings kommun")
    centre = CentreFactory(organisation=orebro)
    partner = PartnerFactory(organisation=orebro)
    finance = member(Role.FINANCE, organisation=orebro)
    users = {
        "finance": finance,
        "cbhv": member(Role.CBHV, organisation=orebro),
        "nurse": member(Role.NURSE, centre=centre),
        "finance_other": member(Role.FINANCE, organisation=other),
    }
    grant = ledger.grant_create(
        user=finance,
        organisation=orebro,
        funder="socialstyrelsen",
        reference="23RS9581",
        year=2023,
        amount=Decimal("10000.00"),
        received_on=datetime.date(2023, 3, 1),
        use_by=datetime.date(2023, 12, 31),
        report_due=datetime.date(2024, 3, 1),
    )
    return {
        "orebro": orebro,
        "other": other,
        "centre": centre,
        "partner": partner,
        "grant": grant,
        "users": users,
        "client": {name: api_client_for(user) for name, user in users.items()},
    }


def url(grant: Grant, action: str = "") -> str:
    return f"{GRANTS}{grant.pk}/" + (f"{action}/" if action else "")


def payout(world: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "recipient_type": "organisation",
        "recipient": str(world["orebro"].pk),
        "category": "coordination",
        "amount": "1000.00",
        "date": "2023-06-01",
        "reference": "Samordning juni",
        **overrides,
    }


def post(
    world: dict[str, Any], path: str, data: Any, *, who: str = "finance", key: str = ""
) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return world["client"][who].post(path, data, format="json", headers=headers)


# --- Grants -----------------------------------------------------------------------------------
def test_create_grant_posts_the_receipt(world):
    response = post(
        world,
        GRANTS,
        {
            "organisation": str(world["orebro"].pk),
            "funder": "socialstyrelsen",
            "reference": "24RS1",
            "year": 2024,
            "amount": "2500",
            "received_on": "2024-02-01",
            "use_by": "2024-12-31",
            "report_due": "2025-03-01",
        },
    )
    assert response.status_code == 201, response.content
    data = body(response)
    assert data["amount"] == "2500.00"
    assert data["balance"] == "2500.00"
    assert data["status"] == "open"
    assert data["repayment_due"] == "0.00"
    tx = LedgerTransaction.objects.get(grant_id=data["id"])
    assert tx.kind == "receipt"


def test_duplicate_reference_per_funder_is_a_conflict(world):
    data = {
        "organisation": str(world["orebro"].pk),
        "funder": "socialstyrelsen",
        "reference": "23RS9581",
        "year": 2023,
        "amount": "5.00",
        "received_on": "2023-02-01",
        "use_by": "2023-12-31",
        "report_due": "2024-03-01",
    }
    response = post(world, GRANTS, data)
    assert response.status_code == 409
    assert "detail" in body(response)
    # Another funder may use the same reference.
    assert post(world, GRANTS, {**data, "funder": "region"}).status_code == 201


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.005", "abc", None])
def test_create_grant_refuses_bad_amounts(world, amount):
    data = {
        "organisation": str(world["orebro"].pk),
        "funder": "region",
        "reference": "X1",
        "year": 2023,
        "amount": amount,
        "received_on": "2023-02-01",
        "use_by": "2023-12-31",
        "report_due": "2024-03-01",
    }
    response = post(world, GRANTS, data)
    assert response.status_code == 400
    assert "amount" in body(response)


def test_create_grant_for_another_organisation_is_400_on_organisation(world):
    data = {
        "organisation": str(world["other"].pk),
        "funder": "region",
        "reference": "X1",
        "year": 2023,
        "amount": "5.00",
        "received_on": "2023-02-01",
        "use_by": "2023-12-31",
        "report_due": "2024-03-01",
    }
    response = post(world, GRANTS, data)
    assert response.status_code == 400
    assert "organisation" in body(response)


def test_list_and_filters(world):
    grant = world["grant"]
    ledger.grant_close(user=world["users"]["finance"], grant=grant)
    client = world["client"]["cbhv"]
    data = body(client.get(GRANTS))
    assert [row["id"] for row in data["results"]] == [str(grant.pk)]
    assert data["results"][0]["amount"] == "10000.00"
    assert body(client.get(GRANTS, {"status": "open"}))["results"] == []
    assert len(body(client.get(GRANTS, {"status": "closed", "year": 2023}))["results"]) == 1
    assert body(client.get(GRANTS, {"funder": "skl"}))["results"] == []
    assert body(client.get(GRANTS, {"organisation": str(world["other"].pk)}))["results"] == []
    assert client.get(GRANTS, {"status": "half"}).status_code == 400
    assert client.get(GRANTS, {"year": ""}).status_code == 400
    assert body(world["client"]["finance_other"].get(GRANTS))["results"] == []


def test_list_query_count_does_not_grow_with_rows(world):
    client = world["client"]["finance"]
    with CaptureQueriesContext(connection) as one:
        assert client.get(GRANTS).status_code == 200
    for n in range(49):
        ledger.grant_create(
            user=world["users"]["finance"],
            organisation=world["orebro"],
            funder="region",
            reference=f"R{n}",
            year=2023,
            amount=Decimal("100.00"),
            received_on=datetime.date(2023, 1, 1),
            use_by=datetime.date(2023, 12, 31),
            report_due=datetime.date(2024, 3, 1),
        )
    with CaptureQueriesContext(connection) as fifty:
        data = body(client.get(GRANTS))
    assert len(data["results"]) == 50
    assert len(fifty) == len(one)


def test_detail_shows_every_figure_as_a_money_string(world):
    grant = world["grant"]
    finance = world["users"]["finance"]
    ledger.allocation_post(
        user=finance, grant=grant, recipient=world["partner"], amount=Decimal("3000")
    )
    ledger.payout_post(
        user=finance,
        grant=grant,
        recipient_type="partner",
        recipient_id=world["partner"].pk,
        category="partner_transfer",
        amount=Decimal("1000"),
        date=datetime.date(2023, 5, 1),
    )
    ledger.repayment_post(
        user=finance,
        grant=grant,
        amount=Decimal("500"),
        date=datetime.date(2023, 6, 1),
        reference="F1",
    )
    data = body(world["client"]["cbhv"].get(url(grant)))
    assert data["amount"] == "10000.00"
    assert data["allocated"] == "3000.00"
    assert data["paid_out"] == "1000.00"
    assert data["carried_over"] == "0.00"
    assert data["repaid"] == "500.00"
    assert data["balance"] == "8500.00"
    assert data["unused"] == "9000.00"
    assert data["repayment_due"] == "0.00"
    assert data["status"] == "open"


def test_ledger_lists_oldest_first_signed_with_constant_queries(world):
    grant = world["grant"]
    finance = world["users"]["finance"]
    client = world["client"]["cbhv"]
    with CaptureQueriesContext(connection) as one:
        assert client.get(url(grant, "ledger")).status_code == 200
    ledger.allocation_post(
        user=finance, grant=grant, recipient=world["centre"], amount=Decimal("3000")
    )
    tx = ledger.payout_post(
        user=finance,
        grant=grant,
        recipient_type="centre",
        recipient_id=world["centre"].pk,
        category="fixed",
        amount=Decimal("1000"),
        date=datetime.date(2023, 5, 1),
    )
    ledger.reversal_post(user=finance, grant=grant, original=tx, reason="Fel belopp")
    with CaptureQueriesContext(connection) as many:
        data = body(client.get(url(grant, "ledger")))
    assert len(many) == len(one)
    rows = data["results"]
    assert [(r["kind"], r["amount"]) for r in rows] == [
        ("receipt", "10000.00"),
        ("allocation", "3000.00"),
        ("payout", "-1000.00"),
        ("reversal", "1000.00"),
    ]
    assert rows[2]["category"] == "fixed"
    assert rows[2]["recipient_type"] == "centre"
    assert rows[2]["recipient"] == str(world["centre"].pk)
    assert rows[3]["reverses"] == str(tx.pk)
    assert rows[0]["reverses"] is None
    assert rows[0]["created_by"] == finance.username


# --- Scope and roles --------------------------------------------------------------------------
def test_another_organisations_grant_is_404(world):
    client = world["client"]["finance_other"]
    grant = world["grant"]
    assert client.get(url(grant)).status_code == 404
    assert client.get(url(grant, "ledger")).status_code == 404
    assert post(world, url(grant, "close"), {}, who="finance_other").status_code == 404
    assert (
        post(world, url(grant, "payouts"), payout(world), who="finance_other", key="k").status_code
        == 404
    )


def test_nurse_gets_403(world):
    client = world["client"]["nurse"]
    assert client.get(GRANTS).status_code == 403
    assert client.get(url(world["grant"])).status_code == 403
    assert post(world, url(world["grant"], "close"), {}, who="nurse").status_code == 403


@pytest.mark.parametrize(
    "action", ["allocations", "payouts", "reversals", "carry-over", "close", "repayments"]
)
def test_cbhv_reads_but_may_not_write(world, action):
    grant = world["grant"]
    assert world["client"]["cbhv"].get(url(grant)).status_code == 200
    assert post(world, url(grant, action), {}, who="cbhv", key="k").status_code == 403
    assert post(world, GRANTS, {}, who="cbhv").status_code == 403


def test_anonymous_is_401(world, client):
    assert client.get(GRANTS).status_code == 401


# --- Allocations ------------------------------------------------------------------------------
def test_allocation_to_a_centre(world):
    grant = world["grant"]
    response = post(
        world,
        url(grant, "allocations"),
        {
            "recipient_type": "centre",
            "recipient": str(world["centre"].pk),
            "amount": "1500.5",
            "purpose": "Fast ersättning",
        },
    )
    assert response.status_code == 201, response.content
    data = body(response)
    assert data["kind"] == "allocation"
    assert data["amount"] == "1500.50"
    assert body(world["client"]["finance"].get(url(grant)))["allocated"] == "1500.50"


def test_allocation_to_a_recipient_of_another_organisation_is_400(world):
    outsider = CentreFactory(organisation=world["other"])
    response = post(
        world,
        url(world["grant"], "allocations"),
        {"recipient_type": "centre", "recipient": str(outsider.pk), "amount": "10"},
    )
    assert response.status_code == 400
    assert "recipient" in body(response)
    # A partner id sent as a centre is not found either.
    response = post(
        world,
        url(world["grant"], "allocations"),
        {"recipient_type": "centre", "recipient": str(world["partner"].pk), "amount": "10"},
    )
    assert response.status_code == 400


# --- Payouts ----------------------------------------------------------------------------------
def test_payout_happy_path(world):
    response = post(world, url(world["grant"], "payouts"), payout(world), key="p1")
    assert response.status_code == 201, response.content
    data = body(response)
    assert (data["kind"], data["category"], data["amount"]) == (
        "payout",
        "coordination",
        "-1000.00",
    )
    assert body(world["client"]["finance"].get(url(world["grant"])))["balance"] == "9000.00"


def test_payout_without_idempotency_key_is_400(world):
    response = post(world, url(world["grant"], "payouts"), payout(world))
    assert response.status_code == 400
    assert "Idempotency-Key" in body(response)
    too_long = post(world, url(world["grant"], "payouts"), payout(world), key="x" * 101)
    assert too_long.status_code == 400
    assert LedgerTransaction.objects.filter(kind="payout").count() == 0


def test_payout_replay_returns_the_same_body_and_posts_once(world):
    first = post(world, url(world["grant"], "payouts"), payout(world), key="same")
    again = post(world, url(world["grant"], "payouts"), payout(world), key="same")
    assert first.status_code == again.status_code == 201
    assert body(first) == body(again)
    assert LedgerTransaction.objects.filter(kind="payout").count() == 1
    other = post(world, url(world["grant"], "payouts"), payout(world, amount="2.00"), key="same")
    assert other.status_code == 409
    assert "detail" in body(other)
    assert LedgerTransaction.objects.filter(kind="payout").count() == 1


def test_one_key_on_two_grants_payouts_is_a_conflict(world):
    other = ledger.grant_create(
        user=world["users"]["finance"],
        organisation=world["orebro"],
        funder="region",
        reference="R1",
        year=2023,
        amount=Decimal("5000"),
        received_on=datetime.date(2023, 1, 1),
        use_by=datetime.date(2023, 12, 31),
        report_due=datetime.date(2024, 3, 1),
    )
    assert post(world, url(world["grant"], "payouts"), payout(world), key="k").status_code == 201
    assert post(world, url(other, "payouts"), payout(world), key="k").status_code == 409
    # Another endpoint is another key space.
    repayment = {"amount": "1.00", "date": "2023-06-01", "reference": "F"}
    assert post(world, url(other, "repayments"), repayment, key="k").status_code == 201


def test_keys_are_per_user(world):
    second = member(Role.FINANCE, organisation=world["orebro"])
    from rest_framework.test import APIClient

    from core.services import api_token_create

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=second)[1]}")
    assert post(world, url(world["grant"], "payouts"), payout(world), key="k").status_code == 201
    response = client.post(
        url(world["grant"], "payouts"),
        payout(world),
        format="json",
        headers={"Idempotency-Key": "k"},
    )
    assert response.status_code == 201
    assert LedgerTransaction.objects.filter(kind="payout").count() == 2


def test_payout_beyond_balance_is_400_on_amount(world):
    response = post(
        world, url(world["grant"], "payouts"), payout(world, amount="10000.01"), key="k"
    )
    assert response.status_code == 400
    assert "amount" in body(response)
    # The failed attempt did not use the key up.
    assert post(world, url(world["grant"], "payouts"), payout(world), key="k2").status_code == 201


def test_fixed_payout_beyond_open_allocation_is_400(world):
    centre = world["centre"]
    ledger.allocation_post(
        user=world["users"]["finance"],
        grant=world["grant"],
        recipient=centre,
        amount=Decimal("500"),
    )
    data = payout(world, recipient_type="centre", recipient=str(centre.pk), category="fixed")
    response = post(world, url(world["grant"], "payouts"), {**data, "amount": "500.01"}, key="a")
    assert response.status_code == 400
    assert "amount" in body(response)
    assert (
        post(world, url(world["grant"], "payouts"), {**data, "amount": "500"}, key="b").status_code
        == 201
    )


def test_coordination_goes_to_the_own_organisation(world):
    response = post(
        world,
        url(world["grant"], "payouts"),
        payout(world, recipient=str(world["other"].pk)),
        key="k",
    )
    assert response.status_code == 400
    assert "recipient" in body(response)
    response = post(
        world,
        url(world["grant"], "payouts"),
        payout(world, recipient_type="centre", recipient=str(world["centre"].pk)),
        key="k",
    )
    assert response.status_code == 400
    assert "recipient_type" in body(response)


def test_payout_after_use_by_is_409(world):
    response = post(
        world, url(world["grant"], "payouts"), payout(world, date="2024-01-01"), key="k"
    )
    assert response.status_code == 409


def test_closed_grant_refuses_allocations_payouts_reversals_but_input_errors_come_first(world):
    grant = world["grant"]
    tx = ledger.payout_post(
        user=world["users"]["finance"],
        grant=grant,
        recipient_type="organisation",
        recipient_id=world["orebro"].pk,
        category="coordination",
        amount=Decimal("10"),
        date=datetime.date(2023, 5, 1),
    )
    assert post(world, url(grant, "close"), {}).status_code == 200
    assert post(world, url(grant, "payouts"), payout(world), key="k").status_code == 409
    assert (
        post(world, url(grant, "payouts"), payout(world, amount="-1"), key="k").status_code == 400
    )
    allocation = {"recipient_type": "centre", "recipient": str(world["centre"].pk), "amount": "5"}
    assert post(world, url(grant, "allocations"), allocation).status_code == 409
    assert post(world, url(grant, "allocations"), {**allocation, "amount": "0"}).status_code == 400
    reversal = {"transaction": str(tx.pk), "reason": "Fel"}
    assert post(world, url(grant, "reversals"), reversal).status_code == 409
    assert post(world, url(grant, "reversals"), {**reversal, "reason": ""}).status_code == 400


# --- Reversals --------------------------------------------------------------------------------
def test_reversal_restores_the_balance_once(world):
    grant = world["grant"]
    created = post(world, url(grant, "payouts"), payout(world), key="k")
    reversal = {"transaction": body(created)["id"], "reason": "Fel mottagare"}
    response = post(world, url(grant, "reversals"), reversal)
    assert response.status_code == 201, response.content
    data = body(response)
    assert (data["kind"], data["amount"], data["reverses"]) == (
        "reversal",
        "1000.00",
        reversal["transaction"],
    )
    assert body(world["client"]["finance"].get(url(grant)))["balance"] == "10000.00"
    assert post(world, url(grant, "reversals"), reversal).status_code == 409


def test_reversal_of_a_transaction_of_another_grant_is_400(world):
    other = ledger.grant_create(
        user=world["users"]["finance"],
        organisation=world["orebro"],
        funder="region",
        reference="R1",
        year=2023,
        amount=Decimal("100"),
        received_on=datetime.date(2023, 1, 1),
        use_by=datetime.date(2023, 12, 31),
        report_due=datetime.date(2024, 3, 1),
    )
    receipt = other.transactions.get()
    response = post(
        world, url(world["grant"], "reversals"), {"transaction": str(receipt.pk), "reason": "x"}
    )
    assert response.status_code == 400
    assert "transaction" in body(response)
    response = post(world, url(other, "reversals"), {"transaction": str(receipt.pk), "reason": "x"})
    assert response.status_code == 400  # a receipt is never reversed


# --- Close, repayments, carry-over ------------------------------------------------------------
def test_close_twice_answers_the_same_figures_and_posts_nothing(world):
    grant = world["grant"]
    post(world, url(grant, "payouts"), payout(world, amount="4000"), key="k")
    first = post(world, url(grant, "close"), {})
    rows = LedgerTransaction.objects.count()
    second = post(world, url(grant, "close"), {})
    assert first.status_code == second.status_code == 200
    a, b = body(first), body(second)
    assert (a["status"], a["unused"], a["repayment_due"]) == ("closed", "6000.00", "6000.00")
    assert {k: a[k] for k in ("status", "unused", "repayment_due")} == {
        k: b[k] for k in ("status", "unused", "repayment_due")
    }
    assert LedgerTransaction.objects.count() == rows


def test_repayment_after_close_lowers_repayment_due(world):
    grant = world["grant"]
    post(world, url(grant, "close"), {})
    repayment = {"amount": "2500.00", "date": "2024-04-01", "reference": "Faktura 123"}
    assert post(world, url(grant, "repayments"), repayment).status_code == 400  # no key
    response = post(world, url(grant, "repayments"), repayment, key="r1")
    assert response.status_code == 201, response.content
    assert body(response)["amount"] == "-2500.00"
    again = post(world, url(grant, "repayments"), repayment, key="r1")
    assert body(again) == body(response)
    data = body(world["client"]["finance"].get(url(grant)))
    assert (data["repaid"], data["repayment_due"], data["balance"]) == (
        "2500.00",
        "7500.00",
        "7500.00",
    )
    response = post(world, url(grant, "repayments"), {**repayment, "amount": "7500.01"}, key="r2")
    assert response.status_code == 400


def test_carry_over_makes_the_later_grant_with_the_decision_reference(world):
    grant = world["grant"]
    response = post(
        world,
        url(grant, "carry-over"),
        {"amount": "3000", "to_year": 2024, "decision_reference": "Dnr 2.4-1234/2023"},
    )
    assert response.status_code == 201, response.content
    data = body(response)
    assert data["carry_over"]["amount"] == "-3000.00"
    assert data["receipt"]["amount"] == "3000.00"
    assert data["receipt"]["reference"] == "Dnr 2.4-1234/2023"
    later = Grant.objects.get(pk=data["to_grant"])
    assert (later.year, later.use_by) == (2024, datetime.date(2024, 12, 31))
    figures = body(world["client"]["finance"].get(url(grant)))
    assert (figures["carried_over"], figures["balance"]) == ("3000.00", "7000.00")
    assert body(world["client"]["finance"].get(url(later)))["amount"] == "3000.00"
    # Errors: an earlier year, more than the balance.
    bad = post(
        world, url(grant, "carry-over"), {"amount": "1", "to_year": 2023, "decision_reference": "x"}
    )
    assert bad.status_code == 400 and "to_year" in body(bad)
    bad = post(
        world,
        url(grant, "carry-over"),
        {"amount": "7000.01", "to_year": 2024, "decision_reference": "x"},
    )
    assert bad.status_code == 400 and "amount" in body(bad)


def test_an_optional_key_on_grant_creation_makes_a_retry_safe(world):
    data = {
        "organisation": str(world["orebro"].pk),
        "funder": "region",
        "reference": "R9",
        "year": 2024,
        "amount": "100.00",
        "received_on": "2024-01-01",
        "use_by": "2024-12-31",
        "report_due": "2025-03-01",
    }
    first = post(world, GRANTS, data, key="g1")
    again = post(world, GRANTS, data, key="g1")
    assert first.status_code == again.status_code == 201
    assert body(first) == body(again)
    assert Grant.objects.filter(reference="R9").count() == 1


def test_cbhv_here_and_finance_elsewhere_may_read_but_not_write(world, api_client_for):
    user = member(Role.CBHV, organisation=world["orebro"])
    member(Role.FINANCE, organisation=world["other"], user=user)
    client = api_client_for(user)
    grant = world["grant"]
    assert client.get(url(grant)).status_code == 200
    response = client.post(
        url(grant, "payouts"), payout(world), format="json", headers={"Idempotency-Key": "k"}
    )
    assert response.status_code == 403
    assert client.post(url(grant, "close"), {}, format="json").status_code == 403
    assert LedgerTransaction.objects.filter(kind="payout").count() == 0
