"""The fixed pool shared among the approved centres by child CNI (DOMAIN.md 4.2; API.md
`POST /api/v1/grants/{id}/fixed-allocation/`): whole kronor that add up to the pool exactly."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from core.exceptions import Conflict
from core.models import Role
from funding import ledger
from funding.allocation import (
    AllocationLine,
    fixed_allocation_compute,
    fixed_allocation_post,
    fixed_reference,
    largest_remainder,
)
from funding.applications import (
    application_approve,
    application_reject,
    application_submit,
    application_withdraw,
)
from funding.centres import scheme_set
from funding.models import Application, LedgerTransaction, TxKind, Weighting
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import cni, draft

YEAR = 2026
STOCKHOLM = ZoneInfo("Europe/Stockholm")


# --- largest_remainder: properties -------------------------------------------------------------
KEYS = st.text(alphabet="abcdefghij", min_size=1, max_size=4)
WEIGHTS = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)
POOLS = st.integers(min_value=0, max_value=10**10)


@st.composite
def weightings(draw: st.DrawFn) -> list[tuple[str, Decimal]]:
    keys = draw(st.lists(KEYS, min_size=1, max_size=12, unique=True))
    weights = [draw(WEIGHTS) for _ in keys]
    if sum(weights) == 0:
        weights[draw(st.integers(0, len(weights) - 1))] = draw(WEIGHTS.filter(lambda w: w > 0))
    return list(zip(keys, weights, strict=True))


def exact(pool: int, weight: Decimal, total: Decimal) -> Fraction:
    return Fraction(pool) * Fraction(weight) / Fraction(total)


@given(pool=POOLS, weights=weightings())
def test_the_shares_add_up_to_the_pool_exactly(pool, weights):
    shares = largest_remainder(pool, weights)

    assert sum(shares.values()) == pool
    assert set(shares) == {key for key, _ in weights}
    assert all(isinstance(share, int) and share >= 0 for share in shares.values())


@given(pool=POOLS, weights=weightings())
def test_each_share_is_within_a_krona_of_its_exact_proportion(pool, weights):
    shares = largest_remainder(pool, weights)
    total = sum(w for _, w in weights)

    for key, weight in weights:
        assert abs(shares[key] - exact(pool, weight, total)) < 1
        # Floor or floor + 1: never rounded down past the exact share.
        assert shares[key] >= exact(pool, weight, total) - 1
        if weight == 0:
            assert shares[key] == 0


@given(pool=POOLS, weights=weightings(), seed=st.randoms(use_true_random=False))
def test_the_order_of_the_input_does_not_matter(pool, weights, seed):
    shuffled = list(weights)
    seed.shuffle(shuffled)

    assert largest_remainder(pool, shuffled) == largest_remainder(pool, weights)
    assert largest_remainder(pool, list(reversed(weights))) == largest_remainder(pool, weights)


@given(
    keys=st.lists(KEYS, min_size=1, max_size=12, unique=True),
    weight=WEIGHTS.filter(lambda w: w > 0),
    pool=POOLS,
)
def test_equal_weights_give_the_extra_kronor_to_the_smallest_keys(keys, weight, pool):
    shares = largest_remainder(pool, [(key, weight) for key in keys])

    base, extra = divmod(pool, len(keys))
    winners = set(sorted(keys)[:extra])
    assert shares == {key: base + (1 if key in winners else 0) for key in keys}


@given(pool=POOLS, weights=weightings())
def test_the_largest_remainders_get_the_extra_kronor(pool, weights):
    """Nobody left at the floor has a larger remainder than anybody who got the extra krona."""
    shares = largest_remainder(pool, weights)
    total = sum(w for _, w in weights)
    got, not_got = [], []
    for key, weight in weights:
        share = exact(pool, weight, total)
        floor = share.numerator // share.denominator
        (got if shares[key] == floor + 1 else not_got).append(share - floor)
    if got and not_got:
        assert min(got) >= max(not_got)


# --- largest_remainder: examples ----------------------------------------------------------------
def test_equal_weights_with_a_remainder():
    shares = largest_remainder(100, [("c", Decimal(1)), ("a", Decimal(1)), ("b", Decimal(1))])

    assert shares == {"a": 34, "b": 33, "c": 33}


def test_an_equal_remainder_goes_to_the_larger_weight_first():
    # Exact shares 0.5 and 1.5: both remainders are ½.
    assert largest_remainder(2, [("a", Decimal(1)), ("b", Decimal(3))]) == {"a": 0, "b": 2}


def test_one_centre_gets_everything():
    assert largest_remainder(1_349_000, [("only", Decimal("2.87"))]) == {"only": 1_349_000}
    assert largest_remainder(999, [("a", Decimal(0)), ("b", Decimal("4.5"))]) == {
        "a": 0,
        "b": 999,
    }


def test_the_arithmetic_is_exact():
    # 1/3 each of 10**30: floats would lose the kronor.
    pool = 10**30 + 1
    shares = largest_remainder(pool, [("a", Decimal(1)), ("b", Decimal(1)), ("c", Decimal(1))])
    assert shares == {"a": 10**30 // 3 + 1, "b": 10**30 // 3 + 1, "c": 10**30 // 3}
    assert sum(shares.values()) == pool


@pytest.mark.parametrize(
    ("pool", "weights"),
    [
        (100, []),
        (100, [("a", Decimal(0)), ("b", Decimal(0))]),
        (100, [("a", Decimal(-1)), ("b", Decimal(2))]),
        (100, [("a", Decimal(1)), ("a", Decimal(2))]),
        (100, [("a", Decimal("NaN"))]),
        (100, [("a", 1.5)]),
        (-1, [("a", Decimal(1))]),
        (Decimal("10.5"), [("a", Decimal(1))]),
    ],
)
def test_what_cannot_be_shared_is_a_value_error(pool, weights):
    with pytest.raises(ValueError):
        largest_remainder(pool, weights)


# --- Compute and post: the database -------------------------------------------------------------
@pytest.fixture(autouse=False)
def _in_the_year():
    with time_machine.travel(datetime.datetime(YEAR, 2, 10, 12, tzinfo=STOCKHOLM), tick=False):
        yield


db = pytest.mark.usefixtures("db", "_in_the_year")


@pytest.fixture
def org():
    return OrganisationFactory()


@pytest.fixture
def cbhv(org):
    return member(Role.CBHV, organisation=org)


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


class Centres:
    def __init__(self, org, cbhv) -> None:
        self.org = org
        self.cbhv = cbhv

    def submitted(self, name: str, value: str = "2.50", listed: int | None = 300, year=YEAR):
        centre = CentreFactory(organisation=self.org, name=name)
        cni(centre, value, listed)
        manager = member(Role.CENTRE_MANAGER, centre=centre)
        app = draft(centre, by=manager, year=year)
        return centre, manager, application_submit(user=manager, application=app)

    def approved(self, name: str, value: str = "2.50", listed: int | None = 300, year=YEAR):
        centre, _manager, app = self.submitted(name, value, listed, year)
        application_approve(user=self.cbhv, application=app)
        return centre


@pytest.fixture
def centres(org, cbhv):
    return Centres(org, cbhv)


@pytest.fixture
def three(centres):
    """Weights 1756.44, 1240.00 and 625.00 under cni_x_listed."""
    return (
        centres.approved("Vivalla", "2.87", 612),
        centres.approved("Varberga", "3.10", 400),
        centres.approved("Mikaeli", "2.50", 250),
    )


def grant_of(org, user, reference="23RS9581", year=YEAR):
    return ledger.grant_create(
        user=user,
        organisation=org,
        funder="socialstyrelsen",
        reference=reference,
        year=year,
        amount=Decimal("1349000"),
        received_on=datetime.date(year, 1, 15),
        use_by=datetime.date(year, 12, 31),
        report_due=datetime.date(year + 1, 3, 1),
    )


def by_name(lines: list[AllocationLine]) -> dict[str, AllocationLine]:
    return {line.centre.name: line for line in lines}


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


@db
def test_by_default_the_weight_is_child_cni_times_listed_children(org, three):
    lines = fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=Decimal("1000000"))

    assert [line.centre.name for line in lines] == ["Mikaeli", "Varberga", "Vivalla"]
    got = by_name(lines)
    assert str(got["Vivalla"].weight) == "1756.44"  # exact: Decimal("2.87") * 612
    assert str(got["Varberga"].weight) == "1240.00"
    assert str(got["Mikaeli"].weight) == "625.00"
    assert got["Vivalla"].child_cni == Decimal("2.87")
    assert got["Vivalla"].listed_children == 612
    # Exact shares 485 011.487…, 342 405.231…, 172 583.281…: the krona left goes to Vivalla.
    assert {name: line.amount for name, line in got.items()} == {
        "Vivalla": Decimal("485012.00"),
        "Varberga": Decimal("342405.00"),
        "Mikaeli": Decimal("172583.00"),
    }
    assert sum(line.amount for line in lines) == Decimal("1000000")


@db
def test_the_scheme_may_weight_by_child_cni_alone(org, finance, centres, three):
    scheme_set(
        user=finance,
        organisation_id=org.pk,
        from_year=YEAR - 1,  # carried forward into YEAR
        threshold=Decimal("2.00"),
        weighting=Weighting.CNI,
    )
    no_count = centres.approved("Brickebacken", "2.20", None)

    got = by_name(fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1_000_000))

    assert got["Vivalla"].weight == Decimal("2.87")
    assert got["Brickebacken"].listed_children is None  # not needed by this weighting
    assert got[no_count.name].weight == Decimal("2.20")
    assert sum(line.amount for line in got.values()) == 1_000_000
    total = Decimal("2.87") + Decimal("3.10") + Decimal("2.50") + Decimal("2.20")
    for line in got.values():
        assert (
            abs(
                Fraction(line.amount)
                - Fraction(1_000_000) * Fraction(line.weight) / Fraction(total)
            )
            < 1
        )


@db
def test_the_current_child_cni_counts(org, three):
    vivalla = three[0]
    cni(vivalla, "4.00", 100, reference_date=datetime.date(YEAR, 1, 31))

    got = by_name(fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000))

    assert got["Vivalla"].weight == Decimal("400.00")


@pytest.mark.parametrize("pool", ["1000.50", "0", "-1000", "abc", "NaN", "Infinity", 1000.0, None])
@db
def test_the_pool_is_whole_kronor_above_zero(org, three, pool):
    with pytest.raises(ValidationError) as exc:
        fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=pool)

    assert list(errors(exc)) == ["pool"]


@db
def test_whole_kronor_written_with_decimals_are_whole_kronor(org, three):
    lines = fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool="1000.00")

    assert sum(line.amount for line in lines) == 1000


@db
def test_a_centre_without_listed_children_is_named(org, centres, three):
    centres.approved("Brickebacken", "2.20", None)
    centres.approved("Adolfsberg", "2.30", 0)

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000)

    assert list(errors(exc)) == ["centres"]
    messages = errors(exc)["centres"]
    assert len(messages) == 2
    assert "Adolfsberg" in messages[0]
    assert "Brickebacken" in messages[1]


@db
def test_no_approved_centres(org, centres):
    centres.submitted("Vivalla")
    _centre, _manager, app = centres.submitted("Varberga")
    application_reject(user=centres.cbhv, application=app, reason="Planen räcker inte.")

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000)

    assert list(errors(exc)) == ["non_field_errors"]


@db
def test_only_standing_approvals_of_the_year_and_organisation_share(org, centres, three):
    _centre, manager, app = centres.submitted("Brickebacken", "2.20", 500)
    application_approve(user=centres.cbhv, application=app)
    application_withdraw(user=manager, application=Application.objects.get(pk=app.pk))
    centres.approved("Adolfsberg", "2.30", 200, year=YEAR + 1)
    elsewhere = OrganisationFactory()  # nothing of another organisation is seen
    Centres(elsewhere, member(Role.CBHV, organisation=elsewhere)).approved("Skäggetorp")

    lines = fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000)

    assert {line.centre.name for line in lines} == {"Vivalla", "Varberga", "Mikaeli"}


@db
def test_all_weights_zero(org, three):
    for centre in three:
        cni(centre, "0.00", 100, reference_date=datetime.date(YEAR, 1, 31))

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_compute(organisation_id=org.pk, year=YEAR, pool=1000)

    assert list(errors(exc)) == ["non_field_errors"]


@db
def test_a_centre_with_weight_zero_gets_nothing_and_no_ledger_row(org, finance, three):
    cni(three[2], "0.00", 100, reference_date=datetime.date(YEAR, 1, 31))
    grant = grant_of(org, finance)

    lines = fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=1000)

    assert by_name(lines)["Mikaeli"].amount == 0
    assert LedgerTransaction.objects.filter(grant=grant, kind=TxKind.ALLOCATION).count() == 2
    assert ledger.figures(grant).allocated == 1000


@db
def test_posting_allocates_the_pool_to_each_centre(org, finance, three):
    grant = grant_of(org, finance)

    lines = fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=Decimal("1000000"))

    assert ledger.figures(grant).allocated == Decimal("1000000")
    txs = LedgerTransaction.objects.filter(grant=grant, kind=TxKind.ALLOCATION)
    assert {tx.recipient_id: ledger.transaction_amount(tx) for tx in txs} == {
        line.centre.pk: line.amount for line in lines
    }
    assert {tx.reference for tx in txs} == {fixed_reference(YEAR)} == {"Fast ersättning 2026"}
    assert {tx.recipient_type for tx in txs} == {"centre"}
    for line in lines:
        assert ledger.recipient_open_allocation(grant, "centre", line.centre.pk) == line.amount


@db
def test_a_second_post_for_the_year_is_a_conflict(org, finance, three):
    grant = grant_of(org, finance)
    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=1000)

    with pytest.raises(Conflict):
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=1000)

    assert ledger.figures(grant).allocated == 1000
    assert LedgerTransaction.objects.filter(grant=grant, kind=TxKind.ALLOCATION).count() == 3


@db
def test_another_grant_is_fine_and_another_year_is_that_years_grant(org, finance, centres, three):
    grant = grant_of(org, finance)
    other = grant_of(org, finance, reference="24RS1")
    next_year = grant_of(org, finance, reference="25RS1", year=YEAR + 1)
    centres.approved("Brickebacken", "2.20", 500, year=YEAR + 1)
    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=1000)

    with pytest.raises(ValidationError) as exc:
        fixed_allocation_post(user=finance, grant=grant, year=YEAR + 1, pool=500)
    assert "year" in exc.value.message_dict
    fixed_allocation_post(user=finance, grant=next_year, year=YEAR + 1, pool=500)
    fixed_allocation_post(user=finance, grant=other, year=YEAR, pool=700)

    assert ledger.figures(grant).allocated == 1000
    assert ledger.figures(next_year).allocated == 500
    assert ledger.figures(other).allocated == 700


@db
def test_a_manual_allocation_with_another_purpose_is_no_conflict(org, finance, three):
    grant = grant_of(org, finance)
    ledger.allocation_post(
        user=finance, grant=grant, recipient=three[0], amount=Decimal(50), purpose="Extra"
    )

    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=1000)

    assert ledger.figures(grant).allocated == 1050


@db
def test_once_every_fixed_allocation_is_reversed_the_year_can_be_posted_again(org, finance, three):
    grant = grant_of(org, finance)
    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=1000)
    txs = list(LedgerTransaction.objects.filter(grant=grant, kind=TxKind.ALLOCATION))
    for tx in txs[:-1]:
        ledger.reversal_post(user=finance, grant=grant, original=tx, reason="Fel pott")

    with pytest.raises(Conflict):  # one still stands
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=2000)

    ledger.reversal_post(user=finance, grant=grant, original=txs[-1], reason="Fel pott")
    fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=2000)

    assert ledger.figures(grant).allocated == 2000


@db
def test_a_closed_grant_is_a_conflict(org, finance, three):
    grant = grant_of(org, finance)
    ledger.grant_close(user=finance, grant=grant)

    with pytest.raises(Conflict):
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=1000)

    assert ledger.figures(grant).allocated == 0


@db
def test_validation_comes_before_posting(org, finance, centres, three):
    grant = grant_of(org, finance)
    centres.approved("Brickebacken", "2.20", None)

    with pytest.raises(ValidationError):
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=1000)
    with pytest.raises(ValidationError):
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool="10.5")

    assert not LedgerTransaction.objects.filter(grant=grant, kind=TxKind.ALLOCATION).exists()


@db
def test_posting_is_all_or_nothing(org, finance, three, monkeypatch):
    grant = grant_of(org, finance)
    real = ledger.allocation_post
    calls = []

    def fail_on_the_last(**kwargs):
        calls.append(kwargs)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return real(**kwargs)

    monkeypatch.setattr("funding.allocation.ledger.allocation_post", fail_on_the_last)

    with pytest.raises(RuntimeError):
        fixed_allocation_post(user=finance, grant=grant, year=YEAR, pool=1000)

    assert len(calls) == 3
    assert not LedgerTransaction.objects.filter(grant=grant, kind=TxKind.ALLOCATION).exists()
    assert ledger.figures(grant).allocated == 0


def test_the_order_of_centres_never_matters_for_ties():
    """Centre-level ties use the centre id: shuffling the input order changes nothing."""
    keys = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(5)]
    weights = [(key, Decimal("2.50")) for key in keys]
    shuffled = list(weights)
    random.Random(4).shuffle(shuffled)

    assert largest_remainder(7, shuffled) == largest_remainder(7, weights)
    assert [largest_remainder(7, weights)[key] for key in keys] == [2, 2, 1, 1, 1]
