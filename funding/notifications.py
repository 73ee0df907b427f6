"""E-mail about applications, sent after commit (never on rollback). The start page shows the
same news from the applications themselves, so a lost mail loses nothing."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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
    if not recipients:
        return
    subject = str(SUBJECTS[kind]) % {"centre": application.centre.name, "year": application.year}
    body = "\n".join(
        (
            subject + ".",
            _("Status: %s.") % application.get_status_display(),
            _("Läs mer i Hembesök: %s") % _link(application),
        )
    )
    send_mass_mail(
        [(subject, body, settings.DEFAULT_FROM_EMAIL, [address]) for address in recipients],
        fail_silently=False,
    )


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
    transaction.on_commit(lambda: _send(application, kind, recipients))


def on_commit_notify_centre(application: Application, kind: str) -> None:
    """Tell the centre: its manager and nurses, and whoever drafted or submitted it."""
    ids = set(
        Membership.objects.filter(centre_id=application.centre_id).values_list("user_id", flat=True)
    ) | {application.created_by_id, application.submitted_by_id}
    recipients = _emails(list(User.objects.filter(pk__in=[i for i in ids if i])))
    transaction.on_commit(lambda: _send(application, kind, recipients))
