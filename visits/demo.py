"""Demo programme templates, children, enrolments and visits (API.md, "Demo data")."""

from __future__ import annotations

from core.models import Organisation
from visits.models import ProgrammeTemplate, SlotKind, SlotPlace, TemplateSlot

W = 7  # days in a week
M = 30  # days in a (demo) month

# Seed 004, Region Örebro län: 1–2 wk, 2, 4, 8, 12 and 15 months. The seed gives target ages
# only; the windows are the demo's choice (about ±1 week first, ±2 weeks to 4 months, ±1 month
# after), as API.md describes.
OREBRO_SLOTS = [
    ("1-2w", "Nyföddhetsbesök 1–2 veckor", SlotKind.ORDINARY, SlotPlace.HOME, 10, 3, 17),
    ("2m", "Hembesök 2 månader", SlotKind.EXTRA, SlotPlace.HOME, 61, 47, 75),
    ("4m", "Hembesök 4 månader", SlotKind.EXTRA, SlotPlace.HOME, 122, 108, 136),
    ("8m", "Hembesök 8 månader", SlotKind.ORDINARY, SlotPlace.HOME, 243, 213, 273),
    ("12m", "Hembesök 12 månader", SlotKind.EXTRA, SlotPlace.HOME, 365, 335, 395),
    ("15m", "Hembesök 15 månader", SlotKind.EXTRA, SlotPlace.HOME, 456, 426, 486),
]
# Seed 003, the Linköping pilot in Skäggetorp: 6 home visits and 2 extra clinic visits in the
# first two years. The seed gives no ages: these are an example spread over 24 months.
LINKOPING_SLOTS = [
    ("h1", "Hembesök 1 (1–2 veckor, exempel)", SlotKind.ORDINARY, SlotPlace.HOME, 10, 3, 17),
    ("h2", "Hembesök 2 (2 månader, exempel)", SlotKind.EXTRA, SlotPlace.HOME, 61, 47, 75),
    ("h3", "Hembesök 3 (4 månader, exempel)", SlotKind.EXTRA, SlotPlace.HOME, 122, 108, 136),
    (
        "m1",
        "Mottagningsbesök 1 (6 månader, exempel)",
        SlotKind.EXTRA,
        SlotPlace.CLINIC,
        183,
        168,
        198,
    ),
    ("h4", "Hembesök 4 (8 månader, exempel)", SlotKind.ORDINARY, SlotPlace.HOME, 243, 213, 273),
    ("h5", "Hembesök 5 (12 månader, exempel)", SlotKind.EXTRA, SlotPlace.HOME, 365, 335, 395),
    (
        "m2",
        "Mottagningsbesök 2 (18 månader, exempel)",
        SlotKind.EXTRA,
        SlotPlace.CLINIC,
        548,
        518,
        578,
    ),
    ("h6", "Hembesök 6 (24 månader, exempel)", SlotKind.EXTRA, SlotPlace.HOME, 730, 700, 760),
]
OREBRO_TEMPLATE = "Utökat hembesöksprogram Region Örebro län"
LINKOPING_TEMPLATE = "Utökade hembesök Skäggetorp (pilot 2020–22)"


def _template(org: Organisation, name: str, description: str, slots: list) -> ProgrammeTemplate:
    template, _ = ProgrammeTemplate.objects.get_or_create(
        organisation=org, name=name, version=1, defaults={"description": description}
    )
    for key, label, kind, place, target, earliest, latest in slots:
        TemplateSlot.objects.update_or_create(
            template=template,
            key=key,
            defaults={
                "label": label,
                "kind": kind,
                "place": place,
                "target_age_days": target,
                "earliest_age_days": earliest,
                "latest_age_days": latest,
            },
        )
    return template


def seed_templates() -> tuple[ProgrammeTemplate, ProgrammeTemplate]:
    orebro = Organisation.objects.get(name="Region Örebro län")
    linkoping = Organisation.objects.get(name="Linköpings kommun")
    return (
        _template(
            orebro,
            OREBRO_TEMPLATE,
            "Seed 004: nyföddhetsbesök och hembesök vid 2, 4, 8, 12 och 15 månader.",
            OREBRO_SLOTS,
        ),
        _template(
            linkoping,
            LINKOPING_TEMPLATE,
            "Seed 003: 6 hembesök och 2 extra mottagningsbesök under de två första åren. "
            "Åldrarna är ett exempel; källan anger inga.",
            LINKOPING_SLOTS,
        ),
    )


def seed() -> None:
    seed_templates()
