"""The ledger locked down in the database (issue 22, "Must be true when done" 3): TRUNCATE
refused on every ledger and compensation table, no legs added to a transaction committed
earlier, a CHECK on the account, a closed grant's frozen figures and a paid month's lock immune
to UPDATE/DELETE, and what the application's role (README, "Production shape") cannot do."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from psycopg import sql

from core.models import Organisation, Role, User
from funding import ledger
from funding.models import Grant, LedgerLeg, LedgerTransaction, PaidMonth
from tests.core.factories import CentreFactory, OrganisationFactory, member

D = Decimal
APP_ROLE = "hembesok_app_test"
TRUNCATE_REFUSED = "is refused: money records are kept"
GRANT_FROZEN = "is closed: its frozen figures cannot change"
TX_COMMITTED = "is committed: no legs may be added"
MONTH_LOCKED = "is locked: it cannot be changed or removed"

MONEY_TABLES = [
    "funding_grant",
    "funding_ledgertransaction",
    "funding_ledgerleg",
    "funding_compensationadjustment",
    "funding_visitcompensation",
    "funding_paidmonth",
    "funding_compensationrule",
    "funding_partneragreement",
]
# The figures a closed grant's final report states, with a value each would be changed to.
FROZEN = {
    "closed_at": "NULL",
    "unused_at_close": "unused_at_close + 1",
    "amount": "amount + 1",
    "organisation_id": "%(other_org)s",
    "funder": "'other'",
    "year": "year + 1",
    "received_on": "received_on - 1",
    "use_by": "use_by + 1",
}


def make_grant(org: Organisation, user: User, reference: str = "23RS9581") -> Grant:
    return ledger.grant_create(
        user=user,
        organisation=org,
        funder="socialstyrelsen",
        reference=reference,
        year=2023,
        amount=D("10000"),
        received_on=datetime.date(2023, 3, 1),
        use_by=datetime.date(2023, 12, 31),
        report_due=datetime.date(2024, 3, 1),
    )


def paid_month(grant: Grant, user: User, month: int = 5) -> PaidMonth:
    """A centre's paid month as the table stands (month_pay writes it with its payouts)."""
    return PaidMonth.objects.create(
        organisation_id=grant.organisation_id,
        centre=CentreFactory(organisation_id=grant.organisation_id),
        month=datetime.date(2023, month, 1),
        grant=grant,
        paid_by=user,
    )


def execute(statement: str, params: Any = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@contextmanager
def refused(fragment: str) -> Iterator[None]:
    """The statement fails with `fragment` in its message; a savepoint keeps the rest going."""
    with pytest.raises(DatabaseError) as failure, transaction.atomic():
        yield
    assert fragment in str(failure.value)


def legs(tx_id: uuid.UUID, *pairs: tuple[str, str]) -> None:
    LedgerLeg.objects.bulk_create(
        [LedgerLeg(transaction_id=tx_id, account=account, amount=D(a)) for account, a in pairs]
    )


@pytest.fixture
def org() -> Organisation:
    return OrganisationFactory()


@pytest.fixture
def finance(org: Organisation) -> User:
    return member(Role.FINANCE, organisation=org)


@pytest.fixture
def closed_grant(org: Organisation, finance: User) -> Grant:
    grant = make_grant(org, finance, reference="23RS0001")
    ledger.grant_close(user=finance, grant=grant)
    grant.refresh_from_db()
    assert grant.unused_at_close == D("10000")
    return grant


# --- As the tables' owner (the test connection) ------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("table", MONEY_TABLES)
def test_truncate_of_a_money_table_is_refused(table: str) -> None:
    # CASCADE, or PostgreSQL refuses a referenced table for its foreign keys before any trigger.
    with refused(f"TRUNCATE of {table} {TRUNCATE_REFUSED}"):
        execute(f"TRUNCATE {table} CASCADE")


@pytest.mark.django_db
@pytest.mark.parametrize("column", FROZEN)
def test_a_closed_grants_frozen_figures_cannot_change(
    closed_grant: Grant, column: str, org: Organisation
) -> None:
    other = OrganisationFactory()
    with refused(GRANT_FROZEN):
        execute(
            f"UPDATE funding_grant SET {column} = {FROZEN[column]} WHERE id = %(id)s",
            {"id": closed_grant.pk, "other_org": other.pk},
        )
    assert Grant.objects.get(pk=closed_grant.pk).closed_at == closed_grant.closed_at


@pytest.mark.django_db
def test_a_closed_grant_keeps_its_other_fields_correctable(closed_grant: Grant) -> None:
    execute(
        "UPDATE funding_grant SET report_due = report_due + 7, conditions = 'Rättad' WHERE id = %s",
        [closed_grant.pk],
    )
    assert Grant.objects.get(pk=closed_grant.pk).conditions == "Rättad"


@pytest.mark.django_db
def test_closing_again_through_the_service_changes_nothing(
    closed_grant: Grant, finance: User
) -> None:
    figures = ledger.grant_close(user=finance, grant=closed_grant)
    assert figures.unused_at_close == D("10000")


@pytest.mark.django_db
def test_an_open_grant_can_still_be_updated(org: Organisation, finance: User) -> None:
    grant = make_grant(org, finance)
    execute("UPDATE funding_grant SET use_by = use_by + 1 WHERE id = %s", [grant.pk])


@pytest.mark.django_db
def test_a_grant_is_never_deleted(org: Organisation, finance: User, closed_grant: Grant) -> None:
    open_grant = make_grant(org, finance)
    for grant in (open_grant, closed_grant):
        with refused(f"Grant {grant.pk} cannot be deleted"):
            execute("DELETE FROM funding_grant WHERE id = %s", [grant.pk])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    ["UPDATE funding_paidmonth SET month = month", "DELETE FROM funding_paidmonth"],
    ids=["update", "delete"],
)
def test_a_paid_months_lock_cannot_be_changed_or_removed(
    org: Organisation, finance: User, statement: str
) -> None:
    paid_month(make_grant(org, finance), finance)
    with refused(MONTH_LOCKED):
        execute(statement)


@pytest.mark.django_db
def test_a_leg_on_an_invented_account_is_refused(org: Organisation, finance: User) -> None:
    grant = make_grant(org, finance)
    with pytest.raises(IntegrityError, match="funding_leg_account_known"), transaction.atomic():
        tx = LedgerTransaction.objects.create(
            grant=grant, kind="receipt", date=datetime.date(2023, 5, 1), created_by=finance
        )
        legs(tx.pk, ("cash", "100"), ("funder", "-100"))


@pytest.mark.django_db
def test_the_database_stamps_the_transaction_whatever_the_insert_says(
    org: Organisation, finance: User
) -> None:
    grant = make_grant(org, finance)
    tx_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO funding_ledgertransaction (id, grant_id, kind, category, date,"
            " recipient_type, recipient_id, reference, reverses_id, created_by_id, created_at,"
            " created_txid) VALUES (%s, %s, 'receipt', '', '2023-05-01', '', NULL, '', NULL, %s,"
            " now(), 1) RETURNING created_txid, txid_current()",
            [tx_id, grant.pk, finance.pk],
        )
        stamped, current = cursor.fetchone()
    assert stamped == current != 1
    legs(tx_id, ("balance", "100"), ("funder", "-100"))
    # And the ORM reads the stamp back without setting it.
    tx = LedgerTransaction.objects.create(
        grant=grant, kind="receipt", date=datetime.date(2023, 5, 1), created_by=finance
    )
    assert tx.created_txid == current
    legs(tx.pk, ("balance", "1"), ("funder", "-1"))


@pytest.mark.django_db(transaction=True)
def test_legs_cannot_be_added_to_a_transaction_committed_earlier(
    org: Organisation, finance: User
) -> None:
    with transaction.atomic():
        grant = make_grant(org, finance)
        tx = LedgerTransaction.objects.create(
            grant=grant, kind="receipt", date=datetime.date(2023, 5, 1), created_by=finance
        )
        # A savepoint is part of the same top-level transaction: its legs are the transaction's.
        with transaction.atomic():
            legs(tx.pk, ("balance", "100"), ("funder", "-100"))
    # Later, legs that balance (so the deferred balance check alone would accept them).
    with refused(f"Ledger transaction {tx.pk} {TX_COMMITTED}"):
        legs(tx.pk, ("balance", "500"), ("funder", "-500"))
    assert LedgerLeg.objects.filter(transaction=tx).count() == 2


# --- As the application's role ------------------------------------------------------------------
def schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        row = cursor.fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def as_app_role(*, extra_grant: str = "") -> Iterator[None]:
    """The statements inside run as a role like production's application role (README,
    "Production shape"): it reads and writes every table of the schema but owns none and is no
    superuser. Everything, the role included, is rolled back at the end."""
    role = sql.Identifier(APP_ROLE)
    names = {"schema": sql.Identifier(schema()), "role": role}
    with transaction.atomic():
        for statement in (
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN"
            " CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END $$",
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
            *([extra_grant] if extra_grant else []),
            # LOCAL: undone with the transaction; set outside the savepoints below, so kept
            # when they roll back.
            "SET LOCAL ROLE {role}",
        ):
            query = sql.SQL(statement).format(name=sql.Literal(APP_ROLE), **names)
            execute(query.as_string(connection.connection))
        yield
        transaction.set_rollback(True)


@pytest.fixture
def committed(org: Organisation, finance: User, closed_grant: Grant) -> dict[str, Any]:
    """Committed before the application's role acts: an open grant with a paid month and a
    receipt transaction, and a closed grant."""
    grant = make_grant(org, finance)
    paid_month(grant, finance)
    receipt = LedgerTransaction.objects.get(grant=grant, kind="receipt")
    return {"grant": grant, "receipt": receipt, "closed": closed_grant}


@pytest.mark.django_db(transaction=True)
def test_the_application_role_cannot_undo_the_lockdown(
    committed: dict[str, Any], finance: User
) -> None:
    receipt: LedgerTransaction = committed["receipt"]
    closed: Grant = committed["closed"]
    with as_app_role():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            assert cursor.fetchone() == (APP_ROLE, False)
        for table in MONEY_TABLES:
            with refused(f"permission denied for table {table}"):
                execute(f"TRUNCATE {table} CASCADE")
        with refused("must be owner of table funding_ledgerleg"):
            execute("ALTER TABLE funding_ledgerleg DISABLE TRIGGER ALL")
        with refused("must be owner of table funding_paidmonth"):
            execute("ALTER TABLE funding_paidmonth DISABLE TRIGGER paid_month_append_only")
        with refused('permission denied to set parameter "session_replication_role"'):
            execute("SET session_replication_role = replica")
        with refused(MONTH_LOCKED):
            execute("UPDATE funding_paidmonth SET month = month + 31")
        with refused(MONTH_LOCKED):
            execute("DELETE FROM funding_paidmonth")
        with refused(GRANT_FROZEN):
            execute("UPDATE funding_grant SET unused_at_close = 0 WHERE id = %s", [closed.pk])
        with refused(GRANT_FROZEN):
            execute(
                "UPDATE funding_grant SET closed_at = NULL, unused_at_close = NULL WHERE id = %s",
                [closed.pk],
            )
        with refused("cannot be deleted"):
            execute("DELETE FROM funding_grant WHERE id = %s", [closed.pk])
        with refused(TX_COMMITTED):
            legs(receipt.pk, ("balance", "500"), ("funder", "-500"))
        with refused("funding_leg_account_known"):
            tx = LedgerTransaction.objects.create(
                grant=committed["grant"],
                kind="receipt",
                date=datetime.date(2023, 5, 1),
                created_by=finance,
            )
            legs(tx.pk, ("cash", "500"), ("funder", "-500"))
        with refused("Cannot update or delete rows from funding_ledgerleg"):
            execute("UPDATE funding_ledgerleg SET amount = amount * 2")


@pytest.mark.django_db(transaction=True)
def test_the_application_role_cannot_ignore_the_triggers(committed: dict[str, Any]) -> None:
    """pgtrigger.ignore is a setting any role can set; the money triggers honour it only from
    the tables' owner."""
    receipt: LedgerTransaction = committed["receipt"]
    closed: Grant = committed["closed"]
    with as_app_role():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('pgtrigger.ignore', array_agg(tgname)::text, true)"
                " FROM pg_trigger WHERE tgname LIKE 'pgtrigger_%'"
            )
        with refused(MONTH_LOCKED):
            execute("DELETE FROM funding_paidmonth")
        with refused(GRANT_FROZEN):
            execute("UPDATE funding_grant SET unused_at_close = 0 WHERE id = %s", [closed.pk])
        with refused("Cannot update or delete rows from funding_ledgertransaction"):
            execute("DELETE FROM funding_ledgertransaction")
        with refused(TX_COMMITTED):
            legs(receipt.pk, ("balance", "500"), ("funder", "-500"))


@pytest.mark.django_db(transaction=True)
def test_a_temporary_table_cannot_stand_in_for_the_ledger(committed: dict[str, Any]) -> None:
    """A temporary table is found before the schema's tables by an unqualified name; the
    triggers name the schema."""
    receipt: LedgerTransaction = committed["receipt"]
    with as_app_role():
        execute(
            "CREATE TEMPORARY TABLE funding_ledgertransaction AS"
            " SELECT %s::uuid AS id, txid_current() AS created_txid",
            [receipt.pk],
        )
        execute(
            "CREATE TEMPORARY TABLE funding_ledgerleg AS"
            " SELECT %s::uuid AS transaction_id, 0::numeric AS amount",
            [receipt.pk],
        )
        real_legs = sql.Identifier(schema(), "funding_ledgerleg").as_string(connection.connection)
        with refused(TX_COMMITTED):
            execute(
                f"INSERT INTO {real_legs} (transaction_id, account, amount)"
                " VALUES (%s, 'balance', 500), (%s, 'funder', -500)",
                [receipt.pk, receipt.pk],
            )


@pytest.mark.django_db(transaction=True)
def test_truncate_granted_by_mistake_is_still_refused(committed: dict[str, Any]) -> None:
    with as_app_role(extra_grant="GRANT TRUNCATE ON ALL TABLES IN SCHEMA {schema} TO {role}"):
        for table in MONEY_TABLES:
            with refused(f"TRUNCATE of {table} {TRUNCATE_REFUSED}"):
                execute(f"TRUNCATE {table} CASCADE")


@pytest.mark.django_db(transaction=True)
def test_the_application_role_can_do_its_work(
    committed: dict[str, Any], finance: User, org: Organisation
) -> None:
    """The grants are enough for the application's writes: a payout, a month's lock, a grant
    closed."""
    grant: Grant = committed["grant"]
    with as_app_role():
        ledger.payout_post(
            user=finance,
            grant=grant,
            recipient_type="organisation",
            recipient_id=org.pk,
            category="coordination",
            amount=D("100"),
            date=datetime.date(2023, 7, 1),
        )
        paid_month(grant, finance, month=6)
        assert ledger.grant_close(user=finance, grant=grant).unused == D("9900")
