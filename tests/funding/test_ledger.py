"""The ledger's rules at service level (DOMAIN.md 4.3; `funding.ledger`): figures after each
kind of transaction, the balance formula, reversals, the payout limits, close, repayment,
carry-over, and the database's own guards (append-only rows, balanced transactions)."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from core.exceptions import Conflict
from core.models import Role
from funding import ledger
from funding.models import Grant, LedgerLeg, LedgerTransaction
from tests.core.factories import CentreFactory, OrganisationFactory, PartnerFactory, member

D = Decimal
MAY = datetime.date(2023, 5, 1)


@pytest.fixture
def org():
    return OrganisationFactory()


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


def make_grant(
    org, user, *, reference="23RS9581", amount="10000", year=2023, funder="socialstyrelsen"
):
    return ledger.grant_create(
        user=user,
        organisation=org,
        funder=funder,
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


def pay(
    grant,
    user,
    amount,
    *,
    category="coordination",
    recipient_type="organisation",
    recipient_id=None,
    date=MAY,
):
    return ledger.payout_post(
        user=user,
        grant=grant,
        recipient_type=recipient_type,
        recipient_id=recipient_id or grant.organisation_id,
        category=category,
        amount=D(amount),
        date=date,
    )


def check_balance_formula(f: ledger.GrantFigures) -> None:
    assert f.balance == f.amount - f.paid_out - f.carried_over - f.repaid
    assert f.unused == (f.unused_at_close if f.closed else f.amount - f.paid_out)


@pytest.mark.django_db
class TestFigures:
    def test_receipt(self, grant):
        f = ledger.figures(grant)
        assert (f.amount, f.allocated, f.paid_out, f.balance, f.unused) == (
            D("10000"),
            0,
            0,
            D("10000"),
            D("10000"),
        )
        assert f.repayment_due == 0
        check_balance_formula(f)
        assert grant.transactions.get().kind == "receipt"

    def test_allocation_is_a_commitment_not_a_movement(self, grant, finance, org):
        ledger.allocation_post(
            user=finance, grant=grant, recipient=CentreFactory(organisation=org), amount=D("2500")
        )
        f = ledger.figures(grant)
        assert (f.allocated, f.balance, f.paid_out) == (D("2500"), D("10000"), 0)
        check_balance_formula(f)

    def test_allocation_to_another_organisation_is_refused(self, grant, finance):
        with pytest.raises(ValidationError) as info:
            ledger.allocation_post(
                user=finance, grant=grant, recipient=CentreFactory(), amount=D("1")
            )
        assert "recipient" in info.value.message_dict

    def test_payout(self, grant, finance):
        pay(grant, finance, "1234.56")
        f = ledger.figures(grant)
        assert (f.paid_out, f.balance, f.unused) == (D("1234.56"), D("8765.44"), D("8765.44"))
        check_balance_formula(f)

    def test_repayment(self, grant, finance):
        ledger.repayment_post(user=finance, grant=grant, amount=D("100"), date=MAY, reference="F")
        f = ledger.figures(grant)
        assert (f.repaid, f.balance, f.unused) == (D("100"), D("9900"), D("10000"))
        check_balance_formula(f)

    def test_carry_over(self, grant, finance):
        ledger.carry_over_post(
            user=finance, grant=grant, amount=D("400"), to_year=2024, decision_reference="Beslut 1"
        )
        f = ledger.figures(grant)
        assert (f.carried_over, f.balance, f.unused) == (D("400"), D("9600"), D("10000"))
        check_balance_formula(f)

    @pytest.mark.parametrize("amount", ["0", "-1"])
    def test_amounts_must_be_positive(self, grant, finance, amount):
        with pytest.raises(ValidationError):
            pay(grant, finance, amount)

    def test_with_figures_matches_figures(self, grant, finance):
        pay(grant, finance, "10")
        annotated = ledger.with_figures(Grant.objects.filter(pk=grant.pk)).get()
        assert ledger.figures(annotated) == ledger.figures(grant)


@pytest.mark.django_db
class TestReversal:
    def test_restores_the_figures(self, grant, finance, org):
        centre = CentreFactory(organisation=org)
        before = ledger.figures(grant)
        allocation = ledger.allocation_post(
            user=finance, grant=grant, recipient=centre, amount=D("500")
        )
        payout = pay(
            grant, finance, "500", category="fixed", recipient_type="centre", recipient_id=centre.pk
        )
        ledger.reversal_post(user=finance, grant=grant, original=payout, reason="Fel")
        ledger.reversal_post(user=finance, grant=grant, original=allocation, reason="Fel")
        assert ledger.figures(grant) == before
        assert ledger.transaction_amount(LedgerTransaction.objects.get(reverses=payout)) == D("500")

    def test_cannot_be_reversed_twice(self, grant, finance):
        payout = pay(grant, finance, "10")
        ledger.reversal_post(user=finance, grant=grant, original=payout, reason="Fel")
        with pytest.raises(Conflict):
            ledger.reversal_post(user=finance, grant=grant, original=payout, reason="Igen")

    def test_receipts_and_reversals_are_not_reversed(self, grant, finance):
        receipt = grant.transactions.get()
        with pytest.raises(ValidationError):
            ledger.reversal_post(user=finance, grant=grant, original=receipt, reason="x")
        reversal = ledger.reversal_post(
            user=finance, grant=grant, original=pay(grant, finance, "1"), reason="x"
        )
        with pytest.raises(ValidationError):
            ledger.reversal_post(user=finance, grant=grant, original=reversal, reason="x")


@pytest.mark.django_db
class TestPayoutLimits:
    def test_not_beyond_the_balance(self, grant, finance):
        pay(grant, finance, "9999.99")
        with pytest.raises(ValidationError) as info:
            pay(grant, finance, "0.02")
        assert "amount" in info.value.message_dict
        pay(grant, finance, "0.01")
        assert ledger.figures(grant).balance == 0

    @pytest.mark.parametrize(
        "category,kind", [("fixed", "centre"), ("partner_transfer", "partner")]
    )
    def test_not_beyond_the_open_allocation(self, grant, finance, org, category, kind):
        recipient = (CentreFactory if kind == "centre" else PartnerFactory)(organisation=org)
        ledger.allocation_post(user=finance, grant=grant, recipient=recipient, amount=D("300"))
        pay(
            grant, finance, "200", category=category, recipient_type=kind, recipient_id=recipient.pk
        )
        with pytest.raises(ValidationError) as info:
            pay(
                grant,
                finance,
                "100.01",
                category=category,
                recipient_type=kind,
                recipient_id=recipient.pk,
            )
        assert "amount" in info.value.message_dict
        pay(
            grant, finance, "100", category=category, recipient_type=kind, recipient_id=recipient.pk
        )

    def test_programme_variable_is_bound_only_by_the_balance(self, grant, finance, org):
        centre = CentreFactory(organisation=org)
        pay(
            grant,
            finance,
            "5000",
            category="programme_variable",
            recipient_type="centre",
            recipient_id=centre.pk,
        )

    def test_not_after_use_by(self, grant, finance):
        pay(grant, finance, "1", date=datetime.date(2023, 12, 31))
        with pytest.raises(Conflict):
            pay(grant, finance, "1", date=datetime.date(2024, 1, 1))

    def test_not_on_a_closed_grant(self, grant, finance):
        ledger.grant_close(user=finance, grant=grant)
        with pytest.raises(Conflict):
            pay(grant, finance, "1")

    def test_coordination_goes_to_the_organisation(self, grant, finance, org):
        with pytest.raises(ValidationError):
            pay(
                grant,
                finance,
                "1",
                recipient_type="centre",
                recipient_id=CentreFactory(organisation=org).pk,
            )


@pytest.mark.django_db
class TestClose:
    def test_twice_gives_the_same_figures_and_no_rows(self, grant, finance):
        pay(grant, finance, "4000")
        first = ledger.grant_close(user=finance, grant=grant)
        rows = LedgerTransaction.objects.count()
        grant.refresh_from_db()
        closed_at = grant.closed_at
        second = ledger.grant_close(user=finance, grant=grant)
        assert first == second
        assert (first.unused, first.repayment_due) == (D("6000"), D("6000"))
        assert LedgerTransaction.objects.count() == rows
        grant.refresh_from_db()
        assert grant.closed_at == closed_at

    def test_refuses_allocations_and_reversals_after(self, grant, finance, org):
        payout = pay(grant, finance, "1")
        ledger.grant_close(user=finance, grant=grant)
        with pytest.raises(Conflict):
            ledger.allocation_post(
                user=finance, grant=grant, recipient=CentreFactory(organisation=org), amount=D("1")
            )
        with pytest.raises(Conflict):
            ledger.reversal_post(user=finance, grant=grant, original=payout, reason="x")

    def test_repayment_after_close_lowers_repayment_due(self, grant, finance):
        pay(grant, finance, "4000")
        ledger.grant_close(user=finance, grant=grant)
        ledger.repayment_post(
            user=finance,
            grant=grant,
            amount=D("1000"),
            date=datetime.date(2024, 4, 1),
            reference="Faktura 1",
        )
        f = ledger.figures(grant)
        assert (f.unused, f.repaid, f.repayment_due, f.balance) == (
            D("6000"),
            D("1000"),
            D("5000"),
            D("5000"),
        )
        check_balance_formula(f)

    def test_carry_over_after_close_lowers_repayment_due(self, grant, finance):
        ledger.grant_close(user=finance, grant=grant)
        ledger.carry_over_post(
            user=finance, grant=grant, amount=D("2500"), to_year=2024, decision_reference="Beslut"
        )
        assert ledger.figures(grant).repayment_due == D("7500")


@pytest.mark.django_db
class TestCarryOver:
    def test_makes_the_later_grant_with_a_receipt_carrying_the_decision(self, grant, finance):
        out, into = ledger.carry_over_post(
            user=finance,
            grant=grant,
            amount=D("300"),
            to_year=2024,
            decision_reference="Dnr 1/2023",
        )
        later = into.grant
        assert later.pk != grant.pk
        assert (later.year, later.funder, later.organisation_id) == (
            2024,
            grant.funder,
            grant.organisation_id,
        )
        assert later.use_by == datetime.date(2024, 12, 31)
        assert (into.kind, into.reference) == ("receipt", "Dnr 1/2023")
        assert (out.kind, ledger.transaction_amount(out)) == ("carry_over", D("-300"))
        assert ledger.figures(later).amount == D("300")

    def test_uses_the_oldest_open_grant_of_the_same_funder(self, grant, finance, org):
        oldest = make_grant(org, finance, reference="A", year=2024)
        make_grant(org, finance, reference="B", year=2024)
        make_grant(org, finance, reference="C", year=2024, funder="region")
        _, into = ledger.carry_over_post(
            user=finance, grant=grant, amount=D("300"), to_year=2024, decision_reference="Beslut"
        )
        assert into.grant_id == oldest.pk
        assert ledger.figures(oldest).amount == D("10300")

    def test_skips_closed_grants(self, grant, finance, org):
        closed = make_grant(org, finance, reference="A", year=2024)
        ledger.grant_close(user=finance, grant=closed)
        _, into = ledger.carry_over_post(
            user=finance, grant=grant, amount=D("1"), to_year=2024, decision_reference="Beslut"
        )
        assert into.grant_id != closed.pk

    def test_refuses_more_than_the_balance_and_earlier_years(self, grant, finance):
        with pytest.raises(ValidationError):
            ledger.carry_over_post(
                user=finance,
                grant=grant,
                amount=D("10000.01"),
                to_year=2024,
                decision_reference="x",
            )
        with pytest.raises(ValidationError):
            ledger.carry_over_post(
                user=finance, grant=grant, amount=D("1"), to_year=2023, decision_reference="x"
            )


@pytest.mark.django_db
def test_duplicate_reference_per_funder_is_a_conflict(org, finance, grant):
    with pytest.raises(Conflict):
        make_grant(org, finance)
    make_grant(org, finance, funder="region")


@pytest.mark.django_db
@pytest.mark.parametrize("table", ["funding_ledgertransaction", "funding_ledgerleg"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET id = id", "DELETE FROM {table}"])
def test_ledger_rows_refuse_update_and_delete(grant, table, statement):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(table=table))
    assert LedgerLeg.objects.filter(transaction__grant=grant).count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_unbalanced_transaction_is_refused_at_commit(org, finance):
    grant = make_grant(org, finance)
    tx_id = uuid.uuid4()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO funding_ledgertransaction (id, grant_id, kind, category, date,"
            " recipient_type, recipient_id, reference, reverses_id, created_by_id, created_at)"
            " VALUES (%s, %s, 'receipt', '', %s, '', NULL, '', NULL, %s, now())",
            [tx_id, grant.pk, MAY, finance.pk],
        )
        cursor.execute(
            "INSERT INTO funding_ledgerleg (transaction_id, account, amount)"
            " VALUES (%s, 'balance', 100), (%s, 'funder', -99)",
            [tx_id, tx_id],
        )
    assert not LedgerTransaction.objects.filter(pk=tx_id).exists()
    assert ledger.figures(grant).balance == D("10000")
