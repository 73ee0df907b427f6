"""The database itself holds the one-row and one-set rules (STYLE.md 4): writes that bypass the
services are refused by a named constraint."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.models import Centre, User
from tests.core.factories import CentreFactory, UserFactory
from tests.visits.factories import ChildFactory, EnrolmentFactory, personnummer
from visits.models import ZV509, Child, Enrolment, TemplateSlot, Visit

pytestmark = pytest.mark.django_db


@contextmanager
def refused(constraint: str) -> Iterator[None]:
    """Expect the database to refuse with `constraint`, in a savepoint the test survives."""
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        yield


@pytest.fixture
def enrolment() -> Enrolment:
    return EnrolmentFactory()


@pytest.fixture
def nurse() -> User:
    return UserFactory()


def visit(enrolment: Enrolment, nurse: User, **fields: Any) -> dict[str, Any]:
    """A valid completed home visit's fields, changed by `fields`."""
    return {
        "enrolment": enrolment,
        "centre": enrolment.centre,
        "nurse": nurse,
        "date": timezone.localdate(),
        "place": "home",
        "status": "completed",
        **fields,
    }


def test_a_valid_visit_is_accepted(enrolment: Enrolment, nurse: User) -> None:
    Visit.objects.create(**visit(enrolment, nurse, social_services_present=True, kva_codes=[ZV509]))

    assert Visit.objects.count() == 1


def test_completed_home_visit_with_social_services_but_no_zv509_is_refused(
    enrolment: Enrolment, nurse: User
) -> None:
    with refused("visits_visit_joint_home_visit_has_zv509"):
        Visit.objects.create(**visit(enrolment, nurse, social_services_present=True, kva_codes=[]))


def test_zv509_without_social_services_is_refused(enrolment: Enrolment, nurse: User) -> None:
    with refused("visits_visit_zv509_needs_social_services"):
        Visit.objects.create(**visit(enrolment, nurse, place="clinic", kva_codes=[ZV509]))


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_codes_on_a_visit_that_did_not_happen_are_refused(
    enrolment: Enrolment, nurse: User, status: str
) -> None:
    with refused("visits_visit_codes_only_when_completed"):
        Visit.objects.create(
            **visit(
                enrolment, nurse, status=status, social_services_present=True, kva_codes=[ZV509]
            )
        )


def test_interpreter_participant_with_mode_none_is_refused(
    enrolment: Enrolment, nurse: User
) -> None:
    with refused("visits_visit_interpreter_has_mode"):
        Visit.objects.create(
            **visit(enrolment, nurse, participants=["interpreter"], interpreter_mode="none")
        )


def test_two_completed_visits_for_one_slot_are_refused(enrolment: Enrolment, nurse: User) -> None:
    with refused("visits_visit_one_completed_per_slot"):
        Visit.objects.bulk_create(
            [
                Visit(**visit(enrolment, nurse, slot="2m")),
                Visit(**visit(enrolment, nurse, slot="2m")),
            ]
        )

    assert Visit.objects.count() == 0


def test_a_cancelled_visit_and_extra_visits_do_not_count_as_a_second_completed_one(
    enrolment: Enrolment, nurse: User
) -> None:
    Visit.objects.bulk_create(
        [
            Visit(**visit(enrolment, nurse, slot="2m")),
            Visit(**visit(enrolment, nurse, slot="2m", status="cancelled")),
            Visit(**visit(enrolment, nurse, slot="")),
            Visit(**visit(enrolment, nurse, slot="")),
        ]
    )

    assert Visit.objects.count() == 4


def test_two_open_enrolments_of_one_child_are_refused(enrolment: Enrolment) -> None:
    with refused("visits_enrolment_one_open_per_child"):
        Enrolment.objects.create(
            child=enrolment.child,
            centre=enrolment.centre,
            template=enrolment.template,
            offered_on=enrolment.offered_on,
            created_by=enrolment.created_by,
        )


def test_a_new_enrolment_after_an_ended_one_is_accepted(enrolment: Enrolment) -> None:
    Enrolment.objects.filter(pk=enrolment.pk).update(
        ended_on=enrolment.offered_on, end_reason="completed"
    )

    EnrolmentFactory(child=enrolment.child, template=enrolment.template)

    assert Enrolment.objects.filter(child=enrolment.child).count() == 2


def test_a_child_whose_current_centre_is_in_another_organisation_is_refused() -> None:
    home: Centre = CentreFactory()
    foreign: Centre = CentreFactory()
    born = timezone.localdate() - datetime.timedelta(days=30)

    with refused("visits_child_centre_in_organisation"):
        Child.objects.create(
            organisation=home.organisation,
            current_centre=foreign,
            identity_type="personnummer",
            identity=personnummer(born),
            birth_date=born,
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_moving_a_child_to_a_centre_of_another_organisation_is_refused() -> None:
    child = ChildFactory()

    with refused("visits_child_centre_in_organisation"):
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        Child.objects.filter(pk=child.pk).update(current_centre=CentreFactory())


@pytest.mark.parametrize(
    ("earliest", "target", "latest"),
    [(11, 10, 20), (0, 21, 20)],
    ids=["earliest-after-target", "target-after-latest"],
)
def test_a_slot_whose_window_does_not_contain_its_target_is_refused(
    earliest: int, target: int, latest: int
) -> None:
    template = EnrolmentFactory().template

    with refused("visits_slot_window_contains_target"):
        TemplateSlot.objects.create(
            template=template,
            key="x",
            label="X",
            kind="extra",
            place="home",
            target_age_days=target,
            earliest_age_days=earliest,
            latest_age_days=latest,
        )


@pytest.mark.parametrize("identity_type", ["personnummer", "samordningsnummer"])
@pytest.mark.parametrize(
    "written",
    [
        lambda twelve: f"{twelve[:8]}-{twelve[8:]}",
        lambda twelve: twelve[2:],
        lambda twelve: f"{twelve} ",
    ],
    ids=["with-hyphen", "ten-digits", "trailing-space"],
)
def test_a_non_normalised_number_is_refused(identity_type: str, written: Any) -> None:
    centre: Centre = CentreFactory()
    born = timezone.localdate() - datetime.timedelta(days=30)

    with refused("visits_child_identity_normalised"):
        Child.objects.create(
            organisation=centre.organisation,
            current_centre=centre,
            identity_type=identity_type,
            identity=written(personnummer(born)),
            birth_date=born,
        )


def test_a_reserve_number_is_stored_as_given() -> None:
    child = ChildFactory(identity_type="reservnummer", identity="RES-12 34")

    assert Child.objects.get(pk=child.pk).identity == "RES-12 34"
