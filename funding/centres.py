"""Writes about centres for fixed compensation: an organisation's yearly scheme (threshold and
weighting, DOMAIN.md 4.2) and a centre's CNI values. The reads (the scheme in force, a
centre's eligibility) are in `funding.selectors`."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.models import Centre, User
from funding.models import CniKind, CniValue, FixedCompensationScheme, Weighting


def scheme_set(
    *, user: User, organisation_id: uuid.UUID, from_year: int, threshold: Decimal, weighting: str
) -> FixedCompensationScheme:
    """The organisation's scheme from `from_year` on (until a later year has its own)."""
    if weighting not in Weighting.values:
        raise ValidationError({"weighting": [_("Välj en fördelningsgrund.")]})
    if threshold < 0:
        raise ValidationError({"threshold": [_("Tröskeln kan inte vara negativ.")]})
    with transaction.atomic():
        scheme, _created = FixedCompensationScheme.objects.update_or_create(
            organisation_id=organisation_id,
            from_year=from_year,
            defaults={"threshold": threshold, "weighting": weighting, "updated_by": user},
        )
    return scheme


def cni_record(
    *,
    user: User | None,
    centre: Centre,
    value: Decimal,
    reference_date: datetime.date,
    source: str,
    kind: str = CniKind.CHILD_CNI,
    scale: str = "Riksgenomsnitt 1,0",
    listed_children: int | None = None,
) -> CniValue:
    """Store one CNI value of a centre (the history keeps every value; the latest by reference
    date is the current one)."""
    cni = CniValue(
        centre=centre,
        kind=kind,
        value=value,
        reference_date=reference_date,
        source=source,
        scale=scale,
        listed_children=listed_children,
        created_by=user,
    )
    cni.full_clean()
    with transaction.atomic():
        cni.save()
    return cni
