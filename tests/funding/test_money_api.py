"""Fixed allocation, compensation statements and paying a month, through the API on the demo
data (API.md, "Grants and ledger")."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance(demo, api_client_for):
    return api_client_for(User.objects.get(username="finance"))


@pytest.fixture
def grant(finance):
    year = timezone.localdate().year
    response = finance.post(
        "/api/v1/grants/",
        {
            "organisation": str(
                User.objects.get(username="finance").memberships.get().organisation_id
            ),
            "funder": "socialstyrelsen",
            "reference": "TEST-26-1",
            "year": year,
            "amount": "5000000.00",
            "received_on": f"{year}-01-10",
            "use_by": f"{year}-12-31",
            "report_due": f"{year + 1}-03-01",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_fixed_allocation_preview_posts_nothing_and_the_post_adds_up_to_the_pool(finance, grant):
    year = timezone.localdate().year
    url = f"/api/v1/grants/{grant}/fixed-allocation/"
    preview = finance.post(url + "?preview=true", {"year": year, "pool": "1000000"}, format="json")
    assert preview.status_code == 200, preview.content
    assert preview.json()["total"] == "1000000.00"
    assert finance.get(f"/api/v1/grants/{grant}/").json()["allocated"] == "0.00"

    posted = finance.post(url, {"year": year, "pool": "1000000"}, format="json")
    assert posted.status_code == 201
    lines = posted.json()["allocations"]
    assert sum(Decimal(line["amount"]) for line in lines) == Decimal("1000000")
    # The demo approves Vivalla/Lundby only: child CNI 2.87 x 612 listed children.
    assert [line["weight"] for line in lines] == ["1756.44"]
    assert finance.get(f"/api/v1/grants/{grant}/").json()["allocated"] == "1000000.00"
    assert finance.post(url, {"year": year, "pool": "1000000"}, format="json").status_code == 409
    wrong = finance.post(url, {"year": year, "pool": "1000.50"}, format="json")
    assert wrong.status_code == 400
    assert "pool" in wrong.json()


def test_statements_for_finance_for_a_centre_manager_and_not_for_nurses(demo, api_client_for):
    year = timezone.localdate().year
    rows = (
        api_client_for(User.objects.get(username="finance"))
        .get(f"/api/v1/compensation/?year={year}")
        .json()["results"]
    )
    assert rows
    assert all(
        Decimal(r["total"])
        == Decimal(r["programme_variable"]) + Decimal(r["ordinary"]) + Decimal(r["adjustments"])
        for r in rows
    )
    manager = User.objects.get(username="manager_vivalla")
    own = api_client_for(manager).get(f"/api/v1/compensation/?year={year}").json()["results"]
    centre = manager.memberships.get().centre_id
    assert own and {r["centre"] for r in own} == {str(centre)}
    nurse = api_client_for(User.objects.get(username="nurse_vivalla"))
    assert nurse.get(f"/api/v1/compensation/?year={year}").status_code == 403


def test_paying_a_month_posts_one_payout_per_centre_locks_the_month_and_replays(finance, grant):
    # The demo has paid every month up to two months back; last month awaits payment.
    last_month = (timezone.localdate().replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
    rows = finance.get(
        f"/api/v1/compensation/?year={last_month.year}&month={last_month.month}"
    ).json()["results"]
    expected = sum(
        (Decimal(r["programme_variable"]) + Decimal(r["adjustments"]) for r in rows),
        Decimal(0),
    )
    body = {"grant": grant, "year": last_month.year, "month": last_month.month}

    assert finance.post("/api/v1/compensation/pay/", body, format="json").status_code == 400
    headers = {"HTTP_IDEMPOTENCY_KEY": "pay-1"}
    paid = finance.post("/api/v1/compensation/pay/", body, format="json", **headers)
    assert paid.status_code == 201, paid.content
    assert Decimal(paid.json()["total"]) == expected
    replay = finance.post("/api/v1/compensation/pay/", body, format="json", **headers)
    assert (replay.status_code, replay.json()) == (201, paid.json())
    assert Decimal(finance.get(f"/api/v1/grants/{grant}/").json()["paid_out"]) == expected

    after = finance.get(
        f"/api/v1/compensation/?year={last_month.year}&month={last_month.month}"
    ).json()["results"]
    assert after and all(r["locked"] for r in after)
    again = finance.post(
        "/api/v1/compensation/pay/", body, format="json", HTTP_IDEMPOTENCY_KEY="pay-2"
    )
    assert again.status_code == 409
