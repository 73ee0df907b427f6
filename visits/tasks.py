"""Celery tasks of visits. Thin: they call one service."""

from __future__ import annotations

from django.utils import timezone

from core.typed_tasks import task
from visits import retention
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
