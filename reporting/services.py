"""The writes of reporting (STYLE.md 3): requesting a report, submitting it, saving its texts and
handing out its file. Keyword-only, typed, one transaction each. Who may do what is
`reporting.permissions`, what is read `reporting.selectors`, when a report is final
`reporting.subjects`, and the queue and the worker's side of a run `reporting.runs`.

Each raises in API.md's order: `PermissionDenied` (403) for a role that may never do it,
`ValidationError` (400, a dict by field), `Conflict` (409) for a state that refuses it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import IO

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.dates import MAX_YEAR, MIN_YEAR
from core.exceptions import Conflict
from core.models import Centre, Organisation, User
from funding.models import Grant
from reporting import permissions, runs, selectors, storage
from reporting.models import (
    CENTRE_KINDS,
    GRANT_KINDS,
    SUBMITTABLE_KINDS,
    NarrativeVersion,
    ReportKind,
    ReportRun,
    RunStatus,
)
from reporting.narratives import NARRATIVE_MAX_LENGTH
from reporting.subjects import (
    KIND_FUNDER,
    Subject,
    missing_sections,
    outdated_reason,
    preliminary_reason,
)
from visits.access_log import log_without_patient
from visits.identity import mask_identities

# A save that loses the race for a section's next version number reads again this many times.
NARRATIVE_SAVE_ATTEMPTS = 5
RequestId = uuid.UUID | str | None


# --- Requesting -------------------------------------------------------------------------------
def _subject_of_request(
    user: User,
    kind: str,
    year: object,
    grant: RequestId,
    centre: RequestId,
    organisation: RequestId,
) -> Subject:
    """The request's subject, checked in the API's order: 400 on `kind`, 403 for a role that
    may never request this kind, then 400 per field (ids outside the user's scope included)."""
    if kind not in ReportKind.values:
        raise ValidationError({"kind": [_("Välj en rapport.")]})
    if kind not in permissions.requestable_kinds(user):
        raise PermissionDenied(_("Du kan inte beställa den här rapporten."))
    errors: dict[str, list[str]] = {}
    try:
        year_value = int(str(year))
    except (TypeError, ValueError):
        year_value = 0
    if not MIN_YEAR <= year_value <= MAX_YEAR:
        errors["year"] = [_("Ange ett år.")]
    grant_id = runs.as_uuid(grant)
    centre_id = runs.as_uuid(centre)
    organisation_id = runs.as_uuid(organisation)
    grant_obj: Grant | None = None
    centre_obj: Centre | None = None
    org: Organisation | None = None

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
                selectors.centres_for_requests(user=user)
                .select_related("organisation")
                .filter(pk=centre_id)
            ).first()
            if centre_obj is None:
                errors["centre"] = [_("BVC:n finns inte bland dina.")]
            elif "year" not in errors and not selectors.has_fixed_compensation_in(
                centre_obj, year_value
            ):
                errors["centre"] = [
                    _("BVC:n hade ingen fast ersättning %(year)s.") % {"year": year_value}
                ]
                centre_obj = None
            if centre_obj is not None:
                org = centre_obj.organisation
    elif centre is not None and centre != "":
        errors["centre"] = [_("Den här rapporten gäller ingen BVC.")]

    if kind not in GRANT_KINDS and kind not in CENTRE_KINDS:
        allowed = user.scope.organisation_ids(*permissions.ORGANISATION_ROLES)
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


def _require_bundle_possible(subject: Subject) -> None:
    """The auditor bundle is made for a closed grant whose report has been submitted (a state
    conflict otherwise: API.md "Money at the edges")."""
    assert subject.grant is not None  # the bundle is about a grant (_subject_of_request)
    reason = preliminary_reason(subject)
    if reason:
        raise Conflict(
            _("Revisionsunderlaget görs för ett avslutat bidrag. %(reason)s") % {"reason": reason}
        )
    # The bundle holds the submitted grant report: without one it cannot be made (Conflict).
    selectors.submitted_report(subject.grant)


def report_request(
    *,
    user: User,
    kind: str,
    year: object,
    grant: RequestId = None,
    centre: RequestId = None,
    organisation: RequestId = None,
) -> tuple[ReportRun, bool]:
    """Request a report: the active run of the same subject if there is one (created False),
    else a new queued run whose task is enqueued after commit with its id only. A submitted
    report is never replaced (Conflict). A failed or done run does not stop a new request.
    An active run whose worker is gone (`runs.requeue_if_stuck`) is queued again first: asking
    again is how a user retries a stuck run (and one given up after too many attempts leaves
    room for a new run). `year` and the ids as the caller typed them: a malformed one is a 400
    on its field."""
    subject = _subject_of_request(user, kind, year, grant, centre, organisation)
    try:
        with transaction.atomic():
            submitted_id = selectors.submitted_run_id(subject)
            if submitted_id is not None:
                raise Conflict(
                    _("Rapporten är redan inlämnad och ersätts inte."), id=str(submitted_id)
                )
            active = selectors.active_run(subject)
            if active is not None:
                active = runs.requeue_if_stuck(active)
                if active.is_active:
                    return active, False
            if kind == ReportKind.AUDITOR_BUNDLE:
                _require_bundle_possible(subject)
            run = ReportRun.objects.create(**subject.lookup(), requested_by=user)
            runs.enqueue(run)
    except IntegrityError:
        # Another request for the same subject won the race (one active run per subject); the
        # enqueue above went with the rolled-back insert.
        active = selectors.active_run(subject)
        if active is None:
            raise
        return active, False
    return run, True


def report_retry(*, user: User, run: ReportRun) -> tuple[ReportRun, bool]:
    """Try a report again: the same request as `run` (a new run from the data as it is now)."""
    return report_request(
        user=user,
        kind=run.kind,
        year=run.year,
        grant=run.grant_id,
        centre=run.centre_id,
        organisation=run.organisation_id,
    )


# --- Submitting -------------------------------------------------------------------------------
def report_submit(*, user: User, run: ReportRun) -> tuple[ReportRun, bool]:
    """Submit (freeze) a done run: (run, changed). A second submit of the same run changes
    nothing. Checked in API.md's order: 403 (`PermissionDenied`) unless the user writes the
    report's narratives; 400 (`ValidationError`, `{"narratives": [one message per empty
    section, naming its heading]}`); 409 (`Conflict`) for a run that is not done, another run of
    the report already submitted, a period that is not over, or a file that would not be the
    final report (made while the period was open, or with texts changed since)."""
    if not permissions.submits_reports(user):
        raise PermissionDenied(_("Du kan inte lämna in rapporter."))
    if run.kind in SUBMITTABLE_KINDS and not permissions.may_submit(user, run):
        raise PermissionDenied(
            _("Årsredovisningen lämnas in av BVC:ns chef, som skriver dess texter.")
            if run.kind in CENTRE_KINDS
            else _("Rapporten lämnas in av CBHV, som skriver dess texter.")
        )
    if run.kind not in SUBMITTABLE_KINDS:
        raise Conflict(_("Den här rapporten lämnas inte in."))
    try:
        with transaction.atomic():
            locked = runs.locked_run(run.pk)
            if locked is None:  # pragma: no cover - a run is never deleted
                raise Conflict(_("Rapporten finns inte längre."))
            if locked.submitted_at is not None:
                return locked, False
            subject = Subject.of(locked)
            current = selectors.current_narratives(subject)
            missing = missing_sections(subject, current)
            if missing:
                raise ValidationError(
                    {
                        "narratives": [
                            _("Saknar text: %(heading)s") % {"heading": h} for h in missing
                        ]
                    }
                )
            if locked.status != RunStatus.DONE:
                raise Conflict(_("Bara en färdig rapport kan lämnas in."))
            other = selectors.submitted_run_id(subject, other_than=locked.pk)
            if other is not None:
                raise Conflict(_("En annan version av rapporten är redan inlämnad."), id=str(other))
            reason = preliminary_reason(subject) or outdated_reason(locked, current)
            if reason:
                raise Conflict(reason)
            locked.submitted_at = timezone.now()
            locked.submitted_by = user
            locked.save(update_fields=["submitted_at", "submitted_by"])
    except IntegrityError:
        # Another run of the report was submitted at the same moment (one submitted per report).
        raise Conflict(_("En annan version av rapporten är redan inlämnad.")) from None
    return locked, True


# --- Narratives -------------------------------------------------------------------------------
def _cleaned_texts(subject: Subject, texts: Mapping[str, str]) -> dict[str, str]:
    """Every section's text as it is stored, or a ValidationError naming each section that
    cannot be stored (and `section` for a key the report does not have)."""
    keys = [key for key, _heading in subject.sections]
    if any(section not in keys for section in texts):
        raise ValidationError({"section": [_("Okänt avsnitt.")]})
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for section in keys:
        if section not in texts:
            continue
        text = texts[section].replace("\r\n", "\n").strip()
        if len(text) > NARRATIVE_MAX_LENGTH:
            errors[section] = [_("Högst %(n)d tecken.") % {"n": NARRATIVE_MAX_LENGTH}]
        elif mask_identities(text) != text:
            errors[section] = [
                _("Texten innehåller ett personnummer; en rapport får inte innehålla det.")
            ]
        cleaned[section] = text
    if errors:
        raise ValidationError(errors)
    return cleaned


def narrative_save(
    *, user: User, subject: Subject, texts: Mapping[str, str]
) -> list[NarrativeVersion]:
    """Save each section's text (section key → text) as its new version, all or none: a text
    that cannot be stored saves nothing (400 naming its section). A text equal to the section's
    current one adds no version. Returns the versions added, in the report's order. Writers:
    CBHV (Socialstyrelsen, SKL), the centre manager of the centre (Hälsoval); after the report
    is submitted the texts are frozen (Conflict)."""
    if not permissions.may_write_narrative(user, subject):
        raise PermissionDenied(_("Du kan inte skriva texterna till den här rapporten."))
    cleaned = _cleaned_texts(subject, texts)
    for _attempt in range(NARRATIVE_SAVE_ATTEMPTS):
        try:
            with transaction.atomic():
                if selectors.is_submitted(subject):
                    raise Conflict(_("Rapporten är inlämnad; texterna kan inte ändras."))
                current = selectors.current_narratives(subject)
                added: list[NarrativeVersion] = []
                for section, text in cleaned.items():
                    version = current.get(section)
                    if version is not None and version.text == text:
                        continue
                    added.append(
                        NarrativeVersion.objects.create(
                            **subject.lookup(),
                            section=section,
                            version=(version.version + 1) if version else 1,
                            text=text,
                            written_by=user,
                        )
                    )
                return added
        except IntegrityError:
            continue  # someone saved a section at the same moment: read again
    raise Conflict(_("Texten ändrades samtidigt av någon annan. Försök igen."))


# --- Downloading ------------------------------------------------------------------------------
def report_download(*, user: User, run: ReportRun) -> IO[bytes]:
    """The run's stored file, open for reading; the download is logged (without a patient:
    reports hold aggregates). `FileNotFoundError` when the store has lost it (or is not shared
    with the worker). The caller has checked that the run is the user's and done."""
    handle = storage.open(run.file_name)
    with transaction.atomic():
        log_without_patient(user=user, action="export", what=f"report {run.pk.hex}")
    return handle
