"""The year's fixed pool, distributed among the approved centres by child CNI (DOMAIN.md 4.2;
API.md `POST /api/v1/grants/{id}/fixed-allocation/`).

Decisions, so that finance can explain every krona:

- **Which centres.** The organisation's centres whose application for the year stands approved
  now (`status == approved`, and so `approved=True`). An application withdrawn after approval
  keeps its decision (it had fixed compensation until the withdrawal) but is *not* part of the
  pool: the pool is shared among the centres that run the programme.
- **Weight.** The scheme in force for the year (`services.scheme_in_force`) says how:
  `cni_x_listed` (the default) = current child CNI × listed children 0–5, `cni` = child CNI
  alone. Weights are exact decimals, never rounded. Under `cni_x_listed` a centre whose current
  child CNI has no count of listed children (empty or 0) is an error naming it; so is a centre
  with no child CNI at all, under either weighting.
- **Rounding.** Whole kronor that add up to the pool exactly, by largest remainder
  (`largest_remainder`): every centre gets the floor of its exact share; the kronor left go one
  each to the largest remainders; equal remainders go to the larger weight first, then to the
  smaller key as a string (here the centre's id). The order of the input never matters.
- **Posting.** One `allocation` ledger transaction per centre with an amount above 0, all in one
  database transaction, each with the purpose `Fast ersättning <year>` (`fixed_reference`).
  A grant that already has a fixed allocation for the year which is not reversed → `Conflict`
  (409); once every one of them is reversed, the year can be posted again.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.exceptions import Conflict
from core.models import Centre, User
from core.money import quantize_money
from funding import ledger
from funding.models import (
    Application,
    ApplicationStatus,
    CniValue,
    Grant,
    LedgerTransaction,
    TxKind,
    Weighting,
)
from funding.selectors import scheme_in_force

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class AllocationLine:
    centre: Centre
    child_cni: Decimal
    listed_children: int | None
    weight: Decimal  # exact, not rounded
    amount: Decimal  # whole kronor (two decimals, `.00`)


def largest_remainder(pool: int, weights: Sequence[tuple[K, Decimal]]) -> dict[K, int]:
    """Share `pool` whole kronor in proportion to the weights, adding up to `pool` exactly.

    Exact arithmetic (fractions): each key gets the floor of `pool × w / Σw`; the kronor left
    (fewer than the number of keys) go one each to the largest remainders. Ties between equal
    remainders: the larger weight first, then the smaller `str(key)` (then `repr(key)`), so the
    result never depends on the order of `weights`. A key of weight 0 gets 0.

    ValueError: a negative pool, a negative or non-finite weight, a repeated key, or a total
    weight of 0 (including no weights at all).
    """
    if isinstance(pool, bool) or not isinstance(pool, int):
        raise ValueError("The pool must be a whole number of kronor.")
    if pool < 0:
        raise ValueError("The pool cannot be negative.")
    exact_weights: dict[K, Fraction] = {}
    for key, weight in weights:
        if key in exact_weights:
            raise ValueError(f"The key {key!r} appears twice.")
        if isinstance(weight, float):
            raise ValueError("Weights must be exact (Decimal or int), never float.")
        if not Decimal(weight).is_finite():
            raise ValueError(f"The weight of {key!r} is not a number.")
        exact = Fraction(weight)
        if exact < 0:
            raise ValueError(f"The weight of {key!r} is negative.")
        exact_weights[key] = exact
    total = sum(exact_weights.values(), Fraction(0))
    if total == 0:
        raise ValueError("The weights add up to 0: there is nothing to share by.")

    shares: dict[K, int] = {}
    remainders: dict[K, Fraction] = {}
    for key, fraction in exact_weights.items():
        exact_share = pool * fraction / total
        floor = exact_share.numerator // exact_share.denominator
        shares[key] = floor
        remainders[key] = exact_share - floor
    left = pool - sum(shares.values())
    order = sorted(
        exact_weights,
        key=lambda k: (-remainders[k], -exact_weights[k], str(k), repr(k)),
    )
    for key in order[:left]:
        shares[key] += 1
    return shares


def fixed_reference(year: int) -> str:
    """The purpose (ledger `reference`) of every fixed allocation of `year`."""
    return f"Fast ersättning {year}"


def _whole_kronor(pool: Decimal | int | str) -> int:
    """The pool as an int of kronor, or ValidationError on `pool`."""
    message = _("Ange potten i hela kronor, över 0.")
    if isinstance(pool, float | bool):
        raise ValidationError({"pool": [message]})
    try:
        value = Decimal(pool)
    except (ArithmeticError, ValueError, TypeError):
        raise ValidationError({"pool": [message]}) from None
    if not value.is_finite() or value <= 0 or value != value.to_integral_value():
        raise ValidationError({"pool": [message]})
    return int(value)


def _approved_centres(organisation_id: uuid.UUID, year: int) -> list[Centre]:
    applications = (
        Application.objects.filter(
            centre__organisation_id=organisation_id,
            year=year,
            approved=True,
            status=ApplicationStatus.APPROVED,
        )
        .select_related("centre")
        .order_by("centre__name", "centre_id")
    )
    return [application.centre for application in applications]


def fixed_allocation_compute(
    *, organisation_id: uuid.UUID, year: int, pool: Decimal | int | str
) -> list[AllocationLine]:
    """The year's pool shared among the approved centres (a preview: nothing is written).

    Lines in centre-name order. ValidationError: `pool` (not whole kronor above 0), `centres`
    (a centre without child CNI, or without listed children under `cni_x_listed`, named), and
    `non_field_errors` (no approved centres, or all weights 0).
    """
    kronor = _whole_kronor(pool)
    centres = _approved_centres(organisation_id, year)
    if not centres:
        raise ValidationError(
            {"non_field_errors": [_("Inga BVC har beviljad fast ersättning för %s.") % year]}
        )
    weighting = scheme_in_force(organisation_id=organisation_id, year=year).weighting
    current = {
        value.centre_id: value
        for value in CniValue.objects.current_for([centre.pk for centre in centres])
    }

    problems: list[str] = []
    rows: list[tuple[Centre, CniValue, Decimal]] = []
    for centre in centres:
        cni = current.get(centre.pk)
        if cni is None:
            problems.append(_("%s har inget barn-CNI registrerat.") % centre.name)
            continue
        if weighting == Weighting.CNI:
            weight = cni.value
        else:
            if not cni.listed_children:
                problems.append(
                    _("%s saknar antal listade barn 0–5 år i sitt barn-CNI.") % centre.name
                )
                continue
            weight = cni.value * cni.listed_children
        rows.append((centre, cni, weight))
    if problems:
        raise ValidationError({"centres": problems})

    try:
        shares = largest_remainder(kronor, [(centre.pk, weight) for centre, _cni, weight in rows])
    except ValueError:
        raise ValidationError(
            {"non_field_errors": [_("De beviljade BVC:ernas vikter är alla 0.")]}
        ) from None
    return [
        AllocationLine(
            centre=centre,
            child_cni=cni.value,
            listed_children=cni.listed_children,
            weight=weight,
            amount=quantize_money(shares[centre.pk]),
        )
        for centre, cni, weight in rows
    ]


@dataclass(frozen=True)
class FixedAllocationPreview:
    lines: list[AllocationLine]
    already_posted: bool  # the grant already has a fixed allocation for the year

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


def _posted_for_year(grant: Grant, year: int) -> bool:
    return LedgerTransaction.objects.filter(
        grant=grant,
        kind=TxKind.ALLOCATION,
        reference=fixed_reference(year),
        reversed_by__isnull=True,
    ).exists()


def _check_grant(grant: Grant, year: int, pool: Decimal | int | str) -> None:
    """A fixed allocation belongs to the grant's year and stays within what is still
    unallocated of it (API.md "Money at the edges"): ValidationError on `year` / `pool`."""
    if year != grant.year:
        raise ValidationError(
            {"year": [_("Den fasta ersättningen fördelas på bidragets år (%s).") % grant.year]}
        )
    ledger.require_unallocated(grant, Decimal(_whole_kronor(pool)), field="pool")


def fixed_allocation_preview(
    *, grant: Grant, year: int, pool: Decimal | int | str
) -> FixedAllocationPreview:
    """What posting would allocate, checked against the grant as posting would be; nothing is
    written. `already_posted` tells the page to offer no "Bokför"."""
    _check_grant(grant, year, pool)
    lines = fixed_allocation_compute(organisation_id=grant.organisation_id, year=year, pool=pool)
    return FixedAllocationPreview(lines=lines, already_posted=_posted_for_year(grant, year))


def fixed_allocation_post(
    *,
    user: User,
    grant: Grant,
    year: int,
    pool: Decimal | int | str,
    date: datetime.date | None = None,
) -> list[AllocationLine]:
    """Compute and post the year's fixed allocations on `grant`, all or nothing.

    ValidationError as `fixed_allocation_compute`, and on `year` (not the grant's) or `pool`
    (beyond what is unallocated); Conflict when the grant is closed or already has a fixed
    allocation for `year` that is not reversed. `date` is for replaying history (the demo).
    """
    _check_grant(grant, year, pool)  # the year first: another year's centres are beside the point
    lines = fixed_allocation_compute(organisation_id=grant.organisation_id, year=year, pool=pool)
    with transaction.atomic():
        locked = Grant.objects.select_for_update().get(pk=grant.pk)  # serialises two posts
        _check_grant(locked, year, pool)  # the input's limits (400) before the state (409)
        if locked.closed_at is not None:
            raise Conflict(_("Bidraget är avslutat."))
        if _posted_for_year(locked, year):
            raise Conflict(_("Den fasta ersättningen för %s är redan fördelad på bidraget.") % year)
        for line in lines:
            if line.amount > 0:
                ledger.allocation_post(
                    user=user,
                    grant=locked,
                    recipient=line.centre,
                    amount=line.amount,
                    purpose=fixed_reference(year),
                    date=date,
                )
    return lines
