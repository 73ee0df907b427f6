"""E-mail about applications: written to the outbox in the decision's transaction and sent by
Celery after commit (core.mail), so a rollback sends nothing and a mail server that is down
never fails the decision. The start page shows the same news from the applications themselves."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.mail import queue_mail
from core.models import Membership, Role, User
from funding.models import Application, TransitionKind

SUBJECTS: dict[str, Promise] = {
    TransitionKind.SUBMITTED: gettext_lazy("Ny ansökan om fast ersättning: %(centre)s %(year)s"),
    TransitionKind.RESUBMITTED: gettext_lazy("Kompletterad ansökan: %(centre)s %(year)s"),
    TransitionKind.WITHDRAWN: gettext_lazy("Ansökan återtagen: %(centre)s %(year)s"),
    TransitionKind.CHANGES_REQUESTED: gettext_lazy("Komplettering begärd: %(centre)s %(year)s"),
    TransitionKind.APPROVED: gettext_lazy("Ansökan beviljad: %(centre)s %(year)s"),
    TransitionKind.REJECTED: gettext_lazy("Ansökan avslagen: %(centre)s %(year)s"),
}


def _link(application: Application) -> str:
    return settings.SITE_URL + reverse("funding:application", args=[application.pk])


def _send(application: Application, kind: str, recipients: list[str]) -> None:
    subject = str(SUBJECTS[kind]) % {"centre": application.centre.name, "year": application.year}
    body = "\n".join(
        (
            subject + ".",
            _("Status: %s.") % application.get_status_display(),
            _("Läs mer i Hembesök: %s") % _link(application),
        )
    )
    queue_mail(to=recipients, subject=subject, body=body)


def _emails(users: list[User]) -> list[str]:
    return sorted({u.email for u in users if u.email and u.is_active})


def on_commit_notify_deciders(application: Application, kind: str) -> None:
    """Tell the organisation's CBHV coordinators (after commit)."""
    org_id = application.centre.organisation_id
    users = list(
        User.objects.filter(
            memberships__organisation_id=org_id, memberships__role=Role.CBHV
        ).distinct()
    )
    recipients = _emails(users)
    _send(application, kind, recipients)


def on_commit_notify_centre(application: Application, kind: str) -> None:
    """Tell the centre: its manager and nurses, and whoever drafted or submitted it."""
    ids = set(
        Membership.objects.in_force()
        .filter(centre_id=application.centre_id)
        .values_list("user_id", flat=True)
    ) | {application.created_by_id, application.submitted_by_id}
    recipients = _emails(list(User.objects.filter(pk__in=[i for i in ids if i])))
    _send(application, kind, recipients)
