"""The report-run machinery (issue 18, items 1 and 7; API.md "Reports"): queueing a run,
claiming it, rendering it and storing its file. `reporting.tasks` are thin wrappers around it.

A request (`reporting.services.report_request`) makes a queued run and `enqueue`s
`reporting.run_report` with the run's id only, after commit. The task body (`run_report_body`)
claims the run under a short row lock, renders outside it, and stores the file under the lock
again, only if it still owns the run: a redelivered or repeated task for a finished run does
nothing, and a run taken over by another attempt keeps that attempt's file and checksum.
Rendering never happens in a web worker (with no REDIS_URL, development only, the task runs
eagerly in the calling process). Runs stuck past the time limit are put back in the queue
(`requeue_stuck`, from beat).
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
from reporting import storage
from reporting.models import ACTIVE_STATUSES, ReportRun, RunStatus
from reporting.selectors import current_narratives
from reporting.subjects import Subject

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError)
DEFAULT_TIME_LIMIT = datetime.timedelta(minutes=15)
# A run that has been tried this many times (worker lost, stuck) is given up by requeue_stuck.
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


def _claim(run_id: uuid.UUID, *, takeover: bool) -> tuple[ReportRun, int] | None:
    """Mark the run running (one more attempt) and return it with the attempt's number, or None
    when there is nothing to do: not found, done, failed, or running in another attempt that
    is not stale (unless `takeover`: a retry of the attempt that left it running)."""
    now = timezone.now()
    with transaction.atomic():
        run = locked_run(run_id)
        if run is None or run.status in (RunStatus.DONE, RunStatus.FAILED):
            return None
        if run.status == RunStatus.RUNNING and not takeover:
            stale = run.started_at is None or run.started_at < now - time_limit()
            if not stale:
                return None
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.attempts += 1
        run.error = ""
        run.save(update_fields=["status", "started_at", "attempts", "error"])
        return run, run.attempts


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


def run_report_body(run_id: str | uuid.UUID, *, takeover: bool = False) -> str:
    """Render one run (the Celery task's body; see the module's docstring). Returns an
    `Outcome`. Transient database errors propagate (the task retries); a renderer's Conflict or
    ValidationError fails the run with its message; anything else fails it with a plain reason
    and is logged without its message (which could hold data)."""
    from reporting import renderers

    pk = as_uuid(run_id)
    if pk is None:
        return Outcome.SKIPPED
    claimed = _claim(pk, takeover=takeover)
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


def requeue_stuck() -> int:
    """Runs stuck past the time limit (settings.REPORT_RUN_TIME_LIMIT): running since before
    it (the worker was lost), or queued since before it with no attempt since (the message was
    lost). Each goes back to queued and is enqueued again; `started_at` then records the
    requeue, so a run is picked up once per time limit. A run tried MAX_ATTEMPTS times fails."""
    now = timezone.now()
    cutoff = now - time_limit()
    requeued = 0
    with transaction.atomic():
        stuck = list(
            ReportRun.objects.select_for_update(skip_locked=True).filter(
                Q(status=RunStatus.RUNNING, started_at__lt=cutoff)
                | (
                    Q(status=RunStatus.QUEUED, created_at__lt=cutoff)
                    & (Q(started_at__isnull=True) | Q(started_at__lt=cutoff))
                )
            )
        )
        for run in stuck:
            if run.attempts >= MAX_ATTEMPTS:
                run.status = RunStatus.FAILED
                run.error = _("Rapporten kunde inte skapas efter flera försök. Försök igen.")
                run.finished_at = now
                run.save(update_fields=["status", "error", "finished_at"])
                continue
            run.status = RunStatus.QUEUED
            run.started_at = now
            run.save(update_fields=["status", "started_at"])
            enqueue(run)
            requeued += 1
    if requeued:
        logger.info("requeued %d stuck report runs", requeued)
    return requeued
