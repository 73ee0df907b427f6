"""Celery tasks of visits. Thin: they call one service."""

from __future__ import annotations

from django.utils import timezone

from core.typed_tasks import task
from visits import retention


@task(name="visits.apply_retention", acks_late=True)
def apply_retention() -> int:
    """Anonymise the children due for retention (visits.retention); nightly from beat. Safe to
    run twice: an anonymised child is no longer due. Returns the number anonymised."""
    return retention.retention_apply(today=timezone.localdate(), dry_run=False).children
