from __future__ import annotations

import factory

from core.models import Centre, Membership, Organisation, Partner, Role, User

PASSWORD = "correct-horse-battery"


class OrganisationFactory(factory.django.DjangoModelFactory[Organisation]):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Region {n}")
    kind = Organisation.Kind.REGION


class CentreFactory(factory.django.DjangoModelFactory[Centre]):
    class Meta:
        model = Centre

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"BVC {n}")


class PartnerFactory(factory.django.DjangoModelFactory[Partner]):
    class Meta:
        model = Partner

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Partner {n}")
    kind = Partner.Kind.DENTAL_CARE


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Person{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance: User, create: bool, results: object = None) -> None:
        if create:
            instance.save(update_fields=["password"])


def member(
    role: str,
    *,
    centre: Centre | None = None,
    organisation: Organisation | None = None,
    user: User | None = None,
) -> User:
    """A user with one role: at `centre` for nurses and centre managers, else in `organisation`."""
    user = user or UserFactory.create()
    if centre is not None:
        organisation = centre.organisation
    assert organisation is not None
    Membership.objects.create(
        user=user,
        organisation=organisation,
        role=role,
        centre=centre if role in (Role.NURSE, Role.CENTRE_MANAGER) else None,
    )
    return user
