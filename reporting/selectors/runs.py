"""Reads of report runs and narrative sections, scoped to the user where a user asks: the runs she
may see, the subjects she may request or write texts for, and what a subject has (its active
and submitted runs, its current texts and their history). Scoping follows
`reporting.permissions`; each function here is its QuerySet form.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from core.dates import MAX_YEAR, MIN_YEAR
from core.models import Centre, Organisation, Role, User
from funding.models import Application, Grant
from reporting.models import (
    ACTIVE_STATUSES,
    CENTRE_KINDS,
    GRANT_KINDS,
    PER_REQUEST_KINDS,
    SUBMITTABLE_KINDS,
    NarrativeVersion,
    ReportKind,
    ReportRun,
    RunStatus,
)
from reporting.narratives import SECTIONS
from reporting.permissions import (
    LOG_EXTRACT_ROLES,
    ORGANISATION_ROLES,
    may_read_subject,
    may_submit,
    requestable_kinds,
)
from reporting.subjects import (
    KIND_FUNDER,
    Subject,
    missing_sections,
    outdated_reason,
    preliminary_reason,
)


# --- Runs -------------------------------------------------------------------------------------
def report_runs(
    *,
    user: User,
    kind: str | None = None,
    year: int | None = None,
    status: str | None = None,
) -> QuerySet[ReportRun]:
    """The runs the user may see and download, newest first, optionally of one kind, year or
    status: every run of the organisations where she is finance or CBHV; the Hälsoval accounts
    of the centres she manages; the log extracts of the organisations where she is log
    reviewer, and those only to her. Nobody else sees any (`permissions.may_read_subject`)."""
    scope = user.scope
    runs = ReportRun.objects.filter(
        (
            Q(organisation_id__in=scope.organisation_ids(*ORGANISATION_ROLES))
            | Q(kind__in=CENTRE_KINDS, centre_id__in=scope.centre_ids(Role.CENTRE_MANAGER))
        )
        & ~Q(kind__in=PER_REQUEST_KINDS)
        | Q(
            kind__in=PER_REQUEST_KINDS,
            organisation_id__in=scope.organisation_ids(*LOG_EXTRACT_ROLES),
        )
    ).select_related("organisation", "grant", "centre", "requested_by", "submitted_by")
    if kind is not None:
        runs = runs.filter(kind=kind)
    if year is not None:
        runs = runs.filter(year=year)
    if status is not None:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-id")


def active_run(subject: Subject) -> ReportRun | None:
    """The subject's run that is queued or running (there is at most one)."""
    return ReportRun.objects.filter(**subject.lookup(), status__in=ACTIVE_STATUSES).first()


def submitted_run_id(subject: Subject, *, other_than: uuid.UUID | None = None) -> uuid.UUID | None:
    """The id of the subject's submitted run (there is at most one), other than `other_than`."""
    runs = ReportRun.objects.filter(**subject.lookup(), submitted_at__isnull=False)
    if other_than is not None:
        runs = runs.exclude(pk=other_than)
    return runs.values_list("pk", flat=True).first()


def is_submitted(subject: Subject) -> bool:
    return ReportRun.objects.filter(**subject.lookup(), submitted_at__isnull=False).exists()


@dataclass(frozen=True)
class Submission:
    """Where a run stands for the user who would submit it: whether she is the one who submits
    it and it is ready for that (done, not yet submitted), and else what stands in the way, in
    words: the period (`preliminary`), empty sections, a file made before either was settled."""

    submitter: bool  # her role submits this run, and it is done and not yet submitted
    preliminary: str
    missing_sections: list[str]
    outdated: str

    @property
    def can_submit(self) -> bool:
        return self.submitter and not (self.preliminary or self.missing_sections or self.outdated)


def submission(*, user: User, run: ReportRun) -> Submission:
    """One query for the texts when she submits it and the period is over, none otherwise."""
    subject = Subject.of(run)
    submitter = run.status == RunStatus.DONE and run.submitted_at is None and may_submit(user, run)
    preliminary = (
        preliminary_reason(subject)
        if run.kind in SUBMITTABLE_KINDS and run.submitted_at is None
        else ""
    )
    missing: list[str] = []
    outdated = ""
    if submitter:
        current = current_narratives(subject)
        missing = missing_sections(subject, current)
        if not (preliminary or missing):
            outdated = outdated_reason(run, current)
    return Submission(submitter, preliminary, missing, outdated)


# --- Narratives -------------------------------------------------------------------------------
def current_narratives(subject: Subject) -> dict[str, NarrativeVersion]:
    """The latest version of each written section of the subject (one query)."""
    if subject.kind not in SECTIONS:
        return {}
    versions = (
        NarrativeVersion.objects.filter(**subject.lookup())
        .order_by("section", "-version")
        .distinct("section")
    )
    return {v.section: v for v in versions}


def narrative_versions(subject: Subject) -> QuerySet[NarrativeVersion]:
    """Every version of every section of the subject, newest first per section."""
    return (
        NarrativeVersion.objects.filter(**subject.lookup())
        .select_related("written_by")
        .order_by("section", "-version")
    )


# --- What a user may request or write ----------------------------------------------------------
def centres_for_requests(*, user: User) -> QuerySet[Centre]:
    """Centres the user may request an account for: her organisations' (finance, CBHV), or the
    ones she manages."""
    scope = user.scope
    return Centre.objects.filter(
        Q(organisation_id__in=scope.organisation_ids(*ORGANISATION_ROLES))
        | Q(pk__in=scope.centre_ids(Role.CENTRE_MANAGER))
    )


def has_fixed_compensation_in(centre: Centre, year: int) -> bool:
    """The centre had fixed compensation on at least one day of `year` (it owes an account)."""
    return Application.objects.filter(centre_id=centre.pk, year=year).fixed_in_year().exists()


@dataclass(frozen=True)
class RequestOptions:
    """What the request form offers the user: the kinds she may request, and the grants,
    centres and organisations she may request them for."""

    kinds: list[str]
    grants: list[Grant]
    centres: list[Centre]
    organisations: list[Organisation]


def request_options(*, user: User) -> RequestOptions:
    """Three queries at most (none for grants when she works for no organisation as a whole)."""
    organisation_ids = user.scope.organisation_ids(*ORGANISATION_ROLES)
    grants = (
        list(Grant.objects.for_user(user).order_by("-year", "funder", "reference"))
        if organisation_ids
        else []
    )
    return RequestOptions(
        kinds=requestable_kinds(user),
        grants=grants,
        centres=list(centres_for_requests(user=user).order_by("name")),
        organisations=list(Organisation.objects.filter(pk__in=organisation_ids).order_by("name")),
    )


@dataclass(frozen=True)
class NarrativeSubject:
    """A report whose texts the user writes or reads: its kind, year and grant or centre."""

    kind: str
    year: int
    pk: uuid.UUID  # the grant's or the centre's id
    label: str


def grant_label(grant: Grant) -> str:
    return f"{grant.get_funder_display()} {grant.reference} ({grant.year})"


def narrative_subjects(*, user: User) -> list[NarrativeSubject]:
    """The reports whose texts the user writes or reads (two queries): the grant reports of her
    grants, and the accounts of the centres she may request one for, in the years they had
    fixed compensation."""
    kind_of: dict[str, ReportKind] = {str(funder): kind for kind, funder in KIND_FUNDER.items()}
    grants = (
        Grant.objects.for_user(user)
        .filter(funder__in=list(KIND_FUNDER.values()))
        .order_by("-year", "reference")
    )
    rows = [
        NarrativeSubject(
            kind=kind_of[grant.funder],
            year=grant.year,
            pk=grant.pk,
            label=f"{ReportKind(kind_of[grant.funder]).label}: {grant_label(grant)}",
        )
        for grant in grants
    ]
    applications = (
        Application.objects.filter(centre__in=centres_for_requests(user=user))
        .fixed_in_year()
        .select_related("centre")
        .order_by("-year", "centre__name")
    )
    rows += [
        NarrativeSubject(
            kind=ReportKind.HALSOVAL,
            year=application.year,
            pk=application.centre_id,
            label=f"{ReportKind.HALSOVAL.label}: {application.centre.name} {application.year}",
        )
        for application in applications
    ]
    return rows


def narrative_subject(*, user: User, kind: str, year: int, pk: uuid.UUID) -> Subject | None:
    """The subject of a narrative page, if the user may read it: a grant report of her grant
    from the kind's funder, or the account of a centre she may request one for in a year it
    had fixed compensation. None otherwise (the page's 404)."""
    if kind not in SECTIONS or not MIN_YEAR <= year <= MAX_YEAR:
        return None
    subject: Subject | None = None
    if kind in GRANT_KINDS:
        grant = (
            Grant.objects.for_user(user)
            .select_related("organisation")
            .filter(pk=pk, year=year, funder=KIND_FUNDER.get(ReportKind(kind)))
            .first()
        )
        if grant is not None:
            subject = Subject(kind, grant.organisation, year, grant=grant)
    elif kind in CENTRE_KINDS:
        centre = (
            centres_for_requests(user=user).select_related("organisation").filter(pk=pk).first()
        )
        # No fixed compensation that year: no account to write.
        if centre is not None and has_fixed_compensation_in(centre, year):
            subject = Subject(kind, centre.organisation, year, centre=centre)
    if subject is None or not may_read_subject(user, subject):
        return None
    return subject
