"""Retention (gallring, issue 24 items 4 and 5; visits.retention): children anonymised
CHILD_DATA_RETENTION_YEARS after their last day in the programme, with their history; the
access log outlives them; log rows are purged only past their period, the trigger holding a
floor of five years."""

from __future__ import annotations

import datetime
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from core.models import Centre, Organisation
from funding.models import VisitCompensation
from tests.core.factories import CentreFactory, OrganisationFactory
from tests.funding.test_ledger_lockdown import as_app_role, execute, refused
from tests.visits.factories import ChildFactory, EnrolmentFactory, log_visit, nurse_at
from visits.identity import identity_hash
from visits.models import (
    ACCESS_LOG_FLOOR_YEARS,
    AccessAction,
    AccessLog,
    Child,
    ImportStatus,
    Visit,
    VisitImport,
    VisitImportRow,
)
from visits.retention import (
    OrganisationCount,
    access_log_purge,
    retention_apply,
)
from visits.services import enrolment_end
from visits.tasks import apply_retention

ROOT = Path(__file__).resolve().parents[2]
STOCKHOLM = ZoneInfo("Europe/Stockholm")
TODAY = datetime.date(2026, 6, 15)  # cutoff with the default 10 years: 2016-06-15
KEPT_5_YEARS = "Cannot update or delete rows from visits_accesslog table (rows are kept 5 years)"


def events(model: str, **lookup: Any) -> list[dict[str, Any]]:
    return list(apps.get_model("visits", model)._default_manager.filter(**lookup).values())


def child_with_visits(centre: Centre, *, ended_on: datetime.date, family: str) -> Child:
    """A child born 2015-03-10 (or later), enrolled, visited twice, ended on `ended_on`."""
    child = ChildFactory(
        current_centre=centre,
        birth_date=datetime.date(2015, 3, 10),
        given_name="Alva",
        family_name=family,
    )
    enrolment = EnrolmentFactory(child=child, language="somaliska")
    nurse = nurse_at(centre)
    log_visit(enrolment, nurse, date=datetime.date(2015, 3, 20), slot="1-2w")
    log_visit(
        enrolment,
        nurse,
        date=datetime.date(2015, 5, 10),
        slot="2m",
        interpreter_mode="in_person",
        interpreter_language="somaliska",
    )
    enrolment_end(user=nurse, enrolment=enrolment, ended_on=ended_on, reason="completed")
    return child


@pytest.fixture
def alfa() -> Organisation:
    return OrganisationFactory(name="Region Alfa")


@pytest.fixture
def old(alfa: Organisation) -> Child:
    """Ended 11 years before TODAY: due."""
    centre = CentreFactory(organisation=alfa)
    return child_with_visits(centre, ended_on=datetime.date(2015, 6, 15), family="Gammal")


@pytest.fixture
def recent(old: Child) -> Child:
    """Ended 6 years before TODAY: kept."""
    child = ChildFactory(
        current_centre=old.current_centre,
        birth_date=datetime.date(2019, 1, 10),
        family_name="Nyare",
    )
    enrolment = EnrolmentFactory(child=child)
    enrolment_end(
        user=nurse_at(old.current_centre),
        enrolment=enrolment,
        ended_on=datetime.date(2020, 5, 31),
        reason="completed",
    )
    return child


@pytest.fixture
def declined() -> Child:
    """Another organisation's child whose family declined in 2014: due, no visits."""
    centre = CentreFactory(organisation=OrganisationFactory(name="Region Beta"))
    child = ChildFactory(current_centre=centre, birth_date=datetime.date(2014, 1, 20))
    EnrolmentFactory(
        child=child,
        offered_on=datetime.date(2014, 1, 25),
        accepted_on=None,
        declined_on=datetime.date(2014, 2, 1),
    )
    return child


def snapshot(child: Child) -> tuple[Any, ...]:
    child.refresh_from_db()
    return (
        child.identity_type,
        child.identity,
        child.identity_key,
        child.given_name,
        child.family_name,
        child.birth_date,
        child.anonymised_on,
    )


# --- Children ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_dry_run_counts_per_organisation_and_changes_nothing(
    old: Child, recent: Child, declined: Child
) -> None:
    before = [snapshot(c) for c in (old, recent, declined)]
    history = len(events("ChildEvent")), len(events("EnrolmentEvent")), len(events("VisitEvent"))
    logged = AccessLog.objects.count()

    result = retention_apply(today=TODAY, dry_run=True)

    assert result.cutoff == datetime.date(2016, 6, 15)
    assert result.years == 10
    assert result.organisations == [
        OrganisationCount(organisation="Region Alfa", children=1, enrolments=1, visits=2),
        OrganisationCount(organisation="Region Beta", children=1, enrolments=1, visits=0),
    ]
    assert [snapshot(c) for c in (old, recent, declined)] == before
    assert (
        len(events("ChildEvent")),
        len(events("EnrolmentEvent")),
        len(events("VisitEvent")),
    ) == history
    assert AccessLog.objects.count() == logged


@pytest.mark.django_db
def test_a_child_whose_programme_ended_11_years_ago_is_anonymised_with_its_history(
    old: Child,
) -> None:
    visits = list(
        Visit.objects.filter(enrolment__child=old)
        .order_by("date")
        .values_list("date", "slot", "status", "interpreter_language")
    )
    compensated = VisitCompensation.objects.filter(visit__enrolment__child=old).count()
    assert events("ChildEvent", pgh_obj_id=old.pk) != []
    assert events("VisitEvent", enrolment__child=old) != []

    result = retention_apply(today=TODAY, dry_run=False)

    assert result.organisations == [
        OrganisationCount(organisation="Region Alfa", children=1, enrolments=1, visits=2)
    ]
    hexid = old.pk.hex
    assert snapshot(old) == (
        "reservnummer",
        f"GALLRAD-{hexid}",
        f"gallrad-{hexid}",
        "",
        "",
        datetime.date(2015, 3, 1),
        TODAY,
    )
    assert old.protected is False
    assert old.enrolments.get().language == ""
    # History: only the anonymisation's own row is left, and it holds nothing of the child.
    child_history = events("ChildEvent", pgh_obj_id=old.pk)
    assert [(e["pgh_label"], e["identity"], e["family_name"]) for e in child_history] == [
        ("update", f"GALLRAD-{hexid}", "")
    ]
    assert events("ChildEvent", family_name="Gammal") == []
    assert [(e["pgh_label"], e["language"]) for e in events("EnrolmentEvent", child_id=old.pk)] == [
        ("update", "")
    ]
    assert events("VisitEvent", enrolment__child=old) == []
    # What the money and the reports count stays.
    assert (
        list(
            Visit.objects.filter(enrolment__child=old)
            .order_by("date")
            .values_list("date", "slot", "status", "interpreter_language")
        )
        == visits
    )
    assert visits == [
        (datetime.date(2015, 3, 20), "1-2w", "completed", ""),
        (datetime.date(2015, 5, 10), "2m", "completed", "somaliska"),
    ]
    assert VisitCompensation.objects.filter(visit__enrolment__child=old).count() == compensated
    assert compensated == 2


@pytest.mark.django_db
def test_the_journal_import_rows_of_an_anonymised_child_are_removed(
    old: Child, recent: Child
) -> None:
    """An import row keeps the child's masked identity (birth date) and the visit it named:
    anonymisation removes the child's rows; the import keeps its counts and other rows."""
    nurse = nurse_at(old.current_centre)
    visit_import = VisitImport.objects.create(
        organisation=old.organisation,
        centre=old.current_centre,
        created_by=nurse,
        file_name="export.csv",
        status=ImportStatus.COMMITTED,
        count_rows=2,
        count_duplicate=2,
    )
    for number, child in ((2, old), (3, recent)):
        VisitImportRow.objects.create(
            visit_import=visit_import,
            number=number,
            outcome="duplicate",
            reason="Besöket finns redan.",
            child=child,
            child_masked=child.masked,
            values={"date": "2015-03-20", "place": "home"},
        )

    retention_apply(today=TODAY, dry_run=False)

    assert list(visit_import.rows.values_list("number", "child_masked")) == [(3, recent.masked)]
    visit_import.refresh_from_db()
    assert (visit_import.count_rows, visit_import.count_duplicate) == (2, 2)


@pytest.mark.django_db
def test_the_access_log_rows_of_an_anonymised_child_stay_with_its_identity_hash(
    old: Child,
) -> None:
    original = identity_hash(old.identity_type, old.identity)

    retention_apply(today=TODAY, dry_run=False)

    rows = AccessLog.objects.filter(child_id=old.pk).order_by("id")
    assert [(r.username == "system", r.action, r.what) for r in rows] == [
        (False, AccessAction.CREATE, "visit"),
        (False, AccessAction.CREATE, "visit"),
        (False, AccessAction.UPDATE, "enrolment"),
        (True, AccessAction.UPDATE, "gallring"),
    ]
    assert {r.identity_hash for r in rows} == {original}
    last = rows.last()
    assert last is not None
    assert (last.user_id, last.care_unit) == (None, old.current_centre_id)


@pytest.mark.django_db
def test_recently_ended_and_open_enrolments_are_kept(old: Child, recent: Child) -> None:
    still_open = EnrolmentFactory(
        child=ChildFactory(birth_date=datetime.date(2013, 4, 1)),
        offered_on=datetime.date(2013, 4, 2),
        accepted_on=datetime.date(2013, 4, 2),
    ).child
    kept = [snapshot(recent), snapshot(still_open)]

    assert retention_apply(today=TODAY, dry_run=False).children == 1

    assert [snapshot(recent), snapshot(still_open)] == kept
    assert recent.family_name == "Nyare"
    assert recent.anonymised_on is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ended_on", "due"),
    [(datetime.date(2016, 6, 15), True), (datetime.date(2016, 6, 16), False)],
)
def test_a_child_is_due_on_the_day_ten_years_after_its_last_day(
    ended_on: datetime.date, due: bool
) -> None:
    child = child_with_visits(CentreFactory(), ended_on=ended_on, family="Gräns")
    assert retention_apply(today=TODAY, dry_run=False).children == (1 if due else 0)
    child.refresh_from_db()
    assert (child.family_name, child.anonymised_on) == (("", TODAY) if due else ("Gräns", None))


@pytest.mark.django_db
def test_a_second_run_finds_nothing_to_do(old: Child) -> None:
    assert retention_apply(today=TODAY, dry_run=False).children == 1
    assert retention_apply(today=TODAY, dry_run=False).organisations == []
    assert AccessLog.objects.filter(child_id=old.pk, what="gallring").count() == 1


@pytest.mark.django_db
def test_the_command_dry_run_prints_counts_not_children(old: Child, declined: Child) -> None:
    out = io.StringIO()
    with time_machine.travel(datetime.datetime(2026, 6, 15, 12, tzinfo=STOCKHOLM), tick=False):
        call_command("apply_retention", "--dry-run", stdout=out)
    assert out.getvalue().splitlines() == [
        "Barn vars sista dag i programmet var 2016-06-15 eller tidigare (10 år): 2 skulle gallras.",
        "  Region Alfa: 1 barn, 1 inskrivningar, 2 besök",
        "  Region Beta: 1 barn, 1 inskrivningar, 0 besök",
        "Torrkörning: inget har ändrats.",
    ]
    old.refresh_from_db()
    assert old.family_name == "Gammal"


@pytest.mark.django_db
def test_the_nightly_task_anonymises_the_children_due(settings: Any, old: Child) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["apply-retention"]["task"] == "visits.apply_retention"
    with time_machine.travel(datetime.datetime(2026, 6, 15, 3, tzinfo=STOCKHOLM), tick=False):
        assert apply_retention.apply().get() == 1
    old.refresh_from_db()
    assert old.anonymised_on == TODAY


@pytest.mark.django_db
def test_retention_below_the_floor_is_refused_by_the_services(settings: Any) -> None:
    settings.CHILD_DATA_RETENTION_YEARS = 9
    with pytest.raises(ImproperlyConfigured, match=r"CHILD_DATA_RETENTION_YEARS .* at least 10"):
        retention_apply(today=TODAY, dry_run=True)
    settings.ACCESS_LOG_RETENTION_YEARS = 4
    with pytest.raises(ImproperlyConfigured, match=r"ACCESS_LOG_RETENTION_YEARS .* at least 5"):
        access_log_purge(today=TODAY, dry_run=True)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ACCESS_LOG_RETENTION_YEARS", "4", "ACCESS_LOG_RETENTION_YEARS must be at least 5"),
        ("CHILD_DATA_RETENTION_YEARS", "9", "CHILD_DATA_RETENTION_YEARS must be at least 10"),
    ],
)
def test_settings_below_the_floor_fail_to_load(name: str, value: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_DEBUG": "1",
            "SECRET_KEY": "s",
            "DATABASE_URL": "postgres://u@h/db",
            name: value,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_the_settings_floor_is_the_databases_floor(settings: Any) -> None:
    assert settings.ACCESS_LOG_RETENTION_MIN_YEARS == ACCESS_LOG_FLOOR_YEARS == 5
    assert settings.ACCESS_LOG_RETENTION_YEARS == 5
    assert settings.CHILD_DATA_RETENTION_YEARS == 10


# --- Access log ----------------------------------------------------------------------------
def logged_at(moment: datetime.datetime, what: str) -> AccessLog:
    with time_machine.travel(moment, tick=False):
        return AccessLog.objects.create(username="nurse", action=AccessAction.READ, what=what)


@pytest.mark.django_db
def test_the_purge_removes_rows_before_the_cutoff_day_and_logs_itself() -> None:
    logged_at(datetime.datetime(2021, 6, 14, 23, 59, tzinfo=STOCKHOLM), "old")
    logged_at(datetime.datetime(2021, 6, 15, 0, 0, tzinfo=STOCKHOLM), "kept")
    out = io.StringIO()

    with time_machine.travel(datetime.datetime(2026, 6, 15, 12, tzinfo=STOCKHOLM), tick=False):
        call_command("purge_access_log", "--dry-run", stdout=out)
        assert AccessLog.objects.count() == 2
        call_command("purge_access_log", stdout=out)

    assert out.getvalue().splitlines() == [
        "Åtkomstloggen, rader före 2021-06-15 (5 år): 1 skulle tas bort.",
        "Torrkörning: inget har ändrats.",
        "Åtkomstloggen, rader före 2021-06-15 (5 år): 1 borttagna.",
    ]
    assert list(
        AccessLog.objects.order_by("id").values_list("username", "action", "child_id", "what")
    ) == [
        ("nurse", "read", None, "kept"),
        ("system", "update", None, "gallring: 1 rader före 2021-06-15"),
    ]


def insert_aged(years: int) -> int:
    """A log row written `years` years before the database's clock (the trigger's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO visits_accesslog (at, username, action, identity_hash, what)"
            " VALUES (now() - make_interval(years => %s), 'nurse', 'read', '', 'aged')"
            " RETURNING id",
            [years],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.django_db(transaction=True)
def test_the_trigger_lets_the_app_role_delete_only_rows_past_five_years() -> None:
    six, four = insert_aged(6), insert_aged(4)
    with as_app_role():
        execute(
            "SELECT set_config('pgtrigger.ignore', array_agg(tgname)::text, true)"
            " FROM pg_trigger WHERE tgname LIKE 'pgtrigger_%'"
        )
        with refused(KEPT_5_YEARS):
            execute("DELETE FROM visits_accesslog WHERE id = %s", [four])
        with refused(KEPT_5_YEARS):
            execute("UPDATE visits_accesslog SET what = 'changed' WHERE id = %s", [six])
        with refused("permission denied for table visits_accesslog"):
            execute("TRUNCATE visits_accesslog")
        execute("DELETE FROM visits_accesslog WHERE id = %s", [six])
        assert list(AccessLog.objects.values_list("id", flat=True)) == [four]


@pytest.mark.django_db(transaction=True)
def test_the_purge_runs_as_the_app_role_and_keeps_a_four_year_old_row() -> None:
    six, four = insert_aged(6), insert_aged(4)
    with as_app_role():
        result = access_log_purge(today=timezone.localdate(), dry_run=False)
        assert result.rows == 1
        remaining = list(AccessLog.objects.order_by("id").values_list("id", "what"))
        assert remaining[0] == (four, "aged")
        assert [what for _, what in remaining[1:]] == [
            f"gallring: 1 rader före {result.cutoff:%Y-%m-%d}"
        ]
        assert six not in [pk for pk, _ in remaining]


@pytest.mark.django_db
def test_an_anonymised_child_is_in_no_nurses_list_and_its_page_is_gone(
    old: Child, api_client_for: Any
) -> None:
    nurse = nurse_at(old.current_centre)
    client = api_client_for(nurse)
    listed = client.get("/api/v1/children/")
    assert [c["id"] for c in listed.json()["results"]] == [str(old.pk)]
    retention_apply(today=TODAY, dry_run=False)
    assert client.get("/api/v1/children/").json()["results"] == []
    assert client.get(f"/api/v1/children/{old.pk}/").status_code == 404
