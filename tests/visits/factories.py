"""Factories for visits tests. Valid identity numbers come from the real check-digit rule."""

from __future__ import annotations

import datetime
import itertools

import factory
from django.utils import timezone

from core.models import Centre, Role, User
from tests.core.factories import CentreFactory, UserFactory, member
from visits.identity import luhn_check_digit
from visits.models import (
    Child,
    Enrolment,
    KvaCode,
    ProgrammeTemplate,
    SlotKind,
    SlotPlace,
    TemplateSlot,
)
from visits.services import VisitInput, visit_log

_serials = itertools.count(1)

# The Örebro template of seed 004 (windows as in the demo).
SLOTS = [
    ("1-2w", "1–2 veckor", SlotKind.ORDINARY, SlotPlace.HOME, 10, 3, 17),
    ("2m", "2 månader", SlotKind.EXTRA, SlotPlace.HOME, 61, 47, 75),
    ("4m", "4 månader", SlotKind.EXTRA, SlotPlace.HOME, 122, 108, 136),
    ("8m", "8 månader", SlotKind.ORDINARY, SlotPlace.HOME, 243, 213, 273),
    ("12m", "12 månader", SlotKind.EXTRA, SlotPlace.HOME, 365, 335, 395),
    ("15m", "15 månader", SlotKind.EXTRA, SlotPlace.HOME, 456, 426, 486),
]


def personnummer(birth_date: datetime.date, serial: int | None = None) -> str:
    """A valid 12-digit personnummer for `birth_date` (serial 001–999)."""
    serial = serial if serial is not None else (next(_serials) % 999) + 1
    ten = f"{birth_date:%y%m%d}{serial:03d}"
    return f"{birth_date:%Y%m%d}{serial:03d}{luhn_check_digit(ten)}"


def zv509() -> KvaCode:
    code, _ = KvaCode.objects.get_or_create(
        code="ZV509",
        valid_from=datetime.date(2015, 1, 1),
        defaults={"title": "Medverkan av företrädare för socialtjänst"},
    )
    return code


class ProgrammeTemplateFactory(factory.django.DjangoModelFactory[ProgrammeTemplate]):
    class Meta:
        model = ProgrammeTemplate
        skip_postgeneration_save = True

    organisation = factory.SubFactory("tests.core.factories.OrganisationFactory")
    name = factory.Sequence(lambda n: f"Program {n}")

    @factory.post_generation
    def slots(self, create: bool, extracted: list | None, **kwargs: object) -> None:
        if not create:
            return
        for key, label, kind, place, target, earliest, latest in extracted or SLOTS:
            TemplateSlot.objects.create(
                template=self,
                key=key,
                label=label,
                kind=kind,
                place=place,
                target_age_days=target,
                earliest_age_days=earliest,
                latest_age_days=latest,
            )


class ChildFactory(factory.django.DjangoModelFactory[Child]):
    class Meta:
        model = Child

    current_centre = factory.SubFactory(CentreFactory)
    organisation = factory.SelfAttribute("current_centre.organisation")
    identity_type = "personnummer"
    birth_date = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=100))
    identity = factory.LazyAttribute(lambda o: personnummer(o.birth_date))
    given_name = "Alva"
    family_name = factory.Sequence(lambda n: f"Testsson{n}")


class EnrolmentFactory(factory.django.DjangoModelFactory[Enrolment]):
    """An accepted, active enrolment of a child at its current centre."""

    class Meta:
        model = Enrolment

    child = factory.SubFactory(ChildFactory)
    centre = factory.SelfAttribute("child.current_centre")
    template = factory.LazyAttribute(
        lambda o: (
            ProgrammeTemplate.objects.filter(organisation=o.child.organisation).first()
            or ProgrammeTemplateFactory(organisation=o.child.organisation)
        )
    )
    offered_on = factory.LazyAttribute(lambda o: o.child.birth_date)
    accepted_on = factory.LazyAttribute(lambda o: o.child.birth_date)
    eligibility = factory.LazyFunction(lambda: ["first_time_parents"])
    created_by = factory.SubFactory(UserFactory)


def nurse_at(centre: Centre) -> User:
    return member(Role.NURSE, centre=centre)


def log_visit(enrolment: Enrolment, nurse: User | None = None, **fields: object):
    """Log a visit through the service, with sensible defaults (a completed home visit today)."""
    zv509()
    data = {
        "date": timezone.localdate(),
        "place": "home",
        "status": "completed",
        **fields,
    }
    return visit_log(
        user=nurse or nurse_at(enrolment.centre),
        enrolment=enrolment,
        data=VisitInput(**data),
    )
