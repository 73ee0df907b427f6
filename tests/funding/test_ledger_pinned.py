"""`funding.ledger` pinned to exact values (issue 23, item 5): the field and Swedish message of
every 400 (API.md "Errors": a 400 names the field), the detail of every 409, the rows each write
leaves (kind, date, category, recipient, reference, legs), and the limits that belong to one
grant, one recipient, one partner or one year (DOMAIN.md 4.3; API.md "Grants and ledger",
"Money at the edges"). Figures from seed 002: Socialstyrelsen's 1 349 000 kr, Dnr 23RS9581."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from core.exceptions import Conflict
from core.models import Role
from funding import ledger, partners
from funding.models import Account, Grant, LedgerTransaction, PartnerAgreement
from tests.core.factories import CentreFactory, OrganisationFactory, PartnerFactory, member

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = datetime.date(2026, 6, 15)
MAY = datetime.date(2026, 5, 4)
NOW = datetime.datetime(2026, 6, 15, 10, tzinfo=datetime.UTC)
ABOVE_ZERO = "Ange ett belopp över 0."
NOT_OURS = "Mottagaren finns inte i bidragets organisation."


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def org():
    return OrganisationFactory()


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


@pytest.fixture
def centre(org):
    return CentreFactory(organisation=org, name="Vivalla")


@pytest.fixture
def partner(org):
    return PartnerFactory(organisation=org, name="Folktandvården")


def make_grant(org, user, *, reference="23RS9581", year=2026, funder="socialstyrelsen", **kw):
    fields = {
        "amount": D("1349000"),
        "received_on": datetime.date(year, 3, 1),
        "use_by": datetime.date(year, 12, 31),
        "report_due": datetime.date(year + 1, 3, 1),
        **kw,
    }
    return ledger.grant_create(
        user=user,
        organisation=org,
        funder=funder,
        reference=reference,
        year=year,
        **fields,
    )


@pytest.fixture
def grant(org, finance):
    return make_grant(org, finance)


def pay(grant, user, amount, *, category="coordination", recipient=None, date=MAY, reference=""):
    recipient_type = {
        "coordination": "organisation",
        "partner_transfer": "partner",
    }.get(category, "centre")
    return ledger.payout_post(
        user=user,
        grant=grant,
        recipient_type=recipient_type,
        recipient_id=recipient.pk if recipient is not None else grant.organisation_id,
        category=category,
        amount=D(amount),
        date=date,
        reference=reference,
    )


def legs(tx: LedgerTransaction) -> list[tuple[str, Decimal]]:
    return sorted((leg.account, leg.amount) for leg in tx.legs.all())


def row(tx: LedgerTransaction) -> tuple[object, ...]:
    tx.refresh_from_db()
    return (
        tx.kind,
        tx.date,
        tx.category,
        tx.recipient_type,
        tx.recipient_id,
        tx.reference,
        tx.reverses_id,
        tx.created_by_id,
        legs(tx),
    )


def refused(call, *args, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        call(*args, **kwargs)
    return exc.value.message_dict


def conflict(call, *args, **kwargs) -> str:
    with pytest.raises(Conflict) as exc:
        call(*args, **kwargs)
    return exc.value.detail


# --- grant_create ---------------------------------------------------------------------------
def test_a_grant_and_its_receipt_are_written_as_given(org, finance):
    grant = make_grant(org, finance, reference="  23RS9581 ", conditions="  Endast utökning ")

    grant.refresh_from_db()
    assert (grant.reference, grant.conditions, grant.amount, grant.created_by_id) == (
        "23RS9581",
        "Endast utökning",
        D("1349000.00"),
        finance.pk,
    )
    assert row(grant.transactions.get()) == (
        "receipt",
        datetime.date(2026, 3, 1),
        "",
        "",
        None,
        "23RS9581",
        None,
        finance.pk,
        [(Account.BALANCE, D("1349000.00")), (Account.FUNDER, D("-1349000.00"))],
    )


def test_each_wrong_grant_field_is_named_with_its_message(org, finance):
    errors = refused(
        make_grant,
        org,
        finance,
        funder="kommunen",
        reference="   ",
        received_on=datetime.date(2026, 3, 1),
        use_by=datetime.date(2026, 2, 28),
        report_due=datetime.date(2026, 2, 27),
    )

    assert errors == {
        "funder": ["Välj bidragsgivare."],
        "reference": ["Ange beslutets diarienummer."],
        "use_by": ["Sista användningsdag ligger före mottagandet."],
        "report_due": ["Redovisningen kan inte ligga före sista användningsdag."],
    }
    assert not Grant.objects.exists()


@pytest.mark.parametrize("amount", ["0", "-1", "0.004"])
def test_a_grant_of_nothing_is_refused_on_amount(org, finance, amount):
    assert refused(make_grant, org, finance, amount=D(amount)) == {"amount": [ABOVE_ZERO]}
    assert not Grant.objects.exists()


def test_a_grant_may_be_received_on_its_use_by_day_and_reported_the_same_day(org, finance):
    day = datetime.date(2026, 3, 1)
    grant = make_grant(org, finance, received_on=day, use_by=day, report_due=day)

    assert (grant.received_on, grant.use_by, grant.report_due) == (day, day, day)


def test_grant_dates_lie_within_20_years_back_and_10_ahead(org, finance):
    """Today 2026-06-15: from 2006-06-15 to 2036-06-15, both days included."""
    grant = make_grant(
        org,
        finance,
        requisitioned_on=datetime.date(2006, 6, 15),
        received_on=datetime.date(2006, 6, 15),
        use_by=datetime.date(2036, 6, 15),
        report_due=datetime.date(2036, 6, 15),
    )
    assert grant.requisitioned_on == datetime.date(2006, 6, 15)

    message = "Ange ett datum mellan 2006-06-15 och 2036-06-15."
    assert refused(
        make_grant,
        org,
        finance,
        reference="B",
        requisitioned_on=datetime.date(2006, 6, 14),
        received_on=datetime.date(2006, 6, 14),
        use_by=datetime.date(2036, 6, 16),
        report_due=datetime.date(2036, 6, 16),
    ) == {
        "requisitioned_on": [message],
        "received_on": [message],
        "use_by": [message],
        "report_due": [message],
    }


def test_a_date_both_out_of_range_and_out_of_order_gets_both_messages(org, finance):
    assert refused(make_grant, org, finance, use_by=datetime.date(2005, 12, 31)) == {
        "use_by": [
            "Sista användningsdag ligger före mottagandet.",
            "Ange ett datum mellan 2006-06-15 och 2036-06-15.",
        ]
    }


def test_a_grant_without_a_requisition_date_or_conditions_is_fine(org, finance):
    grant = ledger.grant_create(
        user=finance,
        organisation=org,
        funder="socialstyrelsen",
        reference="23RS9581",
        year=2026,
        amount=D("1349000"),
        received_on=datetime.date(2026, 3, 1),
        use_by=datetime.date(2026, 12, 31),
        report_due=datetime.date(2027, 3, 1),
    )

    grant.refresh_from_db()
    assert (grant.requisitioned_on, grant.conditions) == (None, "")


def test_a_second_grant_with_the_funders_reference_is_a_conflict(org, finance, grant):
    detail = conflict(make_grant, org, finance, reference=" 23RS9581")

    assert detail == "Bidragsgivaren har redan ett beslut med det diarienumret."
    assert Grant.objects.count() == 1


# --- figures --------------------------------------------------------------------------------
def test_every_figure_after_each_kind_of_movement(org, finance, grant, centre):
    ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("600000"))
    pay(grant, finance, "250000", category="fixed", recipient=centre)
    pay(grant, finance, "49000")
    ledger.repayment_post(user=finance, grant=grant, amount=D("100000"), date=MAY, reference="F1")
    ledger.carry_over_post(
        user=finance, grant=grant, amount=D("200000"), to_year=2027, decision_reference="B1"
    )

    f = ledger.figures(grant)
    assert (f.amount, f.allocated, f.paid_out, f.carried_over, f.repaid) == (
        D("1349000.00"),
        D("600000.00"),
        D("299000.00"),
        D("200000.00"),
        D("100000.00"),
    )
    assert (f.balance, f.unallocated, f.unused, f.repayment_due, f.closed) == (
        D("750000.00"),
        D("749000.00"),
        D("1050000.00"),
        D("0.00"),
        False,
    )

    closed = ledger.grant_close(user=finance, grant=grant)
    assert (closed.closed, closed.unused_at_close, closed.unused, closed.repayment_due) == (
        True,
        D("1050000.00"),
        D("1050000.00"),
        D("750000.00"),
    )


def test_figures_of_an_annotated_grant_need_no_query(grant, finance, django_assert_num_queries):
    pay(grant, finance, "1000")
    annotated = ledger.with_figures(Grant.objects.filter(pk=grant.pk)).get()

    with django_assert_num_queries(0):
        f = ledger.figures(annotated)

    assert (f.amount, f.paid_out, f.balance) == (D("1349000.00"), D("1000.00"), D("1348000.00"))


def test_close_stamps_the_time_once(grant, finance):
    ledger.grant_close(user=finance, grant=grant)
    with time_machine.travel(NOW + datetime.timedelta(days=3), tick=False):
        ledger.grant_close(user=finance, grant=grant)

    grant.refresh_from_db()
    assert (grant.closed_at, grant.unused_at_close) == (NOW, D("1349000.00"))


# --- allocations ----------------------------------------------------------------------------
def test_an_allocation_row(grant, finance, partner):
    tx = ledger.allocation_post(
        user=finance, grant=grant, recipient=partner, amount=D("15000"), purpose="  Avtal 2026 "
    )

    assert row(tx) == (
        "allocation",
        TODAY,
        "",
        "partner",
        partner.pk,
        "Avtal 2026",
        None,
        finance.pk,
        [(Account.ALLOCATED, D("15000.00")), (Account.UNALLOCATED, D("-15000.00"))],
    )
    dated = ledger.allocation_post(
        user=finance, grant=grant, recipient=partner, amount=D("1"), date=MAY
    )
    assert (dated.date, dated.reference) == (MAY, "")


def test_an_allocation_to_the_organisation_itself_is_refused_on_recipient_type(org, finance, grant):
    assert refused(
        ledger.allocation_post, user=finance, grant=grant, recipient=org, amount=D("1")
    ) == {"recipient_type": ["Fördela till en BVC eller samverkanspart."]}


def test_allocation_input_is_named(grant, finance, centre):
    other = CentreFactory()
    assert refused(
        ledger.allocation_post, user=finance, grant=grant, recipient=other, amount=D("1")
    ) == {"recipient": [NOT_OURS]}
    assert refused(
        ledger.allocation_post, user=finance, grant=grant, recipient=centre, amount=D("0")
    ) == {"amount": [ABOVE_ZERO]}
    assert refused(
        ledger.allocation_post, user=finance, grant=grant, recipient=centre, amount=D("1349000.01")
    ) == {
        "amount": ["Beloppet är större än det som återstår att fördela av bidraget (1349000.00)."]
    }
    assert ledger.figures(grant).allocated == D("0.00")


def test_an_allocation_on_a_closed_grant_says_so(grant, finance, centre):
    ledger.grant_close(user=finance, grant=grant)

    assert (
        conflict(ledger.allocation_post, user=finance, grant=grant, recipient=centre, amount=D("1"))
        == "Bidraget är avslutat."
    )


def agreement(user, partner, amount, year_from=2025, year_to=2027):
    return partners.agreement_create(
        user=user,
        partner=partner,
        title="Folktandvården",
        year_from=year_from,
        year_to=year_to,
        yearly_amount=D(amount),
    )


def test_the_agreement_cap_says_what_it_allows_and_what_is_left(grant, finance, partner):
    agreement(finance, partner, "10000")
    agreement(finance, partner, "5000", year_from=2026, year_to=2026)
    ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("10000"))

    assert refused(
        ledger.allocation_post, user=finance, grant=grant, recipient=partner, amount=D("5000.01")
    ) == {
        "amount": [
            "Överenskommelsen med samverkansparten medger 15000.00 för 2026; "
            "5000.00 återstår att fördela."
        ]
    }
    ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("5000"))
    assert ledger.partner_allocated(grant.organisation_id, partner.pk, 2026) == D("15000.00")


def test_an_agreement_below_what_is_already_allocated_leaves_nothing(grant, finance, partner):
    ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("8000"))
    agreement(finance, partner, "5000")

    assert refused(
        ledger.allocation_post, user=finance, grant=grant, recipient=partner, amount=D("1")
    ) == {
        "amount": [
            "Överenskommelsen med samverkansparten medger 5000.00 för 2026; "
            "0.00 återstår att fördela."
        ]
    }


def test_the_cap_counts_only_this_partner_and_this_year(org, finance, grant, partner):
    agreement(finance, partner, "15000")
    # Another partner, a centre that happens to have the partner's id, the same partner in 2025
    # and 2027: none of it counts against 2026.
    ledger.allocation_post(
        user=finance, grant=grant, recipient=PartnerFactory(organisation=org), amount=D("20000")
    )
    namesake = CentreFactory(organisation=org, pk=partner.pk)
    ledger.allocation_post(user=finance, grant=grant, recipient=namesake, amount=D("20000"))
    for year in (2025, 2027):
        other_year = make_grant(org, finance, reference=f"R{year}", year=year)
        ledger.allocation_post(user=finance, grant=other_year, recipient=partner, amount=D("15000"))

    ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("15000"))

    assert ledger.partner_allocated(org.pk, partner.pk, 2026) == D("15000.00")
    assert ledger.partner_allocated(org.pk, partner.pk, 2025) == D("15000.00")


def test_an_agreement_another_organisation_holds_caps_nothing_here(grant, finance, partner):
    PartnerAgreement.objects.create(
        organisation=OrganisationFactory(),
        partner=partner,
        title="Annan region",
        year_from=2026,
        year_to=2026,
        yearly_amount=D("1"),
        created_by=finance,
    )

    ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("15000"))

    assert ledger.partner_allocated(grant.organisation_id, partner.pk, 2026) == D("15000.00")


def test_a_partner_that_changed_organisation_starts_afresh_with_the_new_one(org, finance, partner):
    """What the first organisation allocated to the partner counts against that organisation's
    agreement only."""
    first = make_grant(org, finance)
    ledger.allocation_post(user=finance, grant=first, recipient=partner, amount=D("15000"))
    new_org = OrganisationFactory()
    new_finance = member(Role.FINANCE, organisation=new_org)
    partner.organisation = new_org
    partner.save(update_fields=["organisation"])
    agreement(new_finance, partner, "15000")
    second = make_grant(new_org, new_finance, reference="Ny region")

    ledger.allocation_post(user=new_finance, grant=second, recipient=partner, amount=D("15000"))

    assert ledger.partner_allocated(new_org.pk, partner.pk, 2026) == D("15000.00")
    assert ledger.partner_allocated(org.pk, partner.pk, 2026) == D("15000.00")


def test_a_reversed_partner_allocation_frees_the_cap(grant, finance, partner):
    agreement(finance, partner, "15000")
    tx = ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("15000"))
    ledger.reversal_post(user=finance, grant=grant, original=tx, reason="Fel år")

    assert ledger.partner_allocated(grant.organisation_id, partner.pk, 2026) == D("0.00")
    ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("15000"))


# --- payouts --------------------------------------------------------------------------------
def test_a_payout_row(grant, finance, centre):
    ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("600000"))

    tx = pay(grant, finance, "250000", category="fixed", recipient=centre, reference=" Mars ")

    assert row(tx) == (
        "payout",
        MAY,
        "fixed",
        "centre",
        centre.pk,
        "Mars",
        None,
        finance.pk,
        [(Account.BALANCE, D("-250000.00")), (Account.PAID, D("250000.00"))],
    )
    assert ledger.transaction_parts(tx) == (D("-250000.00"), None)


@pytest.mark.parametrize(
    ("category", "recipient_type", "message"),
    [
        ("coordination", "centre", "Egen samordning betalas till bidragets egen organisation."),
        ("fixed", "partner", "Fast ersättning betalas till en BVC."),
        (
            "programme_variable",
            "organisation",
            "Rörlig ersättning (2 500 kr-besök) betalas till en BVC.",
        ),
        (
            "partner_transfer",
            "centre",
            "Överföring till samverkanspart betalas till en samverkanspart.",
        ),
    ],
)
def test_each_category_names_whom_it_is_paid_to(
    grant, finance, centre, category, recipient_type, message
):
    errors = refused(
        ledger.payout_post,
        user=finance,
        grant=grant,
        recipient_type=recipient_type,
        recipient_id=centre.pk,
        category=category,
        amount=D("1"),
        date=MAY,
    )

    assert errors == {"recipient_type": [message]}


@pytest.mark.parametrize(
    ("category", "recipient_type", "amount", "expected"),
    [
        ("bonus", "organisation", "1", {"category": ["Välj kategori."]}),
        ("coordination", "kommun", "1", {"recipient_type": ["Välj typ av mottagare."]}),
        ("coordination", "organisation", "0", {"amount": [ABOVE_ZERO]}),
        ("coordination", "organisation", "0.004", {"amount": [ABOVE_ZERO]}),
        (
            "coordination",
            "organisation",
            "1349000.01",
            {"amount": ["Beloppet är större än det som finns kvar (1349000.00)."]},
        ),
    ],
)
def test_payout_input_is_named(grant, finance, category, recipient_type, amount, expected):
    errors = refused(
        ledger.payout_post,
        user=finance,
        grant=grant,
        recipient_type=recipient_type,
        recipient_id=grant.organisation_id,
        category=category,
        amount=D(amount),
        date=MAY,
    )

    assert errors == expected
    assert ledger.figures(grant).paid_out == D("0.00")


def test_a_payout_without_a_reference_has_none(grant, finance):
    tx = ledger.payout_post(
        user=finance,
        grant=grant,
        recipient_type="organisation",
        recipient_id=grant.organisation_id,
        category="coordination",
        amount=D("1"),
        date=MAY,
    )

    assert tx.reference == ""


def test_half_an_ore_rounds_up_to_a_payable_ore(grant, finance):
    pay(grant, finance, "0.005")

    assert ledger.figures(grant).paid_out == D("0.01")


def test_the_whole_balance_may_be_paid(grant, finance):
    pay(grant, finance, "1349000")

    assert ledger.figures(grant).balance == D("0.00")


@pytest.mark.parametrize("recipient_type", ["centre", "partner", "organisation"])
def test_a_recipient_that_is_not_the_grants_is_refused_on_recipient(grant, finance, recipient_type):
    elsewhere = {
        "centre": CentreFactory,
        "partner": PartnerFactory,
        "organisation": OrganisationFactory,
    }[recipient_type]()
    category = {
        "centre": "programme_variable",
        "partner": "partner_transfer",
        "organisation": "coordination",
    }[recipient_type]
    for recipient_id in (elsewhere.pk, uuid.uuid4()):
        errors = refused(
            ledger.payout_post,
            user=finance,
            grant=grant,
            recipient_type=recipient_type,
            recipient_id=recipient_id,
            category=category,
            amount=D("1"),
            date=MAY,
        )
        assert errors == {"recipient": [NOT_OURS]}


def test_beyond_the_open_allocation_names_what_is_open(grant, finance, centre):
    ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("300"))
    pay(grant, finance, "200", category="fixed", recipient=centre)

    assert refused(pay, grant, finance, "100.01", category="fixed", recipient=centre) == {
        "amount": [
            "Beloppet är större än det som är fördelat till mottagaren och inte utbetalt (100.00)."
        ]
    }
    assert ledger.recipient_open_allocation(grant, "centre", centre.pk) == D("100.00")


def test_the_open_allocation_is_this_grants(org, finance, grant, centre):
    other = make_grant(org, finance, reference="23RS9582")
    ledger.allocation_post(user=finance, grant=other, recipient=centre, amount=D("300"))

    assert refused(pay, grant, finance, "1", category="fixed", recipient=centre) == {
        "amount": [
            "Beloppet är större än det som är fördelat till mottagaren och inte utbetalt (0.00)."
        ]
    }
    pay(other, finance, "300", category="fixed", recipient=centre)
    assert ledger.recipient_open_allocation(other, "centre", centre.pk) == D("0.00")


def test_the_open_allocation_is_this_recipients(org, finance, grant, centre):
    ledger.allocation_post(
        user=finance, grant=grant, recipient=CentreFactory(organisation=org), amount=D("300")
    )
    # A partner that happens to have the centre's id is another recipient all the same.
    namesake = PartnerFactory(organisation=org, pk=centre.pk)
    ledger.allocation_post(user=finance, grant=grant, recipient=namesake, amount=D("300"))

    assert ledger.recipient_open_allocation(grant, "centre", centre.pk) == D("0.00")
    assert refused(pay, grant, finance, "1", category="fixed", recipient=centre)["amount"] == [
        "Beloppet är större än det som är fördelat till mottagaren och inte utbetalt (0.00)."
    ]


def test_programme_variable_payouts_leave_the_fixed_allocation_open(grant, finance, centre):
    ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("300"))
    pay(grant, finance, "200", category="programme_variable", recipient=centre)

    assert ledger.recipient_open_allocation(grant, "centre", centre.pk) == D("300.00")
    pay(grant, finance, "300", category="fixed", recipient=centre)
    assert ledger.recipient_open_allocation(grant, "centre", centre.pk) == D("0.00")


def test_a_reversed_fixed_payout_opens_its_allocation_again(grant, finance, centre):
    ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("300"))
    payout = pay(grant, finance, "300", category="fixed", recipient=centre)
    ledger.reversal_post(user=finance, grant=grant, original=payout, reason="Dubbelbetalning")

    assert ledger.recipient_open_allocation(grant, "centre", centre.pk) == D("300.00")
    pay(grant, finance, "300", category="fixed", recipient=centre)


def test_payout_dates_from_the_receipt_to_today(grant, finance):
    assert refused(pay, grant, finance, "1", date=TODAY + datetime.timedelta(days=1)) == {
        "date": ["Datumet ligger i framtiden."]
    }
    assert refused(pay, grant, finance, "1", date=datetime.date(2026, 2, 28)) == {
        "date": ["Datumet ligger före bidragets mottagande (2026-03-01)."]
    }
    assert pay(grant, finance, "1", date=TODAY).date == TODAY
    assert pay(grant, finance, "1", date=datetime.date(2026, 3, 1)).date == datetime.date(
        2026, 3, 1
    )


def test_a_payout_after_use_by_names_the_day(org, finance):
    last_year = make_grant(org, finance, reference="25RS1", year=2025)
    pay(last_year, finance, "1", date=datetime.date(2025, 12, 31))

    detail = conflict(pay, last_year, finance, "1", date=datetime.date(2026, 1, 1))

    assert detail == "Bidraget får inte användas efter 2025-12-31."


def test_a_payout_on_a_closed_grant_says_so(grant, finance):
    ledger.grant_close(user=finance, grant=grant)

    assert conflict(pay, grant, finance, "1") == "Bidraget är avslutat."


# --- reversals ------------------------------------------------------------------------------
def test_a_reversal_row_mirrors_the_original_and_keeps_the_reason(grant, finance, centre):
    ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("300"))
    payout = pay(grant, finance, "300", category="fixed", recipient=centre, reference="Maj")

    tx = ledger.reversal_post(user=finance, grant=grant, original=payout, reason="  Fel BVC ")

    assert row(tx) == (
        "reversal",
        TODAY,
        "fixed",
        "centre",
        centre.pk,
        "Fel BVC",
        payout.pk,
        finance.pk,
        [(Account.BALANCE, D("300.00")), (Account.PAID, D("-300.00"))],
    )
    assert ledger.transaction_amount(tx) == D("300.00")


def test_a_reversed_allocation_shows_its_commitment_negative(grant, finance, centre):
    allocation = ledger.allocation_post(
        user=finance, grant=grant, recipient=centre, amount=D("600000")
    )
    tx = ledger.reversal_post(user=finance, grant=grant, original=allocation, reason="Fel")

    assert ledger.transaction_parts(allocation) == (None, D("600000.00"))
    assert ledger.transaction_parts(tx) == (None, D("-600000.00"))
    assert ledger.transaction_amount(tx) == D("-600000.00")


def test_reversal_input_is_named(org, finance, grant):
    payout = pay(grant, finance, "10")
    other = make_grant(org, finance, reference="23RS9582")

    assert refused(
        ledger.reversal_post, user=finance, grant=grant, original=payout, reason="  "
    ) == {"reason": ["Ange varför transaktionen rättas."]}
    assert refused(
        ledger.reversal_post, user=finance, grant=other, original=payout, reason="Fel"
    ) == {"transaction": ["Transaktionen hör till ett annat bidrag."]}
    assert refused(
        ledger.reversal_post,
        user=finance,
        grant=grant,
        original=grant.transactions.get(kind="receipt"),
        reason="Fel",
    ) == {"transaction": ["Den här transaktionen kan inte rättas."]}
    reversal = ledger.reversal_post(user=finance, grant=grant, original=payout, reason="Fel")
    assert refused(
        ledger.reversal_post, user=finance, grant=grant, original=reversal, reason="Fel"
    ) == {"transaction": ["Den här transaktionen kan inte rättas."]}


def test_reversal_conflicts_say_why(grant, finance):
    payout = pay(grant, finance, "10")
    ledger.reversal_post(user=finance, grant=grant, original=payout, reason="Fel")

    assert (
        conflict(ledger.reversal_post, user=finance, grant=grant, original=payout, reason="Igen")
        == "Transaktionen är redan rättad."
    )
    other = pay(grant, finance, "20")
    ledger.grant_close(user=finance, grant=grant)
    assert (
        conflict(ledger.reversal_post, user=finance, grant=grant, original=other, reason="Fel")
        == "Bidraget är avslutat."
    )


# --- repayments -----------------------------------------------------------------------------
def test_a_repayment_row(grant, finance):
    tx = ledger.repayment_post(
        user=finance, grant=grant, amount=D("100000"), date=MAY, reference="  Faktura 4711 "
    )

    assert row(tx) == (
        "repayment",
        MAY,
        "",
        "",
        None,
        "Faktura 4711",
        None,
        finance.pk,
        [(Account.BALANCE, D("-100000.00")), (Account.REPAID, D("100000.00"))],
    )


def test_repayment_input_is_named(grant, finance):
    def repay(amount="1", date=MAY, reference="Faktura 4711"):
        return ledger.repayment_post(
            user=finance, grant=grant, amount=D(amount), date=date, reference=reference
        )

    assert refused(repay, reference=" ") == {"reference": ["Ange fakturans referens."]}
    assert refused(repay, amount="0") == {"amount": [ABOVE_ZERO]}
    assert refused(repay, amount="1349000.01") == {
        "amount": ["Beloppet är större än det som finns kvar (1349000.00)."]
    }
    assert refused(repay, date=datetime.date(2026, 6, 16)) == {
        "date": ["Datumet ligger i framtiden."]
    }
    assert refused(repay, date=datetime.date(2026, 2, 28)) == {
        "date": ["Datumet ligger före bidragets mottagande (2026-03-01)."]
    }
    assert ledger.figures(grant).repaid == D("0.00")
    repay(amount="1349000", date=datetime.date(2026, 3, 1))
    assert ledger.figures(grant).balance == D("0.00")


# --- carry-over -----------------------------------------------------------------------------
def test_a_carry_over_makes_next_years_grant_as_the_decision_says(org, finance, grant):
    out, into = ledger.carry_over_post(
        user=finance,
        grant=grant,
        amount=D("200000"),
        to_year=2027,
        decision_reference=" Beslut 17 ",
    )

    assert row(out) == (
        "carry_over",
        TODAY,
        "",
        "",
        None,
        "Beslut 17",
        None,
        finance.pk,
        [(Account.BALANCE, D("-200000.00")), (Account.CARRIED_OVER, D("200000.00"))],
    )
    target = Grant.objects.get(pk=into.grant_id)
    assert row(into) == (
        "receipt",
        TODAY,
        "",
        "",
        None,
        "Beslut 17",
        None,
        finance.pk,
        [(Account.BALANCE, D("200000.00")), (Account.FUNDER, D("-200000.00"))],
    )
    assert (
        target.organisation_id,
        target.funder,
        target.reference,
        target.year,
        target.amount,
        target.received_on,
        target.use_by,
        target.report_due,
        target.conditions,
        target.created_by_id,
    ) == (
        org.pk,
        "socialstyrelsen",
        "Beslut 17 (2027)",
        2027,
        D("200000.00"),
        TODAY,
        datetime.date(2027, 12, 31),
        datetime.date(2028, 3, 1),
        "Överfört från Socialstyrelsen 23RS9581 (2026) enligt bidragsgivarens beslut.",
        finance.pk,
    )


def test_a_decision_recorded_after_the_year_receives_on_its_last_day(org, finance):
    old = make_grant(org, finance, reference="Dnr 2024", year=2024)

    _out, into = ledger.carry_over_post(
        user=finance, grant=old, amount=D("1000"), to_year=2025, decision_reference="Beslut 3"
    )

    target = into.grant
    assert (target.received_on, target.use_by, target.report_due) == (
        datetime.date(2025, 12, 31),
        datetime.date(2025, 12, 31),
        datetime.date(2026, 3, 1),
    )


def test_the_receiving_grant_is_this_organisations_and_this_funders(org, finance, grant):
    elsewhere = OrganisationFactory()
    elsewheres_finance = member(Role.FINANCE, organisation=elsewhere)
    # Registered in this order, a day apart: the others are older than ours.
    with time_machine.travel(NOW - datetime.timedelta(days=2), tick=False):
        theirs = make_grant(elsewhere, elsewheres_finance, reference="Deras", year=2027)
    with time_machine.travel(NOW - datetime.timedelta(days=1), tick=False):
        regions = make_grant(org, finance, reference="Egna", year=2027, funder="region")
    ours = make_grant(org, finance, reference="27RS1", year=2027)

    _out, into = ledger.carry_over_post(
        user=finance, grant=grant, amount=D("1000"), to_year=2027, decision_reference="Beslut"
    )

    assert into.grant_id == ours.pk
    assert ledger.figures(ours).amount == D("1350000.00")
    assert ledger.figures(theirs).amount == ledger.figures(regions).amount == D("1349000.00")


def test_carry_over_input_is_named(grant, finance):
    def carry(amount="1", to_year=2027, decision_reference="Beslut"):
        return ledger.carry_over_post(
            user=finance,
            grant=grant,
            amount=D(amount),
            to_year=to_year,
            decision_reference=decision_reference,
        )

    assert refused(carry, decision_reference=" ") == {
        "decision_reference": ["Ange bidragsgivarens beslut."]
    }
    assert refused(carry, to_year=2026) == {"to_year": ["Ange ett senare år än bidragets."]}
    assert refused(carry, amount="0") == {"amount": [ABOVE_ZERO]}
    assert refused(carry, amount="1349000.01") == {
        "amount": ["Beloppet är större än det som finns kvar (1349000.00)."]
    }
    assert Grant.objects.count() == 1
    carry(amount="1349000")
    assert ledger.figures(grant).balance == D("0.00")
