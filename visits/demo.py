"""Demo programme templates, children, enrolments and visits (API.md, "Demo data").

A few dozen children per demo centre, born from 2023 until a week ago, enrolled in their
organisation's template, with visits from 2023 until today, so the worklist and the reports
have something real to show. For the demo only; never run by migrations.

- Children come in yearly cohorts per centre: CHILDREN_PER_YEAR births on fixed calendar dates
  drawn from a `random.Random` seeded by centre and year, so a re-run on a later day finds the
  same children and adds only those born since. A few "recent" children per centre are born a
  fixed number of days before the first seed (RECENT), so every centre's worklist has due and
  overdue slots whatever the day.
- Everything else about a child comes from a `random.Random` seeded by its natural key: first
  its names and number (the same on any day), then, from its birth date and the day of the seed
  that creates it, its enrolment and visits.
- Every row's id is a uuid5 of DEMO_NAMESPACE and its natural key. A child that exists is
  skipped with everything that follows from it, so a second run the same day writes nothing.
- Rows are written with one `bulk_create` per model, not through `visits.services` (which would
  write an access-log row per call and take seconds); the plan below keeps every rule the
  services and the model constraints hold (DOMAIN.md 3).
"""

from __future__ import annotations

import datetime
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.contrib.auth.hashers import make_password
from django.db import models
from django.utils import timezone
from django.utils.text import slugify

from core.demo import DEMO_PASSWORD, LINKOPING, OREBRO
from core.models import Centre, Membership, Organisation, Role, User
from visits.identity import IdentityType, luhn_check_digit
from visits.models import (
    ZV509,
    Child,
    Contact,
    Eligibility,
    EndReason,
    Enrolment,
    InterpreterMode,
    Participant,
    Programme,
    ProgrammeTemplate,
    SlotKind,
    SlotPlace,
    TemplateSlot,
    Visit,
    VisitPlace,
    VisitStatus,
)

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


# key, label, kind, place, target, earliest and latest age in days.
SlotRow = tuple[str, str, SlotKind, SlotPlace, int, int, int]


def _template(
    org: Organisation, name: str, description: str, slots: list[SlotRow]
) -> ProgrammeTemplate:
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


# --- Children, enrolments and visits ----------------------------------------------------------
DEMO_NAMESPACE = uuid.UUID("6a8c1dc0-9fd5-4720-b717-dd76db9a930d")
FIRST_COHORT = 2023
CHILDREN_PER_YEAR = 7
MIN_AGE_DAYS = 7  # a cohort child enters the demo a week after its birth

_M = TypeVar("_M", bound=models.Model)


@dataclass(frozen=True)
class DemoCentre:
    organisation: str
    name: str
    serial_block: int  # hundreds digit of its children's birth numbers (unique per organisation)
    nurse: tuple[str, str, str]  # username, first and last name (core creates the first three)
    languages: tuple[tuple[str, int], ...]  # family languages with their weights


def _nurse(centre: str, first: str, last: str) -> tuple[str, str, str]:
    return (f"nurse_{slugify(centre)}", first, last)


DEMO_CENTRES = (
    DemoCentre(
        OREBRO,
        "Vivalla/Lundby",
        1,
        ("nurse_vivalla", "Sara", "Lind"),
        (
            ("arabiska", 24),
            ("somaliska", 24),
            ("tigrinja", 10),
            ("dari", 8),
            ("kurdiska", 8),
            ("persiska", 5),
            ("bosniska", 5),
            ("svenska", 16),
        ),
    ),
    DemoCentre(
        OREBRO,
        "Varberga",
        2,
        ("nurse_varberga", "Amina", "Yusuf"),
        (
            ("arabiska", 22),
            ("somaliska", 18),
            ("tigrinja", 10),
            ("dari", 10),
            ("kurdiska", 10),
            ("persiska", 5),
            ("polska", 5),
            ("svenska", 20),
        ),
    ),
    DemoCentre(
        OREBRO,
        "Mikaeli",
        3,
        _nurse("Mikaeli", "Hanna", "Ström"),
        (
            ("arabiska", 20),
            ("somaliska", 15),
            ("tigrinja", 10),
            ("dari", 12),
            ("kurdiska", 10),
            ("persiska", 8),
            ("svenska", 25),
        ),
    ),
    DemoCentre(
        OREBRO,
        "Brickebacken",
        4,
        _nurse("Brickebacken", "Fatima", "Ali"),
        (
            ("arabiska", 20),
            ("somaliska", 20),
            ("tigrinja", 12),
            ("dari", 8),
            ("kurdiska", 7),
            ("bosniska", 8),
            ("svenska", 25),
        ),
    ),
    DemoCentre(
        OREBRO,
        "Adolfsberg",
        5,
        _nurse("Adolfsberg", "Linnea", "Åberg"),
        (
            ("svenska", 55),
            ("arabiska", 12),
            ("polska", 10),
            ("persiska", 8),
            ("bosniska", 8),
            ("somaliska", 7),
        ),
    ),
    DemoCentre(
        OREBRO,
        "Tybble",
        6,
        _nurse("Tybble", "Jonas", "Falk"),
        (
            ("svenska", 45),
            ("arabiska", 15),
            ("somaliska", 10),
            ("dari", 10),
            ("tigrinja", 10),
            ("polska", 10),
        ),
    ),
    DemoCentre(
        LINKOPING,
        "Skäggetorp",
        1,
        ("nurse_skaggetorp", "Maria", "Sjöberg"),
        (
            ("arabiska", 25),
            ("somaliska", 25),
            ("tigrinja", 12),
            ("dari", 10),
            ("kurdiska", 10),
            ("persiska", 5),
            ("svenska", 13),
        ),
    ),
)

# Family language: (girls' names, boys' names, family names).
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "arabiska": (
        ("Maryam", "Noor", "Lina", "Jana", "Layla", "Hiba", "Rania", "Salma"),
        ("Omar", "Yousef", "Adam", "Ali", "Hamza", "Zain", "Karim", "Ibrahim"),
        ("Al-Hassan", "Haddad", "Khalil", "Mansour", "Saleh", "Abdullah", "Nasser", "Darwish"),
    ),
    "somaliska": (
        ("Hodan", "Ayaan", "Hamdi", "Sagal", "Ilhan", "Fadumo", "Nimco", "Ifrah"),
        ("Abdirahman", "Mohamed", "Yusuf", "Abdullahi", "Bilal", "Hassan", "Mahad", "Liban"),
        ("Warsame", "Abdi", "Farah", "Jama", "Osman", "Hirsi", "Mohamud", "Nur", "Aden"),
    ),
    "tigrinja": (
        ("Selam", "Senait", "Rahel", "Eden", "Hanna", "Saba", "Luwam", "Helen"),
        ("Yonas", "Filmon", "Daniel", "Natnael", "Robel", "Samuel", "Kidus", "Mikael"),
        ("Tesfay", "Haile", "Gebremedhin", "Berhane", "Tekle", "Kidane", "Mehari", "Woldu"),
    ),
    "dari": (
        ("Mina", "Parwana", "Sahar", "Zahra", "Marwa", "Nilofar", "Shabnam", "Mahsa"),
        ("Ahmad", "Farhad", "Omid", "Yasin", "Mustafa", "Jawad", "Sami", "Elyas"),
        ("Ahmadi", "Rahimi", "Karimi", "Hakimi", "Noori", "Sultani", "Haidari", "Amiri"),
    ),
    "persiska": (
        ("Darya", "Nazanin", "Parisa", "Yasmin", "Ava", "Setareh"),
        ("Arian", "Kian", "Ramin", "Dariush", "Arash", "Navid"),
        ("Hosseini", "Moradi", "Rostami", "Jafari", "Tehrani", "Sadeghi"),
    ),
    "kurdiska": (
        ("Rojin", "Berivan", "Hevi", "Delal", "Zilan", "Avin"),
        ("Azad", "Shvan", "Rebin", "Dilan", "Aram", "Baran"),
        ("Ahmed", "Mustafa", "Rashid", "Aziz", "Kaya", "Barzani"),
    ),
    "bosniska": (
        ("Lejla", "Emina", "Selma", "Amina", "Ajla", "Naida"),
        ("Amar", "Adnan", "Emir", "Tarik", "Harun", "Kenan"),
        ("Hodžić", "Begić", "Kovačević", "Mehmedović", "Hadžić", "Delić"),
    ),
    "polska": (
        ("Zofia", "Lena", "Zuzanna", "Maja", "Hanna", "Julia"),
        ("Jan", "Antoni", "Filip", "Kacper", "Szymon", "Jakub"),
        ("Nowak", "Wójcik", "Kaczmarek", "Mazur", "Krawczyk", "Zając"),
    ),
    "svenska": (
        ("Alva", "Elsa", "Maja", "Astrid", "Wilma", "Ebba", "Saga", "Vera", "Selma", "Alice"),
        ("Olle", "Hugo", "Nils", "Liam", "Ture", "Elias", "Melker", "Frans", "Sixten", "Harry"),
        (
            "Andersson",
            "Johansson",
            "Karlsson",
            "Nilsson",
            "Eriksson",
            "Larsson",
            "Olsson",
            "Persson",
            "Svensson",
            "Lindqvist",
        ),
    ),
}


@dataclass(frozen=True)
class Recent:
    """A child born `age_days` before the first seed, with open work whatever the day."""

    age_days: int
    accepted: bool = True
    missed: tuple[int, ...] = ()  # positions of closed slots left without a visit (overdue)


RECENT = (
    Recent(9),  # first visit due
    Recent(60),  # first visit done, 2 months due
    Recent(100, missed=(1,)),  # 2 months missed: overdue
    Recent(250),  # 8 months due, the earlier ones done
    Recent(20, accepted=False),  # offered, no answer yet
)
PROTECTED = {("Vivalla/Lundby", 2), ("Skäggetorp", 3)}  # (centre, recent child)
COORDINATION = {("Varberga", 1), ("Skäggetorp", 0)}  # samordningsnummer among the recent


@dataclass(frozen=True)
class _Candidate:
    key: str
    birth: datetime.date
    serial: int
    recent: Recent | None = None
    position: int = 0


def _uuid(*parts: object) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, "/".join(str(p) for p in parts))


def _rng(*parts: object) -> random.Random:
    # Demo data, not secrets: a seeded generator is the point (str seeds hash the same every run).
    return random.Random("/".join(str(p) for p in parts))  # noqa: S311 # nosec B311


def _identity(birth: datetime.date, serial: int, coordination: bool) -> str:
    """12 digits with century; Luhn over YYMMDDNNN; a samordningsnummer has day + 60."""
    day = birth.day + (60 if coordination else 0)
    ten = f"{birth:%y%m}{day:02d}{serial:03d}"
    return f"{birth:%Y%m}{day:02d}{serial:03d}{luhn_check_digit(ten)}"


def _candidates(dc: DemoCentre, today: datetime.date) -> list[_Candidate]:
    """The centre's children on `today`: the cohorts born until a week ago, and RECENT."""
    found = []
    for year in range(FIRST_COHORT, today.year + 1):
        # Birth dates and numbers depend on centre and year only, never on today.
        rng = _rng("cohort", dc.organisation, dc.name, year)
        births = sorted(
            datetime.date(year, 1, 2) + datetime.timedelta(days=rng.randrange(363))
            for _ in range(CHILDREN_PER_YEAR)
        )
        serials = rng.sample(range(10, 80), CHILDREN_PER_YEAR)
        for n, (birth, serial) in enumerate(zip(births, serials, strict=True)):
            if (today - birth).days >= MIN_AGE_DAYS:
                found.append(_Candidate(f"{year}-{n}", birth, dc.serial_block * 100 + serial))
    for n, recent in enumerate(RECENT):
        birth = today - datetime.timedelta(days=recent.age_days)
        found.append(_Candidate(f"recent-{n}", birth, dc.serial_block * 100 + 80 + n, recent, n))
    return found


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


class _Plan:
    """The rows one seed adds, written at the end with one bulk_create per model."""

    def __init__(
        self,
        today: datetime.date,
        slots: dict[uuid.UUID, list[TemplateSlot]],
        nurses: dict[uuid.UUID, User],
    ) -> None:
        self.today = today
        self.slots = slots  # template id -> its slots in programme order
        self.nurses = nurses  # centre id -> the demo nurse who logs its visits
        self.children: list[Child] = []
        self.enrolments: list[Enrolment] = []
        self.visits: list[Visit] = []
        self.numbers: dict[tuple[uuid.UUID, str], int] = {}  # visits so far per (enrolment, slot)

    # Enrolments ------------------------------------------------------------------------------
    def enrol(
        self,
        child: Child,
        centre: Centre,
        template: ProgrammeTemplate,
        *,
        key: int,
        offered_on: datetime.date,
        accepted_on: datetime.date | None,
        declined_on: datetime.date | None = None,
        terms: Enrolment,
    ) -> Enrolment:
        """An enrolment of `child` at `centre` with the plan and language of `terms`."""
        enrolment = Enrolment(
            id=_uuid("enrolment", child.pk, key),
            child=child,
            centre=centre,
            template=template,
            eligibility=list(terms.eligibility),
            programme=terms.programme,
            planned_slots=list(terms.planned_slots),
            language=terms.language,
            interpreter_needed=terms.interpreter_needed,
            offered_on=offered_on,
            accepted_on=accepted_on,
            declined_on=declined_on,
            created_by=self.nurses[centre.pk],
        )
        self.enrolments.append(enrolment)
        return enrolment

    def last_window_end(self, enrolment: Enrolment) -> datetime.date:
        birth = enrolment.child.birth_date
        return max(
            birth + _days(s.latest_age_days)
            for s in self.slots[enrolment.template_id]
            if enrolment.includes_slot(s.key)
        )

    def end(
        self,
        enrolment: Enrolment,
        ended_on: datetime.date,
        reason: str,
        moved_to: Centre | None = None,
    ) -> None:
        assert enrolment.accepted_on is not None
        assert enrolment.accepted_on <= ended_on <= self.today
        enrolment.ended_on = ended_on
        enrolment.end_reason = reason
        enrolment.moved_to = moved_to

    # Visits ----------------------------------------------------------------------------------
    def visits_for(
        self,
        rng: random.Random,
        enrolment: Enrolment,
        *,
        missed: Sequence[int] = (),
        certain: bool = False,
    ) -> None:
        """Visits of an accepted enrolment from acceptance to its end (or today). `certain`:
        every closed slot not in `missed` done, no open one (the RECENT children)."""
        assert enrolment.accepted_on is not None
        birth = enrolment.child.birth_date
        start = max(enrolment.accepted_on, birth)
        end = enrolment.ended_on or self.today
        for position, slot in enumerate(self.slots[enrolment.template_id]):
            if not enrolment.includes_slot(slot.key):
                continue
            opens, closes = slot.window(birth)
            low, high = max(opens, start), min(closes, end)
            if low > high:  # not yet open, or before the enrolment began or after it ended
                continue
            closed = closes < self.today
            if certain:
                done = closed and position not in missed
            else:
                done = rng.random() < (0.8 if closed else 0.45)
            if not done:
                if rng.random() < (0.6 if certain and closed else 0.35):
                    self.visit(rng, enrolment, slot, low + _days(rng.randint(0, (high - low).days)))
                continue
            day = birth + _days(slot.target_age_days + rng.randint(-7, 7))
            day = min(max(day, low), high)
            if closed and not certain and rng.random() < 0.12:
                day = min(closes + _days(rng.randint(1, 10)), end)  # a few days late
            if rng.random() < 0.12 and (day - low).days >= 3:
                earlier = day - _days(rng.randint(2, min(7, (day - low).days)))
                self.visit(rng, enrolment, slot, earlier)  # cancelled, then made
            self.visit(rng, enrolment, slot, day, completed=True)
        if not certain and rng.random() < 0.08 and start < end:
            # An extra visit outside the template (a worry between two slots).
            day = start + _days(rng.randint(0, (end - start).days))
            self.visit(rng, enrolment, None, day, completed=True)

    def visit(
        self,
        rng: random.Random,
        enrolment: Enrolment,
        slot: TemplateSlot | None,
        day: datetime.date,
        *,
        completed: bool = False,
    ) -> None:
        assert enrolment.child.birth_date <= day <= self.today
        key = slot.key if slot else ""
        place = (
            VisitPlace.HOME if slot is None or slot.place == SlotPlace.HOME else VisitPlace.CLINIC
        )
        number = self.numbers[(enrolment.pk, key)] = self.numbers.get((enrolment.pk, key), -1) + 1
        visit = Visit(
            id=_uuid("visit", enrolment.pk, key or "extra", number),
            enrolment=enrolment,
            centre_id=enrolment.centre_id,
            nurse=self.nurses[enrolment.centre_id],
            date=day,
            place=place,
            slot=key,
        )
        if not completed:
            visit.status = rng.choice([VisitStatus.CANCELLED, VisitStatus.NO_SHOW])
            self.visits.append(visit)
            return
        visit.status = VisitStatus.COMPLETED
        age = slot.target_age_days if slot else (day - enrolment.child.birth_date).days
        if place == VisitPlace.HOME and rng.random() < 0.04:
            place = visit.place = VisitPlace.OTHER  # e.g. at the open preschool
        if place == VisitPlace.CLINIC:
            social = rng.random() < 0.15
        else:
            ordinary = slot is not None and slot.kind == SlotKind.ORDINARY
            social = rng.random() < (0.65 if ordinary else 0.85)
        visit.social_services_present = social
        # Seed 004: every completed home visit with social services is coded ZV509.
        visit.kva_codes = [ZV509] if social and place == VisitPlace.HOME else []
        mode = InterpreterMode.NONE
        if enrolment.interpreter_needed and rng.random() < 0.93:
            mode = InterpreterMode(
                _pick(
                    rng,
                    [
                        (InterpreterMode.IN_PERSON, 45),
                        (InterpreterMode.PHONE, 40),
                        (InterpreterMode.VIDEO, 15),
                    ],
                )
            )
        visit.interpreter_mode = mode
        visit.interpreter_language = enrolment.language if mode != InterpreterMode.NONE else ""
        participants = []
        if age >= 240 and rng.random() < 0.3:
            participants.append(Participant.DENTAL)
        if age <= 20 and rng.random() < 0.3:
            participants.append(Participant.MATERNAL_HEALTH)
        if age >= 360 and rng.random() < 0.25:
            participants.append(Participant.PRESCHOOL)
        if mode != InterpreterMode.NONE:
            participants.append(Participant.INTERPRETER)
        if rng.random() < 0.03:
            participants.append(Participant.OTHER)
        visit.participants = [str(p) for p in participants]
        contacts = []
        if age >= 360 and rng.random() < 0.2:
            contacts.append(Contact.PRESCHOOL)
        if age <= 70 and rng.random() < 0.1:
            contacts.append(Contact.MATERNAL_HEALTH)
        if age >= 240 and rng.random() < 0.15:
            contacts.append(Contact.DENTAL)
        if rng.random() < 0.05:
            contacts.append(Contact.SOCIAL_SERVICES)
        visit.contacts_started = [str(c) for c in contacts]
        self.visits.append(visit)


def _demo_nurses(centres: dict[tuple[str, str], Centre]) -> dict[uuid.UUID, User]:
    """The nurse who logs each demo centre's visits: core's demo nurse where there is one, else
    a demo nurse `nurse_<centre>` made here (same demo password)."""
    existing = {
        u.username: u for u in User.objects.filter(username__in=[d.nurse[0] for d in DEMO_CENTRES])
    }
    password = None
    nurses = {}
    for dc in DEMO_CENTRES:
        centre = centres[(dc.organisation, dc.name)]
        username, first, last = dc.nurse
        user = existing.get(username)
        if user is None:
            password = password or make_password(DEMO_PASSWORD)
            user = User.objects.create(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@example.org",
                password=password,
            )
        Membership.objects.get_or_create(
            user=user, organisation_id=centre.organisation_id, role=Role.NURSE, centre=centre
        )
        nurses[centre.pk] = user
    return nurses


def _current(template: ProgrammeTemplate) -> ProgrammeTemplate:
    while template.superseded_by_id is not None:
        template = ProgrammeTemplate.objects.get(pk=template.superseded_by_id)
    return template


def seed(today: datetime.date | None = None) -> None:
    today = today or timezone.localdate()
    templates = {t.organisation_id: _current(t) for t in seed_templates()}
    organisations = {o.name: o for o in Organisation.objects.filter(name__in=[OREBRO, LINKOPING])}
    centres = {
        (c.organisation.name, c.name): c
        for c in Centre.objects.select_related("organisation").filter(
            organisation__in=organisations.values()
        )
    }
    slots: dict[uuid.UUID, list[TemplateSlot]] = {t.pk: [] for t in templates.values()}
    for slot in TemplateSlot.objects.filter(template__in=templates.values()).order_by(
        "target_age_days", "key"
    ):
        slots[slot.template_id].append(slot)
    plan = _Plan(today, slots, _demo_nurses(centres))

    candidates = [(dc, c) for dc in DEMO_CENTRES for c in _candidates(dc, today)]
    ids = {
        (dc.name, c.key): _uuid("child", dc.organisation, dc.name, c.key) for dc, c in candidates
    }
    existing = set(Child.objects.filter(id__in=ids.values()).values_list("id", flat=True))
    # A number someone registered by hand is never taken by a new demo child.
    taken = set(
        Child.objects.filter(organisation__in=organisations.values()).values_list(
            "organisation_id", "identity_type", "identity"
        )
    )
    for dc, candidate in candidates:
        child_id = ids[(dc.name, candidate.key)]
        if child_id not in existing:
            _child(plan, dc, candidate, child_id, taken, templates, centres)

    # Ids come from natural keys: a row that exists already is never written again.
    _insert(Child, plan.children)
    _insert(Enrolment, plan.enrolments)
    _insert(Visit, plan.visits)


def _insert(model: type[_M], rows: list[_M]) -> None:
    have = set(
        model._default_manager.filter(pk__in=[r.pk for r in rows]).values_list("pk", flat=True)
    )
    model._default_manager.bulk_create([r for r in rows if r.pk not in have], batch_size=1000)


def _child(
    plan: _Plan,
    dc: DemoCentre,
    candidate: _Candidate,
    child_id: uuid.UUID,
    taken: set[tuple[uuid.UUID, str, str]],
    templates: dict[uuid.UUID, ProgrammeTemplate],
    centres: dict[tuple[str, str], Centre],
) -> None:
    """One child with its enrolments and visits. The child's row depends on its key only (the
    first draws); its enrolment and visits also on the day of the seed that creates it."""
    rng = _rng("child", dc.organisation, dc.name, candidate.key)
    today, birth, recent = plan.today, candidate.birth, candidate.recent
    centre = centres[(dc.organisation, dc.name)]
    boy = candidate.serial % 2 == 1  # the birth number's last digit: odd for boys
    language = _pick(rng, dc.languages)
    girls, boys, families = NAMES[language]
    given_name = rng.choice(boys if boy else girls)
    if language != "svenska" and rng.random() < 0.12:
        given_name = rng.choice(NAMES["svenska"][1 if boy else 0])
    family_name = rng.choice(families)
    if recent is None:
        coordination, protected = rng.random() < 0.04, False
    else:
        coordination = (dc.name, candidate.position) in COORDINATION
        protected = (dc.name, candidate.position) in PROTECTED
    kind = IdentityType.SAMORDNINGSNUMMER if coordination else IdentityType.PERSONNUMMER
    identity = _identity(birth, candidate.serial, coordination)
    if (centre.organisation_id, kind.value, identity) in taken:
        return
    taken.add((centre.organisation_id, kind.value, identity))
    child = Child(
        id=child_id,
        organisation_id=centre.organisation_id,
        current_centre=centre,
        identity_type=kind.value,
        identity=identity,
        birth_date=birth,
        given_name=given_name,
        family_name=family_name,
        protected=protected,
    )
    plan.children.append(child)

    # The offer, often before birth through maternal health care, and the family's answer.
    template = templates[centre.organisation_id]
    age = (today - birth).days
    offered_on = min(birth + _days(rng.randint(-45, 1)), today)
    interpreter_needed = language != "svenska" and rng.random() < 0.65
    eligibility = []
    if rng.random() < 0.55:
        eligibility.append(Eligibility.FIRST_TIME_PARENTS.value)
    if language != "svenska" and rng.random() < 0.45:
        eligibility.append(Eligibility.FIRST_CHILD_IN_SWEDEN.value)
    if dc.organisation == OREBRO and rng.random() < 0.5:
        eligibility.append(Eligibility.RISK_FACTORS.value)
    if not eligibility:
        # Seed 003: the Linköping pilot took first-time parents and first children in Sweden.
        linkoping = dc.organisation == LINKOPING
        eligibility.append(
            Eligibility.FIRST_TIME_PARENTS.value
            if linkoping or rng.random() < 0.5
            else Eligibility.RISK_FACTORS.value
        )
    programme, planned_slots = Programme.FULL.value, []
    if recent is None and rng.random() < 0.15:
        keys = [s.key for s in plan.slots[template.pk]]
        chosen = set(rng.sample(keys, rng.randint(2, len(keys) - 2)))
        programme, planned_slots = Programme.PARTIAL.value, [k for k in keys if k in chosen]
    answer = rng.random()
    if recent is not None:
        state = "accepted" if recent.accepted else "offered"
    elif answer < 0.05:
        state = "declined"
    elif age <= 75 and answer < 0.25:
        state = "offered"
    else:
        state = "accepted"
    accepted_on = declined_on = None
    if state == "accepted":
        # Accepted by the first days of life, before the first visit can be made.
        slack = max(0, min(5, (birth + _days(2) - offered_on).days))
        accepted_on = offered_on + _days(rng.randint(0, slack))
    elif state == "declined":
        declined_on = min(offered_on + _days(rng.randint(1, 14)), today)
    terms = Enrolment(
        eligibility=eligibility,
        programme=programme,
        planned_slots=planned_slots,
        language=language,
        interpreter_needed=interpreter_needed,
    )
    enrolment = plan.enrol(
        child,
        centre,
        template,
        key=0,
        offered_on=offered_on,
        accepted_on=accepted_on,
        declined_on=declined_on,
        terms=terms,
    )
    if accepted_on is None:
        return
    if recent is not None:
        plan.visits_for(rng, enrolment, missed=recent.missed, certain=True)
        return

    # A few leave the programme early (moved within the organisation, or another reason);
    # the others are closed a few weeks after their last window.
    last = plan.last_window_end(enrolment)
    others = [
        centres[(d.organisation, d.name)]
        for d in DEMO_CENTRES
        if d.organisation == dc.organisation and d.name != dc.name
    ]
    leaves, moves = rng.random(), None
    latest_break = min(today, last)
    if leaves < 0.10 and (latest_break - accepted_on).days > 30:
        ended_on = accepted_on + _days(rng.randint(30, (latest_break - accepted_on).days))
        if leaves < 0.06 and others:
            moves = rng.choice(others)
            plan.end(enrolment, ended_on, EndReason.MOVED, moves)
            child.current_centre = moves
        else:
            plan.end(enrolment, ended_on, EndReason.OTHER)
    elif today > last + _days(30):
        plan.end(enrolment, last + _days(rng.randint(11, 30)), EndReason.COMPLETED)
    plan.visits_for(rng, enrolment)

    if moves is not None and enrolment.ended_on is not None and rng.random() < 0.75:
        # Most families who move are offered the programme again at the new centre.
        offered_again = enrolment.ended_on + _days(rng.randint(2, 21))
        if offered_again > today:
            return
        accepted_again = min(offered_again + _days(rng.randint(0, 5)), today)
        again = plan.enrol(
            child,
            moves,
            template,
            key=1,
            offered_on=offered_again,
            accepted_on=accepted_again,
            terms=terms,
        )
        if today > last + _days(30):
            closed_on = max(last + _days(rng.randint(11, 30)), accepted_again)
            plan.end(again, closed_on, EndReason.COMPLETED)
        plan.visits_for(rng, again)
