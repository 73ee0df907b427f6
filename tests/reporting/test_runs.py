"""The report-run machinery as plain functions (reporting.services, reporting.runs,
reporting.tasks).

Renderers are replaced by a fake one here: the real ones are tested with their own modules."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import psycopg
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, OperationalError, transaction
from django.utils import timezone

from core.exceptions import Conflict
from core.models import Role
from funding import ledger
from funding.models import Application, ApplicationStatus
from reporting import liveness, renderers, runs, selectors, services, tasks
from reporting.models import NarrativeVersion, ReportRun, RunStatus
from reporting.narratives import SECTIONS
from reporting.renderers import Rendered
from reporting.subjects import Subject
from tests.core.factories import CentreFactory, OrganisationFactory, member

pytestmark = pytest.mark.django_db
D = datetime.date


# --- Shared set-up (imported by the other report tests) ----------------------------------------
class FakeRenderer:
    """Stands in for reporting.renderers.renderer_for(kind): records its calls; `fail_with`
    makes the next calls raise (a list: one exception per call, then success)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.fail_with: list[BaseException] = []

    def __call__(self, kind: str):  # renderer_for
        def render(run: ReportRun, narratives):
            self.calls.append((str(run.pk), kind, dict(narratives)))
            if self.fail_with:
                raise self.fail_with.pop(0)
            return Rendered(f"%PDF fake {kind} {run.year}".encode(), "application/pdf", "pdf")

        return render


@pytest.fixture
def fake_renderer(monkeypatch, settings, tmp_path):
    settings.REPORT_STORE = tmp_path / "reports"
    fake = FakeRenderer()
    monkeypatch.setattr(renderers, "renderer_for", fake)
    return fake


@pytest.fixture
def eager_celery():
    """Tasks run in the calling process, as without REDIS_URL (also when CI sets one)."""
    from config.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = saved


@pytest.fixture
def no_enqueue(monkeypatch):
    """The task's `delay`, recorded instead of run."""
    delay = mock.Mock()
    monkeypatch.setattr(tasks.run_report, "delay", delay)
    return delay


@contextmanager
def lock_held_elsewhere(run_id) -> Iterator[None]:
    """The run's liveness lock held by another database session: a live attempt in another
    worker process (advisory locks are re-entrant within one session, so not this one)."""
    from django.db import connection

    s = connection.settings_dict
    with psycopg.connect(
        dbname=s["NAME"],
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        key = [liveness.LOCK_SPACE, liveness.lock_key(run_id)]
        other.execute("SELECT pg_advisory_lock(%s, %s)", key)
        yield
        # Explicitly: a closed session's server process ends (and frees its locks) a moment
        # after the client has gone, which the next line of a test would race.
        other.execute("SELECT pg_advisory_unlock(%s, %s)", key)


@pytest.fixture
def org():
    return OrganisationFactory(name="Region Örebro län")


@pytest.fixture
def other_org():
    return OrganisationFactory(name="Linköpings kommun")


@pytest.fixture
def finance(org):
    return member(Role.FINANCE, organisation=org)


@pytest.fixture
def cbhv(org):
    return member(Role.CBHV, organisation=org)


@pytest.fixture
def centre(org):
    return CentreFactory(organisation=org, name="Varberga")


@pytest.fixture
def other_centre(org):
    return CentreFactory(organisation=org, name="Mikaeli")


@pytest.fixture
def manager(centre):
    return member(Role.CENTRE_MANAGER, centre=centre)


@pytest.fixture
def nurse(centre):
    return member(Role.NURSE, centre=centre)


def make_grant(org, by, *, reference="23RS9581", funder="socialstyrelsen", year=2023):
    return ledger.grant_create(
        user=by,
        organisation=org,
        funder=funder,
        reference=reference,
        year=year,
        amount=Decimal("1349000.00"),
        received_on=D(year, 3, 1),
        use_by=D(year, 12, 31),
        report_due=D(year + 1, 3, 1),
    )


@pytest.fixture
def grant(org, finance):
    return make_grant(org, finance)


def close(grant, by):
    """The grant closed by finance: its Socialstyrelsen report may then be submitted."""
    ledger.grant_close(user=by, grant=grant)
    grant.refresh_from_db()
    return grant


def write_sections(user, kind, organisation, year, *, grant=None, centre=None):
    """Every narrative section of the report written (a report is submitted only then)."""
    services.narrative_save(
        user=user,
        subject=Subject(kind, organisation, year, grant=grant, centre=centre),
        texts={key: f"{heading}: skrivet." for key, heading in SECTIONS[kind]},
    )


def fixed_compensation(centre, year, by):
    """An approved application as the services leave one: the centre had fixed compensation."""
    return Application.objects.create(
        centre=centre,
        year=year,
        status=ApplicationStatus.APPROVED,
        approved=True,
        decided_at=timezone.now(),
        decided_by=by,
        effective_from=D(year, 1, 1),
        nurse_hours_per_week=Decimal("8.0"),
        social_services_contacted=False,
        planned_visits=10,
        programme="full",
        target_families="Alla",
        start_date=D(year, 1, 1),
        transport="car",
        created_by=by,
    )


def request_and_run(user, kind, year, **subject):
    """Request, then run the task body as the worker would (after commit)."""
    run, _created = services.report_request(user=user, kind=kind, year=year, **subject)
    runs.run_report_body(str(run.pk))
    run.refresh_from_db()
    return run


# --- Requesting and enqueueing -----------------------------------------------------------------
def test_the_task_is_enqueued_after_commit_with_the_run_id_only(
    finance, grant, no_enqueue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run, created = services.report_request(
            user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
        )
        assert not no_enqueue.called  # not before commit
    assert created and run.status == RunStatus.QUEUED
    assert len(callbacks) == 1
    callbacks[0]()
    no_enqueue.assert_called_once_with(str(run.pk))


def test_nothing_is_enqueued_when_the_transaction_rolls_back(
    finance, grant, no_enqueue, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.report_request(user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk)
        raise RuntimeError("rolled back")
    assert callbacks == []
    assert not no_enqueue.called
    assert not ReportRun.objects.exists()


def test_an_identical_request_while_active_gets_that_run_and_after_done_a_new_one(
    finance, cbhv, grant, fake_renderer, no_enqueue
):
    first, created = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    again, created_again = services.report_request(
        user=cbhv, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    assert created and not created_again and again.pk == first.pk
    assert runs.run_report_body(first.pk) == runs.Outcome.DONE
    newer, created_newer = services.report_request(
        user=cbhv, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    assert created_newer and newer.pk != first.pk
    assert ReportRun.objects.count() == 2


def test_losing_the_race_on_the_active_index_returns_the_winners_run(
    finance, grant, no_enqueue, monkeypatch
):
    winner, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    real = selectors.active_run
    calls = []

    def not_yet_visible(subject):
        calls.append(subject)
        return None if len(calls) == 1 else real(subject)  # the other insert not seen at first

    monkeypatch.setattr(selectors, "active_run", not_yet_visible)
    run, created = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    assert (run.pk, created) == (winner.pk, False)
    assert ReportRun.objects.count() == 1


def test_a_failed_run_can_be_tried_again(finance, grant, fake_renderer, no_enqueue):
    fake_renderer.fail_with = [Conflict("Bidraget saknar uppgifter.")]
    failed = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    assert failed.status == RunStatus.FAILED
    retried, created = services.report_retry(user=finance, run=failed)
    assert created and retried.pk != failed.pk and retried.status == RunStatus.QUEUED


# --- Validation and roles ----------------------------------------------------------------------
def errors_of(exc_info) -> dict[str, list[str]]:
    return exc_info.value.message_dict


def test_grant_reports_need_a_grant_in_scope_of_the_right_funder_and_year(
    org, other_org, finance, grant, no_enqueue
):
    other = make_grant(other_org, member(Role.FINANCE, organisation=other_org), reference="X1")
    skl = make_grant(org, finance, reference="SKL-1", funder="skl", year=2023)
    cases = [
        ({}, "grant"),
        ({"grant": other.pk}, "grant"),  # another organisation's grant: 400, not 404
        ({"grant": skl.pk}, "grant"),  # not from Socialstyrelsen
        ({"grant": grant.pk, "centre": CentreFactory(organisation=org).pk}, "centre"),
    ]
    for subject, field in cases:
        with pytest.raises(ValidationError) as exc:
            services.report_request(user=finance, kind="socialstyrelsen", year=2023, **subject)
        assert field in errors_of(exc), subject
    with pytest.raises(ValidationError) as exc:
        services.report_request(user=finance, kind="socialstyrelsen", year=2024, grant=grant.pk)
    assert "year" in errors_of(exc)
    with pytest.raises(ValidationError) as exc:
        services.report_request(user=finance, kind="nonsense", year=2023)
    assert "kind" in errors_of(exc)
    assert not ReportRun.objects.exists()


def test_the_halsoval_account_needs_a_centre_with_fixed_compensation_that_year(
    org, finance, cbhv, centre, other_centre, manager, no_enqueue
):
    fixed_compensation(centre, 2025, by=cbhv)
    with pytest.raises(ValidationError) as exc:
        services.report_request(user=manager, kind="halsoval", year=2024, centre=centre.pk)
    assert "centre" in errors_of(exc)
    # A manager's request for another centre is a 400 on centre (an id outside her scope).
    fixed_compensation(other_centre, 2025, by=cbhv)
    with pytest.raises(ValidationError) as exc:
        services.report_request(user=manager, kind="halsoval", year=2025, centre=other_centre.pk)
    assert "centre" in errors_of(exc)
    run, created = services.report_request(
        user=manager, kind="halsoval", year=2025, centre=centre.pk
    )
    assert created and run.organisation == org and run.centre == centre
    run2, _ = services.report_request(
        user=finance, kind="halsoval", year=2025, centre=other_centre.pk
    )
    assert run2.centre == other_centre


def test_roles(org, finance, cbhv, manager, nurse, grant, no_enqueue):
    for user in (nurse, member(Role.LOG_REVIEWER, organisation=org)):
        with pytest.raises(PermissionDenied):
            services.report_request(user=user, kind="finance_xlsx", year=2023)
    with pytest.raises(PermissionDenied):  # a centre manager: only her centre's account
        services.report_request(user=manager, kind="socialstyrelsen", year=2023, grant=grant.pk)
    for user in (finance, cbhv):
        run, _ = services.report_request(user=user, kind="finance_xlsx", year=2023)
        assert run.organisation == org and run.grant is None and run.centre is None


def test_finance_exports_ask_for_the_organisation_when_the_user_has_several(
    org, other_org, finance, no_enqueue
):
    member(Role.FINANCE, organisation=other_org, user=finance)
    finance.__dict__.pop("scope", None)
    with pytest.raises(ValidationError) as exc:
        services.report_request(user=finance, kind="finance_csv", year=2023)
    assert "organisation" in errors_of(exc)
    run, _ = services.report_request(
        user=finance, kind="finance_csv", year=2023, organisation=other_org.pk
    )
    assert run.organisation == other_org


# --- The task body -----------------------------------------------------------------------------
def test_the_body_renders_stores_and_records_the_file(finance, grant, fake_renderer, no_enqueue):
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    content = b"%PDF fake socialstyrelsen 2023"
    assert run.status == RunStatus.DONE
    assert run.file_name == f"{run.pk}.pdf"
    assert run.size == len(content) and run.content_type == "application/pdf"
    assert (run.started_at and run.finished_at) and run.attempts == 1 and run.error == ""
    from reporting import storage

    assert storage.read(run.file_name) == content
    import hashlib

    assert run.sha256 == hashlib.sha256(content).hexdigest()


def test_the_body_is_idempotent(finance, grant, fake_renderer, no_enqueue, settings):
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    sha, finished = run.sha256, run.finished_at
    assert runs.run_report_body(str(run.pk)) == runs.Outcome.SKIPPED
    assert tasks.run_report.apply(args=[str(run.pk)]).get() == runs.Outcome.SKIPPED
    run.refresh_from_db()
    assert (run.sha256, run.finished_at, run.attempts) == (sha, finished, 1)
    assert len(fake_renderer.calls) == 1
    assert [p.name for p in settings.REPORT_STORE.iterdir()] == [f"{run.pk}.pdf"]
    # Unknown or malformed ids do nothing either.
    assert runs.run_report_body("not-a-uuid") == runs.Outcome.SKIPPED
    assert runs.run_report_body("00000000-0000-0000-0000-000000000000") == "skipped"


def test_a_run_running_in_another_live_attempt_is_left_alone_however_old(
    finance, grant, fake_renderer, no_enqueue
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    old = timezone.now() - datetime.timedelta(days=1)
    ReportRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=old, attempts=1)
    with lock_held_elsewhere(run.pk):
        assert runs.run_report_body(run.pk) == runs.Outcome.SKIPPED
    assert fake_renderer.calls == []
    run.refresh_from_db()
    assert (run.status, run.attempts, run.started_at) == (RunStatus.RUNNING, 1, old)


def test_a_delivery_while_another_attempt_claims_a_queued_run_skips_it(
    finance, grant, fake_renderer, no_enqueue
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    with lock_held_elsewhere(run.pk):
        assert runs.run_report_body(run.pk) == runs.Outcome.SKIPPED
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.QUEUED, 0)


def test_a_run_whose_worker_died_is_taken_over_at_once_by_the_next_delivery(
    finance, grant, fake_renderer, no_enqueue
):
    """Running since a moment ago, but nobody holds its lock: the worker was killed (the
    redelivered message of acks_late + reject_on_worker_lost arrives at once)."""
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    ReportRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), attempts=1
    )
    assert runs.run_report_body(run.pk) == runs.Outcome.DONE
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.DONE, 2)
    assert liveness.holders([run.pk]) == set()  # released at the end


def test_a_run_that_killed_its_worker_max_attempts_times_fails_instead_of_another_try(
    finance, grant, fake_renderer, no_enqueue
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    ReportRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), attempts=runs.MAX_ATTEMPTS
    )
    assert runs.run_report_body(run.pk) == runs.Outcome.SKIPPED
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.attempts == runs.MAX_ATTEMPTS
    assert run.error == "Rapporten kunde inte skapas efter flera försök. Försök igen."
    assert fake_renderer.calls == []


def test_an_attempt_that_lost_the_run_does_not_store_its_file(
    finance, grant, fake_renderer, no_enqueue, monkeypatch
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    real = fake_renderer.__call__

    def taken_over_while_rendering(kind):
        render = real(kind)

        def wrapped(r, narratives):
            out = render(r, narratives)
            ReportRun.objects.filter(pk=r.pk).update(attempts=r.attempts + 1)  # requeued, retaken
            return out

        return wrapped

    monkeypatch.setattr(renderers, "renderer_for", taken_over_while_rendering)
    assert runs.run_report_body(run.pk) == runs.Outcome.SUPERSEDED
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.sha256 == ""


def test_a_conflict_from_the_renderer_fails_the_run_with_its_reason(
    finance, grant, fake_renderer, no_enqueue
):
    fake_renderer.fail_with = [Conflict("Bidraget har ingen redovisningsperiod.")]
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    assert run.status == RunStatus.FAILED
    assert run.error == "Bidraget har ingen redovisningsperiod."
    assert run.finished_at is not None and run.sha256 == ""


def test_a_validation_error_from_the_renderer_fails_the_run_without_retry(
    finance, grant, fake_renderer, no_enqueue
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    fake_renderer.fail_with = [ValidationError("Texten om samverkan saknas.")]
    assert tasks.run_report.apply(args=[str(run.pk)]).get() == runs.Outcome.FAILED
    run.refresh_from_db()
    assert (run.status, run.error, run.attempts) == ("failed", "Texten om samverkan saknas.", 1)


def test_an_unexpected_error_fails_the_run_with_a_plain_reason_and_no_details(
    finance, grant, fake_renderer, no_enqueue, caplog
):
    fake_renderer.fail_with = [KeyError("19800101-1234 hemlig")]
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    assert run.status == RunStatus.FAILED
    assert "tekniskt fel" in run.error and "hemlig" not in run.error
    assert "KeyError" in caplog.text
    assert "19800101-1234" not in caplog.text  # the message (which could hold data) is not logged


def test_a_transient_database_error_leaves_the_run_queued_for_the_retry(
    finance, grant, fake_renderer, no_enqueue
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    fake_renderer.fail_with = [OperationalError("server closed the connection")]
    with pytest.raises(OperationalError):
        runs.run_report_body(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.attempts == 1


def test_the_task_retries_a_transient_error_then_finishes(
    finance, grant, fake_renderer, no_enqueue
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    fake_renderer.fail_with = [OperationalError("deadlock"), OperationalError("timeout")]
    result = tasks.run_report.apply(args=[str(run.pk)])  # eager: retries run at once
    assert result.get() == runs.Outcome.DONE
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.attempts == 3
    assert len(fake_renderer.calls) == 3


def test_in_a_worker_the_retry_waits_longer_each_time(finance, grant, fake_renderer, no_enqueue):
    from celery.exceptions import Retry

    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    countdowns = []
    for retries in range(tasks.MAX_RETRIES):
        fake_renderer.fail_with = [OperationalError("deadlock")]
        tasks.run_report.push_request(retries=retries, is_eager=False, id=f"t{retries}")
        try:
            with (
                mock.patch.object(tasks.run_report, "retry", side_effect=Retry()) as retry,
                pytest.raises(Retry),
            ):
                tasks.run_report.run(str(run.pk))
        finally:
            tasks.run_report.pop_request()
        countdowns.append(retry.call_args.kwargs["countdown"])
        run.refresh_from_db()
        assert run.status == RunStatus.QUEUED  # left for the retry
    assert countdowns == [5, 10, 20]


def test_a_retry_takes_over_the_run_its_attempt_left_running(
    finance, grant, fake_renderer, no_enqueue, monkeypatch
):
    """If the database failed so badly that the run could not go back to queued, the retry
    still proceeds (a duplicate delivery of a fresh task would not)."""
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    fake_renderer.fail_with = [OperationalError("gone")]
    monkeypatch.setattr(runs, "_release", lambda *a: None)
    assert tasks.run_report.apply(args=[str(run.pk)]).get() == runs.Outcome.DONE
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.attempts == 2


def test_when_the_retries_are_used_up_the_run_fails_with_a_reason(
    finance, grant, fake_renderer, no_enqueue
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    fake_renderer.fail_with = [OperationalError("down")] * (tasks.MAX_RETRIES + 1)
    assert tasks.run_report.apply(args=[str(run.pk)]).get() == runs.Outcome.FAILED
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "Försök igen" in run.error
    assert run.attempts == tasks.MAX_RETRIES + 1


def test_release_survives_a_database_that_still_fails(finance, grant, no_enqueue, monkeypatch):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )

    def broken(*args, **kwargs):
        raise DatabaseError("still down")

    monkeypatch.setattr(runs, "_owned", broken)
    runs._release(run.pk, 1)  # logs, does not raise


# --- Stuck runs --------------------------------------------------------------------------------
def test_requeue_stuck_picks_up_running_runs_with_no_live_worker_and_lost_queued_runs(
    org, finance, cbhv, grant, centre, no_enqueue, django_capture_on_commit_callbacks, settings
):
    settings.REPORT_RUN_TIME_LIMIT = 600
    now = timezone.now()
    old = now - datetime.timedelta(minutes=11)
    # Running since a second ago, nobody holds its lock: the worker died. Requeued at once.
    dead, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    ReportRun.objects.filter(pk=dead.pk).update(
        status=RunStatus.RUNNING, started_at=now - datetime.timedelta(seconds=1), attempts=1
    )
    # Queued long ago, never tried: its message was lost.
    lost, _ = services.report_request(user=finance, kind="finance_xlsx", year=2023)
    ReportRun.objects.filter(pk=lost.pk).update(created_at=old)
    # Running for hours, its lock held: a live (slow) attempt. Never requeued.
    slow, _ = services.report_request(user=finance, kind="finance_csv", year=2023)
    ReportRun.objects.filter(pk=slow.pk).update(
        status=RunStatus.RUNNING, started_at=now - datetime.timedelta(hours=5), attempts=1
    )
    # Queued a moment ago: waiting for a worker, not lost.
    waiting, _ = services.report_request(user=finance, kind="finance_csv", year=2024)
    hopeless, _ = services.report_request(user=finance, kind="finance_xlsx", year=2024)
    ReportRun.objects.filter(pk=hopeless.pk).update(
        status=RunStatus.RUNNING, started_at=old, attempts=runs.MAX_ATTEMPTS
    )
    no_enqueue.reset_mock()
    with lock_held_elsewhere(slow.pk):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.requeue_stuck_runs.apply().get() == 2
        assert sorted(c.args[0] for c in no_enqueue.call_args_list) == sorted(
            [str(dead.pk), str(lost.pk)]
        )
        status = dict(ReportRun.objects.values_list("pk", "status"))
        assert status[dead.pk] == status[lost.pk] == RunStatus.QUEUED
        assert status[slow.pk] == RunStatus.RUNNING
        assert status[waiting.pk] == RunStatus.QUEUED
        assert status[hopeless.pk] == RunStatus.FAILED
        # Picked up once: the next sweep leaves the requeued ones alone.
        with django_capture_on_commit_callbacks(execute=True):
            assert runs.requeue_stuck() == 0
    # The slow attempt's worker dies: the next sweep requeues its run at once.
    with django_capture_on_commit_callbacks(execute=True):
        assert runs.requeue_stuck() == 1
    assert no_enqueue.call_args.args == (str(slow.pk),)


def test_a_requeued_run_is_rendered_by_the_next_task(finance, grant, fake_renderer, no_enqueue):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    old = timezone.now() - datetime.timedelta(hours=1)
    ReportRun.objects.filter(pk=run.pk).update(status="running", started_at=old, attempts=1)
    assert runs.requeue_stuck() == 1
    assert runs.run_report_body(run.pk) == runs.Outcome.DONE


def test_the_time_limit_setting(settings):
    settings.REPORT_RUN_TIME_LIMIT = datetime.timedelta(minutes=3)
    assert runs.time_limit() == datetime.timedelta(minutes=3)
    settings.REPORT_RUN_TIME_LIMIT = 90
    assert runs.time_limit() == datetime.timedelta(seconds=90)
    del settings.REPORT_RUN_TIME_LIMIT
    assert runs.time_limit() == datetime.timedelta(minutes=15)


# --- Submitting --------------------------------------------------------------------------------
def test_submitting_freezes_the_report(org, finance, cbhv, grant, fake_renderer, no_enqueue):
    close(grant, finance)
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    submitted, changed = services.report_submit(user=cbhv, run=run)
    assert changed and submitted.submitted_at is not None and submitted.submitted_by == cbhv
    again, changed_again = services.report_submit(user=cbhv, run=submitted)
    assert not changed_again and again.submitted_at == submitted.submitted_at
    # The database refuses any change to the submitted row (the freeze trigger).
    with pytest.raises(DatabaseError), transaction.atomic():
        ReportRun.objects.filter(pk=run.pk).update(sha256="f" * 64)
    # A submitted report is never replaced: a new request is a conflict.
    with pytest.raises(Conflict):
        services.report_request(user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk)
    # And a redelivered task still does nothing.
    assert runs.run_report_body(run.pk) == runs.Outcome.SKIPPED


def test_submit_rules(org, finance, cbhv, manager, centre, grant, fake_renderer, no_enqueue):
    close(grant, finance)
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    queued, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    with pytest.raises(Conflict):
        services.report_submit(user=cbhv, run=queued)  # not done
    runs.run_report_body(queued.pk)
    queued.refresh_from_db()
    newer = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    services.report_submit(user=cbhv, run=newer)
    with pytest.raises(Conflict):  # another run of the same report is already submitted
        services.report_submit(user=cbhv, run=queued)
    export = request_and_run(finance, "finance_xlsx", 2023)
    with pytest.raises(Conflict):  # exports are not submitted
        services.report_submit(user=cbhv, run=export)
    with pytest.raises(PermissionDenied):  # finance never submits
        services.report_submit(user=finance, run=export)
    fixed_compensation(centre, 2025, by=cbhv)
    write_sections(manager, "halsoval", org, 2025, centre=centre)
    account = request_and_run(manager, "halsoval", 2025, centre=centre.pk)
    with pytest.raises(PermissionDenied):  # the manager writes the account's texts, not CBHV
        services.report_submit(user=cbhv, run=account)
    with pytest.raises(PermissionDenied):  # finance reads the centre's account, never submits
        services.report_submit(user=finance, run=account)
    other_manager = member(Role.CENTRE_MANAGER, centre=CentreFactory(organisation=org))
    with pytest.raises(PermissionDenied):
        services.report_submit(user=other_manager, run=account)
    assert services.report_submit(user=manager, run=account)[1]


# --- Narratives --------------------------------------------------------------------------------
def save(user, subject, section, text):
    """Save one section: the version it added, or None when the text was the current one."""
    added = services.narrative_save(user=user, subject=subject, texts={section: text})
    return added[0] if added else None


def test_narratives_are_versioned_and_rendered_with_the_latest(
    org, finance, cbhv, grant, fake_renderer, no_enqueue
):
    subject = Subject("socialstyrelsen", org, 2023, grant=grant)
    v1 = save(cbhv, subject, "use", "Första texten.")
    v2 = save(cbhv, subject, "use", "Andra texten.")
    same = save(cbhv, subject, "use", "  Andra texten. ")
    other = save(cbhv, subject, "comments", "Inget att tillägga.")
    assert (v1.version, v2.version) == (1, 2)
    assert same is None
    assert NarrativeVersion.objects.count() == 3
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    assert fake_renderer.calls[-1][2] == {"use": "Andra texten.", "comments": "Inget att tillägga."}
    assert sorted(run.narrative_versions) == sorted([str(v2.pk), str(other.pk)])


def test_who_writes_narratives_and_when_they_freeze(
    org, finance, cbhv, manager, centre, grant, fake_renderer, no_enqueue
):
    subject = Subject("socialstyrelsen", org, 2023, grant=grant)
    for user in (finance, manager):
        with pytest.raises(PermissionDenied):
            save(user, subject, "use", "Text")
    with pytest.raises(ValidationError):
        save(cbhv, subject, "no_such_section", "Text")
    account = Subject("halsoval", org, 2025, centre=centre)
    assert save(manager, account, "development", "Vi fortsätter.") is not None
    with pytest.raises(PermissionDenied):  # the manager writes her account, not CBHV
        save(cbhv, account, "development", "Text")
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    close(grant, finance)
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    services.report_submit(user=cbhv, run=run)
    with pytest.raises(Conflict):
        save(cbhv, subject, "use", "För sent.")


def test_a_save_of_several_sections_with_one_invalid_stores_none_and_names_it(
    org, cbhv, grant, no_enqueue
):
    subject = Subject("socialstyrelsen", org, 2023, grant=grant)
    with pytest.raises(ValidationError) as exc:
        services.narrative_save(
            user=cbhv,
            subject=subject,
            texts={
                "use": "Medlen gick till hembesök.",
                "cooperation_other": "x" * 20_001,
                "comments": "Barnet 20250301-1237 har flyttat.",
            },
        )
    assert set(errors_of(exc)) == {"cooperation_other", "comments"}
    assert "personnummer" in errors_of(exc)["comments"][0]
    assert not NarrativeVersion.objects.exists()
    added = services.narrative_save(
        user=cbhv,
        subject=subject,
        texts={"comments": "Inga.", "use": "Medlen gick till hembesök."},
    )
    assert [v.section for v in added] == ["use", "comments"]  # in the report's order
    assert NarrativeVersion.objects.count() == 2


def test_a_save_that_fails_while_writing_stores_none_of_its_sections(
    org, cbhv, grant, no_enqueue, monkeypatch
):
    subject = Subject("socialstyrelsen", org, 2023, grant=grant)
    real = NarrativeVersion.objects.create
    written = []

    def fails_on_the_second(**kwargs):
        if written:
            raise DatabaseError("the connection broke")
        written.append(kwargs["section"])
        return real(**kwargs)

    monkeypatch.setattr(NarrativeVersion.objects, "create", fails_on_the_second)
    with pytest.raises(DatabaseError):
        services.narrative_save(
            user=cbhv, subject=subject, texts={"use": "Första.", "comments": "Andra."}
        )
    assert written == ["use"] and not NarrativeVersion.objects.exists()
