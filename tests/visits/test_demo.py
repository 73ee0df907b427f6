"""The demo's children, enrolments and visits (API.md, "Demo data"): enough real work for the
worklist and the reports, every rule of DOMAIN.md 3 kept, and idempotent."""

import datetime
from collections import Counter

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import F, Max, Min
from django.utils import timezone

from core import demo as core_demo
from core.models import Membership, Role, User
from visits import demo as visits_demo
from visits.identity import normalise_identity
from visits.models import (
    ZV509,
    Child,
    Enrolment,
    InterpreterMode,
    Participant,
    Visit,
    VisitPlace,
    VisitStatus,
)
from visits.selectors import ScheduleStatus, worklist

pytestmark = pytest.mark.django_db

CENTRES = [
    "Vivalla/Lundby",
    "Varberga",
    "Mikaeli",
    "Brickebacken",
    "Adolfsberg",
    "Tybble",
    "Skäggetorp",
]


def _counts() -> dict[str, int]:
    counts = {
        model._meta.label: model.objects.count()
        for model in apps.get_app_config("visits").get_models()
    }
    return {**counts, "users": User.objects.count(), "memberships": Membership.objects.count()}


def test_each_demo_centre_has_a_few_dozen_enrolled_children(demo):
    for name in CENTRES:
        enrolled = (
            Child.objects.filter(
                enrolments__centre__name=name, enrolments__accepted_on__isnull=False
            )
            .distinct()
            .count()
        )
        assert enrolled >= 25, name
        assert Child.objects.filter(enrolments__centre__name=name).distinct().count() < 80, name


def test_the_nurse_at_vivalla_has_due_and_overdue_slots(demo):
    nurse = User.objects.get(username="nurse_vivalla")
    rows = list(worklist(nurse, today=timezone.localdate()))
    statuses = Counter(row.status for row in rows)
    assert statuses[ScheduleStatus.DUE] >= 2
    assert statuses[ScheduleStatus.OVERDUE] >= 1
    assert {row.centre.name for row in rows} == {"Vivalla/Lundby"}


def test_every_demo_centre_has_open_work_for_its_nurse(demo):
    today = timezone.localdate()
    for name in CENTRES:
        nurse = User.objects.get(memberships__role=Role.NURSE, memberships__centre__name=name)
        statuses = {row.status for row in worklist(nurse, today=today)}
        assert statuses == {ScheduleStatus.DUE, ScheduleStatus.OVERDUE}, name


def test_visits_run_from_2023_until_today_within_their_enrolment(demo):
    today = timezone.localdate()
    span = Visit.objects.aggregate(first=Min("date"), last=Max("date"))
    assert span["first"].year == 2023
    assert today - datetime.timedelta(days=30) <= span["last"] <= today
    visits = Visit.objects.all()
    assert not visits.filter(date__lt=F("enrolment__child__birth_date")).exists()
    assert not visits.filter(date__lt=F("enrolment__accepted_on")).exists()
    assert not visits.filter(date__gt=F("enrolment__ended_on")).exists()
    assert not visits.filter(enrolment__accepted_on__isnull=True).exists()
    assert not visits.exclude(centre=F("enrolment__centre")).exists()


def test_visits_keep_the_rules_of_domain_3(demo):
    completed = Visit.objects.filter(status=VisitStatus.COMPLETED)
    joint_home = completed.filter(place=VisitPlace.HOME, social_services_present=True)
    assert joint_home.count() > 100
    assert not joint_home.exclude(kva_codes__contains=[ZV509]).exists()
    assert not Visit.objects.filter(
        kva_codes__contains=[ZV509], social_services_present=False
    ).exists()
    assert completed.filter(place=VisitPlace.HOME, social_services_present=False).exists()
    assert completed.filter(place=VisitPlace.CLINIC).exists()
    assert completed.filter(slot="").exists()  # extra visits outside the template
    not_made = Visit.objects.exclude(status=VisitStatus.COMPLETED)
    assert set(not_made.values_list("status", flat=True)) == {
        VisitStatus.CANCELLED,
        VisitStatus.NO_SHOW,
    }
    assert not not_made.exclude(kva_codes=[]).exists()

    with_interpreter = Visit.objects.exclude(interpreter_mode=InterpreterMode.NONE)
    assert with_interpreter.count() > 50
    assert not with_interpreter.filter(enrolment__interpreter_needed=False).exists()
    assert not with_interpreter.exclude(interpreter_language=F("enrolment__language")).exists()
    assert not Visit.objects.filter(
        interpreter_mode=InterpreterMode.NONE, participants__contains=[Participant.INTERPRETER]
    ).exists()
    for participant in (Participant.DENTAL, Participant.MATERNAL_HEALTH, Participant.PRESCHOOL):
        assert completed.filter(participants__contains=[participant]).exists()
    assert completed.exclude(contacts_started=[]).exists()
    assert completed.filter(date__gt=F("enrolment__child__birth_date") + 17).exists()


def test_at_most_one_completed_visit_per_slot_and_only_planned_slots(demo):
    pairs = Counter(
        Visit.objects.filter(status=VisitStatus.COMPLETED)
        .exclude(slot="")
        .values_list("enrolment_id", "slot")
    )
    assert max(pairs.values()) == 1
    for enrolment in Enrolment.objects.filter(programme="partial").prefetch_related("visits"):
        assert enrolment.planned_slots
        assert {v.slot for v in enrolment.visits.all() if v.slot} <= set(enrolment.planned_slots)


def test_visits_are_logged_by_a_nurse_of_their_centre(demo):
    logged = set(Visit.objects.values_list("nurse_id", "centre_id").distinct())
    nurses = set(Membership.objects.filter(role=Role.NURSE).values_list("user_id", "centre_id"))
    assert logged <= nurses
    assert len({centre for _, centre in logged}) == len(CENTRES)


def test_demo_nurses_of_the_other_centres_log_in_with_the_demo_password(demo):
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    login = RequestFactory().post("/accounts/login/")  # the lockout backend needs a request
    for username in ("nurse_mikaeli", "nurse_brickebacken", "nurse_adolfsberg", "nurse_tybble"):
        assert authenticate(login, username=username, password=core_demo.DEMO_PASSWORD) is not None


def test_skaggetorp_children_follow_linkopings_template(demo):
    skaggetorp = Enrolment.objects.filter(centre__name="Skäggetorp")
    assert set(skaggetorp.values_list("template__name", flat=True)) == {
        visits_demo.LINKOPING_TEMPLATE
    }
    others = Enrolment.objects.exclude(centre__name="Skäggetorp")
    assert set(others.values_list("template__name", flat=True)) == {visits_demo.OREBRO_TEMPLATE}
    assert Visit.objects.filter(centre__name="Skäggetorp", slot="m1", place="clinic").exists()


def test_identities_are_valid_unique_and_children_born_from_2023(demo):
    today = timezone.localdate()
    children = list(Child.objects.select_related("current_centre"))
    for child in children:
        parsed = normalise_identity(child.identity_type, child.identity, today=today)
        assert parsed.value == child.identity
        assert parsed.birth_date == child.birth_date
        assert child.current_centre.organisation_id == child.organisation_id
        assert child.given_name and child.family_name
    kinds = Counter(child.identity_type for child in children)
    assert kinds["samordningsnummer"] >= 2
    assert 2 <= sum(child.protected for child in children) <= 5
    births = [child.birth_date for child in children]
    assert min(births) < datetime.date(2023, 4, 1)
    assert today - datetime.timedelta(days=21) <= max(births) <= today


def test_enrolments_show_every_state_and_plan(demo):
    enrolments = Enrolment.objects.all()
    assert enrolments.filter(accepted_on__isnull=True, declined_on__isnull=True).exists()
    assert enrolments.filter(declined_on__isnull=False).exists()
    assert enrolments.active().count() > 50
    for reason in ("completed", "moved", "other"):
        assert enrolments.filter(end_reason=reason).exists(), reason
    for moved in enrolments.filter(end_reason="moved").select_related("child"):
        assert moved.moved_to.organisation_id == moved.child.organisation_id
        assert moved.moved_to_id != moved.centre_id
        assert moved.child.current_centre_id == moved.moved_to_id
    assert enrolments.filter(programme="partial").exclude(planned_slots=[]).exists()
    assert enrolments.filter(interpreter_needed=True).exists()
    languages = set(enrolments.values_list("language", flat=True))
    assert {"arabiska", "somaliska", "tigrinja", "dari", "svenska"} <= languages
    eligibility = {basis for e in enrolments for basis in e.eligibility}
    assert eligibility == {"first_time_parents", "first_child_in_sweden", "risk_factors"}


def test_a_second_seed_the_same_day_changes_no_counts(demo):
    before = _counts()
    call_command("seed_demo", verbosity=0)
    assert _counts() == before


def test_a_seed_on_a_later_day_keeps_the_children_and_adds_only_new_births():
    core_demo.seed()
    today = timezone.localdate()
    earlier = today - datetime.timedelta(days=150)
    visits_demo.seed(today=earlier)
    first = {c.pk: (c.identity, c.birth_date) for c in Child.objects.all()}
    first_visits = set(Visit.objects.values_list("pk", "date"))
    assert max(date for _, date in first_visits) <= earlier

    visits_demo.seed(today=today)
    after = {c.pk: (c.identity, c.birth_date) for c in Child.objects.all()}
    assert {pk: after[pk] for pk in first} == first
    new = set(after) - set(first)
    assert new
    assert all(after[pk][1] > earlier - datetime.timedelta(days=7) for pk in new)
    assert first_visits <= set(Visit.objects.values_list("pk", "date"))
