"""E-mail through an outbox (issue 25, item 9).

`queue_mail()` writes one `OutgoingMail` row per recipient in the caller's transaction, and
after commit asks Celery to send each (`core.send_mail`, retried with backoff). So:

- a rolled-back decision sends nothing, and a committed one never loses its mail: if the broker
  is down at commit time, or a worker dies, the beat sweep (`core.send_pending_mail`) queues the
  row again;
- a mail server that is down never fails the request that caused the mail; the row records the
  attempts and the last error (visible in the admin);
- each row is sent at most once: sending locks the row and marks it sent in one transaction.

Mail never carries a child's data: decisions and reminders name centres, years and grants.
"""

from __future__ import annotations

import datetime
import logging
import smtplib
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from core.models import OutgoingMail

logger = logging.getLogger(__name__)

# A row still unsent this long after it was written was not (or no longer) in the queue.
SWEEP_AFTER = datetime.timedelta(minutes=10)
# After this many failed attempts the sweep stops; the admin shows the row and its last error.
MAX_ATTEMPTS = 20


class MailNotSent(Exception):
    """The mail server refused or could not be reached; the task retries."""


def queue_mail(*, to: Iterable[str], subject: str, body: str) -> list[OutgoingMail]:
    """Write one outbox row per distinct recipient; Celery sends them after commit."""
    recipients = sorted({address for address in to if address})
    if not recipients:
        return []
    mails = OutgoingMail.objects.bulk_create(
        [OutgoingMail(to=address, subject=subject[:200], body=body) for address in recipients]
    )
    ids = [mail.pk for mail in mails]
    transaction.on_commit(lambda: enqueue(ids))
    return mails


def enqueue(ids: Iterable[uuid.UUID]) -> None:
    """Hand rows to Celery. A broker that cannot be reached (or, without Redis, a send that
    failed in the calling process) is logged and left to the sweep: never the caller's error."""
    from core.tasks import send_mail

    for mail_id in ids:
        try:
            send_mail.delay(str(mail_id))
        except Exception:
            logger.warning("Mail %s not sent now; the outbox sweep tries again", mail_id)


def send_one(mail_id: uuid.UUID) -> bool:
    """Send one outbox row unless it was sent already (or another worker holds it). True when
    it was sent now. A mail server error is recorded on the row and raised as MailNotSent."""
    error = ""
    with transaction.atomic():
        mail = (
            OutgoingMail.objects.select_for_update(skip_locked=True)
            .filter(pk=mail_id, sent__isnull=True)
            .first()
        )
        if mail is None:
            return False
        mail.attempts += 1
        message = EmailMessage(
            subject=mail.subject,
            body=mail.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[mail.to],
        )
        try:
            message.send(fail_silently=False)
        except (smtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            mail.last_error = error
            mail.save(update_fields=["attempts", "last_error"])
        else:
            mail.sent = timezone.now()
            mail.last_error = ""
            mail.save(update_fields=["attempts", "sent", "last_error"])
    if error:
        raise MailNotSent(error)
    return True


def pending_ids(now: datetime.datetime | None = None) -> list[uuid.UUID]:
    """Unsent rows old enough that their queue message was lost, and not given up on."""
    now = now or timezone.now()
    return list(
        OutgoingMail.objects.filter(
            sent__isnull=True, created__lt=now - SWEEP_AFTER, attempts__lt=MAX_ATTEMPTS
        )
        .order_by("created")
        .values_list("pk", flat=True)[:500]
    )
