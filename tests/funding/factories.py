"""Factories for funding tests."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from core.models import Centre, Role, User
from funding.applications import Plan, application_create
from funding.centres import cni_record
from funding.models import Application, CniValue
from tests.core.factories import member


def cni(
    centre: Centre, value: str = "2.50", listed: int | None = 300, **kwargs: object
) -> CniValue:
    fields = {
        "reference_date": datetime.date(2025, 12, 31),
        "source": "SCB",
        **kwargs,
    }
    return cni_record(
        user=None,
        centre=centre,
        value=Decimal(value),
        listed_children=listed,
        **fields,  # type: ignore[arg-type]
    )


def plan(**overrides: object) -> Plan:
    year = timezone.localdate().year
    fields: dict[str, object] = {
        "nurse_hours_per_week": Decimal("8.0"),
        "social_services_contacted": True,
        "social_services_contact": "Familjestöd",
        "planned_visits": 100,
        "programme": "full",
        "target_families": "Förstagångsföräldrar i området",
        "start_date": datetime.date(year, 1, 1),
        "transport": "car",
        **overrides,
    }
    return Plan(**fields)  # type: ignore[arg-type]


def draft(
    centre: Centre, by: User | None = None, year: int | None = None, **overrides: object
) -> Application:
    """A draft application of an eligible centre (child CNI 2.50 unless one is stored)."""
    if not CniValue.objects.filter(centre=centre).exists():
        cni(centre)
    return application_create(
        user=by or member(Role.CENTRE_MANAGER, centre=centre),
        centre=centre,
        year=year or timezone.localdate().year,
        plan=plan(**overrides),
    )
