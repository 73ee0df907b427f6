"""Housekeeping tasks. Thin: they call one function and own their retries."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.utils import timezone

from core.typed_tasks import task


@task(name="core.clear_expired_sessions", acks_late=True)
def clear_expired_sessions() -> int:
    """Delete sessions past their expiry (idle sessions expire after 30 minutes; their rows stay
    until this runs). Scheduled daily by beat."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
