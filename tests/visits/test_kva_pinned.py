"""ZV509 follows from "social services present" on a completed home visit (seed 004; DOMAIN.md 3),
pinned through the services that log and change a visit (issue 23, item 5).

The database refuses a joint home visit without ZV509 (visits_visit_joint_home_visit_has_zv509),
so without the service's derivation these tests would end in an IntegrityError rather than a
failed assertion. `stored_codes` turns that refusal into a value, so a missing derivation fails
the assertion on the stored codes and names the constraint that caught it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction

from core.models import User
from tests.visits.factories import EnrolmentFactory, log_visit, nurse_at
from visits.models import Enrolment, KvaCode, Visit
from visits.services import visit_update

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 15, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
BORN = datetime.date(2025, 3, 7)
VISIT_DAY = datetime.date(2025, 6, 10)


@pytest.fixture(autouse=True)
def _frozen_today() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def enrolment() -> Enrolment:
    return EnrolmentFactory(child__birth_date=BORN)


@pytest.fixture
def nurse(enrolment: Enrolment) -> User:
    return nurse_at(enrolment.centre)


def refusal(exc: IntegrityError) -> str:
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    return f"refused by the database ({constraint or exc})"


def stored_codes(write: Any) -> list[str] | str:
    """The KVÅ codes stored by `write()` (which returns the visit), read back from the
    database; a refusal by the database comes back as a string naming the constraint."""
    try:
        with transaction.atomic():
            visit = write()
    except IntegrityError as exc:
        return refusal(exc)
    return sorted(Visit.objects.get(pk=visit.pk).kva_codes)


def test_a_home_visit_with_social_services_is_stored_with_zv509(
    enrolment: Enrolment, nurse: User
) -> None:
    codes = stored_codes(
        lambda: log_visit(enrolment, nurse, date=VISIT_DAY, social_services_present=True)
    )

    assert codes == ["ZV509"]


def test_a_home_visit_without_social_services_is_stored_without_zv509(
    enrolment: Enrolment, nurse: User
) -> None:
    codes = stored_codes(
        lambda: log_visit(enrolment, nurse, date=VISIT_DAY, social_services_present=False)
    )

    assert codes == []


def test_zv509_joins_the_codes_the_nurse_typed_on_a_joint_home_visit(
    enrolment: Enrolment, nurse: User
) -> None:
    KvaCode.objects.create(
        code="QA001", title="Testkod QA001", valid_from=datetime.date(2015, 1, 1)
    )

    codes = stored_codes(
        lambda: log_visit(
            enrolment, nurse, date=VISIT_DAY, social_services_present=True, kva_codes=["QA001"]
        )
    )

    assert codes == ["QA001", "ZV509"]


def test_a_clinic_visit_with_social_services_is_not_given_zv509(
    enrolment: Enrolment, nurse: User
) -> None:
    """The derivation is for home visits (seed 004); at the clinic ZV509 is the nurse's choice."""
    codes = stored_codes(
        lambda: log_visit(
            enrolment, nurse, date=VISIT_DAY, place="clinic", social_services_present=True
        )
    )

    assert codes == []


def test_a_cancelled_home_visit_with_social_services_carries_no_codes(
    enrolment: Enrolment, nurse: User
) -> None:
    codes = stored_codes(
        lambda: log_visit(
            enrolment, nurse, date=VISIT_DAY, status="cancelled", social_services_present=True
        )
    )

    assert codes == []


def test_marking_social_services_present_afterwards_stores_zv509(
    enrolment: Enrolment, nurse: User
) -> None:
    visit = log_visit(enrolment, nurse, date=VISIT_DAY, social_services_present=False)

    codes = stored_codes(
        lambda: visit_update(user=nurse, visit=visit, changes={"social_services_present": True})
    )

    assert codes == ["ZV509"]


def test_marking_social_services_absent_afterwards_drops_zv509(
    enrolment: Enrolment, nurse: User
) -> None:
    visit = log_visit(
        enrolment, nurse, date=VISIT_DAY, social_services_present=True, kva_codes=["ZV509"]
    )

    codes = stored_codes(
        lambda: visit_update(user=nurse, visit=visit, changes={"social_services_present": False})
    )

    assert codes == []
