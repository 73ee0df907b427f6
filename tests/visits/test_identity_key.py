"""A child is unique per organisation on a keyed hash of its identity (issue 24, item 10).

PostgreSQL writes a failed statement and a unique violation's key into its own server log. So
a duplicate registration is found by the registration service under a lock, before any INSERT,
and the unique index holds the key `Child.identity_key` (HMAC-SHA256 with ACCESS_LOG_KEY, the
access log's `identity_hash`): the error of a writer that bypasses the service carries the
key, never the number.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from core.exceptions import Conflict
from core.models import Centre
from tests.core.factories import CentreFactory
from tests.visits.factories import ChildFactory, nurse_at, personnummer
from visits.access_log import identity_hash
from visits.models import AccessLog, Child
from visits.services import _IDENTITY_LOCK_SPACE, child_register

DUPLICATE = "Barnet är redan registrerat i organisationen."


def born() -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=40)


# --- The key ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_registered_child_holds_the_keyed_hash_of_its_identity() -> None:
    centre: Centre = CentreFactory()
    number = personnummer(born())

    child = child_register(
        user=nurse_at(centre), centre=centre, identity_type="personnummer", identity=number
    )

    stored = Child.objects.get(pk=child.pk)
    assert stored.identity_key == identity_hash("personnummer", number)
    assert len(stored.identity_key) == 64
    assert number not in stored.identity_key


@pytest.mark.django_db
def test_children_written_in_bulk_get_their_key_too() -> None:
    centre: Centre = CentreFactory()
    number = personnummer(born())

    Child.objects.bulk_create(
        [
            Child(
                organisation=centre.organisation,
                current_centre=centre,
                identity_type="personnummer",
                identity=number,
                birth_date=born(),
            )
        ]
    )

    assert list(Child.objects.values_list("identity_key", flat=True)) == [
        identity_hash("personnummer", number)
    ]


@pytest.mark.django_db
def test_a_key_already_set_is_kept_on_save() -> None:
    # Retention overwrites an anonymised child's key; a later save must not put it back.
    child: Child = ChildFactory()
    child.identity_key = "a" * 64
    child.save(update_fields=["identity_key"])
    child.given_name = "Ny"
    child.save()

    assert Child.objects.get(pk=child.pk).identity_key == "a" * 64


@pytest.mark.django_db
def test_the_same_number_may_be_registered_in_two_organisations() -> None:
    number = personnummer(born())
    first: Centre = CentreFactory()
    second: Centre = CentreFactory()

    for centre in (first, second):
        child_register(
            user=nurse_at(centre), centre=centre, identity_type="personnummer", identity=number
        )

    assert Child.objects.filter(identity=number).count() == 2


# --- A duplicate: today's answers -------------------------------------------------------------
@pytest.mark.django_db
def test_a_duplicate_registration_is_a_conflict_naming_the_child_without_a_database_error() -> None:
    centre: Centre = CentreFactory()
    number = personnummer(born())
    child = child_register(
        user=nurse_at(centre), centre=centre, identity_type="personnummer", identity=number
    )
    other: Centre = CentreFactory(organisation=centre.organisation)

    with pytest.raises(Conflict) as refused:
        child_register(
            user=nurse_at(other),
            centre=other,
            identity_type="personnummer",
            identity=f"{number[2:8]}-{number[8:]}",  # written another way
        )

    assert (refused.value.detail, refused.value.extra) == (DUPLICATE, {"id": str(child.pk)})
    assert refused.value.__cause__ is None  # found before any INSERT, not by the index
    assert list(Child.objects.values_list("pk", flat=True)) == [child.pk]
    assert AccessLog.objects.filter(action="create").count() == 1


@pytest.mark.django_db
def test_a_duplicate_registration_through_the_api_is_a_409_with_the_childs_id(
    api_client_for: Any,
) -> None:
    child: Child = ChildFactory()
    client = api_client_for(nurse_at(child.current_centre))

    response = client.post(
        "/api/v1/children/", {"identity_type": "personnummer", "identity": child.identity}
    )

    assert response.status_code == 409
    assert response.json() == {"detail": DUPLICATE, "id": str(child.pk)}
    assert Child.objects.count() == 1


@pytest.mark.django_db
def test_a_duplicate_registration_on_the_page_is_a_form_error_with_a_link(client: Any) -> None:
    child: Child = ChildFactory()
    client.force_login(nurse_at(child.current_centre))

    response = client.post(
        reverse("visits:child_create"),
        {"identity_type": "personnummer", "identity": child.identity},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert DUPLICATE in html
    assert reverse("visits:child_detail", args=[child.pk]) in html
    assert Child.objects.count() == 1


# --- The database never sees the number in a unique violation ---------------------------------
@pytest.mark.django_db
def test_a_forced_duplicate_insert_fails_on_the_key_and_its_error_holds_no_number() -> None:
    child: Child = ChildFactory(given_name="Alva", family_name="Duplikatsson")

    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Child.objects.create(  # a writer that bypasses the registration service
            organisation=child.organisation,
            current_centre=child.current_centre,
            identity_type=child.identity_type,
            identity=child.identity,
            birth_date=child.birth_date,
            given_name=child.given_name,
            family_name=child.family_name,
        )

    text = str(caught.value)
    assert "visits_child_unique_identity_key_per_organisation" in text
    assert child.identity_key in text  # the DETAIL names the key ...
    assert child.identity not in text  # ... never the number
    assert child.identity[2:] not in text
    assert "Duplikatsson" not in text


@pytest.mark.django_db
def test_the_old_unique_constraint_on_the_number_is_gone() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conname = %s",
            ["visits_child_unique_identity_per_organisation"],
        )
        old = cursor.fetchall()
        # The columns of every unique index on children and their history.
        cursor.execute(
            """
            SELECT t.relname, array_agg(a.attname ORDER BY k.ord)
            FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid
            CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE x.indisunique AND t.relname IN ('visits_child', 'visits_childevent')
            GROUP BY t.relname, x.indexrelid
            ORDER BY 1, 2
            """
        )
        unique = cursor.fetchall()

    assert old == []
    assert unique == [
        ("visits_child", ["id"]),
        ("visits_child", ["organisation_id", "identity_key"]),
        ("visits_childevent", ["pgh_id"]),
    ]


# --- Two registrations at once ----------------------------------------------------------------
def _waiting_for_an_identity_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2 AND classid = %s
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """,
            [_IDENTITY_LOCK_SPACE],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_registrations_give_one_child_and_one_clean_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    centre: Centre = CentreFactory()
    first_nurse, second_nurse = nurse_at(centre), nurse_at(centre)
    number = personnummer(born())
    # The first registration stops after its duplicate check, just before its INSERT, until
    # the second has reached the lock; without the lock both checks would find nothing.
    first_checked, go_on = threading.Event(), threading.Event()
    real_save = Child.save

    def save(self: Child, *args: Any, **kwargs: Any) -> None:
        if threading.current_thread().name == "first":
            first_checked.set()
            go_on.wait(timeout=30)
        real_save(self, *args, **kwargs)

    monkeypatch.setattr(Child, "save", save)
    outcomes: dict[str, tuple[object, ...]] = {}

    def register(user: Any) -> None:
        name = threading.current_thread().name
        try:
            child = child_register(
                user=user, centre=centre, identity_type="personnummer", identity=number
            )
            outcomes[name] = ("registered", str(child.pk))
        except Conflict as exc:
            outcomes[name] = ("refused", exc.extra.get("id"), exc.__cause__)
        except Exception as exc:  # anything else fails the assertion below
            outcomes[name] = ("error", repr(exc))
        finally:
            connection.close()

    first = threading.Thread(target=register, args=(first_nurse,), name="first")
    second = threading.Thread(target=register, args=(second_nurse,), name="second")
    try:
        first.start()
        assert first_checked.wait(timeout=30)
        second.start()
        deadline = time.monotonic() + 30
        while _waiting_for_an_identity_lock() != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        second_waited = _waiting_for_an_identity_lock() == 1
    finally:
        go_on.set()
        first.join(timeout=60)
        second.join(timeout=60)

    child = Child.objects.get()
    assert second_waited
    assert outcomes == {
        "first": ("registered", str(child.pk)),
        "second": ("refused", str(child.pk), None),
    }
    assert child.identity_key == identity_hash("personnummer", number)
