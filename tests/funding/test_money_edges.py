"""API.md "Money at the edges": commitments within the grant and a partner's agreement, the
fixed allocation's year, the dates of movements. Each test names the finding of issue 22 it
guards."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from core.exceptions import Conflict
from core.models import Role
from funding import allocation, ledger, partners
from funding.applications import application_approve, application_submit
from funding.models import LedgerTransaction, TxKind
from tests.core.factories import CentreFactory, OrganisationFactory, PartnerFactory, member
from tests.funding.factories import cni, draft

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = datetime.datetime(2026, 6, 15, 12, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def org():
    return OrganisationFactory()


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


def make_grant(org, user, *, amount="50000", year=2026, reference="26RS1"):
    return ledger.grant_create(
        user=user,
        organisation=org,
        funder="socialstyrelsen",
        reference=reference,
        year=year,
        amount=D(amount),
        received_on=datetime.date(year, 3, 1),
        use_by=datetime.date(year, 12, 31),
        report_due=datetime.date(year + 1, 3, 1),
    )


@pytest.fixture
def grant(org, finance):
    return make_grant(org, finance)


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


# --- Commitments stay within the grant --------------------------------------------------------
def test_an_allocation_beyond_the_grant_is_refused_on_amount(org, finance, grant):
    """Finding: 10 000 000 kr allocated on a 50 000 kr grant."""
    centre = CentreFactory(organisation=org)
    with pytest.raises(ValidationError) as exc:
        ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("10000000"))
    assert "50000.00" in errors(exc)["amount"][0]
    assert not LedgerTransaction.objects.filter(grant=grant, kind=TxKind.ALLOCATION).exists()


def test_allocations_may_use_the_whole_grant_and_not_one_krona_more(org, finance, grant):
    a, b = CentreFactory(organisation=org), CentreFactory(organisation=org)
    ledger.allocation_post(user=finance, grant=grant, recipient=a, amount=D("30000"))
    ledger.allocation_post(user=finance, grant=grant, recipient=b, amount=D("20000"))
    assert ledger.figures(grant).unallocated == D("0.00")
    with pytest.raises(ValidationError) as exc:
        ledger.allocation_post(user=finance, grant=grant, recipient=b, amount=D("0.01"))
    assert "0.00" in errors(exc)["amount"][0]


def test_a_reversed_allocation_frees_its_amount(org, finance, grant):
    centre = CentreFactory(organisation=org)
    tx = ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("50000"))
    ledger.reversal_post(user=finance, grant=grant, original=tx, reason="Fel BVC")
    ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("50000"))
    assert ledger.figures(grant).allocated == D("50000.00")


def test_input_limits_answer_before_a_closed_grant(org, finance, grant):
    centre = CentreFactory(organisation=org)
    ledger.grant_close(user=finance, grant=grant)
    with pytest.raises(ValidationError):
        ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("60000"))
    with pytest.raises(Conflict):
        ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("100"))


# --- A partner agreement's yearly amount --------------------------------------------------------
@pytest.fixture
def folktandvarden(org, finance):
    partner = PartnerFactory(organisation=org, name="Folktandvården")
    partners.agreement_create(
        user=finance,
        partner=partner,
        title="Folktandvården",
        year_from=2025,
        year_to=2027,
        yearly_amount=D("15000"),
    )
    return partner


def test_a_direct_allocation_beyond_the_agreement_is_refused(finance, grant, folktandvarden):
    """Finding: a direct allocation to Folktandvården went past its agreement's yearly
    amount."""
    ledger.allocation_post(user=finance, grant=grant, recipient=folktandvarden, amount=D("10000"))
    with pytest.raises(ValidationError) as exc:
        ledger.allocation_post(
            user=finance, grant=grant, recipient=folktandvarden, amount=D("5000.01")
        )
    message = errors(exc)["amount"][0]
    assert "15000.00" in message and "5000.00" in message
    ledger.allocation_post(user=finance, grant=grant, recipient=folktandvarden, amount=D("5000"))
    assert ledger.partner_allocated(grant.organisation_id, folktandvarden.pk, 2026) == D("15000.00")


def test_the_agreement_caps_the_year_across_grants(org, finance, grant, folktandvarden):
    second = make_grant(org, finance, reference="26RS2")
    ledger.allocation_post(user=finance, grant=grant, recipient=folktandvarden, amount=D("12000"))
    with pytest.raises(ValidationError) as exc:
        ledger.allocation_post(
            user=finance, grant=second, recipient=folktandvarden, amount=D("3001")
        )
    assert "3000.00" in errors(exc)["amount"][0]
    # Another year's grant has its own yearly amount.
    other_year = make_grant(org, finance, reference="27RS1", year=2027)
    with time_machine.travel(datetime.datetime(2027, 4, 1, 12, tzinfo=datetime.UTC)):
        ledger.allocation_post(
            user=finance, grant=other_year, recipient=folktandvarden, amount=D("15000")
        )


def test_agreement_allocate_after_a_direct_allocation_is_refused(
    org, finance, grant, folktandvarden
):
    ledger.allocation_post(user=finance, grant=grant, recipient=folktandvarden, amount=D("1"))
    agreement = folktandvarden.agreements.get()
    with pytest.raises(ValidationError) as exc:
        partners.agreement_allocate(user=finance, agreement=agreement, grant=grant)
    assert "14999.00" in errors(exc)["amount"][0]


def test_a_partner_without_an_agreement_is_bounded_by_the_grant_only(org, finance, grant):
    partner = PartnerFactory(organisation=org)
    ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("50000"))


# --- The fixed allocation's year and pool -----------------------------------------------------
@pytest.fixture
def approved_centre(org):
    centre = CentreFactory(organisation=org, name="Vivalla")
    cni(centre, "2.90", listed=300)
    application = draft(centre=centre, year=2026)
    application_submit(user=application.created_by, application=application)
    application_approve(user=member(Role.CBHV, organisation=org), application=application)
    return centre


def test_a_fixed_allocation_for_another_year_is_refused_on_year(finance, grant, approved_centre):
    """Finding: a 2027 allocation was accepted on a 2026 grant."""
    with pytest.raises(ValidationError) as exc:
        allocation.fixed_allocation_post(user=finance, grant=grant, year=2027, pool=10000)
    assert errors(exc)["year"] == ["Den fasta ersättningen fördelas på bidragets år (2026)."]
    with pytest.raises(ValidationError) as exc:
        allocation.fixed_allocation_preview(grant=grant, year=2027, pool=10000)
    assert "year" in errors(exc)


def test_a_fixed_pool_beyond_the_grant_is_refused_on_pool(finance, grant, approved_centre):
    with pytest.raises(ValidationError) as exc:
        allocation.fixed_allocation_post(user=finance, grant=grant, year=2026, pool=10_000_000)
    assert "50000.00" in errors(exc)["pool"][0]
    with pytest.raises(ValidationError):
        allocation.fixed_allocation_preview(grant=grant, year=2026, pool=50_001)
    preview = allocation.fixed_allocation_preview(grant=grant, year=2026, pool=50_000)
    assert preview.total == D("50000.00") and not preview.already_posted


def test_the_preview_says_when_the_year_is_posted(finance, grant, approved_centre):
    allocation.fixed_allocation_post(user=finance, grant=grant, year=2026, pool=20000)
    preview = allocation.fixed_allocation_preview(grant=grant, year=2026, pool=20000)
    assert preview.already_posted
    assert [line.amount for line in preview.lines] == [D("20000.00")]


# --- Dates of movements ----------------------------------------------------------------------
def pay(grant, user, date, amount="100"):
    return ledger.payout_post(
        user=user,
        grant=grant,
        recipient_type="organisation",
        recipient_id=grant.organisation_id,
        category="coordination",
        amount=D(amount),
        date=date,
    )


def test_a_payout_dated_in_the_future_is_refused_on_date(finance, grant):
    with pytest.raises(ValidationError) as exc:
        pay(grant, finance, datetime.date(2026, 6, 16))
    assert errors(exc)["date"] == ["Datumet ligger i framtiden."]
    pay(grant, finance, datetime.date(2026, 6, 15))


def test_a_payout_before_the_receipt_is_refused_on_date(finance, grant):
    with pytest.raises(ValidationError) as exc:
        pay(grant, finance, datetime.date(2026, 2, 28))
    assert errors(exc)["date"] == ["Datumet ligger före bidragets mottagande (2026-03-01)."]
    pay(grant, finance, datetime.date(2026, 3, 1))


def test_a_payout_after_use_by_is_still_a_conflict(org, finance):
    old = make_grant(org, finance, year=2025, reference="25RS1")
    with pytest.raises(Conflict):
        pay(old, finance, datetime.date(2026, 1, 2))


def test_a_repayment_dated_in_the_future_or_before_the_receipt_is_refused(finance, grant):
    for day, message in (
        (datetime.date(2026, 7, 1), "Datumet ligger i framtiden."),
        (datetime.date(2026, 1, 1), "Datumet ligger före bidragets mottagande (2026-03-01)."),
    ):
        with pytest.raises(ValidationError) as exc:
            ledger.repayment_post(
                user=finance, grant=grant, amount=D("100"), date=day, reference="F-1"
            )
        assert errors(exc)["date"] == [message]
    assert ledger.figures(grant).repaid == D("0")


# --- Recipients -------------------------------------------------------------------------------
def test_a_payout_to_another_organisations_centre_is_refused_by_the_service(org, finance, grant):
    """Finding (issue 23): payout_post accepted a centre of another organisation; only the API
    view and the form checked it."""
    stranger = CentreFactory(organisation=OrganisationFactory())
    for recipient_type, recipient_id, category in (
        ("centre", stranger.pk, "programme_variable"),
        ("organisation", stranger.organisation_id, "coordination"),
    ):
        with pytest.raises(ValidationError) as exc:
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type=recipient_type,
                recipient_id=recipient_id,
                category=category,
                amount=D("100"),
                date=datetime.date(2026, 6, 1),
            )
        assert errors(exc)["recipient"] == ["Mottagaren finns inte i bidragets organisation."]
    assert ledger.figures(grant).paid_out == D("0")
