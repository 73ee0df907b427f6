"""Housekeeping tasks. Thin: they call one function and own their retries."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.sessions.models import Session
from django.utils import timezone

from core import mail
from core.typed_tasks import bound_task, task


@task(name="core.clear_expired_sessions", acks_late=True)
def clear_expired_sessions() -> int:
    """Delete sessions past their expiry (idle sessions expire after 30 minutes; their rows stay
    until this runs). Scheduled daily by beat."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@bound_task(name="core.send_mail", acks_late=True, max_retries=8)
def send_mail(self: Any, mail_id: str) -> bool:
    """Send one outbox row (core.mail). A mail server that is down is tried again after 1, 2,
    4 ... minutes (at most an hour apart); after that the sweep takes over."""
    try:
        return mail.send_one(uuid.UUID(mail_id))
    except mail.MailNotSent as exc:
        countdown = min(60 * 2**self.request.retries, 3600)
        raise self.retry(exc=exc, countdown=countdown) from exc


@task(name="core.send_pending_mail", acks_late=True)
def send_pending_mail() -> int:
    """Queue again the outbox rows whose message was lost (broker down at commit, a worker that
    died). Scheduled every 10 minutes by beat."""
    ids = mail.pending_ids()
    mail.enqueue(ids)
    return len(ids)
