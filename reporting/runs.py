"""The report-run machinery (issue 18, items 1 and 7; issue 25, items 3 and 4; API.md "Reports"):
queueing a run, claiming it, rendering it and storing its file. `reporting.tasks` are thin
wrappers around it.

A request (`reporting.services.report_request`) makes a queued run and `enqueue`s
`reporting.run_report` with the run's id only, after commit. The task body (`run_report_body`)
first takes the run's liveness lock (`reporting.liveness`: held while the attempt lives, gone the
moment its process or database session dies), then claims the run under a short row lock,
renders outside it, and stores the file under the lock again, only if it still owns the run: a
redelivered or repeated task for a finished run does nothing, a delivery while another live
attempt holds the run does nothing, and a run taken over by another attempt keeps that attempt's
file and checksum. A run left `running` with its lock free has lost its worker: the next
delivery takes it over at once, `requeue_stuck` (from beat) queues it again at once, and so does
the user's identical request (`requeue_if_stuck`). Rendering never happens in a web worker
(with no REDIS_URL, development only, the task runs eagerly in the calling process).
"""

from __future__ import annotations

import datetime
import logging
import traceback
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.exceptions import Conflict
from reporting import liveness, storage
from reporting.models import ACTIVE_STATUSES, ReportRun, RunStatus
from reporting.selectors import current_narratives
from reporting.subjects import Subject

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError)
DEFAULT_TIME_LIMIT = datetime.timedelta(minutes=15)
# A run that has been tried this many times (worker lost, stuck) is given up, by requeue_stuck
# or by the delivery that would take it over: a report that kills its worker every time (out of
# memory, the hard time limit) must not be redelivered for ever.
MAX_ATTEMPTS = 5


def time_limit() -> datetime.timedelta:
    """settings.REPORT_RUN_TIME_LIMIT: seconds or a timedelta (default 15 minutes)."""
    value = getattr(settings, "REPORT_RUN_TIME_LIMIT", DEFAULT_TIME_LIMIT)
    if isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(seconds=int(value))


def as_uuid(value: object) -> uuid.UUID | None:
    """A run's (or a request's) id as given, or None when it is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- Queueing ---------------------------------------------------------------------------------
def enqueue(run: ReportRun) -> None:
    """Queue the task after commit, with the run's id only (never on rollback)."""
    run_id = str(run.pk)

    def send() -> None:
        from reporting.tasks import run_report

        run_report.delay(run_id)

    # Robust: if the broker is unreachable the run stays queued (it is committed) and
    # requeue_stuck enqueues it again later; the request itself has succeeded.
    transaction.on_commit(send, robust=True)


# --- The task body ----------------------------------------------------------------------------
class Outcome:
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # missing, finished, or another attempt has it
    SUPERSEDED = "superseded"  # another attempt took the run over while this one rendered


def locked_run(run_id: uuid.UUID) -> ReportRun | None:
    """The run, locked for update until the transaction ends (with what rendering reads)."""
    return (
        ReportRun.objects.select_for_update(of=("self",))
        .select_related("organisation", "grant", "centre")
        .filter(pk=run_id)
        .first()
    )


def _claim(run_id: uuid.UUID) -> tuple[ReportRun, int] | None:
    """Mark the run running (one more attempt) and return it with the attempt's number, or None
    when there is nothing to do: not found, done or failed. The caller holds the run's liveness
    lock, so no other attempt is alive: a run still `running` was left so by an attempt that
    died or gave up (its retry included) and is taken over, whatever `started_at` says; one
    tried MAX_ATTEMPTS times fails instead."""
    now = timezone.now()
    with transaction.atomic():
        run = locked_run(run_id)
        if run is None or run.status in (RunStatus.DONE, RunStatus.FAILED):
            return None
        if run.status == RunStatus.RUNNING and run.attempts >= MAX_ATTEMPTS:
            _give_up(run, now)
            return None
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.attempts += 1
        run.error = ""
        run.save(update_fields=["status", "started_at", "attempts", "error"])
        return run, run.attempts


def _give_up(run: ReportRun, now: datetime.datetime) -> None:
    """Fail a locked run that has been tried MAX_ATTEMPTS times."""
    run.status = RunStatus.FAILED
    run.error = _("Rapporten kunde inte skapas efter flera försök. Försök igen.")
    run.finished_at = now
    run.save(update_fields=["status", "error", "finished_at"])


def _owned(run_id: uuid.UUID, attempt: int) -> ReportRun | None:
    """The run, locked, if this attempt still owns it (running, with this attempt's number)."""
    run = locked_run(run_id)
    if run is None or run.status != RunStatus.RUNNING or run.attempts != attempt:
        return None
    return run


def _fail(run_id: uuid.UUID, attempt: int | None, reason: str) -> bool:
    with transaction.atomic():
        run = locked_run(run_id)
        if run is None or run.status not in ACTIVE_STATUSES:
            return False
        if attempt is not None and (run.status != RunStatus.RUNNING or run.attempts != attempt):
            return False
        run.status = RunStatus.FAILED
        run.error = reason
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        return True


def _release(run_id: uuid.UUID, attempt: int) -> None:
    """After a transient error: back to queued for the retry (best effort: the database may be
    the thing that is failing; then the retry takes the running run over)."""
    try:
        with transaction.atomic():
            run = _owned(run_id, attempt)
            if run is not None:
                run.status = RunStatus.QUEUED
                run.save(update_fields=["status"])
    except DatabaseError:
        logger.warning("report run %s: could not put it back in the queue", run_id)


def _readable(exc: Exception) -> str:
    if isinstance(exc, Conflict):
        return exc.detail
    if isinstance(exc, ValidationError):
        return " ".join(str(m) for m in exc.messages)
    return _("Rapporten kunde inte skapas på grund av ett tekniskt fel. Försök igen.")


def run_report_body(run_id: str | uuid.UUID) -> str:
    """Render one run (the Celery task's body; see the module's docstring). Returns an
    `Outcome`. Transient database errors propagate (the task retries); a renderer's Conflict or
    ValidationError fails the run with its message; anything else fails it with a plain reason
    and is logged without its message (which could hold data)."""
    pk = as_uuid(run_id)
    if pk is None:
        return Outcome.SKIPPED
    # The lock first, then the claim: a run is never `running` without a live attempt holding
    # its lock, except when that attempt has died (or given up), so the sweep needs no grace.
    if not liveness.acquire(pk):
        return Outcome.SKIPPED  # another attempt is alive and has it
    try:
        return _attempt(pk)
    finally:
        liveness.release(pk)


def _attempt(pk: uuid.UUID) -> str:
    from reporting import renderers

    claimed = _claim(pk)
    if claimed is None:
        return Outcome.SKIPPED
    run, attempt = claimed
    try:
        narratives = current_narratives(Subject.of(run))
        rendered = renderers.renderer_for(run.kind)(
            run, {section: v.text for section, v in narratives.items()}
        )
        with transaction.atomic():
            owned = _owned(pk, attempt)
            if owned is None:
                return Outcome.SUPERSEDED
            name = f"{owned.pk}.{rendered.extension}"
            owned.sha256 = storage.save(name, rendered.content)
            owned.file_name = name
            owned.size = len(rendered.content)
            owned.content_type = rendered.content_type
            owned.narrative_versions = [str(v.pk) for v in narratives.values()]
            owned.status = RunStatus.DONE
            owned.error = ""
            owned.finished_at = timezone.now()
            owned.save(
                update_fields=[
                    "sha256",
                    "file_name",
                    "size",
                    "content_type",
                    "narrative_versions",
                    "status",
                    "error",
                    "finished_at",
                ]
            )
        return Outcome.DONE
    except TRANSIENT_ERRORS:
        _release(pk, attempt)
        raise
    except (Conflict, ValidationError) as exc:
        _fail(pk, attempt, _readable(exc))
        return Outcome.FAILED
    except Exception as exc:
        logger.error(
            "report run %s (%s) failed: %s\n%s",
            pk,
            run.kind,
            exc.__class__.__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        _fail(pk, attempt, _readable(exc))
        return Outcome.FAILED


def run_give_up(run_id: str | uuid.UUID) -> bool:
    """The retries of a transient error are used up: the run fails, with a way to try again."""
    pk = as_uuid(run_id)
    if pk is None:
        return False
    return _fail(
        pk, None, _("Databasen svarade inte medan rapporten skapades. Försök igen om en stund.")
    )


def _stuck(now: datetime.datetime) -> Q:
    """Runs that may have lost their worker or their message: every running one (whether its
    worker is alive is its lock's to say, not its age), and queued ones older than the time
    limit with no attempt since (the message was lost)."""
    cutoff = now - time_limit()
    return Q(status=RunStatus.RUNNING) | (
        Q(status=RunStatus.QUEUED, created_at__lt=cutoff)
        & (Q(started_at__isnull=True) | Q(started_at__lt=cutoff))
    )


def _requeue(run: ReportRun, now: datetime.datetime) -> bool:
    """Put a locked stuck run back in the queue and enqueue it (True), or fail it when it has
    been tried MAX_ATTEMPTS times. `started_at` records the requeue, so a queued run is picked
    up once per time limit."""
    if run.attempts >= MAX_ATTEMPTS:
        _give_up(run, now)
        return False
    run.status = RunStatus.QUEUED
    run.started_at = now
    run.save(update_fields=["status", "started_at"])
    enqueue(run)
    return True


def requeue_stuck() -> int:
    """Runs whose worker is gone go back in the queue (beat, every minute): running with their
    liveness lock free (the worker died, or a database outage outlasted the task's retries),
    however recently they started, and queued ones whose message was lost. A running run whose
    lock is held is never requeued, however old: its attempt is alive (a render stuck for ever
    is killed by the task's hard time limit, which frees the lock). A run tried MAX_ATTEMPTS
    times fails."""
    now = timezone.now()
    requeued = 0
    with transaction.atomic():
        # Rows a claim or a store has locked are skipped: that attempt is alive.
        stuck = list(ReportRun.objects.select_for_update(skip_locked=True).filter(_stuck(now)))
        alive = liveness.holders(r.pk for r in stuck if r.status == RunStatus.RUNNING)
        for run in stuck:
            if run.pk not in alive and _requeue(run, now):
                requeued += 1
    if requeued:
        logger.info("requeued %d stuck report runs", requeued)
    return requeued


def is_stuck(run: ReportRun) -> bool:
    """Has this run lost its worker or its message (what `requeue_stuck` looks for)? Running
    with its lock free, or queued past the time limit with no attempt since."""
    if not ReportRun.objects.filter(_stuck(timezone.now()), pk=run.pk).exists():
        return False
    return run.status != RunStatus.RUNNING or not liveness.is_alive(run.pk)


def requeue_if_stuck(run: ReportRun) -> ReportRun:
    """The run as it is now, put back in the queue first if it is stuck: the user asked for it
    again and need not wait for the sweep. Call it inside the caller's transaction (the row
    stays locked to its end; the task is enqueued after the commit)."""
    locked = locked_run(run.pk)
    if locked is None:  # pragma: no cover - a run is never deleted
        return run
    if is_stuck(locked):
        _requeue(locked, timezone.now())
    return locked
