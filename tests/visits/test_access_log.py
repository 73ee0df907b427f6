"""The access log (Patientdatalagen; DOMAIN.md 7): one row per child read or changed, with a
keyed hash instead of the identity, and a table that refuses every change after the insert."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from core.models import User
from tests.core.factories import UserFactory
from tests.visits.factories import ChildFactory, EnrolmentFactory, log_visit, nurse_at
from visits.access_log import identity_hash, log_children, log_without_patient
from visits.models import AccessLog, Child

pytestmark = pytest.mark.django_db

# The triggers' own messages: the error comes from the append-only rule, not from anything else.
REFUSED = r"Cannot update or delete rows from visits_accesslog|access log is append-only"


@pytest.fixture
def child() -> Child:
    return ChildFactory()


@pytest.fixture
def nurse(child: Child) -> User:
    return nurse_at(child.current_centre)


def column_values(row: AccessLog) -> list[str]:
    return [str(value) for value in AccessLog.objects.filter(pk=row.pk).values().get().values()]


def test_log_children_writes_one_row_per_distinct_child(child: Child, nurse: User) -> None:
    other = ChildFactory(current_centre=child.current_centre)
    centre_id = child.current_centre_id

    written = log_children(
        user=nurse,
        action="read",
        entries=[(child, centre_id), (other, centre_id), (child, centre_id)],
        what="worklist",
    )

    assert written == 2
    rows = AccessLog.objects.order_by("id")
    assert [(r.child_id, r.care_unit, r.user_id, r.username, r.action, r.what) for r in rows] == [
        (child.pk, centre_id, nurse.pk, nurse.username, "read", "worklist"),
        (other.pk, centre_id, nurse.pk, nurse.username, "read", "worklist"),
    ]
    assert all(r.at is not None for r in rows)


def test_a_row_holds_the_keyed_hash_and_never_the_identity(child: Child, nurse: User) -> None:
    log_children(
        user=nurse, action="update", entries=[(child, child.current_centre_id)], what="child"
    )

    row = AccessLog.objects.get()
    assert row.identity_hash == identity_hash(child.identity_type, child.identity)
    assert len(row.identity_hash) == 64
    for value in column_values(row):
        assert child.identity not in value
        assert child.identity[2:] not in value  # not the ten-digit form either


def test_the_hash_depends_on_the_access_log_key(child: Child, nurse: User, settings) -> None:
    settings.ACCESS_LOG_KEY = "first key"
    first = identity_hash(child.identity_type, child.identity)
    log_children(user=nurse, action="read", entries=[(child, None)], what="child")

    settings.ACCESS_LOG_KEY = "second key"
    second = identity_hash(child.identity_type, child.identity)
    log_children(user=nurse, action="read", entries=[(child, None)], what="child")

    assert first != second
    assert list(AccessLog.objects.order_by("id").values_list("identity_hash", flat=True)) == [
        first,
        second,
    ]
    settings.ACCESS_LOG_KEY = "first key"
    assert identity_hash(child.identity_type, child.identity) == first


def test_the_hash_tells_identity_types_apart(child: Child) -> None:
    assert identity_hash("personnummer", child.identity) != identity_hash(
        "samordningsnummer", child.identity
    )


def test_a_download_of_aggregates_is_logged_without_a_patient() -> None:
    user = UserFactory()

    log_without_patient(user=user, action="export", what="grant_report")

    row = AccessLog.objects.get()
    assert (row.child_id, row.identity_hash, row.care_unit) == (None, "", None)
    assert (row.username, row.action, row.what) == (user.username, "export", "grant_report")


def test_logging_a_visit_logs_the_child_through_the_visits_centre() -> None:
    enrolment = EnrolmentFactory()
    nurse = nurse_at(enrolment.centre)

    log_visit(enrolment, nurse)

    row = AccessLog.objects.filter(what="visit").get()
    assert (row.child_id, row.care_unit, row.username, row.action) == (
        enrolment.child_id,
        enrolment.centre_id,
        nurse.username,
        "create",
    )


# --- Append-only ------------------------------------------------------------------------------
@pytest.fixture
def logged(child: Child, nurse: User) -> AccessLog:
    log_children(user=nurse, action="read", entries=[(child, None)], what="child")
    return AccessLog.objects.get()


def test_orm_update_is_refused(logged: AccessLog) -> None:
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        AccessLog.objects.filter(pk=logged.pk).update(username="x")
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        logged.username = "x"
        logged.save()

    assert AccessLog.objects.get().username != "x"


def test_orm_delete_is_refused(logged: AccessLog) -> None:
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        AccessLog.objects.all().delete()
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        AccessLog.objects.get(pk=logged.pk).delete()

    assert AccessLog.objects.count() == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE visits_accesslog SET username = 'x'",
        "DELETE FROM visits_accesslog",
        "TRUNCATE visits_accesslog",
    ],
    ids=["update", "delete", "truncate"],
)
def test_raw_sql_cannot_change_the_log(logged: AccessLog, sql: str) -> None:
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)

    assert list(AccessLog.objects.values_list("pk", "username")) == [(logged.pk, logged.username)]


def test_truncate_of_an_empty_log_is_refused_too() -> None:
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE visits_accesslog")


def test_the_log_outlives_the_users_record(child: Child) -> None:
    user = UserFactory()
    log_children(user=user, action="read", entries=[(child, child.current_centre_id)], what="child")
    username = user.username

    user.delete()

    assert AccessLog.objects.get().username == username
