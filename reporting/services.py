"""The report-run machinery (issue 18, items 1 and 7; API.md "Reports").

A request makes a queued run and enqueues `reporting.run_report` with the run's id only, after
commit; the same request while a run is queued or running gets that run; a submitted report is
never replaced. The task body (`run_report_body`) claims the run under a short row lock, renders
outside it, and stores the file under the lock again, only if it still owns the run: a
redelivered or repeated task for a finished run does nothing, and a run taken over by another
attempt keeps that attempt's file and checksum. Rendering never happens in a web worker (with
no REDIS_URL, development only, the task runs eagerly in the calling process).

Who may do what: finance and CBHV of the organisation request and read every report; a centre
manager requests and reads the Hälsoval account of her centre. Narrative sections are written by
CBHV (Socialstyrelsen, SKL) and by the centre manager of the centre (Hälsoval), until the report
is submitted; only that role submits the report (API.md "Money at the edges"), and only once its
period is over: a Socialstyrelsen report (and the auditor bundle) for a closed grant, a Hälsoval
account or SKL report after its year. Before that a run can still be made; it is "Preliminär"
(`preliminary_reason`, the one rule behind the mark, the submit's 409 and the bundle's 409).
"""

from __future__ import annotations

import datetime
import logging
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.dates import MAX_YEAR, MIN_YEAR
from core.exceptions import Conflict
from core.models import Centre, Organisation, Role, User
from core.scoping import scope_of
from funding.models import Application, Funder, Grant
from reporting import storage
from reporting.models import (
    ACTIVE_STATUSES,
    CENTRE_KINDS,
    GRANT_KINDS,
    SUBMITTABLE_KINDS,
    NarrativeVersion,
    ReportKind,
    ReportRun,
    RunStatus,
)
from reporting.narratives import SECTIONS
from visits.identity import mask_identities

logger = logging.getLogger(__name__)

# Organisation-wide roles that request and read every report of their organisation.
ORGANISATION_ROLES = (Role.FINANCE, Role.CBHV)
# Everyone who may ever request or read a report (the 403 before anything is looked up).
REPORT_ROLES = (Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER)
# Who submits: the role that writes the report's narratives (`may_submit`); finance never does.
SUBMIT_ROLES = (Role.CBHV, Role.CENTRE_MANAGER)
NARRATIVE_ROLES = (Role.CBHV, Role.CENTRE_MANAGER)
# A grant report is about a grant from this funder (the auditor bundle takes any grant).
KIND_FUNDER = {ReportKind.SOCIALSTYRELSEN: Funder.SOCIALSTYRELSEN, ReportKind.SKL: Funder.SKL}
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
DEFAULT_TIME_LIMIT = datetime.timedelta(minutes=15)
# A run that has been tried this many times (worker lost, stuck) is given up by requeue_stuck.
MAX_ATTEMPTS = 5
NARRATIVE_MAX_LENGTH = 20_000


def time_limit() -> datetime.timedelta:
    """settings.REPORT_RUN_TIME_LIMIT: seconds or a timedelta (default 15 minutes)."""
    value = getattr(settings, "REPORT_RUN_TIME_LIMIT", DEFAULT_TIME_LIMIT)
    if isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(seconds=int(value))


# --- Subjects ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    """What a report is about: a kind, an organisation's year, and a grant or a centre."""

    kind: str
    organisation: Organisation
    year: int
    grant: Grant | None = None
    centre: Centre | None = None

    def lookup(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "organisation_id": self.organisation.pk,
            "year": self.year,
            "grant_id": self.grant.pk if self.grant else None,
            "centre_id": self.centre.pk if self.centre else None,
        }

    @classmethod
    def of(cls, run: ReportRun) -> Subject:
        return cls(run.kind, run.organisation, run.year, run.grant, run.centre)

    @property
    def sections(self) -> list[tuple[str, str]]:
        return SECTIONS.get(self.kind, [])

    def __str__(self) -> str:
        what = self.grant.reference if self.grant else (self.centre.name if self.centre else "")
        return f"{ReportKind(self.kind).label} {what} {self.year}".replace("  ", " ")


def runs_for_user(user: User | Any) -> QuerySet[ReportRun]:
    """The runs the user may see and download: every run of the organisations where she is
    finance or CBHV; the Hälsoval accounts of the centres she manages. Nobody else sees any."""
    scope = scope_of(user)
    return ReportRun.objects.filter(
        Q(organisation_id__in=scope.organisation_ids(*ORGANISATION_ROLES))
        | Q(kind__in=CENTRE_KINDS, centre_id__in=scope.centre_ids(Role.CENTRE_MANAGER))
    )


def may_read_subject(user: User, subject: Subject) -> bool:
    scope = user.scope
    if subject.organisation.pk in scope.organisation_ids(*ORGANISATION_ROLES):
        return True
    return (
        subject.kind in CENTRE_KINDS
        and subject.centre is not None
        and scope.has_role_at(Role.CENTRE_MANAGER, centre_id=subject.centre.pk)
    )


def _writes_narratives(
    user: User, kind: str, organisation_id: uuid.UUID, centre_id: uuid.UUID | None
) -> bool:
    """The role that writes a report's narrative sections: the centre manager of the centre for
    a Hälsoval account, CBHV of the organisation for Socialstyrelsen and SKL."""
    scope = user.scope
    if kind in CENTRE_KINDS:
        return centre_id is not None and scope.has_role_at(Role.CENTRE_MANAGER, centre_id=centre_id)
    if kind in SECTIONS:
        return scope.has_role_in(Role.CBHV, organisation_id=organisation_id)
    return False


def may_submit(user: User, run: ReportRun) -> bool:
    """Only the role that writes a report's narratives submits it (API.md "Money at the
    edges"): CBHV for Socialstyrelsen and SKL, the centre's manager for its Hälsoval account.
    Finance (and CBHV for an account) reads and requests, never submits."""
    return run.kind in SUBMITTABLE_KINDS and _writes_narratives(
        user, run.kind, run.organisation_id, run.centre_id
    )


def may_write_narrative(user: User, subject: Subject) -> bool:
    return _writes_narratives(
        user,
        subject.kind,
        subject.organisation.pk,
        subject.centre.pk if subject.centre is not None else None,
    )


def requestable_kinds(user: User) -> list[str]:
    """The kinds the user may ever request (the 403 of a request)."""
    scope = user.scope
    if scope.has_role(*ORGANISATION_ROLES):
        return list(ReportKind.values)
    if scope.has_role(Role.CENTRE_MANAGER):
        return [k.value for k in CENTRE_KINDS]
    return []


def centres_for_requests(user: User) -> QuerySet[Centre]:
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


def is_submitted(subject: Subject) -> bool:
    return ReportRun.objects.filter(**subject.lookup(), submitted_at__isnull=False).exists()


# Kinds whose period ends when the grant is closed, and kinds whose period is their year.
GRANT_PERIOD_KINDS = (ReportKind.SOCIALSTYRELSEN, ReportKind.AUDITOR_BUNDLE)
YEAR_PERIOD_KINDS = (ReportKind.HALSOVAL, ReportKind.SKL)


def preliminary_reason(subject: Subject, at: datetime.datetime | None = None) -> str:
    """Why a report of `subject` made at `at` (default: now) is preliminary, or "" when its
    period is over (API.md "Reports are submitted when their period is over"): a Socialstyrelsen
    report and the auditor bundle once the grant is closed (until then its figures still
    move), a Hälsoval account or SKL report once its year has ended. The one rule behind the
    PDFs' "Preliminär" mark, the 409 on submitting and the auditor bundle's 409."""
    moment = at or timezone.now()
    if subject.kind in GRANT_PERIOD_KINDS:
        grant = subject.grant
        if grant is not None and grant.closed_at is not None and grant.closed_at <= moment:
            return ""
        return _(
            "Bidraget %(reference)s är inte avslutat. Ekonomi avslutar det när medlen är "
            "använda (senast %(use_by)s); först därefter kan rapporten lämnas in."
        ) % {
            "reference": grant.reference if grant else "",
            "use_by": grant.use_by.isoformat() if grant else "",
        }
    if subject.kind in YEAR_PERIOD_KINDS and timezone.localdate(moment).year <= subject.year:
        return _("Året %(year)s är inte slut. Rapporten kan lämnas in från %(from)s.") % {
            "year": subject.year,
            "from": datetime.date(subject.year + 1, 1, 1).isoformat(),
        }
    return ""


def is_preliminary(subject: Subject, at: datetime.datetime | None = None) -> bool:
    return bool(preliminary_reason(subject, at))


def missing_sections(
    subject: Subject, current: Mapping[str, NarrativeVersion] | None = None
) -> list[str]:
    """The headings of the subject's narrative sections with no text (never written, or the
    current version empty), in the report's order. `current`: `current_narratives(subject)`."""
    if current is None:
        current = current_narratives(subject)
    return [
        heading
        for key, heading in subject.sections
        if key not in current or not current[key].text.strip()
    ]


# --- Requesting -------------------------------------------------------------------------------
def _as_uuid(value: object) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def resolve_subject(
    user: User,
    kind: str,
    year: object,
    grant: object = None,
    centre: object = None,
    organisation: object = None,
) -> Subject:
    """The request's subject, checked in the API's order: 400 on `kind`, 403 for a role that
    may never request this kind, then 400 per field (ids outside the user's scope included)."""
    if kind not in ReportKind.values:
        raise ValidationError({"kind": [_("Välj en rapport.")]})
    if kind not in requestable_kinds(user):
        raise PermissionDenied(_("Du kan inte beställa den här rapporten."))
    errors: dict[str, list[str]] = {}
    try:
        year_value = int(str(year))
    except (TypeError, ValueError):
        year_value = 0
    if not MIN_YEAR <= year_value <= MAX_YEAR:
        errors["year"] = [_("Ange ett år.")]
    grant_id, centre_id, organisation_id = _as_uuid(grant), _as_uuid(centre), _as_uuid(organisation)
    grant_obj: Grant | None = None
    centre_obj: Centre | None = None
    org: Organisation | None = None
    scope = user.scope

    if kind in GRANT_KINDS:
        if grant_id is None:
            errors["grant"] = [_("Välj bidrag.")]
        else:
            grant_obj = (
                Grant.objects.for_user(user).select_related("organisation").filter(pk=grant_id)
            ).first()
            funder = KIND_FUNDER.get(ReportKind(kind))
            if grant_obj is None:
                errors["grant"] = [_("Bidraget finns inte bland dina.")]
            elif funder is not None and grant_obj.funder != funder:
                errors["grant"] = [
                    _("Rapporten gäller bidrag från %(funder)s.") % {"funder": funder.label}
                ]
                grant_obj = None
            elif "year" not in errors and grant_obj.year != year_value:
                errors["year"] = [_("Ange bidragets år (%(year)s).") % {"year": grant_obj.year}]
            if grant_obj is not None:
                org = grant_obj.organisation
    elif grant is not None and grant != "":
        errors["grant"] = [_("Den här rapporten gäller inget bidrag.")]

    if kind in CENTRE_KINDS:
        if centre_id is None:
            errors["centre"] = [_("Välj BVC.")]
        else:
            centre_obj = (
                centres_for_requests(user).select_related("organisation").filter(pk=centre_id)
            ).first()
            if centre_obj is None:
                errors["centre"] = [_("BVC:n finns inte bland dina.")]
            elif "year" not in errors and not has_fixed_compensation_in(centre_obj, year_value):
                errors["centre"] = [
                    _("BVC:n hade ingen fast ersättning %(year)s.") % {"year": year_value}
                ]
                centre_obj = None
            if centre_obj is not None:
                org = centre_obj.organisation
    elif centre is not None and centre != "":
        errors["centre"] = [_("Den här rapporten gäller ingen BVC.")]

    if kind not in GRANT_KINDS and kind not in CENTRE_KINDS:
        allowed = scope.organisation_ids(*ORGANISATION_ROLES)
        if organisation_id is None and len(allowed) == 1:
            organisation_id = next(iter(allowed))
        if organisation_id is None or organisation_id not in allowed:
            errors["organisation"] = [_("Välj organisation.")]
        else:
            org = Organisation.objects.get(pk=organisation_id)
    elif organisation_id is not None and org is not None and org.pk != organisation_id:
        errors["organisation"] = [_("Organisationen stämmer inte med rapportens.")]

    if errors:
        raise ValidationError(errors)
    assert org is not None
    return Subject(kind, org, year_value, grant_obj, centre_obj)


def report_request(
    user: User,
    kind: str,
    year: object,
    grant: object = None,
    centre: object = None,
    organisation: object = None,
) -> tuple[ReportRun, bool]:
    """Request a report: the active run of the same subject if there is one (created False),
    else a new queued run whose task is enqueued after commit with its id only. A submitted
    report is never replaced (Conflict). A failed or done run does not stop a new request."""
    subject = resolve_subject(user, kind, year, grant, centre, organisation)
    with transaction.atomic():
        submitted = ReportRun.objects.filter(**subject.lookup(), submitted_at__isnull=False)
        submitted_id = submitted.values_list("pk", flat=True).first()
        if submitted_id is not None:
            raise Conflict(_("Rapporten är redan inlämnad och ersätts inte."), id=str(submitted_id))
        active = _active_run(subject)
        if active is not None:
            return active, False
        if kind == ReportKind.AUDITOR_BUNDLE and subject.grant is not None:
            _require_bundle_possible(subject)
        try:
            with transaction.atomic():
                run = ReportRun.objects.create(**subject.lookup(), requested_by=user)
        except IntegrityError:
            # Another request for the same subject won the race (one active run per subject).
            active = _active_run(subject)
            if active is None:
                raise
            return active, False
        enqueue(run)
    return run, True


def _require_bundle_possible(subject: Subject) -> None:
    """The auditor bundle is made for a closed grant whose report has been submitted (a state
    conflict otherwise: API.md "Money at the edges")."""
    assert subject.grant is not None  # the bundle is about a grant (resolve_subject)
    reason = preliminary_reason(subject)
    if reason:
        raise Conflict(
            _("Revisionsunderlaget görs för ett avslutat bidrag. %(reason)s") % {"reason": reason}
        )
    # The bundle holds the submitted grant report: without one it cannot be made.
    from reporting.exports import submitted_report

    submitted_report(subject.grant)


def report_retry(user: User, run: ReportRun) -> tuple[ReportRun, bool]:
    """Try a report again: the same request as `run` (a new run from the data as it is now)."""
    return report_request(
        user,
        run.kind,
        run.year,
        grant=run.grant_id,
        centre=run.centre_id,
        organisation=run.organisation_id,
    )


def _active_run(subject: Subject) -> ReportRun | None:
    return ReportRun.objects.filter(**subject.lookup(), status__in=ACTIVE_STATUSES).first()


def enqueue(run: ReportRun) -> None:
    """Queue the task after commit, with the run's id only (never on rollback)."""
    run_id = str(run.pk)

    def send() -> None:
        from reporting.tasks import run_report

        run_report.delay(run_id)

    # Robust: if the broker is unreachable the run stays queued (it is committed) and
    # requeue_stuck enqueues it again later; the request itself has succeeded.
    transaction.on_commit(send, robust=True)


# --- The task body ----------------------------------------------------------------------------
class Outcome:
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # missing, finished, or another attempt has it
    SUPERSEDED = "superseded"  # another attempt took the run over while this one rendered


def _lock(run_id: uuid.UUID) -> ReportRun | None:
    return (
        ReportRun.objects.select_for_update(of=("self",))
        .select_related("organisation", "grant", "centre")
        .filter(pk=run_id)
        .first()
    )


def _claim(run_id: uuid.UUID, *, takeover: bool) -> tuple[ReportRun, int] | None:
    """Mark the run running (one more attempt) and return it with the attempt's number, or None
    when there is nothing to do: not found, done, failed, or running in another attempt that
    is not stale (unless `takeover`: a retry of the attempt that left it running)."""
    now = timezone.now()
    with transaction.atomic():
        run = _lock(run_id)
        if run is None or run.status in (RunStatus.DONE, RunStatus.FAILED):
            return None
        if run.status == RunStatus.RUNNING and not takeover:
            stale = run.started_at is None or run.started_at < now - time_limit()
            if not stale:
                return None
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.attempts += 1
        run.error = ""
        run.save(update_fields=["status", "started_at", "attempts", "error"])
        return run, run.attempts


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


def _owned(run_id: uuid.UUID, attempt: int) -> ReportRun | None:
    """The run, locked, if this attempt still owns it (running, with this attempt's number)."""
    run = _lock(run_id)
    if run is None or run.status != RunStatus.RUNNING or run.attempts != attempt:
        return None
    return run


def _fail(run_id: uuid.UUID, attempt: int | None, reason: str) -> bool:
    with transaction.atomic():
        run = _lock(run_id)
        if run is None or run.status not in ACTIVE_STATUSES:
            return False
        if attempt is not None and (run.status != RunStatus.RUNNING or run.attempts != attempt):
            return False
        run.status = RunStatus.FAILED
        run.error = reason
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        return True


def _release(run_id: uuid.UUID, attempt: int) -> None:
    """After a transient error: back to queued for the retry (best effort: the database may be
    the thing that is failing; then the retry takes the running run over)."""
    try:
        with transaction.atomic():
            run = _owned(run_id, attempt)
            if run is not None:
                run.status = RunStatus.QUEUED
                run.save(update_fields=["status"])
    except DatabaseError:
        logger.warning("report run %s: could not put it back in the queue", run_id)


def _readable(exc: Exception) -> str:
    if isinstance(exc, Conflict):
        return exc.detail
    if isinstance(exc, ValidationError):
        return " ".join(str(m) for m in exc.messages)
    return _("Rapporten kunde inte skapas på grund av ett tekniskt fel. Försök igen.")


def run_report_body(run_id: str | uuid.UUID, *, takeover: bool = False) -> str:
    """Render one run (the Celery task's body; see the module's docstring). Returns an
    `Outcome`. Transient database errors propagate (the task retries); a renderer's Conflict or
    ValidationError fails the run with its message; anything else fails it with a plain reason
    and is logged without its message (which could hold data)."""
    from reporting import renderers

    pk = _as_uuid(run_id)
    if pk is None:
        return Outcome.SKIPPED
    claimed = _claim(pk, takeover=takeover)
    if claimed is None:
        return Outcome.SKIPPED
    run, attempt = claimed
    try:
        narratives = current_narratives(Subject.of(run))
        rendered = renderers.renderer_for(run.kind)(
            run, {section: v.text for section, v in narratives.items()}
        )
        with transaction.atomic():
            owned = _owned(pk, attempt)
            if owned is None:
                return Outcome.SUPERSEDED
            name = f"{owned.pk}.{rendered.extension}"
            owned.sha256 = storage.save(name, rendered.content)
            owned.file_name = name
            owned.size = len(rendered.content)
            owned.content_type = rendered.content_type
            owned.narrative_versions = [str(v.pk) for v in narratives.values()]
            owned.status = RunStatus.DONE
            owned.error = ""
            owned.finished_at = timezone.now()
            owned.save(
                update_fields=[
                    "sha256",
                    "file_name",
                    "size",
                    "content_type",
                    "narrative_versions",
                    "status",
                    "error",
                    "finished_at",
                ]
            )
        return Outcome.DONE
    except TRANSIENT_ERRORS:
        _release(pk, attempt)
        raise
    except (Conflict, ValidationError) as exc:
        _fail(pk, attempt, _readable(exc))
        return Outcome.FAILED
    except Exception as exc:
        logger.error(
            "report run %s (%s) failed: %s\n%s",
            pk,
            run.kind,
            exc.__class__.__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        _fail(pk, attempt, _readable(exc))
        return Outcome.FAILED


def run_give_up(run_id: str | uuid.UUID) -> bool:
    """The retries of a transient error are used up: the run fails, with a way to try again."""
    pk = _as_uuid(run_id)
    if pk is None:
        return False
    return _fail(
        pk, None, _("Databasen svarade inte medan rapporten skapades. Försök igen om en stund.")
    )


def requeue_stuck() -> int:
    """Runs stuck past the time limit (settings.REPORT_RUN_TIME_LIMIT): running since before
    it (the worker was lost), or queued since before it with no attempt since (the message was
    lost). Each goes back to queued and is enqueued again; `started_at` then records the
    requeue, so a run is picked up once per time limit. A run tried MAX_ATTEMPTS times fails."""
    now = timezone.now()
    cutoff = now - time_limit()
    requeued = 0
    with transaction.atomic():
        stuck = list(
            ReportRun.objects.select_for_update(skip_locked=True).filter(
                Q(status=RunStatus.RUNNING, started_at__lt=cutoff)
                | (
                    Q(status=RunStatus.QUEUED, created_at__lt=cutoff)
                    & (Q(started_at__isnull=True) | Q(started_at__lt=cutoff))
                )
            )
        )
        for run in stuck:
            if run.attempts >= MAX_ATTEMPTS:
                run.status = RunStatus.FAILED
                run.error = _("Rapporten kunde inte skapas efter flera försök. Försök igen.")
                run.finished_at = now
                run.save(update_fields=["status", "error", "finished_at"])
                continue
            run.status = RunStatus.QUEUED
            run.started_at = now
            run.save(update_fields=["status", "started_at"])
            enqueue(run)
            requeued += 1
    if requeued:
        logger.info("requeued %d stuck report runs", requeued)
    return requeued


# --- Submitting -------------------------------------------------------------------------------
def outdated_reason(run: ReportRun, current: Mapping[str, NarrativeVersion]) -> str:
    """Why the run's file would not be the final report, or "": rendered while the period was
    still open (it says "Preliminär"), or before the texts were last changed (`current`:
    `current_narratives()`). Rendering starts after `started_at`, so a period that was over
    then was over when the file was made."""
    if is_preliminary(Subject.of(run), at=run.started_at or run.finished_at):
        return _(
            "Rapporten skapades innan perioden var slut och är märkt Preliminär. Beställ "
            "rapporten igen och lämna in den nya."
        )
    if set(run.narrative_versions) != {str(v.pk) for v in current.values()}:
        return _(
            "Texterna har ändrats sedan rapporten skapades. Beställ rapporten igen och lämna in "
            "den nya."
        )
    return ""


def report_submit(user: User, run: ReportRun) -> tuple[ReportRun, bool]:
    """Submit (freeze) a done run: (run, changed). A second submit of the same run changes
    nothing. Checked in API.md's order: 403 (`PermissionDenied`) unless the user writes the
    report's narratives; 400 (`ValidationError`, `{"narratives": [one message per empty
    section, naming its heading]}`); 409 (`Conflict`) for a run that is not done, another run of
    the report already submitted, a period that is not over, or a file that would not be the
    final report (made while the period was open, or with texts changed since)."""
    if not user.scope.has_role(*SUBMIT_ROLES):
        raise PermissionDenied(_("Du kan inte lämna in rapporter."))
    if run.kind in SUBMITTABLE_KINDS and not may_submit(user, run):
        raise PermissionDenied(
            _("Årsredovisningen lämnas in av BVC:ns chef, som skriver dess texter.")
            if run.kind in CENTRE_KINDS
            else _("Rapporten lämnas in av CBHV, som skriver dess texter.")
        )
    if run.kind not in SUBMITTABLE_KINDS:
        raise Conflict(_("Den här rapporten lämnas inte in."))
    with transaction.atomic():
        locked = _lock(run.pk)
        if locked is None:  # pragma: no cover - a run is never deleted
            raise Conflict(_("Rapporten finns inte längre."))
        if locked.submitted_at is not None:
            return locked, False
        subject = Subject.of(locked)
        current = current_narratives(subject)
        missing = missing_sections(subject, current)
        if missing:
            raise ValidationError(
                {"narratives": [_("Saknar text: %(heading)s") % {"heading": h} for h in missing]}
            )
        if locked.status != RunStatus.DONE:
            raise Conflict(_("Bara en färdig rapport kan lämnas in."))
        other = (
            ReportRun.objects.filter(**subject.lookup(), submitted_at__isnull=False)
            .exclude(pk=locked.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if other is not None:
            raise Conflict(_("En annan version av rapporten är redan inlämnad."), id=str(other))
        reason = preliminary_reason(subject)
        if reason:
            raise Conflict(reason)
        outdated = outdated_reason(locked, current)
        if outdated:
            raise Conflict(outdated)
        locked.submitted_at = timezone.now()
        locked.submitted_by = user
        try:
            with transaction.atomic():
                locked.save(update_fields=["submitted_at", "submitted_by"])
        except IntegrityError:
            raise Conflict(_("En annan version av rapporten är redan inlämnad.")) from None
    return locked, True


# --- Narratives -------------------------------------------------------------------------------
def narrative_versions(subject: Subject) -> QuerySet[NarrativeVersion]:
    """Every version of every section of the subject, newest first per section."""
    return (
        NarrativeVersion.objects.filter(**subject.lookup())
        .select_related("written_by")
        .order_by("section", "-version")
    )


def narrative_save(
    user: User,
    *,
    kind: str,
    organisation: Organisation,
    year: int,
    grant: Grant | None = None,
    centre: Centre | None = None,
    section: str,
    text: str,
) -> tuple[NarrativeVersion, bool]:
    """Save a section's text as a new version: (version, created). The same text as the
    current version adds nothing. Writers: CBHV (Socialstyrelsen, SKL), the centre manager of
    the centre (Hälsoval). After the report is submitted the texts are frozen (Conflict)."""
    subject = Subject(kind, organisation, year, grant, centre)
    if not may_write_narrative(user, subject):
        raise PermissionDenied(_("Du kan inte skriva texterna till den här rapporten."))
    keys = [key for key, _heading in subject.sections]
    if section not in keys:
        raise ValidationError({"section": [_("Okänt avsnitt.")]})
    text = text.replace("\r\n", "\n").strip()
    if len(text) > NARRATIVE_MAX_LENGTH:
        raise ValidationError({section: [_("Högst %(n)d tecken.") % {"n": NARRATIVE_MAX_LENGTH}]})
    if mask_identities(text) != text:
        raise ValidationError(
            {section: [_("Texten innehåller ett personnummer; en rapport får inte innehålla det.")]}
        )
    if is_submitted(subject):
        raise Conflict(_("Rapporten är inlämnad; texterna kan inte ändras."))
    for _attempt in range(5):
        current = (
            NarrativeVersion.objects.filter(**subject.lookup(), section=section)
            .order_by("-version")
            .first()
        )
        if current is not None and current.text == text:
            return current, False
        try:
            with transaction.atomic():
                version = NarrativeVersion.objects.create(
                    **subject.lookup(),
                    section=section,
                    version=(current.version + 1) if current else 1,
                    text=text,
                    written_by=user,
                )
            return version, True
        except IntegrityError:
            continue  # someone saved the same section at the same moment: read again
    raise Conflict(_("Texten ändrades samtidigt av någon annan. Försök igen."))
