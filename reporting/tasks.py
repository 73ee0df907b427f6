"""Celery tasks: thin wrappers around `reporting.runs` (the report runs) and
`reporting.deadlines` (the reminders).

`run_report` gets the run's id only; everything else is read from the database in the worker.
It acknowledges late (a lost worker's message is delivered again at once, and the body, which
takes over a run whose worker died, is idempotent) and retries transient database errors with a
growing delay, then fails the run with a reason. When the database is still away by then, the
run stays `running` with no live worker and `requeue_stuck` queues it again once it is back.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from core.typed_tasks import bound_task, task
from reporting import deadlines, runs

logger = logging.getLogger(__name__)

MAX_RETRIES = 3
RETRY_BASE_SECONDS: int = settings.REPORT_TASK_RETRY_BASE_SECONDS


def retry_countdown(retries: int) -> int:
    """5, 10, 20 … seconds (with the default base): exponential backoff."""
    return int(RETRY_BASE_SECONDS * 2**retries)


@bound_task(name="reporting.run_report", acks_late=True, max_retries=MAX_RETRIES)
def run_report(self: Any, run_id: str) -> str:
    try:
        return runs.run_report_body(run_id)
    except runs.TRANSIENT_ERRORS as exc:
        retries = self.request.retries
        if retries >= self.max_retries:
            try:
                runs.run_give_up(run_id)
            except runs.TRANSIENT_ERRORS:
                # Still no database: the run stays running with no live attempt, and the sweep
                # queues it again when the database is back.
                logger.warning(
                    "report run %s: database still unavailable, left to the sweep", run_id
                )
            return runs.Outcome.FAILED
        if self.request.is_eager:
            # No worker to come back later (development without Redis): try again at once.
            return str(run_report.apply(args=[run_id], retries=retries + 1, throw=True).get())
        raise self.retry(exc=exc, countdown=retry_countdown(retries)) from None


@task(name="reporting.requeue_stuck_runs")
def requeue_stuck_runs() -> int:
    try:
        return runs.requeue_stuck()
    except runs.TRANSIENT_ERRORS:
        # Beat sends the next sweep in a minute; a traceback each minute of an outage says no more.
        logger.warning("stuck report runs: the database is unavailable; the next sweep retries")
        return 0


@task(name="reporting.send_deadline_reminders", acks_late=True)
def send_deadline_reminders_task() -> int:
    """Daily from beat. Safe to run twice or on two workers: each reminder is sent once."""
    return deadlines.send_deadline_reminders()
