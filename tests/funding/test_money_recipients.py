"""Who may receive a grant's money (issue 23, item 2a): a centre or partner of the grant's
organisation, or that organisation itself. The rule has one home, `funding.ledger`
(`require_recipient()`), which `payout_post()` and `allocation_post()` apply themselves: the
services refuse another organisation's centre or partner with a ValidationError on
`recipient` and write nothing, whoever calls them. The page's form and the API's serializer
only parse the id, so their errors on `recipient` are the service's."""

from __future__ import annotations

import datetime
import re
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from core.models import Role
from funding import ledger
from funding.models import LedgerLeg, LedgerTransaction
from tests.core.factories import CentreFactory, OrganisationFactory, PartnerFactory, member

pytestmark = pytest.mark.django_db

D = Decimal
NOT_OURS = "Mottagaren finns inte i bidragets organisation."
TODAY = datetime.datetime(2026, 6, 15, 12, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def org():
    return OrganisationFactory(name="Region Örebro län")


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


@pytest.fixture
def grant(org, finance):
    return ledger.grant_create(
        user=finance,
        organisation=org,
        funder="socialstyrelsen",
        reference="26RS1",
        year=2026,
        amount=D("50000"),
        received_on=datetime.date(2026, 3, 1),
        use_by=datetime.date(2026, 12, 31),
        report_due=datetime.date(2027, 3, 1),
    )


@pytest.fixture
def stranger():
    """Linköpings kommun: a centre and a partner that are not Region Örebro län's."""
    other = OrganisationFactory(name="Linköpings kommun")
    return {
        "organisation": other,
        "centre": CentreFactory(organisation=other, name="Skäggetorp"),
        "partner": PartnerFactory(organisation=other, name="Leanlink"),
    }


def written() -> tuple[int, int]:
    return LedgerTransaction.objects.count(), LedgerLeg.objects.count()


def payout(finance, grant, recipient_type, recipient_id, category, amount="100"):
    return ledger.payout_post(
        user=finance,
        grant=grant,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        category=category,
        amount=D(amount),
        date=datetime.date(2026, 6, 1),
    )


# --- The services -------------------------------------------------------------------------------
def test_payout_post_refuses_a_centre_of_another_organisation_on_recipient_and_writes_nothing(
    finance, grant, stranger
):
    before = written()
    with pytest.raises(ValidationError) as exc:
        payout(finance, grant, "centre", stranger["centre"].pk, "programme_variable")
    assert exc.value.message_dict == {"recipient": [NOT_OURS]}
    assert written() == before
    assert ledger.figures(grant).paid_out == D("0")


@pytest.mark.parametrize(
    ("recipient_type", "who", "category"),
    [
        ("partner", "partner", "partner_transfer"),
        ("organisation", "organisation", "coordination"),
    ],
)
def test_payout_post_refuses_another_organisations_partner_or_itself(
    finance, grant, stranger, recipient_type, who, category
):
    before = written()
    with pytest.raises(ValidationError) as exc:
        payout(finance, grant, recipient_type, stranger[who].pk, category)
    assert exc.value.message_dict == {"recipient": [NOT_OURS]}
    assert written() == before


def test_payout_post_refuses_an_id_of_the_wrong_type_or_of_nothing(org, finance, grant):
    partner = PartnerFactory(organisation=org)
    for recipient_type, recipient_id, category in (
        ("centre", partner.pk, "programme_variable"),  # a partner's id sent as a centre
        ("centre", uuid.uuid4(), "programme_variable"),
    ):
        with pytest.raises(ValidationError) as exc:
            payout(finance, grant, recipient_type, recipient_id, category)
        assert exc.value.message_dict == {"recipient": [NOT_OURS]}
    assert ledger.figures(grant).paid_out == D("0")


def test_payout_post_pays_the_grants_own_recipients(org, finance, grant):
    centre = CentreFactory(organisation=org)
    payout(finance, grant, "centre", centre.pk, "programme_variable")
    payout(finance, grant, "organisation", org.pk, "coordination")
    assert ledger.figures(grant).paid_out == D("200")


@pytest.mark.parametrize("who", ["centre", "partner"])
def test_allocation_post_refuses_another_organisations_recipient_and_writes_nothing(
    finance, grant, stranger, who
):
    before = written()
    with pytest.raises(ValidationError) as exc:
        ledger.allocation_post(user=finance, grant=grant, recipient=stranger[who], amount=D("10"))
    assert exc.value.message_dict == {"recipient": [NOT_OURS]}
    assert written() == before
    assert ledger.figures(grant).allocated == D("0")


def test_allocation_post_allocates_to_an_organisation_never(finance, grant, org):
    with pytest.raises(ValidationError) as exc:
        ledger.allocation_post(user=finance, grant=grant, recipient=org, amount=D("10"))
    assert "recipient_type" in exc.value.message_dict


# --- The page and the API answer with the service's error -----------------------------------------
def test_the_payout_page_shows_the_services_refusal_on_recipient(client, finance, grant, stranger):
    client.force_login(finance)
    data = {
        "category": "programme_variable",
        "recipient_type": "centre",
        "recipient": str(stranger["centre"].pk),
        "amount": "100",
        "date": "2026-06-01",
        "reference": "",
        "token": str(uuid.uuid4()),
    }
    response = client.post(reverse("funding:grant_payout", args=[grant.pk]), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'name="recipient"[^>]*aria-invalid="true"', html)
    assert NOT_OURS in html  # the service's message: the form only parsed the id
    assert ledger.figures(grant).paid_out == D("0")


def test_the_allocation_page_shows_the_services_refusal_on_recipient(
    client, finance, grant, stranger
):
    client.force_login(finance)
    data = {
        "recipient_type": "partner",
        "recipient": str(stranger["partner"].pk),
        "amount": "100",
        "purpose": "",
        "token": str(uuid.uuid4()),
    }
    html = client.post(reverse("funding:grant_allocation", args=[grant.pk]), data)
    assert NOT_OURS in html.content.decode()
    assert ledger.figures(grant).allocated == D("0")


def test_the_payout_api_answers_400_on_recipient_from_the_service(
    api_client_for, finance, grant, stranger
):
    response = api_client_for(finance).post(
        f"/api/v1/grants/{grant.pk}/payouts/",
        {
            "recipient_type": "centre",
            "recipient": str(stranger["centre"].pk),
            "category": "programme_variable",
            "amount": "100.00",
            "date": "2026-06-01",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="payout-stranger",
    )
    assert (response.status_code, response.json()) == (400, {"recipient": [NOT_OURS]})
    assert ledger.figures(grant).paid_out == D("0")
