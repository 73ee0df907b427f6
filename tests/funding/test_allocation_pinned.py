"""`funding.allocation` pinned to exact values (issue 23, item 5): the messages and fields a user
or API client gets (API.md: a 400 names the field; the text is the product's Swedish), the ledger
rows a fixed allocation writes (date, purpose, amounts, legs), and the edges of the rounding
(DOMAIN.md 4.2: whole kronor adding up to the pool, deterministic tie-break)."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.exceptions import Conflict
from core.models import Role
from funding import ledger
from funding.allocation import (
    fixed_allocation_compute,
    fixed_allocation_post,
    fixed_allocation_preview,
    largest_remainder,
)
from funding.applications import application_approve, application_submit
from funding.models import Account, CniKind, CniValue, LedgerTransaction, TxKind
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import cni, draft

D = Decimal
YEAR = 2026
STOCKHOLM = ZoneInfo("Europe/Stockholm")
POOL_MESSAGE = "Ange potten i hela kronor, över 0."


# --- largest_remainder ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pool", "weights", "message"),
    [
        (True, [("a", D(1))], "The pool must be a whole number of kronor."),
        (D("10"), [("a", D(1))], "The pool must be a whole number of kronor."),
        ("10", [("a", D(1))], "The pool must be a whole number of kronor."),
        (-1, [("a", D(1))], "The pool cannot be negative."),
        (10, [("a", D(1)), ("a", D(2))], "The key 'a' appears twice."),
        (10, [("a", 1.5)], "Weights must be exact (Decimal or int), never float."),
        (10, [("a", D("NaN"))], "The weight of 'a' is not a number."),
        (10, [("a", D("Infinity"))], "The weight of 'a' is not a number."),
        (10, [("a", D("-0.01")), ("b", D(2))], "The weight of 'a' is negative."),
        (10, [("a", D(0)), ("b", D(0))], "The weights add up to 0: there is nothing to share by."),
        (10, [], "The weights add up to 0: there is nothing to share by."),
    ],
)
def test_what_cannot_be_shared_says_why(pool, weights, message):
    with pytest.raises(ValueError) as exc:
        largest_remainder(pool, weights)

    assert str(exc.value) == message


def test_a_pool_of_nothing_gives_everybody_nothing():
    assert largest_remainder(0, [("a", D("2.5")), ("b", D(1))]) == {"a": 0, "b": 0}


def test_whole_number_weights_are_exact_too():
    # Exact shares 2.5 and 7.5: equal remainders, the larger weight (b) gets the krona.
    assert largest_remainder(10, [("a", 1), ("b", 3)]) == {"a": 2, "b": 8}


def test_keys_written_alike_are_told_apart_by_their_repr():
    """1 and "1" have the same str(); repr() ("'1'" < "1") gives the krona to "1", in either
    order of the input."""
    weights = [("1", D(1)), (1, D(1))]

    assert largest_remainder(1, weights) == {"1": 1, 1: 0}
    assert largest_remainder(1, list(reversed(weights))) == {"1": 1, 1: 0}


def test_weights_adding_up_to_one_are_weights_like_any_other():
    # Exact shares 1.25 and 3.75: the krona left goes to the larger remainder.
    assert largest_remainder(5, [("a", D("0.25")), ("b", D("0.75"))]) == {"a": 1, "b": 4}


def test_equal_remainders_and_weights_go_by_the_key_as_written():
    """str() decides before repr(): "1" < "b", although repr() would put "'b'" first."""
    assert largest_remainder(1, [("b", D(1)), (1, D(1))]) == {1: 1, "b": 0}


def test_several_kronor_left_go_to_the_largest_remainders_in_order():
    # Pool 10 by 1:1:1:1:3 → exact 1.4285… ×4 and 4.2857…: floors 1,1,1,1,4 leave 2 kronor,
    # which go to the four equal remainders .43 by key: a and b.
    weights = [("d", D(1)), ("c", D(1)), ("b", D(1)), ("a", D(1)), ("e", D(3))]

    assert largest_remainder(10, weights) == {"a": 2, "b": 2, "c": 1, "d": 1, "e": 4}


# --- The database: approved centres of Region Örebro (DOMAIN.md 4.2) ----------------------------
@pytest.fixture(autouse=True)
def _in_the_year():
    with time_machine.travel(datetime.datetime(YEAR, 2, 10, 12, tzinfo=STOCKHOLM), tick=False):
        yield


db = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganisationFactory()


@pytest.fixture
def cbhv(org):
    return member(Role.CBHV, organisation=org)


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


@pytest.fixture
def approve(org, cbhv):
    def make(name: str, value: str = "2.50", listed: int | None = 300, pk: int | None = None):
        extra = {} if pk is None else {"pk": uuid.UUID(int=pk)}
        centre = CentreFactory(organisation=org, name=name, **extra)
        cni(centre, value, listed)
        manager = member(Role.CENTRE_MANAGER, centre=centre)
        app = application_submit(user=manager, application=draft(centre, by=manager, year=YEAR))
        application_approve(user=cbhv, application=app)
        return centre

    return make


@pytest.fixture
def grant(org, finance):
    """Seed 002: 1 349 000 kr from Socialstyrelsen, Dnr 23RS9581 (here for 2026)."""
    return ledger.grant_create(
        user=finance,
        organisation=org,
        funder="socialstyrelsen",
        reference="23RS9581",
        year=YEAR,
        amount=D("1349000"),
        received_on=datetime.date(YEAR, 1, 15),
        use_by=datetime.date(YEAR, 12, 31),
        report_due=datetime.date(YEAR + 1, 3, 1),
    )


def allocations(grant) -> list[LedgerTransaction]:
    return list(
        LedgerTransaction.objects.filter(grant=grant, kind=TxKind.ALLOCATION)
        .prefetch_related("legs")
        .order_by("created_at", "id")
    )


@pytest.mark.parametrize("pool", [True, False, 1000.0, "0", "-5", "12.5", "tusen", "NaN", None])
@db
def test_a_pool_not_in_whole_kronor_above_zero_is_refused_on_pool(org, approve, pool):
    approve("Vivalla")

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=pool)

    assert exc.value.message_dict == {"pool": [POOL_MESSAGE]}


@db
def test_a_pool_of_one_krona_is_whole_kronor_above_zero(org, approve):
    approve("Vivalla")

    lines = fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool="1")

    assert [str(line.amount) for line in lines] == ["1.00"]


@db
def test_no_approved_centres_names_the_year(org):
    with pytest.raises(ValidationError) as exc:
        fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000)

    assert exc.value.message_dict == {
        "non_field_errors": ["Inga BVC har beviljad fast ersättning för 2026."]
    }


@db
def test_centres_without_listed_children_or_child_cni_are_each_named(org, approve):
    approve("Vivalla", "2.87", 612)
    approve("Brickebacken", "2.20", None)
    approve("Adolfsberg", "2.30", 0)
    mikaeli = approve("Mikaeli", "2.50", 250)
    approve("Varberga", "3.10", None)
    # Only a general CNI is left for Mikaeli: no child CNI to weight it by.
    CniValue.objects.filter(centre=mikaeli).update(kind=CniKind.CNI)

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000)

    assert exc.value.message_dict == {
        "centres": [
            "Adolfsberg saknar antal listade barn 0–5 år i sitt barn-CNI.",
            "Brickebacken saknar antal listade barn 0–5 år i sitt barn-CNI.",
            "Mikaeli har inget barn-CNI registrerat.",
            "Varberga saknar antal listade barn 0–5 år i sitt barn-CNI.",
        ]
    }


@db
def test_weights_that_are_all_zero_are_refused_as_a_whole(org, approve):
    for centre in (approve("Vivalla"), approve("Varberga")):
        cni(centre, "0.00", 100, reference_date=datetime.date(YEAR, 1, 31))

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000)

    assert exc.value.message_dict == {
        "non_field_errors": ["De beviljade BVC:ernas vikter är alla 0."]
    }


@db
def test_each_line_carries_the_centres_figures_in_name_order(org, approve):
    # Ids in the opposite order of the names: the lines follow the names.
    approve("Vivalla", "2.87", 612, pk=1)
    approve("Mikaeli", "2.50", 250, pk=2)

    lines = fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=D("1349000"))

    # Weights 1756.44 and 625.00 of 2381.44: exact shares 994 960.007… and 354 039.992…, so
    # the krona left goes to Mikaeli.
    assert [
        (line.centre.name, line.child_cni, line.listed_children, str(line.weight), str(line.amount))
        for line in lines
    ] == [
        ("Mikaeli", D("2.50"), 250, "625.00", "354040.00"),
        ("Vivalla", D("2.87"), 612, "1756.44", "994960.00"),
    ]


# --- Preview: checked as posting is, nothing written --------------------------------------------
@db
def test_the_preview_totals_the_pool_and_writes_nothing(grant, approve):
    approve("Vivalla", "2.87", 612)
    approve("Mikaeli", "2.50", 250)

    preview = fixed_allocation_preview(grant=grant, year=YEAR, pool="1000")

    assert str(preview.total) == "1000.00"
    assert [str(line.amount) for line in preview.lines] == ["262.00", "738.00"]
    assert preview.already_posted is False
    assert allocations(grant) == []


@db
def test_the_preview_refuses_another_year_on_year(grant, approve):
    approve("Vivalla")

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_preview(grant=grant, year=YEAR - 1, pool="1000")

    assert exc.value.message_dict == {
        "year": ["Den fasta ersättningen fördelas på bidragets år (2026)."]
    }


@db
def test_a_pool_beyond_what_is_unallocated_is_refused_on_pool(grant, finance, approve):
    vivalla = approve("Vivalla")
    ledger.allocation_post(user=finance, grant=grant, recipient=vivalla, amount=D("349000"))

    with pytest.raises(ValidationError) as preview:
        fixed_allocation_preview(grant=grant, year=YEAR, pool="1000001")
    with pytest.raises(ValidationError) as post:
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="1000001")

    expected = {
        "pool": ["Beloppet är större än det som återstår att fördela av bidraget (1000000.00)."]
    }
    assert preview.value.message_dict == expected
    assert post.value.message_dict == expected
    assert len(allocations(grant)) == 1
    # Exactly what is left may be shared.
    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="1000000")
    assert ledger.figures(grant).unallocated == D("0.00")


@db
def test_the_preview_says_the_year_is_posted_once_it_is(grant, finance, approve):
    approve("Vivalla")
    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="1000")

    assert fixed_allocation_preview(grant=grant, year=YEAR, pool="1000").already_posted is True


# --- Posting --------------------------------------------------------------------------------
@db
def test_every_share_of_one_krona_is_posted(grant, finance, approve):
    for name in ("Vivalla", "Varberga", "Mikaeli"):
        approve(name)

    lines = fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=3)

    assert [str(line.amount) for line in lines] == ["1.00", "1.00", "1.00"]
    assert sorted(ledger.transaction_amount(tx) for tx in allocations(grant)) == [
        D("1.00"),
        D("1.00"),
        D("1.00"),
    ]
    assert ledger.figures(grant).allocated == D("3.00")


@db
def test_the_rows_carry_the_booking_date_purpose_author_and_legs(grant, finance, approve):
    vivalla = approve("Vivalla", "2.87", 612)
    mikaeli = approve("Mikaeli", "2.50", 250)

    fixed_allocation_post(
        user=finance, grant=grant, year=YEAR, pool="1000", date=datetime.date(YEAR, 1, 20)
    )

    rows = {
        tx.recipient_id: (
            tx.date,
            tx.reference,
            tx.recipient_type,
            tx.category,
            tx.created_by_id,
            sorted((leg.account, leg.amount) for leg in tx.legs.all()),
        )
        for tx in allocations(grant)
    }
    assert rows == {
        vivalla.pk: (
            datetime.date(2026, 1, 20),
            "Fast ersättning 2026",
            "centre",
            "",
            finance.pk,
            [(Account.ALLOCATED, D("738.00")), (Account.UNALLOCATED, D("-738.00"))],
        ),
        mikaeli.pk: (
            datetime.date(2026, 1, 20),
            "Fast ersättning 2026",
            "centre",
            "",
            finance.pk,
            [(Account.ALLOCATED, D("262.00")), (Account.UNALLOCATED, D("-262.00"))],
        ),
    }


@db
def test_without_a_date_the_rows_are_booked_today(grant, finance, approve):
    approve("Vivalla")

    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="1000")

    assert [tx.date for tx in allocations(grant)] == [datetime.date(2026, 2, 10)]


@db
def test_posting_twice_says_the_year_is_already_allocated(grant, finance, approve):
    approve("Vivalla")
    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="1000")

    with pytest.raises(Conflict) as exc:
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="1000")

    assert exc.value.detail == "Den fasta ersättningen för 2026 är redan fördelad på bidraget."
    assert len(allocations(grant)) == 1


@db
def test_a_closed_grant_says_so(grant, finance, approve):
    approve("Vivalla")
    ledger.grant_close(user=finance, grant=grant)

    with pytest.raises(Conflict) as exc:
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="1000")

    assert exc.value.detail == "Bidraget är avslutat."
    assert allocations(grant) == []


@db
def test_on_a_closed_grant_the_wrong_year_still_answers_400_on_year(grant, finance, approve):
    approve("Vivalla")
    ledger.grant_close(user=finance, grant=grant)

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_post(user=finance, grant=grant, year=YEAR + 1, pool="1000")

    assert exc.value.message_dict == {
        "year": ["Den fasta ersättningen fördelas på bidragets år (2026)."]
    }


@db
def test_a_bad_pool_is_refused_before_anything_is_posted(grant, finance, approve):
    approve("Vivalla")

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="999.50")

    assert exc.value.message_dict == {"pool": [POOL_MESSAGE]}
    assert allocations(grant) == []


@db
def test_the_computation_reads_as_many_queries_for_one_centre_as_for_three(org, approve):
    approve("Vivalla")
    with CaptureQueriesContext(connection) as one:
        fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000)
    approve("Varberga")
    approve("Mikaeli")

    with CaptureQueriesContext(connection) as three:
        lines = fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000)

    assert [line.centre.name for line in lines] == ["Mikaeli", "Varberga", "Vivalla"]
    assert len(three) == len(one)


@db
def test_only_an_allocation_named_for_the_year_counts_as_posted(grant, finance, approve):
    """A payout that finance happened to reference like the fixed allocation is not one."""
    approve("Vivalla")
    ledger.payout_post(
        user=finance,
        grant=grant,
        recipient_type="organisation",
        recipient_id=grant.organisation_id,
        category="coordination",
        amount=D("500"),
        date=datetime.date(YEAR, 2, 1),
        reference="Fast ersättning 2026",
    )

    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="1000")

    assert [ledger.transaction_amount(tx) for tx in allocations(grant)] == [D("1000.00")]
