"""Celery tasks: thin wrappers around `reporting.runs` (the report runs) and
`reporting.deadlines` (the reminders).

`run_report` gets the run's id only; everything else is read from the database in the worker.
It acknowledges late (a lost worker's message is delivered again; the body is idempotent) and
retries transient database errors with a growing delay, then fails the run with a reason.
"""

from __future__ import annotations

from typing import Any

from core.typed_tasks import bound_task, task
from reporting import deadlines, runs

MAX_RETRIES = 3
RETRY_BASE_SECONDS = 5


def retry_countdown(retries: int) -> int:
    """5, 10, 20 … seconds: exponential backoff."""
    return int(RETRY_BASE_SECONDS * 2**retries)


@bound_task(name="reporting.run_report", acks_late=True, max_retries=MAX_RETRIES)
def run_report(self: Any, run_id: str) -> str:
    try:
        # A retry takes over the run its own earlier attempt left running.
        return runs.run_report_body(run_id, takeover=self.request.retries > 0)
    except runs.TRANSIENT_ERRORS as exc:
        retries = self.request.retries
        if retries >= self.max_retries:
            runs.run_give_up(run_id)
            return runs.Outcome.FAILED
        if self.request.is_eager:
            # No worker to come back later (development without Redis): try again at once.
            return str(run_report.apply(args=[run_id], retries=retries + 1, throw=True).get())
        raise self.retry(exc=exc, countdown=retry_countdown(retries)) from None


@task(name="reporting.requeue_stuck_runs")
def requeue_stuck_runs() -> int:
    return runs.requeue_stuck()


@task(name="reporting.send_deadline_reminders", acks_late=True)
def send_deadline_reminders_task() -> int:
    """Daily from beat. Safe to run twice or on two workers: each reminder is sent once."""
    return deadlines.send_deadline_reminders()
