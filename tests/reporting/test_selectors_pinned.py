"""The report selectors pinned on hand-made data (issue 23, item 5): every count of the
programme's activity and details, and every sum of the accounts, is asserted as a literal, so
that counting one figure as another, dropping a filter or moving a boundary by a day changes a
number. The data differ on purpose: no two counts that a mistake could swap are equal.

The programme of 2025 (organisation O: Alby, Berga, Citadell; the Örebro template of seed 004;
"today" is 1 February 2026). Completed visits of the year:

    visit  centre  date        place   slot  social  participants        interpreter           contacts
    c1     Alby    2025-01-01  home    1-2w  yes     dental, preschool   in person "Arabiska"  all four
    c2     Alby    2025-02-14  home    2m    no      dental              in person " arabiska"  preschool, mhv, dental
    c3     Alby    2025-02-20  clinic  2m    yes     dental              phone "Somaliska"     preschool, mhv
    c4     Alby    2025-06-01  home    8m    yes     preschool           in person "ARABISKA"  preschool
    c5     Berga   2025-06-15  home    8m    no      maternal health     phone "somaliska"
    c6     Berga   2025-12-31  home    8m    yes                         video "Tigrinja"
    c7     Berga   2025-07-07  other   –     no
    c8     Alby    2025-11-30  home    –     no
    c9     Berga   2025-12-01  home    –     no

Not counted: completed visits on 2024-12-31 and 2026-01-01, a cancelled and a no-show visit in
2025 (with interpreter, participants and contacts), Citadell's cancelled visit, and a completed
visit of another organisation.
"""  # noqa: E501

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
import time_machine

from core.models import Centre, Organisation, Partner, Role, User
from funding import ledger
from funding.compensation import StatementRow, month_pay
from funding.models import CompensationRule, Grant, LedgerTransaction
from reporting.selectors import (
    BasisReach,
    CentreCni,
    CentrePlan,
    Completion,
    GrantRecord,
    LanguageCount,
    MonthCount,
    RatePeriod,
    RecipientLine,
    Repayment,
    SlotCount,
    VisitSplit,
    centre_account,
    centre_plan,
    grant_account,
    grant_record,
    programme_activity,
    programme_details,
    rates_in_year,
    reach_by_basis,
    share,
    shown,
)
from reporting.selectors.activity import _group_small_languages
from tests.core.factories import CentreFactory, OrganisationFactory, PartnerFactory, member
from tests.funding.factories import cni
from tests.visits.factories import ChildFactory, EnrolmentFactory, log_visit, nurse_at
from visits.models import Enrolment, Visit
from visits.services import visit_update

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 2, 1, 12, 0, tzinfo=datetime.UTC)
RISK, FIRST_TIME, FIRST_IN_SWEDEN = "risk_factors", "first_time_parents", "first_child_in_sweden"
SLOT_LABELS = [
    ("1-2w", "1–2 veckor"),
    ("2m", "2 månader"),
    ("4m", "4 månader"),
    ("8m", "8 månader"),
    ("12m", "12 månader"),
    ("15m", "15 månader"),
]


def d(year: int, month: int, day: int) -> datetime.date:
    return datetime.date(year, month, day)


@pytest.fixture(autouse=True)
def _after_the_data() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def family(
    centre: Centre,
    *,
    born: datetime.date,
    offered: datetime.date,
    accepted: datetime.date | None = None,
    declined: datetime.date | None = None,
    ended: datetime.date | None = None,
    reason: str = "",
    basis: list[str] | None = None,
) -> Enrolment:
    return EnrolmentFactory(
        child=ChildFactory(current_centre=centre, birth_date=born),
        offered_on=offered,
        accepted_on=accepted,
        declined_on=declined,
        ended_on=ended,
        end_reason=reason,
        eligibility=basis or [FIRST_TIME],
    )


_nurses: dict[object, User] = {}


def seen(
    enrolment: Enrolment,
    day: datetime.date,
    *,
    place: str = "home",
    slot: str = "",
    social: bool = False,
    participants: tuple[str, ...] = (),
    mode: str = "none",
    language: str = "",
    contacts: tuple[str, ...] = (),
    status: str = "completed",
) -> Visit:
    return log_visit(
        enrolment,
        nurse_at(enrolment.centre),
        date=day,
        place=place,
        slot=slot,
        status=status,
        social_services_present=social,
        participants=list(participants),
        interpreter_mode=mode,
        interpreter_language=language,
        contacts_started=list(contacts),
    )


@dataclass
class Programme:
    org: Organisation
    alby: Centre
    berga: Centre
    citadell: Centre


ALL_CONTACTS = ("preschool", "maternal_health", "dental", "social_services")


def seen_with_everything(enrolment: Enrolment, day: datetime.date, slot: str) -> Visit:
    """A completed joint home visit with every participant, an interpreter and every contact."""
    return seen(
        enrolment,
        day,
        slot=slot,
        social=True,
        participants=("dental", "preschool", "maternal_health"),
        mode="video",
        language="tigrinja",
        contacts=ALL_CONTACTS,
    )


@pytest.fixture
def programme() -> Programme:
    org = OrganisationFactory()
    alby = CentreFactory(organisation=org, name="Alby")
    berga = CentreFactory(organisation=org, name="Berga")
    citadell = CentreFactory(organisation=org, name="Citadell")
    # Enrolled the year before and all through 2025 (in the cohort: born + 486 days ≤ 2025-12-31).
    a1 = family(alby, born=d(2024, 6, 1), offered=d(2024, 6, 5), accepted=d(2024, 6, 5))
    # Offered and accepted on 1 January.
    a2 = family(alby, born=d(2025, 1, 1), offered=d(2025, 1, 1), accepted=d(2025, 1, 1))
    # Offered in 2024, accepted in 2025.
    b1 = family(
        berga,
        born=d(2024, 6, 1),
        offered=d(2024, 12, 20),
        accepted=d(2025, 2, 3),
        basis=[RISK, FIRST_IN_SWEDEN],
    )
    b2 = family(berga, born=d(2024, 6, 1), offered=d(2024, 6, 5), accepted=d(2024, 6, 5))
    c1 = family(citadell, born=d(2024, 12, 1), offered=d(2024, 12, 30), accepted=d(2025, 1, 2))
    # Declined in 2025; another declined on the last day of 2024, one on New Year's Day 2026.
    family(alby, born=d(2025, 4, 1), offered=d(2025, 5, 1), declined=d(2025, 5, 3), basis=[RISK])
    family(alby, born=d(2024, 11, 1), offered=d(2024, 12, 1), declined=d(2024, 12, 31))
    family(berga, born=d(2025, 12, 1), offered=d(2026, 1, 1), declined=d(2026, 1, 1))
    # Ended in 2025 for each reason (completed is not an early end), and on either side of it.
    for centre, ended, reason in (
        (alby, d(2025, 1, 1), "moved"),
        (berga, d(2025, 12, 31), "moved"),
        (berga, d(2025, 8, 1), "declined"),
        (alby, d(2025, 9, 9), "other"),
        (alby, d(2025, 4, 15), "completed"),
        (berga, d(2024, 12, 31), "deceased"),
        (alby, d(2026, 1, 1), "deceased"),
    ):
        family(
            centre,
            born=d(2024, 10, 1),
            offered=d(2024, 10, 5),
            accepted=d(2024, 10, 5),
            ended=ended,
            reason=reason,
        )

    seen(
        a1,
        d(2025, 1, 1),
        slot="1-2w",
        social=True,
        participants=("dental", "preschool", "interpreter"),
        mode="in_person",
        language="Arabiska",
        contacts=ALL_CONTACTS,
    )
    seen(
        a1,
        d(2025, 2, 14),
        slot="2m",
        participants=("dental",),
        mode="in_person",
        language=" arabiska ",
        contacts=("preschool", "maternal_health", "dental"),
    )
    seen(
        a2,
        d(2025, 2, 20),
        place="clinic",
        slot="2m",
        social=True,
        participants=("dental",),
        mode="phone",
        language="Somaliska",
        contacts=("preschool", "maternal_health"),
    )
    seen(
        a1,
        d(2025, 6, 1),
        slot="8m",
        social=True,
        participants=("preschool",),
        mode="in_person",
        language="ARABISKA",
        contacts=("preschool",),
    )
    seen(
        b1,
        d(2025, 6, 15),
        slot="8m",
        participants=("maternal_health",),
        mode="phone",
        language="somaliska",
    )
    seen(b2, d(2025, 12, 31), slot="8m", social=True, mode="video", language="Tigrinja")
    seen(b1, d(2025, 7, 7), place="other")
    seen(a2, d(2025, 11, 30))
    seen(b1, d(2025, 12, 1))
    # Outside the year, or not completed, or elsewhere: never counted.
    seen_with_everything(a1, d(2024, 12, 31), "12m")
    seen_with_everything(b1, d(2026, 1, 1), "12m")
    for status in ("cancelled", "no_show"):
        seen(
            a1,
            d(2025, 4, 4),
            slot="4m",
            status=status,
            social=True,
            participants=("dental", "preschool", "maternal_health"),
            mode="in_person",
            language="arabiska",
            contacts=ALL_CONTACTS,
        )
    seen(c1, d(2025, 3, 3), slot="2m", status="cancelled")
    elsewhere = CentreFactory(name="Annanstans")
    outsider = family(elsewhere, born=d(2025, 1, 1), offered=d(2025, 1, 1), accepted=d(2025, 1, 1))
    seen_with_everything(outsider, d(2025, 3, 3), "2m")
    return Programme(org=org, alby=alby, berga=berga, citadell=citadell)


# --- programme_activity -------------------------------------------------------------------------
def test_the_activity_of_the_year_counts_each_figure_on_its_own(programme: Programme) -> None:
    a = programme_activity(programme.org.pk, 2025)

    # Offered: a2 and the declined family of 2025. Accepted: a2, b1 (offered in 2024), c1.
    # Enrolled: a1 a2 b1 b2 c1 and the six ended in 2025 or on 1 January 2026.
    assert (a.year, a.offered, a.accepted, a.children_enrolled) == (2025, 2, 3, 11)
    assert (a.completed_visits, a.home_visits) == (9, 7)
    assert (a.home_with_social_services, a.with_social_services) == (3, 4)
    assert a.interpreter_visits == 6
    assert a.interpreter_by_mode == {"in_person": 3, "phone": 2, "video": 1}
    assert (a.with_dental, a.with_preschool, a.with_maternal_health) == (3, 2, 1)
    assert a.contacts_started == {
        "preschool": 4,
        "maternal_health": 3,
        "dental": 2,
        "social_services": 1,
    }
    assert a.per_slot == [
        SlotCount(key="1-2w", label="1–2 veckor", visits=1),
        SlotCount(key="2m", label="2 månader", visits=2),
        SlotCount(key="4m", label="4 månader", visits=0),
        SlotCount(key="8m", label="8 månader", visits=3),
        SlotCount(key="12m", label="12 månader", visits=0),
        SlotCount(key="15m", label="15 månader", visits=0),
    ]
    assert a.extra_visits == 3
    assert a.per_month == [
        MonthCount(month=1, with_social_services=1, without_social_services=0),
        MonthCount(month=2, with_social_services=0, without_social_services=1),
        *(MonthCount(m, 0, 0) for m in (3, 4, 5)),
        MonthCount(month=6, with_social_services=1, without_social_services=1),
        *(MonthCount(m, 0, 0) for m in (7, 8, 9, 10)),
        MonthCount(month=11, with_social_services=0, without_social_services=1),
        MonthCount(month=12, with_social_services=1, without_social_services=1),
    ]
    assert a.centres == ["Alby", "Berga"]
    assert a.social_services_share == "–"  # 3 of 7: the part is small
    assert dataclasses.replace(a, home_with_social_services=6).social_services_share == "85,7 %"


def test_the_activity_of_some_centres_counts_only_theirs(programme: Programme) -> None:
    a = programme_activity(programme.org.pk, 2025, iter([programme.alby.pk]))

    assert (a.offered, a.accepted, a.children_enrolled) == (2, 1, 6)
    assert (a.completed_visits, a.home_visits, a.home_with_social_services) == (5, 4, 2)
    assert (a.with_social_services, a.interpreter_visits) == (3, 4)
    assert a.interpreter_by_mode == {"in_person": 3, "phone": 1, "video": 0}
    assert (a.with_dental, a.with_preschool, a.with_maternal_health) == (3, 2, 0)
    assert [(s.key, s.visits) for s in a.per_slot] == [
        ("1-2w", 1),
        ("2m", 2),
        ("4m", 0),
        ("8m", 1),
        ("12m", 0),
        ("15m", 0),
    ]
    assert a.extra_visits == 1
    assert [
        (m.month, m.with_social_services, m.without_social_services)
        for m in a.per_month
        if (m.with_social_services or m.without_social_services)
    ] == [(1, 1, 0), (2, 0, 1), (6, 1, 0), (11, 0, 1)]
    assert a.centres == ["Alby"]


def test_a_centre_without_completed_visits_counts_its_reach_only(programme: Programme) -> None:
    a = programme_activity(programme.org.pk, 2025, [programme.citadell.pk])

    assert (a.offered, a.accepted, a.children_enrolled) == (0, 1, 1)
    assert (a.completed_visits, a.extra_visits, a.centres) == (0, 0, [])


def test_the_years_either_side_count_their_own_visits(programme: Programme) -> None:
    before = programme_activity(programme.org.pk, 2024)
    after = programme_activity(programme.org.pk, 2026)

    assert (before.completed_visits, before.home_with_social_services, before.centres) == (
        1,
        1,
        ["Alby"],
    )
    assert [(s.key, s.visits) for s in before.per_slot if s.visits] == [("12m", 1)]
    assert (after.completed_visits, after.with_dental, after.centres) == (1, 1, ["Berga"])
    assert after.per_month[0] == MonthCount(
        month=1, with_social_services=1, without_social_services=0
    )


def test_the_latest_templates_label_and_age_order_the_slots() -> None:
    """A new template version renames a slot and moves it: the report follows the latest."""
    from tests.visits.factories import ProgrammeTemplateFactory

    org = OrganisationFactory()
    ProgrammeTemplateFactory(organisation=org, version=1)
    ProgrammeTemplateFactory(
        organisation=org,
        version=2,
        slots=[
            ("2m", "Åtta veckor", "extra", "home", 56, 42, 70),
            ("1-2w", "Nyfödd", "ordinary", "home", 70, 60, 80),
            ("3y", "Tre år", "extra", "home", 1095, 1000, 1200),
        ],
    )

    a = programme_activity(org.pk, 2025)

    assert [(s.key, s.label) for s in a.per_slot] == [
        ("2m", "Åtta veckor"),
        ("1-2w", "Nyfödd"),
        ("4m", "4 månader"),
        ("8m", "8 månader"),
        ("12m", "12 månader"),
        ("15m", "15 månader"),
        ("3y", "Tre år"),
    ]


# --- reach_by_basis -----------------------------------------------------------------------------
def test_reach_by_basis_of_the_programme_and_of_one_centre(programme: Programme) -> None:
    # Offered in 2025: a2 (first-time) and the declined family (risk). Accepted: a2, c1
    # (first-time) and b1 (risk, first in Sweden).
    assert reach_by_basis(programme.org.pk, 2025) == [
        BasisReach(basis=RISK, label="Kända riskfaktorer", offered=1, accepted=1),
        BasisReach(basis=FIRST_TIME, label="Förstagångsföräldrar", offered=1, accepted=2),
        BasisReach(basis=FIRST_IN_SWEDEN, label="Första barnet i Sverige", offered=0, accepted=1),
    ]
    berga = reach_by_basis(programme.org.pk, 2025, [programme.berga.pk])
    assert [(r.offered, r.accepted) for r in berga] == [
        (0, 1),
        (0, 0),
        (0, 1),
    ]


# --- programme_details --------------------------------------------------------------------------
def test_the_details_split_complete_depart_and_name_the_languages(programme: Programme) -> None:
    cni(programme.alby, value="2.75", reference_date=d(2025, 12, 31), source="SCB 2025")
    details = programme_details(programme.org.pk, 2025)

    # 1-2w and 8m are ordinary slots of the template, 2m extra; c7 c8 c9 have no slot.
    assert details.year == 2025
    assert details.split == VisitSplit(ordinary=4, extra_slots=2, outside_template=3)
    assert details.split.extra == 5
    assert details.slot_kinds == {
        "1-2w": "ordinary",
        "2m": "extra",
        "4m": "extra",
        "8m": "ordinary",
        "12m": "extra",
        "15m": "extra",
    }
    assert details.by_basis == reach_by_basis(programme.org.pk, 2025)
    # Visited: a1, a2, b1, b2. Cohort: a1, b1 and b2 (born 2024-06-01); none visited at every
    # slot.
    assert details.completion == Completion(
        completed_visits=9, children_visited=4, cohort=3, completed_all=0
    )
    assert details.departures.declined == 1
    assert details.departures.ended_early == [
        ("flyttade", 2),
        ("avböjde fortsatt deltagande", 1),
        ("barnet avled", 0),
        ("annan orsak", 1),
    ]
    # Arabiska 3, Somaliska 2, Tigrinja 1: each under five, together six.
    assert details.interpreter_languages == [
        LanguageCount(language="Övriga språk", visits=6, languages=3)
    ]
    assert details.centres == [
        CentreCni(
            name="Alby",
            child_cni=Decimal("2.75"),
            reference_date=d(2025, 12, 31),
            source="SCB 2025",
        ),
        CentreCni(name="Berga", child_cni=None, reference_date=None, source=""),
    ]


def test_the_details_of_one_centre(programme: Programme) -> None:
    details = programme_details(programme.org.pk, 2025, [programme.berga.pk])

    assert details.split == VisitSplit(ordinary=2, extra_slots=0, outside_template=2)
    assert details.completion == Completion(
        completed_visits=4, children_visited=2, cohort=2, completed_all=0
    )
    assert details.departures.declined == 0
    assert details.departures.ended_early == [
        ("flyttade", 1),
        ("avböjde fortsatt deltagande", 1),
        ("barnet avled", 0),
        ("annan orsak", 0),
    ]
    assert [c.name for c in details.centres] == ["Berga"]
    assert details.by_basis == reach_by_basis(programme.org.pk, 2025, [programme.berga.pk])


def test_languages_are_counted_as_written_whatever_the_case_and_spaces() -> None:
    x = CentreFactory()
    enrolment = family(x, born=d(2025, 1, 1), offered=d(2025, 1, 1), accepted=d(2025, 1, 1))
    languages = [
        *["Arabiska", " arabiska", "ARABISKA ", "arabiska", "Arabiska", "arabiska"],
        *["dari", "Dari", "DARI", "dari ", "Dari"],
        *["", "", "", "", ""],
        *["persiska", "Persiska"],
    ]
    for i, language in enumerate(languages):
        seen(enrolment, d(2025, 1, 2) + datetime.timedelta(days=i), mode="phone", language=language)
    seen(enrolment, d(2025, 3, 1), language="")  # no interpreter: not counted

    details = programme_details(x.organisation_id, 2025)

    # Most visits first, then by name ("" first): Dari (5) joins Persiska (2), the smallest.
    assert details.interpreter_languages == [
        LanguageCount(language="Arabiska", visits=6),
        LanguageCount(language="Språk ej angivet", visits=5),
        LanguageCount(language="Övriga språk", visits=7, languages=2),
    ]


# --- The small-number rules, pure ---------------------------------------------------------------
@pytest.mark.parametrize(("n", "expected"), [(0, "0"), (1, "<5"), (4, "<5"), (5, "5"), (12, "12")])
def test_shown_hides_one_to_four(n: int, expected: str) -> None:
    assert shown(n) == expected


def test_share_is_a_swedish_percentage_of_counts_not_small() -> None:
    assert share(6, 16) == "37,5 %"
    assert share(5, 0) == "–"
    assert share(4, 10) == "–"


def L(language: str, visits: int) -> LanguageCount:
    return LanguageCount(language=language, visits=visits)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], []),
        ([L("A", 9), L("B", 5)], [L("A", 9), L("B", 5)]),
        # One small language joins the smallest shown one, so that neither can be had back.
        (
            [L("A", 9), L("B", 6), L("C", 2)],
            [L("A", 9), LanguageCount(language="Övriga språk", visits=8, languages=2)],
        ),
        # A single visit in another language is hidden too.
        (
            [L("A", 9), L("B", 1)],
            [LanguageCount(language="Övriga språk", visits=10, languages=2)],
        ),
        # Small languages that together reach five stand on their own as a group.
        (
            [L("A", 9), L("B", 3), L("C", 2)],
            [L("A", 9), LanguageCount(language="Övriga språk", visits=5, languages=2)],
        ),
        # Still under five with every shown language joined: one group of all.
        (
            [L("A", 1), L("B", 1)],
            [LanguageCount(language="Övriga språk", visits=2, languages=2)],
        ),
        (
            [L("A", 7), L("B", 4)],
            [LanguageCount(language="Övriga språk", visits=11, languages=2)],
        ),
    ],
)
def test_small_languages_are_grouped_until_the_group_is_not_small(
    rows: list[LanguageCount], expected: list[LanguageCount]
) -> None:
    assert _group_small_languages(rows) == expected


@pytest.mark.parametrize(
    ("completed", "children", "expected"),
    [
        (15, 6, "2,5"),
        (10, 6, "1,7"),
        (10, 5, "2,0"),
        (5, 5, "1,0"),
        (20, 4, "–"),
        (4, 5, "–"),
        (0, 0, "–"),
    ],
)
def test_visits_per_child_has_one_decimal_and_hides_small_counts(
    completed: int, children: int, expected: str
) -> None:
    completion = Completion(
        completed_visits=completed, children_visited=children, cohort=0, completed_all=0
    )
    assert completion.visits_per_child == expected


def test_the_completed_share_is_of_the_cohort() -> None:
    assert (
        Completion(completed_visits=0, children_visited=0, cohort=8, completed_all=6)
    ).completed_share == "75,0 %"


# --- The money in the reports (accounts) ------------------------------------------------------
def at_noon(day: datetime.date) -> time_machine.travel:
    return time_machine.travel(
        datetime.datetime(day.year, day.month, day.day, 12, tzinfo=datetime.UTC), tick=False
    )


@pytest.fixture
def money() -> tuple[Organisation, User, Grant, Centre, Centre, Partner]:
    org = OrganisationFactory()
    finance = member(Role.FINANCE, organisation=org)
    alby = CentreFactory(organisation=org, name="Alby")
    berga = CentreFactory(organisation=org, name="Berga")
    dental = PartnerFactory(organisation=org, name="Folktandvården")
    with at_noon(d(2026, 1, 5)):
        grant = ledger.grant_create(
            user=finance,
            organisation=org,
            funder="socialstyrelsen",
            reference="26RS1",
            year=2026,
            amount=Decimal("100000"),
            received_on=d(2026, 1, 5),
            use_by=d(2026, 12, 31),
            report_due=d(2027, 3, 1),
            requisitioned_on=d(2026, 1, 2),
        )
    return org, finance, grant, alby, berga, dental


def test_the_grant_account_by_category_and_by_recipient(money) -> None:
    org, finance, grant, alby, berga, dental = money
    with at_noon(d(2026, 3, 1)):
        ledger.allocation_post(user=finance, grant=grant, recipient=alby, amount=Decimal("20000"))
        wrong = ledger.allocation_post(
            user=finance, grant=grant, recipient=berga, amount=Decimal("10000")
        )
        ledger.reversal_post(user=finance, grant=grant, original=wrong, reason="Fel BVC")
        ledger.allocation_post(user=finance, grant=grant, recipient=dental, amount=Decimal("8000"))
        for recipient_type, recipient_id, category, amount in (
            ("centre", alby.pk, "fixed", "5000"),
            ("centre", alby.pk, "fixed", "250.50"),
            ("partner", dental.pk, "partner_transfer", "3000"),
            ("organisation", org.pk, "coordination", "1200"),
        ):
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type=recipient_type,
                recipient_id=recipient_id,
                category=category,
                amount=Decimal(amount),
                date=d(2026, 3, 1),
            )

    account = grant_account(grant)

    assert account.paid_by_category == {
        "programme_variable": Decimal("0.00"),
        "fixed": Decimal("5250.50"),
        "partner_transfer": Decimal("3000.00"),
        "coordination": Decimal("1200.00"),
    }
    assert account.recipients == [
        RecipientLine("centre", "Alby", Decimal("20000.00"), Decimal("5250.50")),
        RecipientLine("centre", "Berga", Decimal("0.00"), Decimal("0.00")),
        RecipientLine("partner", "Folktandvården", Decimal("8000.00"), Decimal("3000.00")),
    ]
    assert account.used == account.figures.paid_out == Decimal("9450.50")
    assert account.figures.balance == Decimal("90549.50")


def test_the_grant_record_lists_repayments_by_date_and_the_years_rates(money) -> None:
    org, finance, grant, _alby, _berga, _dental = money
    CompensationRule.objects.create(
        organisation=org,
        valid_from=d(2023, 1, 1),
        programme_variable=Decimal("2500"),
        ordinary=Decimal("1800"),
    )
    with at_noon(d(2026, 3, 2)):
        later = ledger.repayment_post(
            user=finance, grant=grant, amount=Decimal("1000"), date=d(2026, 3, 1), reference="F-2"
        )
        ledger.repayment_post(
            user=finance, grant=grant, amount=Decimal("500.25"), date=d(2026, 2, 1), reference="F-1"
        )
        ledger.reversal_post(user=finance, grant=grant, original=later, reason="Fel faktura")

    record = grant_record(grant)

    assert record.requisitioned_on == d(2026, 1, 2)
    assert record.repayments == [
        Repayment(date=d(2026, 2, 1), reference="F-1", amount=Decimal("500.25"), reversed=False),
        Repayment(date=d(2026, 3, 1), reference="F-2", amount=Decimal("1000.00"), reversed=True),
    ]
    assert record.settled_next_year == []
    assert record.settled_next_year_total == Decimal("0.00")
    assert record.rates == [
        RatePeriod(d(2026, 1, 1), d(2026, 12, 31), Decimal("2500.00"), Decimal("1800.00"))
    ]


def test_the_rates_of_a_year_are_cut_to_its_days() -> None:
    org = OrganisationFactory()
    for valid_from, pv in (
        (d(2023, 1, 1), "2500"),
        (d(2026, 1, 1), "2600"),
        (d(2026, 6, 1), "2700"),
        (d(2026, 12, 31), "2800"),
        (d(2027, 1, 1), "2900"),
    ):
        CompensationRule.objects.create(
            organisation=org, valid_from=valid_from, programme_variable=Decimal(pv), ordinary=pv
        )
    other = OrganisationFactory()
    CompensationRule.objects.create(
        organisation=other, valid_from=d(2026, 3, 1), programme_variable=1, ordinary=1
    )

    assert [
        (r.valid_from, r.valid_to, r.programme_variable) for r in rates_in_year(org.pk, 2026)
    ] == [
        (d(2026, 1, 1), d(2026, 5, 31), Decimal("2600.00")),
        (d(2026, 6, 1), d(2026, 12, 30), Decimal("2700.00")),
        (d(2026, 12, 31), d(2026, 12, 31), Decimal("2800.00")),
    ]
    assert rates_in_year(org.pk, 2025) == [
        RatePeriod(d(2025, 1, 1), d(2025, 12, 31), Decimal("2500.00"), Decimal("2500.00"))
    ]
    assert [(r.valid_from, r.valid_to) for r in rates_in_year(org.pk, 2027)] == [
        (d(2027, 1, 1), d(2027, 12, 31))
    ]
    assert rates_in_year(org.pk, 2022) == []
    assert [(r.valid_from, r.valid_to) for r in rates_in_year(other.pk, 2026)] == [
        (d(2026, 3, 1), d(2026, 12, 31))
    ]


def test_a_centres_account_sums_its_statements_of_the_year(money) -> None:
    org, finance, grant, alby, berga, _dental = money
    CompensationRule.objects.create(
        organisation=org,
        valid_from=d(2023, 1, 1),
        programme_variable=Decimal("2500"),
        ordinary=Decimal("1800"),
    )
    child = ChildFactory(current_centre=alby, birth_date=d(2025, 6, 1))
    enrolment = EnrolmentFactory(child=child)
    other = EnrolmentFactory(child=ChildFactory(current_centre=berga, birth_date=d(2025, 6, 1)))
    with at_noon(d(2026, 9, 1)):
        changed = seen(enrolment, d(2026, 8, 3), social=True)
        seen(other, d(2026, 8, 4), social=True)
        seen(enrolment, d(2025, 12, 30), social=True)
        month_pay(user=finance, grant=grant, year=2026, month=8)
        visit_update(
            user=changed.nurse,
            visit=changed,
            changes={"social_services_present": False},
            adjustment=True,
        )
        seen(enrolment, d(2026, 9, 1), social=True)
        seen(enrolment, d(2026, 9, 1), place="clinic")
    with at_noon(d(2026, 9, 2)):
        seen(enrolment, d(2026, 9, 2))

    account = centre_account(alby, 2026)

    # Visits: 3 August (2 500 kr paid, now 1 800 kr: −2 500 kr in September), 1 and 2
    # September; the clinic visit earns nothing.
    assert (account.centre, account.year, account.compensated_visits) == ("Alby", 2026, 3)
    assert (account.programme_variable, account.ordinary, account.adjustments) == (
        Decimal("5000.00"),
        Decimal("3600.00"),
        Decimal("-2500.00"),
    )
    assert account.compensation_total == Decimal("6100.00")
    assert account.activity.completed_visits == 4
    assert account.settled_next_year == []
    assert (account.fixed_allocated, account.fixed_paid, account.fixed_grants) == (
        Decimal("0.00"),
        Decimal("0.00"),
        [],
    )


def test_settled_next_year_totals_add_the_rows() -> None:
    def settled(amount: str) -> StatementRow:
        return StatementRow(
            centre_id=uuid.uuid4(),
            centre_name="A",
            month=d(2026, 12, 1),
            visits=0,
            programme_variable=Decimal("0.00"),
            ordinary=Decimal("0.00"),
            adjustments=Decimal(amount),
            locked=False,
            settled_in=d(2027, 1, 1),
        )

    rows = [settled("-2500.00"), settled("700.00")]
    record = GrantRecord(requisitioned_on=None, repayments=[], settled_next_year=rows, rates=[])
    assert record.settled_next_year_total == Decimal("-1800.00")


def test_the_plan_against_what_was_done_in_its_period_and_the_templates_order() -> None:
    from funding.applications import application_withdraw
    from tests.reporting.test_report_contents import approved
    from tests.visits.factories import SLOTS, ProgrammeTemplateFactory

    org = OrganisationFactory()
    centre = CentreFactory(organisation=org, name="Vivalla")
    # A second version of the template renames the 2-month visit: the plan names the slots by
    # the latest version, in the template's order.
    ProgrammeTemplateFactory(organisation=org, version=1)
    ProgrammeTemplateFactory(
        organisation=org,
        version=2,
        slots=[
            ("2m", "Åtta veckor", *slot[2:4], 56, 42, 70) if slot[0] == "2m" else slot
            for slot in SLOTS
        ],
    )
    app = approved(
        centre,
        effective_from=d(2026, 4, 1),
        planned_visits=40,
        programme="partial",
        planned_slots=["12m", "2m"],
        nurse_hours_per_week=Decimal("7.5"),
        target_families="Förstagångsföräldrar",
        start_date=d(2026, 2, 1),
    )
    with at_noon(d(2026, 10, 15)):
        # `approved()` keeps the applicant on the application it returns.
        application_withdraw(user=app._manager, application=app)  # type: ignore[attr-defined]
    enrolment = family(
        centre, born=d(2025, 6, 1), offered=d(2026, 1, 10), accepted=d(2026, 1, 12), basis=[RISK]
    )
    elsewhere = family(  # another centre's family of the year: not in this plan's reach
        CentreFactory(organisation=org),
        born=d(2025, 6, 1),
        offered=d(2026, 1, 3),
        accepted=d(2026, 1, 3),
        basis=[RISK, FIRST_TIME],
    )
    with at_noon(d(2026, 11, 20)):
        seen(enrolment, d(2025, 12, 31), slot="8m")  # the year before
        seen(enrolment, d(2026, 3, 31), slot="2m")  # before the period
        seen(enrolment, d(2026, 4, 1), place="clinic")  # in it, not at home
        seen(enrolment, d(2026, 4, 2), slot="12m")  # the first home visit in it
        seen(enrolment, d(2026, 6, 1), slot="15m", status="cancelled")
        seen(enrolment, d(2026, 10, 14))  # its last day
        seen(enrolment, d(2026, 10, 15), slot="4m")  # the day of the withdrawal
        seen(elsewhere, d(2026, 5, 5), slot="1-2w")

    plan = centre_plan(centre, 2026)

    assert plan == CentrePlan(
        fixed_from=d(2026, 4, 1),
        fixed_until=d(2026, 10, 14),
        withdrawn_on=d(2026, 10, 15),
        planned_visits=40,
        nurse_hours_per_week=Decimal("7.5"),
        target_families="Förstagångsföräldrar",
        programme="partial",
        programme_label="Delar av programmet",
        planned_slots=["Åtta veckor", "12 månader"],
        start_date=d(2026, 2, 1),
        home_visits=4,
        home_visits_fixed=2,
        first_home_visit=d(2026, 4, 2),
        slots_visited=["Åtta veckor", "4 månader", "12 månader"],
        offered_by_basis=[
            BasisReach(basis=RISK, label="Kända riskfaktorer", offered=1, accepted=1),
            BasisReach(basis=FIRST_TIME, label="Förstagångsföräldrar", offered=0, accepted=0),
            BasisReach(
                basis=FIRST_IN_SWEDEN, label="Första barnet i Sverige", offered=0, accepted=0
            ),
        ],
    )
    assert centre_plan(centre, 2025) is None
    assert centre_plan(elsewhere.centre, 2026) is None


def test_a_centres_fixed_compensation_is_what_the_years_fixed_allocations_hold() -> None:
    from funding.allocation import fixed_reference
    from tests.funding.test_month_edges import make_grant

    org = OrganisationFactory()
    finance = member(Role.FINANCE, organisation=org)
    alby = CentreFactory(organisation=org, name="Alby")
    last_year = make_grant(org, finance, year=2025, reference="25RS1")
    regional = make_grant(org, finance, reference="26REG")
    national = make_grant(org, finance, reference="26ABC")

    def allocate(grant: Grant, amount: str, purpose: str) -> None:
        ledger.allocation_post(
            user=finance, grant=grant, recipient=alby, amount=Decimal(amount), purpose=purpose
        )

    def pay_fixed(grant: Grant, amount: str, day: datetime.date) -> None:
        ledger.payout_post(
            user=finance,
            grant=grant,
            recipient_type="centre",
            recipient_id=alby.pk,
            category="fixed",
            amount=Decimal(amount),
            date=day,
        )

    with at_noon(d(2025, 6, 1)):
        allocate(last_year, "10000", fixed_reference(2025))
        pay_fixed(last_year, "3000", d(2025, 6, 1))
    with at_noon(d(2026, 2, 1)):
        allocate(regional, "20000", fixed_reference(2026))
        pay_fixed(regional, "5000", d(2026, 2, 1))
        allocate(national, "4000", fixed_reference(2026))
        allocate(national, "500", fixed_reference(2026))  # a top-up posted by hand
        allocate(national, "1000", "Utbildning")
        # A reversal's reason is free text: one that reads like the purpose of the year's fixed
        # allocations does not make the reversed commitment a fixed one.
        training = LedgerTransaction.objects.get(grant=national, reference="Utbildning")
        ledger.reversal_post(
            user=finance, grant=national, original=training, reason=fixed_reference(2026)
        )

    this_year = centre_account(alby, 2026)
    before = centre_account(alby, 2025)

    # No visits: the compensation is zero kronor, as money (Decimal), not the integer 0.
    money_fields = (
        this_year.programme_variable,
        this_year.ordinary,
        this_year.adjustments,
        this_year.compensation_total,
        this_year.settled_next_year_total,
    )
    assert [str(amount) for amount in money_fields] == ["0.00"] * 5
    # Each grant that holds an allocation of the year is named once.
    assert (this_year.fixed_allocated, this_year.fixed_paid, this_year.fixed_grants) == (
        Decimal("24500.00"),
        Decimal("5000.00"),
        ["26ABC", "26REG"],
    )
    assert (before.fixed_allocated, before.fixed_paid, before.fixed_grants) == (
        Decimal("10000.00"),
        Decimal("3000.00"),
        ["25RS1"],
    )
