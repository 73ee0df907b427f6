"""Celery tasks of visits. Thin: they call one service."""

from __future__ import annotations

from django.utils import timezone

from core.typed_tasks import task
from visits import retention
from visits.imports import service as imports
from visits.imports.service import import_purge_files


@task(name="visits.apply_retention", acks_late=True)
def apply_retention() -> int:
    """Anonymise the children due for retention (visits.retention); nightly from beat. Safe to
    run twice: an anonymised child is no longer due. Returns the number anonymised."""
    return retention.retention_apply(today=timezone.localdate(), dry_run=False).children


@task(name="visits.purge_import_files", acks_late=True)
def purge_import_files() -> int:
    """Remove uploaded journal exports older than 30 days (they hold identity numbers); nightly
    from beat. Safe to run twice. Returns the number of files removed."""
    return import_purge_files()


# The journal import's steps (issue 26). Their only argument is the import's id: the file and
# its identity numbers stay in the private store. Late acknowledgement: a worker that dies
# leaves the message to be delivered again, and the import's liveness lock makes a second
# delivery wait or skip (visits.imports.service.import_run).
@task(name="visits.import_preview", acks_late=True)
def import_preview(import_id: str) -> str:
    """Read and classify an uploaded file's rows. Returns the import's status, or "skipped"."""
    return imports.import_run(import_id, step=imports.import_preview)


@task(name="visits.import_commit", acks_late=True)
def import_commit(import_id: str) -> str:
    """Save a claimed import's new rows in one transaction. Returns the status, or "skipped"."""
    return imports.import_run(import_id, step=imports.import_commit_rows)


@task(name="visits.resume_stuck_imports")
def resume_stuck_imports() -> int:
    """Queue again the imports whose worker or message was lost; every minute from beat."""
    return imports.import_resume_stuck()
