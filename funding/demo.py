"""Demo CNI values, fixed-compensation schemes and applications (API.md, "Demo data").

Seed 004 names the four Örebro centres with child CNI above 2 (Vivalla/Lundby, Varberga,
Mikaeli, Brickebacken); the values themselves and the listed children are demo figures.
For the current year: Vivalla/Lundby approved, Varberga submitted and waiting, Mikaeli a draft.
Region Östergötland's centres (seed 001 names none) have example CNI values and listed children:
its own money goes to the centres with the highest care load (funding/demo_money.py).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from core.demo import DEMO_PASSWORD, LINKOPING, OREBRO, OSTERGOTLAND
from core.models import Centre, Membership, Organisation, Role, User
from funding import demo_money
from funding.compensation import recompute_application
from funding.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    CniKind,
    CniValue,
    FixedCompensationScheme,
    TransitionKind,
    Weighting,
)

CNI_REFERENCE = datetime.date(2025, 12, 31)
CHILD_CNI = {
    # centre: (child CNI, listed children aged 0–5)
    "Vivalla/Lundby": ("2.87", 612),
    "Varberga": ("2.41", 455),
    "Mikaeli": ("2.18", 389),
    "Brickebacken": ("2.64", 341),
    "Adolfsberg": ("0.58", 402),
    "Tybble": ("1.46", 298),
    "Skäggetorp": ("3.05", 520),
    # Region Östergötland (examples: seed 001 names no centres and gives no CNI).
    "Navestad": ("2.93", 415),
    "Hageby": ("2.71", 532),
    "Ljura": ("1.64", 348),
    "Ryd": ("2.36", 387),
    "Berga": ("2.12", 446),
    "Ekholmen": ("1.19", 301),
}


def _user(username: str, first: str, last: str, centre: Centre, role: str) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "email": f"{username}@example.org"},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(
        user=user, organisation_id=centre.organisation_id, role=role, centre=centre
    )
    return user


def _application(
    centre: Centre,
    year: int,
    by: User,
    status: str,
    *,
    cbhv: User,
    start: datetime.date,
    submitted: datetime.datetime | None = None,
    decided: datetime.datetime | None = None,
) -> None:
    if Application.objects.filter(centre=centre, year=year).exists():
        return
    application = Application.objects.create(
        centre=centre,
        year=year,
        status=status,
        nurse_hours_per_week=Decimal("8.0"),
        social_services_contacted=True,
        social_services_contact=f"Familjestödjare, socialtjänsten {centre.name}",
        planned_visits=140,
        programme="full",
        target_families="Förstagångsföräldrar och familjer med sitt första barn i Sverige.",
        start_date=start,
        transport="car",
        created_by=by,
        submitted_by=by if submitted else None,
        submitted_at=submitted,
        decided_by=cbhv if decided else None,
        decided_at=decided,
        approved=status == ApplicationStatus.APPROVED,
        effective_from=start if status == ApplicationStatus.APPROVED else None,
        decision_comment="Planen är genomarbetad." if decided else "",
    )
    created = (submitted or timezone.now()) - datetime.timedelta(days=3)
    steps: list[tuple[str, User, str, datetime.datetime]] = [
        (TransitionKind.CREATED, by, "", created)
    ]
    if submitted:
        steps.append((TransitionKind.SUBMITTED, by, "", submitted))
    if decided:
        steps.append((TransitionKind.APPROVED, cbhv, "Planen är genomarbetad.", decided))
    for kind, user, comment, at in steps:
        step = ApplicationTransition.objects.create(
            application=application, kind=kind, by=user, comment=comment
        )
        # `at` is stamped on insert; the demo's history happened earlier in the year.
        ApplicationTransition.objects.filter(pk=step.pk).update(at=at)
    # Made directly rather than through the approval service: compute its visits as the
    # approval would (2 500 kr joint visits become ordinary ones from `effective_from`).
    recompute_application(application)


def seed() -> None:
    orebro = Organisation.objects.get(name=OREBRO)
    linkoping = Organisation.objects.get(name=LINKOPING)
    ostergotland = Organisation.objects.get(name=OSTERGOTLAND)
    centres = {
        c.name: c for c in Centre.objects.filter(organisation__in=[orebro, linkoping, ostergotland])
    }
    for name, (value, listed) in CHILD_CNI.items():
        CniValue.objects.get_or_create(
            centre=centres[name],
            kind=CniKind.CHILD_CNI,
            reference_date=CNI_REFERENCE,
            source="SCB",
            defaults={"value": Decimal(value), "listed_children": listed},
        )
    for org, from_year in ((orebro, 2025), (linkoping, 2021)):
        FixedCompensationScheme.objects.get_or_create(
            organisation=org,
            from_year=from_year,
            defaults={"threshold": Decimal("2.00"), "weighting": Weighting.CNI_X_LISTED},
        )

    _seed_compensation_rules(orebro, linkoping, list(centres.values()))

    year = timezone.localdate().year
    cbhv = User.objects.get(username="cbhv")
    tz = timezone.get_current_timezone()
    now = timezone.now()
    # Early in January the demo's dates would lie ahead: never later than now.
    jan = min(datetime.datetime(year, 1, 15, 10, 0, tzinfo=tz), now - datetime.timedelta(days=11))
    _application(
        centres["Vivalla/Lundby"],
        year,
        User.objects.get(username="manager_vivalla"),
        ApplicationStatus.APPROVED,
        cbhv=cbhv,
        start=datetime.date(year, 2, 1),
        submitted=jan,
        decided=jan + datetime.timedelta(days=10),
    )
    _application(
        centres["Varberga"],
        year,
        User.objects.get(username="nurse_varberga"),
        ApplicationStatus.SUBMITTED,
        cbhv=cbhv,
        start=datetime.date(year, 9, 1),
        submitted=min(jan + datetime.timedelta(days=200), now),
    )
    mikaeli = _user("manager_mikaeli", "Nora", "Ek", centres["Mikaeli"], Role.CENTRE_MANAGER)
    _application(
        centres["Mikaeli"],
        year,
        mikaeli,
        ApplicationStatus.DRAFT,
        cbhv=cbhv,
        start=datetime.date(year, 12, 1),
    )
    demo_money.seed(orebro, linkoping, ostergotland)


def _seed_compensation_rules(
    orebro: Organisation, linkoping: Organisation, centres: list[Centre]
) -> None:
    """Seed 004's rates for Örebro (2 500 kr joint visit, 1 800 kr ordinary); Linköping's are an
    example (seed 003 gives none). Visits seeded before a rule existed are computed once, when
    the rule is created, so a second seed changes nothing."""
    from funding.compensation import recompute_centre
    from funding.models import CompensationRule

    created_any = False
    for org, valid_from in (
        (orebro, datetime.date(2023, 1, 1)),
        (linkoping, datetime.date(2021, 1, 1)),
    ):
        _rule, created = CompensationRule.objects.get_or_create(
            organisation=org,
            valid_from=valid_from,
            defaults={"programme_variable": Decimal("2500.00"), "ordinary": Decimal("1800.00")},
        )
        created_any = created_any or created
    if created_any:
        for centre in centres:
            recompute_centre(centre, datetime.date(2021, 1, 1))
