"""Report runs survive a worker's death and a database outage; a user can retry; a database
outage is a 503 (issue 25, items 3 and 4).

The unit tests cover the liveness lock (reporting.liveness), a repeated request that finds its
run stuck (reporting.services.report_request), the run page's retry button, the 503 handler
(core.errors) and beat's scheduler (core.beat). The tests marked `redis` start real Celery
processes (`celery -A config worker` / `beat`) on pytest's test database and Redis, kill the
worker in the middle of a render, and cut the database from under a worker and beat with a
small TCP proxy. They skip without Redis locally and fail without it in CI.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import pytest
from django.db import OperationalError, connection, connections
from django.test import Client
from django.urls import reverse

from config.celery import app
from core import beat as core_beat
from reporting import liveness, runs, services
from reporting.models import ReportRun, RunStatus

# The shared fixtures live in test_runs (a conftest here belongs to the lead); using an imported
# fixture as an argument looks like a redefinition to ruff.
# ruff: noqa: F811
from tests.reporting.test_runs import (  # noqa: F401 - fixtures
    fake_renderer,
    finance,
    grant,
    lock_held_elsewhere,
    no_enqueue,
    org,
)

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 45


def wait_for(condition: Callable[[], Any], what: str, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- The liveness lock ----------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_lock_is_held_while_acquired_and_free_after_release():
    run_id = uuid.uuid4()
    assert liveness.holders([run_id]) == set()
    assert liveness.acquire(run_id) is True
    try:
        assert liveness.holders([run_id, uuid.uuid4()]) == {run_id}
        assert liveness.is_alive(run_id)
    finally:
        liveness.release(run_id)
    assert liveness.holders([run_id]) == set()
    assert liveness.holders([]) == set()


@pytest.mark.django_db
def test_the_lock_cannot_be_taken_while_another_session_holds_it():
    run_id = uuid.uuid4()
    with lock_held_elsewhere(run_id):
        assert liveness.acquire(run_id, wait=0) is False
        assert liveness.is_alive(run_id)
    assert liveness.acquire(run_id) is True
    liveness.release(run_id)


@pytest.mark.django_db
def test_a_delivery_waits_briefly_for_a_lock_whose_session_is_ending():
    """A redelivered message can arrive before PostgreSQL has seen its killed worker's session
    end: the new attempt looks again for a few seconds instead of skipping the run."""
    run_id = uuid.uuid4()
    s = connection.settings_dict
    other = psycopg.connect(
        dbname=s["NAME"], host=s["HOST"] or None, port=s["PORT"] or None, user=s["USER"] or None
    )
    other.execute(
        "SELECT pg_advisory_lock(%s, %s)", [liveness.LOCK_SPACE, liveness.lock_key(run_id)]
    )
    threading.Timer(0.5, other.close).start()
    started = time.monotonic()
    assert liveness.acquire(run_id) is True
    assert 0.4 < time.monotonic() - started < liveness.ACQUIRE_WAIT_SECONDS
    liveness.release(run_id)


@pytest.mark.django_db
def test_the_lock_dies_with_its_session():
    run_id = uuid.uuid4()
    s = connection.settings_dict
    other = psycopg.connect(
        dbname=s["NAME"], host=s["HOST"] or None, port=s["PORT"] or None, user=s["USER"] or None
    )
    other.execute(
        "SELECT pg_advisory_lock(%s, %s)", [liveness.LOCK_SPACE, liveness.lock_key(run_id)]
    )
    assert liveness.is_alive(run_id)
    other.close()  # without unlocking: a killed worker's connection
    wait_for(lambda: not liveness.is_alive(run_id), "the session's end", seconds=5)


def test_the_key_is_31_bits_of_the_id_in_its_own_space():
    run_id = uuid.UUID("ffffffff-ffff-4fff-bfff-fffffffffffe")
    assert liveness.lock_key(run_id) == 0x7FFFFFFE
    assert liveness.LOCK_SPACE == 0x52554E53


@pytest.mark.django_db(transaction=True)
def test_a_release_that_fails_closes_the_connection_so_the_lock_cannot_linger():
    run_id = uuid.uuid4()
    assert liveness.acquire(run_id)
    raw = connection.connection
    broken = OperationalError("server closed the connection unexpectedly")
    with mock.patch.object(connections["default"], "cursor", side_effect=broken):
        liveness.release(run_id)
    assert raw.closed and connection.connection is None
    assert not liveness.is_alive(run_id)  # a new session: the old one and its lock are gone


@pytest.mark.django_db
def test_the_body_releases_its_lock_also_when_the_render_fails(finance, grant, fake_renderer):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    fake_renderer.fail_with = [OperationalError("server closed the connection")]
    with pytest.raises(OperationalError):
        runs.run_report_body(run.pk)
    assert liveness.holders([run.pk]) == set()
    fake_renderer.fail_with = [KeyError("unexpected")]
    assert runs.run_report_body(run.pk) == runs.Outcome.FAILED
    assert liveness.holders([run.pk]) == set()


@pytest.mark.django_db
def test_a_sweep_during_an_outage_logs_one_line_and_leaves_it_to_the_next(monkeypatch, caplog):
    from reporting import tasks

    def outage() -> int:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(runs, "requeue_stuck", outage)
    assert tasks.requeue_stuck_runs.apply().get() == 0
    assert [r.getMessage() for r in caplog.records if r.name == "reporting.tasks"] == [
        "stuck report runs: the database is unavailable; the next sweep retries"
    ]


# --- Retry by the user ----------------------------------------------------------------------------
@pytest.mark.django_db
def test_asking_again_for_a_run_whose_worker_died_queues_it_again_and_returns_it(
    finance, grant, no_enqueue, django_capture_on_commit_callbacks
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    ReportRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=1)
    no_enqueue.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        again, created = services.report_request(
            user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
        )
    assert (again.pk, created, again.status) == (run.pk, False, RunStatus.QUEUED)
    no_enqueue.assert_called_once_with(str(run.pk))
    assert ReportRun.objects.count() == 1


@pytest.mark.django_db
def test_asking_again_while_the_worker_is_alive_only_returns_the_run(
    finance, grant, no_enqueue, django_capture_on_commit_callbacks
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    ReportRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=1)
    no_enqueue.reset_mock()
    with lock_held_elsewhere(run.pk), django_capture_on_commit_callbacks(execute=True):
        again, created = services.report_request(
            user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
        )
    assert (again.pk, created, again.status) == (run.pk, False, RunStatus.RUNNING)
    assert not no_enqueue.called


@pytest.mark.django_db
def test_asking_again_for_a_queued_run_whose_message_was_lost_queues_it_again(
    finance, grant, no_enqueue, django_capture_on_commit_callbacks, settings
):
    from django.utils import timezone

    settings.REPORT_RUN_TIME_LIMIT = 600
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    no_enqueue.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        services.report_request(user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk)
    assert not no_enqueue.called  # queued a moment ago: waiting for a worker
    ReportRun.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - timezone.timedelta(minutes=11)
    )
    with django_capture_on_commit_callbacks(execute=True):
        again, created = services.report_request(
            user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
        )
    assert (again.pk, created) == (run.pk, False)
    no_enqueue.assert_called_once_with(str(run.pk))


@pytest.mark.django_db
def test_asking_again_for_a_run_given_up_after_too_many_attempts_makes_a_new_run(
    finance, grant, no_enqueue
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    ReportRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=runs.MAX_ATTEMPTS)
    again, created = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    assert created and again.pk != run.pk and again.status == RunStatus.QUEUED
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


@pytest.mark.django_db
def test_the_run_page_offers_a_retry_for_a_run_whose_worker_died_and_it_requeues_it(
    client, finance, grant, no_enqueue, django_capture_on_commit_callbacks
):
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    ReportRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=1)
    client.force_login(finance)
    retry_url = reverse("reporting:retry", args=[run.pk])
    with lock_held_elsewhere(run.pk):
        page = client.get(reverse("reporting:run", args=[run.pk]))
        assert retry_url not in page.content.decode()  # alive: nothing to retry
    page = client.get(reverse("reporting:run", args=[run.pk]))
    assert retry_url in page.content.decode()
    assert "Arbetet med rapporten avbröts." in page.content.decode()
    no_enqueue.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(retry_url)
    assert response.status_code == 302 and response["Location"] == reverse(
        "reporting:run", args=[run.pk]
    )
    no_enqueue.assert_called_once_with(str(run.pk))
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


# --- 503 on a database outage ---------------------------------------------------------------------
def refuse(*args: Any, **kwargs: Any) -> Any:
    """Every new query fails as when PostgreSQL is gone (the session middleware's included)."""
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed')


@pytest.mark.django_db
def test_a_page_answers_a_plain_503_page_when_the_database_is_down(monkeypatch, finance):
    client = Client(raise_request_exception=False)
    client.force_login(finance)
    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get(reverse("reporting:list"))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "<h1>Hembesök är tillfälligt otillgängligt</h1>" in body
    assert '<html lang="sv">' in body


@pytest.mark.django_db
def test_an_api_route_answers_json_503_when_the_database_is_down(
    monkeypatch, api_client_for, finance
):
    api = api_client_for(finance)
    api.raise_request_exception = False
    monkeypatch.setattr(connection, "cursor", refuse)
    response = api.get("/api/v1/reports/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "detail": "Tjänsten är tillfälligt otillgänglig. Försök igen om en stund."
    }


@pytest.mark.django_db
def test_healthz_still_answers_its_own_503(monkeypatch):
    monkeypatch.setattr(connection, "cursor", refuse)
    response = Client(raise_request_exception=False).get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["database"]}


def test_other_errors_keep_a_500_json_under_the_api_and_the_plain_500_elsewhere(rf):
    from core.errors import server_error

    try:
        raise KeyError("boom")
    except KeyError:
        api = server_error(rf.get("/api/v1/reports/"))
        page = server_error(rf.get("/rapporter/"))
    assert api.status_code == 500 and api["Content-Type"] == "application/json"
    assert api.content == b'{"detail": "Ett fel uppstod p\\u00e5 servern."}'
    assert page.status_code == 500 and "Retry-After" not in page


def test_a_pool_timeout_is_a_database_outage_too(rf):
    from psycopg_pool import PoolTimeout

    from core.errors import server_error

    try:
        raise PoolTimeout("couldn't get a connection after 10.00 sec")
    except PoolTimeout:
        response = server_error(rf.get("/api/v1/grants/"))
    assert response.status_code == 503


# --- Beat's scheduler -----------------------------------------------------------------------------
def _scheduler(cls: type[Any]) -> Any:
    """A scheduler as beat makes one, without touching the database at start."""
    scheduler = object.__new__(cls)
    scheduler.app = app
    scheduler._dirty = set()
    scheduler.max_interval = 5
    scheduler._heap = None
    scheduler._schedule = {}
    scheduler.old_schedulers = None
    return scheduler


@pytest.mark.django_db
def test_beat_keeps_its_schedule_when_the_full_reread_meets_a_database_outage(monkeypatch):
    """django-celery-beat re-reads the whole schedule every five minutes without catching a
    database error: today that ends beat. core.beat keeps the last schedule and retries."""
    from django_celery_beat.schedulers import DatabaseScheduler as Base

    def outage(self: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Base, "all_as_schedule", outage)
    monkeypatch.setattr(Base, "schedule_changed", lambda self: False)
    monkeypatch.setattr(core_beat.DatabaseScheduler, "_database_answers", lambda self: False)
    ours = _scheduler(core_beat.DatabaseScheduler)
    theirs = _scheduler(Base)
    for scheduler in (ours, theirs):
        scheduler._initial_read = False
        scheduler._last_full_sync = datetime.datetime(2000, 1, 1)  # long ago
    with pytest.raises(OperationalError):
        theirs.tick()
    assert ours.tick() == core_beat.OUTAGE_RETRY_SECONDS
    assert ours._schedule == {}  # the last schedule read, kept


@pytest.mark.django_db
def test_beat_logs_an_outage_once_and_its_end(caplog):
    scheduler = _scheduler(core_beat.DatabaseScheduler)
    scheduler._lost(OperationalError("password=secret host=db"))
    scheduler._lost(OperationalError("again"))
    scheduler._back()
    scheduler._back()
    lines = [r.getMessage() for r in caplog.records if r.name == "core.beat"]
    assert len(lines) == 2
    assert lines[0].startswith("beat: the database is unavailable (OperationalError)")
    assert "secret" not in lines[0]
    assert lines[1].startswith("beat: the database is back after")


# --- Real worker and beat processes ---------------------------------------------------------------
class Proxy:
    """127.0.0.1:<port> → PostgreSQL, which the test can cut (every proxied connection closed,
    new ones refused: the database is gone) and restore."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            # shutdown wakes the accepting thread; close alone would leave it listening.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                if self._listener is not listener:  # cut meanwhile: refused
                    client.close()
                    return
                server = socket.create_connection(self.upstream)
                self._sockets |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def broker(redis_url: str) -> Iterator[str]:
    """The test process sends through Redis (eager mode off), with nothing left over."""
    saved = {"broker_url": app.conf.broker_url, "task_always_eager": app.conf.task_always_eager}
    app.conf.update(broker_url=redis_url, task_always_eager=False)
    try:
        with app.connection_for_write() as conn:
            for queue in {q.name for q in app.conf.task_queues or ()}:
                conn.default_channel.queue_purge(queue)
        yield redis_url
    finally:
        app.conf.update(**saved)


class Services:
    """`celery -A config worker` / `beat` processes on the test database (through `port`)."""

    def __init__(self, redis_url: str, tmp_path: Path) -> None:
        self.redis_url = redis_url
        self.tmp_path = tmp_path
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def env(self, port: int) -> dict[str, str]:
        s = connection.settings_dict
        user = s["USER"] or "postgres"
        password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{user}{password}@127.0.0.1:{port}/{s['NAME']}",
            "REDIS_URL": self.redis_url,
            "REPORT_STORE": str(self.tmp_path / "reports"),
            "REPORT_TASK_RETRY_BASE_SECONDS": "1",  # 1 + 2 + 4 s of retries
            # A killed worker's backend notices at once, also while it waits for a lock.
            "PGOPTIONS": "-c client_connection_check_interval=100",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        env.pop("DB_POOL_MAX_SIZE", None)
        return env

    def start(self, name: str, port: int, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args, "--loglevel=INFO"],
            cwd=ROOT,
            env=self.env(port),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append((process, log))
        return process

    def worker(self, name: str, port: int) -> subprocess.Popen[bytes]:
        return self.start(
            name,
            port,
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            f"--hostname={name}-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        )

    def beat(self, port: int) -> subprocess.Popen[bytes]:
        return self.start("beat", port, "beat", f"--pidfile={self.tmp_path / 'beat.pid'}")

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
        for process, _ in self.processes:
            for child in children(process.pid):
                os.kill(child, signal.SIGKILL)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def celery_services(broker: str, tmp_path: Path) -> Iterator[Services]:
    started = Services(broker, tmp_path)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def narratives_locked() -> Iterator[Callable[[], None]]:
    """Renders of a report with texts wait while this holds the texts' table (another
    session): a render in the middle, from the test's side. Call the result to let go."""
    s = connection.settings_dict
    other = psycopg.connect(
        dbname=s["NAME"], host="127.0.0.1", port=s["PORT"] or 5432, user=s["USER"] or None
    )
    other.execute("LOCK TABLE reporting_narrativeversion IN ACCESS EXCLUSIVE MODE")

    def release() -> None:
        if not other.closed:
            other.rollback()
            other.close()

    try:
        yield release
    finally:
        release()


def _rendering(run_id: uuid.UUID) -> bool:
    run = ReportRun.objects.get(pk=run_id)
    return run.status == RunStatus.RUNNING and liveness.is_alive(run_id)


def _status(run_id: uuid.UUID) -> tuple[str, int]:
    run = ReportRun.objects.get(pk=run_id)
    return run.status, run.attempts


def _port() -> int:
    return int(connection.settings_dict["PORT"] or 5432)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_a_render_is_replaced_at_once(
    celery_services, narratives_locked, finance, grant
):
    """The render's process is SIGKILLed (out of memory, the hard time limit): its message is
    delivered again at once (acks_late, reject_on_worker_lost) and the new attempt takes the
    run over because nobody holds its lock, instead of leaving it `running` for 20 minutes."""
    worker = celery_services.worker("worker", _port())
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    wait_for(lambda: _rendering(run.pk), "the render to start")
    [render_process] = children(worker.pid)
    os.kill(render_process, signal.SIGKILL)
    wait_for(lambda: not liveness.is_alive(run.pk), "the killed attempt's lock to go")
    narratives_locked()
    wait_for(lambda: _status(run.pk)[0] == RunStatus.DONE, "the run to be done")
    assert _status(run.pk) == (RunStatus.DONE, 2)
    assert worker.poll() is None
    assert "WorkerLostError" in celery_services.log("worker")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_whole_worker_died_is_requeued_by_the_next_sweep_and_done(
    celery_services, narratives_locked, finance, grant
):
    """The whole worker is SIGKILLed: its message waits in Redis for the visibility timeout.
    The sweep sees the run's lock free and queues it again at once; a second worker does it."""
    first = celery_services.worker("first", _port())
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    wait_for(lambda: _rendering(run.pk), "the render to start")
    for child in children(first.pid):
        os.kill(child, signal.SIGKILL)
    first.kill()
    wait_for(lambda: not liveness.is_alive(run.pk), "the killed attempt's lock to go")
    narratives_locked()
    celery_services.worker("second", _port())
    from reporting.tasks import requeue_stuck_runs

    requeue_stuck_runs.delay()  # beat's next sweep
    wait_for(lambda: _status(run.pk)[0] == RunStatus.DONE, "the run to be done")
    assert _status(run.pk) == (RunStatus.DONE, 2)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_database_outage_under_a_running_worker_and_beat_is_survived(
    celery_services, narratives_locked, finance, grant
):
    """PostgreSQL goes away for longer than the task's retries while a render runs: beat lives
    on and keeps sending the sweep; the worker's retries give up with the run left `running`
    and its lock gone; once the database is back, the sweep queues the run again and it is
    done."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    proxy = Proxy(("127.0.0.1", _port()))
    worker = celery_services.worker("worker", proxy.port)
    beat = celery_services.beat(proxy.port)
    wait_for(
        lambda: PeriodicTask.objects.filter(name="requeue-stuck-report-runs").exists(),
        "beat to install its schedule",
    )
    # The sweep every second instead of every minute (an edit as in the admin; beat sees it).
    # Saved again every 2 s until beat sends it: an edit between beat's first read and its
    # first change check goes unnoticed (django-celery-beat compares change timestamps).
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    last_edit = 0.0

    def sweep_sent() -> bool:
        nonlocal last_edit
        if "Sending due task requeue-stuck-report-runs" in celery_services.log("beat"):
            return True
        if time.monotonic() - last_edit > 2:
            task = PeriodicTask.objects.get(name="requeue-stuck-report-runs")
            task.interval = every_second
            task.no_changes = False  # beat marks its own writes so; an edit must say it is one
            task.save()
            last_edit = time.monotonic()
        return False

    wait_for(sweep_sent, "beat to send the sweep every second")
    run, _ = services.report_request(
        user=finance, kind="socialstyrelsen", year=2023, grant=grant.pk
    )
    wait_for(lambda: _rendering(run.pk), "the render to start")

    proxy.cut()
    narratives_locked()
    outage_started = time.monotonic()
    wait_for(lambda: not liveness.is_alive(run.pk), "the cut attempt's lock to go")
    wait_for(
        lambda: "database still unavailable, left to the sweep" in celery_services.log("worker"),
        "the worker's retries to give up",
    )
    assert _status(run.pk) == (RunStatus.RUNNING, 1)  # left running, no worker alive
    assert beat.poll() is None
    time.sleep(max(0.0, 10 - (time.monotonic() - outage_started)))
    assert beat.poll() is None and worker.poll() is None
    assert "beat: the database is unavailable" in celery_services.log("beat")
    proxy.restore()

    wait_for(lambda: _status(run.pk)[0] == RunStatus.DONE, "the run to be done after the outage")
    assert _status(run.pk) == (RunStatus.DONE, 2)
    assert beat.poll() is None
    beat_log = celery_services.log("beat")
    assert "beat: the database is back after" in beat_log
    after = beat_log.split("beat: the database is back after", 1)[1]
    assert "Sending due task requeue-stuck-report-runs" in after
