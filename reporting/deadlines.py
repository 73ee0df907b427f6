"""What is due when (DOMAIN.md 4.2, 4.3 and 5; API.md `GET /api/v1/deadlines/`), and the e-mail
reminders 30, 7 and 1 days before.

Deadlines are computed, not stored: every grant from Socialstyrelsen or SKL owes a report by its
`report_due`, every grant must be used by its `use_by`, and every centre that had fixed
compensation in a year owes Hälsovalsenheten an annual account by 31 January of the next year.
A deadline is answered by a submitted report run (or, for a use-by date, by closing the grant).
Everything is read in a constant number of queries, whatever the number of grants and centres.

A reminder is recorded (`ReminderSent`, unique per deadline and threshold) in the same
transaction that queues its mail after commit, so two beat workers running at once still send
each reminder once.
"""

from __future__ import annotations

import datetime
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.mail import queue_mail
from core.models import Membership, User
from core.scoping import scope_of
from funding.models import Application, ApplicationQuerySet, Grant
from reporting.models import ReminderSent, ReportKind, ReportRun
from reporting.permissions import DEADLINE_ROLES
from reporting.subjects import GRANT_REPORT_KINDS, KIND_FUNDER

logger = logging.getLogger(__name__)

# Days before the due date; each is sent once. Largest first (see `_threshold`).
REMINDER_DAYS = (30, 7, 1)
# The page the reminders link to (reporting.urls.deadline_urlpatterns, included as "deadlines").
PAGE_URL_NAME = "deadlines:overview"


class DeadlineKind:
    GRANT_REPORT = "grant_report"
    USE_BY = "use_by"
    CENTRE_ACCOUNT = "centre_account"

    choices = (
        (GRANT_REPORT, gettext_lazy("Återrapportering av bidrag")),
        (USE_BY, gettext_lazy("Bidraget ska vara använt")),
        (CENTRE_ACCOUNT, gettext_lazy("Årsredovisning till Hälsovalsenheten")),
    )
    values = tuple(value for value, _label in choices)


class DeadlineStatus:
    OPEN = "open"
    SUBMITTED = "submitted"
    OVERDUE = "overdue"

    choices = (
        (OPEN, gettext_lazy("Öppen")),
        (SUBMITTED, gettext_lazy("Inlämnad")),
        (OVERDUE, gettext_lazy("Försenad")),
    )
    values = tuple(value for value, _label in choices)


# The grants whose funder asks for a report, and the report kind that answers it.
REPORTING_FUNDERS: dict[str, ReportKind] = {funder: kind for kind, funder in KIND_FUNDER.items()}


@dataclass(frozen=True)
class Deadline:
    key: str  # stable: "grant_report:<grant>", "use_by:<grant>", "centre_account:<centre>:<year>"
    kind: str  # DeadlineKind
    title: str  # what is due, in Swedish ("Återrapportering till Socialstyrelsen")
    subject: str  # what it is about ("Socialstyrelsen 23RS9581 (2023)", "Varberga 2025")
    organisation: uuid.UUID
    due: datetime.date
    status: str  # DeadlineStatus
    report: uuid.UUID | None  # the submitted run that answers it

    @property
    def is_overdue(self) -> bool:
        return self.status == DeadlineStatus.OVERDUE

    @property
    def is_submitted(self) -> bool:
        return self.status == DeadlineStatus.SUBMITTED

    def days_left(self, today: datetime.date) -> int:
        return (self.due - today).days

    @property
    def sort_key(self) -> tuple[str, str, str]:
        """Due date first; a unique total order (the API's cursor relies on it)."""
        return (self.due.isoformat(), self.subject, self.key)

    @property
    def position(self) -> str:
        """The sort key as one string, the API's cursor position: joined by a character that
        sorts before any a subject or key holds, so it orders as the sort key does."""
        return POSITION_SEPARATOR.join(self.sort_key)


POSITION_SEPARATOR = "\x01"
POSITION = re.compile(r"\d{4}-\d{2}-\d{2}\x01.*\x01.+", re.DOTALL)


def matching(
    deadlines: Iterable[Deadline],
    *,
    status: str | None = None,
    kind: str | None = None,
    organisation: uuid.UUID | None = None,
) -> list[Deadline]:
    """The deadlines of a status, a kind and an organisation (each when given), in order."""
    return [
        d
        for d in deadlines
        if status in (None, d.status)
        and kind in (None, d.kind)
        and organisation in (None, d.organisation)
    ]


class SortedDeadlines:
    """Deadlines shaped like the QuerySet that core's CursorPagination pages: it orders them by
    `position`, keeps those past a cursor's position and slices. So `GET /api/v1/deadlines/`
    is paged like every other collection (the same links and `page_size`, a page that stays
    put when an earlier deadline is added), although deadlines are computed, not rows.

    Positions are unique, so every cursor this list hands out names one; a cursor without a
    position, or with one that is not a deadline's, is forged: a ValidationError, which core's
    pagination answers with 404 as for any invalid cursor."""

    def __init__(
        self,
        deadlines: Iterable[Deadline],
        *,
        after_cursor: bool = False,  # the request carries a cursor
        descending: bool = False,
        positioned: bool = False,  # kept past a cursor's position
    ) -> None:
        self._rows = sorted(deadlines, key=lambda d: d.position, reverse=descending)
        self._after_cursor = after_cursor
        self._descending = descending
        self._positioned = positioned

    def order_by(self, *fields: str) -> SortedDeadlines:
        if fields not in (("position",), ("-position",)):
            raise ValueError(f"deadlines are ordered by position, not {fields}")
        return SortedDeadlines(
            self._rows, after_cursor=self._after_cursor, descending=fields[0].startswith("-")
        )

    def filter(self, **lookup: str) -> SortedDeadlines:
        ((name, value),) = lookup.items()
        if name not in ("position__gt", "position__lt"):
            raise ValueError(f"deadlines are filtered by position, not {name}")
        if not isinstance(value, str) or not POSITION.fullmatch(value):
            raise ValidationError("not a deadline's position")
        after = name == "position__gt"
        return SortedDeadlines(
            [d for d in self._rows if (d.position > value if after else d.position < value)],
            after_cursor=self._after_cursor,
            descending=self._descending,
            positioned=True,
        )

    def __getitem__(self, index: slice) -> list[Deadline]:
        if self._after_cursor and not self._positioned:
            raise ValidationError("a cursor without a position")
        return self._rows[index]


# --- Which centres had fixed compensation in a year -------------------------------------------
# --- Deadlines --------------------------------------------------------------------------------
def _grant_subject(grant: Grant) -> str:
    return f"{grant.get_funder_display()} {grant.reference} ({grant.year})"


def _status(due: datetime.date, submitted: bool, today: datetime.date) -> str:
    if submitted:
        return DeadlineStatus.SUBMITTED
    return DeadlineStatus.OVERDUE if due < today else DeadlineStatus.OPEN


def _collect(
    *,
    grants: QuerySet[Grant],
    applications: ApplicationQuerySet,
    runs: QuerySet[ReportRun],
    today: datetime.date,
) -> list[Deadline]:
    """Three queries: grants, applications with their centres, submitted runs."""
    grant_rows = list(
        grants.only(
            "id",
            "organisation_id",
            "funder",
            "reference",
            "year",
            "use_by",
            "report_due",
            "closed_at",
        ).order_by()
    )
    fixed = list(
        applications.fixed_in_year()
        .select_related("centre")
        .only("id", "year", "centre__id", "centre__name", "centre__organisation_id")
        .order_by()
    )
    submitted: dict[tuple[object, ...], uuid.UUID] = {}
    for run_id, kind, grant_id, centre_id, year in (
        runs.filter(
            submitted_at__isnull=False,
            kind__in=[*GRANT_REPORT_KINDS, ReportKind.HALSOVAL],
        )
        .order_by("submitted_at")
        .values_list("id", "kind", "grant_id", "centre_id", "year")
    ):
        if kind == ReportKind.HALSOVAL:
            submitted.setdefault((DeadlineKind.CENTRE_ACCOUNT, centre_id, year), run_id)
        else:
            submitted.setdefault((DeadlineKind.GRANT_REPORT, grant_id), run_id)

    deadlines: list[Deadline] = []
    for grant in grant_rows:
        subject = _grant_subject(grant)
        report_kind = REPORTING_FUNDERS.get(grant.funder)
        if report_kind is not None:
            run = submitted.get((DeadlineKind.GRANT_REPORT, grant.pk))
            deadlines.append(
                Deadline(
                    key=f"{DeadlineKind.GRANT_REPORT}:{grant.pk}",
                    kind=DeadlineKind.GRANT_REPORT,
                    title=str(report_kind.label),
                    subject=subject,
                    organisation=grant.organisation_id,
                    due=grant.report_due,
                    status=_status(grant.report_due, run is not None, today),
                    report=run,
                )
            )
        deadlines.append(
            Deadline(
                key=f"{DeadlineKind.USE_BY}:{grant.pk}",
                kind=DeadlineKind.USE_BY,
                title=_("Sista dag att använda bidraget"),
                subject=subject,
                organisation=grant.organisation_id,
                due=grant.use_by,
                # Closing the grant settles its use: what is unused is then to be repaid.
                status=_status(grant.use_by, grant.closed_at is not None, today),
                report=None,
            )
        )
    for application in fixed:
        centre = application.centre
        # DOMAIN.md 4.2: "by the end of January of the following year".
        due = datetime.date(application.year + 1, 1, 31)
        run = submitted.get((DeadlineKind.CENTRE_ACCOUNT, centre.pk, application.year))
        deadlines.append(
            Deadline(
                key=f"{DeadlineKind.CENTRE_ACCOUNT}:{centre.pk}:{application.year}",
                kind=DeadlineKind.CENTRE_ACCOUNT,
                title=str(ReportKind.HALSOVAL.label),
                subject=f"{centre.name} {application.year}",
                organisation=centre.organisation_id,
                due=due,
                status=_status(due, run is not None, today),
                report=run,
            )
        )
    deadlines.sort(key=lambda d: d.sort_key)
    return deadlines


def deadlines_for(user: User, today: datetime.date | None = None) -> list[Deadline]:
    """Every deadline of the organisations where `user` is CBHV or finance, by due date (none
    for other roles)."""
    organisation_ids = scope_of(user).organisation_ids(*DEADLINE_ROLES)
    if not organisation_ids:
        return []
    return _collect(
        grants=Grant.objects.for_user(user).filter(organisation_id__in=organisation_ids),
        applications=Application.objects.for_user(user).filter(
            centre__organisation_id__in=organisation_ids
        ),
        runs=ReportRun.objects.filter(organisation_id__in=organisation_ids),
        today=today or timezone.localdate(),
    )


def all_deadlines(today: datetime.date | None = None) -> list[Deadline]:
    """Every organisation's deadlines (for the reminder job, which acts for no user)."""
    return _collect(
        grants=Grant.objects.all(),
        applications=Application.objects.all(),
        runs=ReportRun.objects.all(),
        today=today or timezone.localdate(),
    )


# --- Reminders --------------------------------------------------------------------------------
def _threshold(days_left: int) -> int | None:
    """The reminder a deadline `days_left` ahead is due for: the smallest threshold not below
    it, so a reminder missed while beat was down goes out late (a 7-day one at 6 days), but an
    earlier, larger one is never sent once a smaller one's window has begun (no "30 days" at
    6 days). Due today still gets its 1-day reminder; past due gets none."""
    if days_left < 0:
        return None
    candidates = [days for days in REMINDER_DAYS if days_left <= days]
    return min(candidates) if candidates else None


def _recipients(organisation_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The e-mail addresses of each organisation's active CBHV and finance users (one query)."""
    found: dict[uuid.UUID, set[str]] = defaultdict(set)
    rows = (
        Membership.objects.filter(
            organisation_id__in=list(organisation_ids),
            role__in=DEADLINE_ROLES,
            user__is_active=True,
        )
        .exclude(user__email="")
        .values_list("organisation_id", "user__email")
    )
    for organisation_id, email in rows:
        found[organisation_id].add(email)
    return {org: sorted(emails) for org, emails in found.items()}


def _record_once(key: str, days_before: int, recipients: int) -> bool:
    """Insert the reminder's row unless it exists (also one that another worker has inserted
    and not yet committed: PostgreSQL makes this insert wait for it). True if this call
    inserted it. Django's `get_or_create` would need a savepoint and an IntegrityError per
    duplicate; ON CONFLICT DO NOTHING says it in one statement."""
    table = connection.ops.quote_name(ReminderSent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            # `table` is the model's own table name, quoted; the values go as parameters.
            f"INSERT INTO {table} (deadline, days_before, recipients, sent_at) "  # noqa: S608 # nosec B608
            "VALUES (%s, %s, %s, %s) ON CONFLICT (deadline, days_before) DO NOTHING RETURNING id",
            [key, days_before, recipients, timezone.now()],
        )
        return cursor.fetchone() is not None


def _page_link() -> str:
    return settings.SITE_URL + reverse(PAGE_URL_NAME)


def _days_text(days_left: int) -> str:
    if days_left == 0:
        return _("i dag")
    return ngettext("om %(n)d dag", "om %(n)d dagar", days_left) % {"n": days_left}


def reminder_message(
    deadline: Deadline, today: datetime.date, recipients: list[str]
) -> EmailMessage:
    """The reminder: what is due, for what, when, and where to see it. Aggregates only: the
    subject is a grant reference or a centre, never a person."""
    days_left = deadline.days_left(today)
    due = deadline.due.isoformat()
    subject = _("Påminnelse: %(title)s, %(subject)s, senast %(due)s") % {
        "title": deadline.title,
        "subject": deadline.subject,
        "due": due,
    }
    lines = [
        _("%(title)s för %(subject)s ska vara klar senast %(due)s (%(when)s).")
        % {
            "title": deadline.title,
            "subject": deadline.subject,
            "due": due,
            "when": _days_text(days_left),
        },
        _("Den är ännu inte markerad som inlämnad i Hembesök."),
    ]
    lines += [
        _("Se allt som ska rapporteras: %s") % _page_link(),
        "",
        _("Du får detta som CBHV eller ekonomi i organisationen."),
    ]
    return EmailMessage(
        subject=subject,
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )


def _send_after_commit(message: EmailMessage) -> None:
    # Into the outbox in the reminder's transaction, one row per recipient; Celery sends them
    # after commit and retries a mail server that is down (core.mail). The reminder stays
    # recorded (sent at most once); the page shows the deadline all the same.
    queue_mail(to=message.to, subject=str(message.subject), body=str(message.body))


def send_deadline_reminders(today: datetime.date | None = None) -> int:
    """Queue one mail per open deadline and threshold that is due today (or was missed),
    to all of the organisation's CBHV and finance users. Returns how many were queued."""
    today = today or timezone.localdate()
    pending = [
        (deadline, days)
        for deadline in all_deadlines(today)
        if deadline.status == DeadlineStatus.OPEN
        and (days := _threshold(deadline.days_left(today))) is not None
    ]
    if not pending:
        return 0
    recipients = _recipients({deadline.organisation for deadline, _days in pending})
    queued = 0
    for deadline, days in pending:
        to = recipients.get(deadline.organisation, [])
        if not to:
            continue  # nobody to tell yet: try again tomorrow
        with transaction.atomic():
            if not _record_once(deadline.key, days, len(to)):
                continue
            _send_after_commit(reminder_message(deadline, today, to))
            queued += 1
            logger.info("Deadline reminder queued: %s, %d days before", deadline.key, days)
    return queued
