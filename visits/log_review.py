"""Log review (Patientdatalagen 4 kap. 3 §, 8 kap. 5 §; DOMAIN.md 7): the log reviewer's search
of the access log, random samples with findings, and the patient's log extract.

One home for these rules, used by the API (`visits.api.log_review_views`) and the pages
(`visits.log_review_views`). Services raise `ValidationError` keyed on the input field; the
callers turn it into a 400 or a form error.

Scope (as `GET /api/v1/access-log/` has always had it): the rows of care units (centres) of the
reviewer's organisations, and the rows without a care unit written by members of those
organisations.
"""

from __future__ import annotations

import datetime
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import MD5, Cast, Concat
from django.utils import timezone

from core.models import Centre, Membership, Organisation, Role, User
from core.scoping import scope_of
from visits import extension
from visits.identity import Identity, IdentityType, identity_hash, normalise_identity
from visits.models import (
    AccessAction,
    AccessLog,
    AccessLogFinding,
    AccessLogSample,
    Child,
    FindingVerdict,
)

if TYPE_CHECKING:
    from rest_framework.request import Request

SAMPLE_MAX_SIZE = 500
EXTRACT_WHAT = "log_extract"


# --- Scope ------------------------------------------------------------------------------------
def reviewer_organisation_ids(user: User) -> frozenset[uuid.UUID]:
    return scope_of(user).organisation_ids(Role.LOG_REVIEWER)


def reviewer_centres(user: User) -> QuerySet[Centre]:
    """The care units whose rows the reviewer reads, by name."""
    return Centre.objects.filter(organisation_id__in=reviewer_organisation_ids(user)).order_by(
        "name", "id"
    )


def reviewer_organisations(user: User) -> QuerySet[Organisation]:
    return Organisation.objects.filter(id__in=reviewer_organisation_ids(user)).order_by("name")


def access_log_of(organisation_ids: Iterable[uuid.UUID]) -> QuerySet[AccessLog]:
    """The rows of these organisations' care units, and their members' rows without one."""
    organisations = list(organisation_ids)
    centres = Centre.objects.filter(organisation_id__in=organisations).values("id")
    members = Membership.objects.filter(organisation_id__in=organisations).values("user_id")
    return AccessLog.objects.filter(
        Q(care_unit__in=centres) | Q(care_unit__isnull=True, user_id__in=members)
    )


def access_log_for_reviewer(user: User) -> QuerySet[AccessLog]:
    return access_log_of(reviewer_organisation_ids(user))


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def in_period(
    rows: QuerySet[AccessLog], start: datetime.date | None, end: datetime.date | None
) -> QuerySet[AccessLog]:
    """`start` and `end` are calendar days in Sweden, both inclusive."""
    if start is not None:
        rows = rows.filter(at__gte=_start_of(start))
    if end is not None and end < datetime.date.max:
        rows = rows.filter(at__lt=_start_of(end + datetime.timedelta(days=1)))
    return rows


@dataclass(frozen=True)
class LogQuery:
    child: uuid.UUID | None = None
    identity_hash: str | None = None
    user: str | None = None
    centre: uuid.UUID | None = None
    action: str | None = None
    start: datetime.date | None = None
    end: datetime.date | None = None


def access_log_search(*, user: User, query: LogQuery) -> QuerySet[AccessLog]:
    """The reviewer's rows matching `query`, newest first. A centre outside her scope is a
    ValidationError on `centre`, an unknown action one on `action`."""
    if query.action is not None and query.action not in AccessAction.values:
        raise ValidationError({"action": ["Okänd åtgärd."]})
    if query.centre is not None and not reviewer_centres(user).filter(pk=query.centre).exists():
        raise ValidationError({"centre": ["Ingen vårdenhet i din behörighet."]})
    rows = access_log_for_reviewer(user)
    if query.child is not None:
        rows = rows.filter(child_id=query.child)
    if query.identity_hash is not None:
        rows = rows.filter(identity_hash=query.identity_hash)
    if query.user:
        rows = rows.filter(username=query.user)
    if query.centre is not None:
        rows = rows.filter(care_unit=query.centre)
    if query.action is not None:
        rows = rows.filter(action=query.action)
    return in_period(rows, query.start, query.end).order_by("-at", "-id")


# --- Identity ---------------------------------------------------------------------------------
def reviewer_identity(*, user: User, identity_type: str, identity: str) -> Identity:
    """The typed identity, normalised as a child's is stored. A reserve number is accepted in
    the format of any of the reviewer's organisations."""
    if identity_type != IdentityType.RESERVNUMMER:
        return normalise_identity(identity_type, identity)
    patterns = Organisation.objects.filter(id__in=reviewer_organisation_ids(user)).values_list(
        "reserve_number_pattern", flat=True
    )
    error: ValidationError | None = None
    for pattern in sorted(p for p in patterns if p):
        try:
            return normalise_identity(identity_type, identity, reserve_pattern=pattern)
        except ValidationError as exc:
            error = exc
    raise error or ValidationError(
        {"identity": ["Ingen av dina organisationer har ett format för reservnummer."]}
    )


def identity_search_hash(*, user: User, identity_type: str, identity: str) -> str:
    found = reviewer_identity(user=user, identity_type=identity_type, identity=identity)
    return identity_hash(found.type.value, found.value)


# --- Samples ----------------------------------------------------------------------------------
def samples_for_reviewer(user: User) -> QuerySet[AccessLogSample]:
    """Samples drawn entirely within the reviewer's organisations."""
    organisations = list(reviewer_organisation_ids(user))
    return AccessLogSample.objects.filter(organisation_ids__contained_by=organisations)


def sample_row_ids(
    *, user: User, start: datetime.date, end: datetime.date, size: int, seed: str
) -> list[int]:
    """The rows a seed chooses: ordered by md5(seed || id) in the database, so the same seed
    over the same rows chooses the same ones."""
    rows = in_period(access_log_for_reviewer(user), start, end)
    key = MD5(Concat(Value(seed), Cast("id", output_field=CharField())))
    return list(
        rows.annotate(sample_key=key)
        .order_by("sample_key", "id")
        .values_list("id", flat=True)[:size]
    )


def access_log_sample_create(
    *, user: User, start: datetime.date, end: datetime.date, size: int, seed: str | None = None
) -> AccessLogSample:
    errors: dict[str, list[str]] = {}
    if start > end:
        errors["to"] = ["Slutdagen ligger före startdagen."]
    if not 1 <= size <= SAMPLE_MAX_SIZE:
        errors["size"] = [f"Ange en storlek från 1 till {SAMPLE_MAX_SIZE}."]
    if errors:
        raise ValidationError(errors)
    organisations = sorted(reviewer_organisation_ids(user))
    seed = seed or secrets.token_hex(16)
    with transaction.atomic():
        sample = AccessLogSample(
            organisation_ids=organisations,
            period_from=start,
            period_to=end,
            size=size,
            seed=seed,
            row_ids=sample_row_ids(user=user, start=start, end=end, size=size, seed=seed),
            created_by=user,
        )
        sample.full_clean()
        sample.save()
    return sample


def sample_rows(sample: AccessLogSample) -> list[AccessLog]:
    """The sample's rows in time order (a purged row is simply no longer there)."""
    return list(AccessLog.objects.filter(id__in=sample.row_ids).order_by("at", "id"))


def sample_findings(sample: AccessLogSample) -> list[AccessLogFinding]:
    return list(sample.findings.select_related("reviewed_by").order_by("-reviewed_at", "-id"))


def latest_findings(findings: list[AccessLogFinding]) -> dict[int, AccessLogFinding]:
    """The finding that counts per row: the latest (`findings` newest first)."""
    latest: dict[int, AccessLogFinding] = {}
    for finding in findings:
        latest.setdefault(finding.row_id, finding)
    return latest


def access_log_finding_create(
    *, user: User, sample: AccessLogSample, row_id: int, verdict: str, remark: str
) -> AccessLogFinding:
    """Record a verdict on a row of `sample`. A row may be reviewed again: findings are never
    changed, a new one is added and the latest counts."""
    remark = remark.strip()
    errors: dict[str, list[str]] = {}
    if row_id not in sample.row_ids:
        errors["row"] = ["Raden ingår inte i stickprovet."]
    if verdict not in FindingVerdict.values:
        errors["verdict"] = ["Ange befogad eller ifrågasatt."]
    elif verdict == FindingVerdict.QUESTIONED and not remark:
        errors["remark"] = ["Skriv varför åtkomsten ifrågasätts."]
    if errors:
        raise ValidationError(errors)
    finding = AccessLogFinding(
        sample=sample, row_id=row_id, verdict=verdict, remark=remark, reviewed_by=user
    )
    finding.full_clean()
    finding.save()
    return finding


# --- The patient's log extract ----------------------------------------------------------------
@dataclass(frozen=True)
class ExtractRow:
    time: datetime.datetime
    care_unit: uuid.UUID | None
    care_unit_name: str
    care_unit_hsa_id: str
    action: str

    @property
    def action_label(self) -> str:
        return str(AccessAction(self.action).label)


@dataclass(frozen=True)
class LogExtract:
    child_masked: str
    accesses: list[ExtractRow]


def extract_organisations(
    *, user: User, organisation: uuid.UUID | None, required: bool = False
) -> frozenset[uuid.UUID]:
    """The organisations whose log an extract covers: `organisation` when given (one of the
    reviewer's, else a ValidationError on it), else all of hers, or with `required` (a PDF is
    one organisation's document) the only one she has (else "choose one")."""
    allowed = reviewer_organisation_ids(user)
    if organisation is not None:
        if organisation not in allowed:
            raise ValidationError({"organisation": ["Ingen organisation i din behörighet."]})
        return frozenset({organisation})
    if required and len(allowed) != 1:
        raise ValidationError({"organisation": ["Välj organisation."]})
    return allowed


def extract_rows(
    *,
    organisation_ids: Iterable[uuid.UUID],
    identity_hash: str,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    until: datetime.datetime | None = None,
) -> list[ExtractRow]:
    """The extract's rows: the care units (name and HSA-id) and times of the accesses to the
    child's data in these organisations' log, newest first, never who; rows before `until`
    when given (a PDF lists what there was when it was asked for). Two queries."""
    rows = in_period(
        access_log_of(organisation_ids).filter(identity_hash=identity_hash), start, end
    )
    if until is not None:
        rows = rows.filter(at__lt=until)
    found = list(rows.order_by("-at", "-id").values("at", "care_unit", "action"))
    centres = {
        c.id: c
        for c in Centre.objects.filter(id__in={r["care_unit"] for r in found if r["care_unit"]})
    }
    return [
        ExtractRow(
            time=r["at"],
            care_unit=r["care_unit"],
            care_unit_name=centres[r["care_unit"]].name if r["care_unit"] in centres else "",
            care_unit_hsa_id=centres[r["care_unit"]].hsa_id if r["care_unit"] in centres else "",
            action=r["action"],
        )
        for r in found
    ]


def _extract_child(organisation_ids: Iterable[uuid.UUID], typed: Identity) -> Child | None:
    return (
        Child.objects.filter(
            organisation_id__in=list(organisation_ids),
            identity_type=typed.type.value,
            identity=typed.value,
        )
        .order_by("id")
        .first()
    )


@dataclass(frozen=True)
class ExtractSubject:
    """Whose log an extract covers, checked once for the page, the API and the PDF: the
    identity as typed (valid), the reviewer's organisations it covers, the keyed hash the log's
    rows carry, and the child record when it still exists."""

    typed: Identity
    organisations: frozenset[uuid.UUID]
    hashed: str
    child: Child | None

    @property
    def child_masked(self) -> str:
        return str(self.child.masked) if self.child is not None else self.typed.masked

    def log_read(self, *, user: User, found: bool) -> None:
        """The extract is an access to the child's data when it finds a record or rows. An
        unknown identity is not logged: there is no patient, and logging one would make the
        next extract list the reviewer herself."""
        if self.child is not None or found:
            log_extract_access(
                user=user,
                action=AccessAction.READ,
                child_id=self.child.pk if self.child is not None else None,
                identity_hash=self.hashed,
            )


def extract_subject(
    *,
    user: User,
    identity_type: str,
    identity: str,
    start: datetime.date | None,
    end: datetime.date | None,
    organisation: uuid.UUID | None,
    one_organisation: bool = False,
) -> ExtractSubject:
    """The checks every extract makes, in this order (each a 400 on its field): the identity,
    the period, the organisation (with `one_organisation`, a PDF's, exactly one)."""
    typed = reviewer_identity(user=user, identity_type=identity_type, identity=identity)
    if start is not None and end is not None and start > end:
        raise ValidationError({"to": ["Slutdagen ligger före startdagen."]})
    organisations = extract_organisations(
        user=user, organisation=organisation, required=one_organisation
    )
    return ExtractSubject(
        typed=typed,
        organisations=organisations,
        hashed=identity_hash(typed.type.value, typed.value),
        child=_extract_child(organisations, typed),
    )


def log_extract_access(
    *, user: User, action: str, child_id: uuid.UUID | None, identity_hash: str
) -> None:
    """The reviewer's access to a child's data through an extract (made, or its PDF
    downloaded): logged with the child and its identity hash, without a care unit (she reads
    through her organisation, not a centre)."""
    AccessLog.objects.create(
        user_id=user.pk,
        username=user.get_username(),
        action=AccessAction(action),
        child_id=child_id,
        identity_hash=identity_hash,
        what=EXTRACT_WHAT,
    )


def log_extract(
    *,
    user: User,
    identity_type: str,
    identity: str,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    organisation: uuid.UUID | None = None,
) -> LogExtract:
    """Which care units accessed the child's data and when, newest first, never who; in one of
    the reviewer's organisations when `organisation` is given, else in all of them.

    Rows are found by the keyed hash of the identity, so the extract works after retention has
    removed the child's record. The extract is itself an access to the child's data, logged as
    a read by the reviewer without a care unit (`ExtractSubject.log_read`)."""
    subject = extract_subject(
        user=user,
        identity_type=identity_type,
        identity=identity,
        start=start,
        end=end,
        organisation=organisation,
    )
    accesses = extract_rows(
        organisation_ids=subject.organisations, identity_hash=subject.hashed, start=start, end=end
    )
    subject.log_read(user=user, found=bool(accesses))
    return LogExtract(child_masked=subject.child_masked, accesses=accesses)


def log_extract_pdf_request(
    *,
    user: User,
    identity_type: str,
    identity: str,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    organisation: uuid.UUID | None = None,
) -> uuid.UUID:
    """Ask for the extract as a PDF (a report run that `reporting` renders in a worker) and
    return the run's id. The same rules as `log_extract`, for one organisation: the PDF is
    that organisation's document and only its log reviewers read it. Asking is the access
    (logged as `log_extract` logs it); the run gets the identity's hash and masked form, never
    the number. Every request is a new run: each lists the rows up to its own moment."""
    subject = extract_subject(
        user=user,
        identity_type=identity_type,
        identity=identity,
        start=start,
        end=end,
        organisation=organisation,
        one_organisation=True,
    )
    with transaction.atomic():
        as_of = timezone.now()
        found = in_period(
            access_log_of(subject.organisations).filter(identity_hash=subject.hashed, at__lt=as_of),
            start,
            end,
        ).exists()
        subject.log_read(user=user, found=found)
        return extension.log_extract_pdf().order(
            user=user,
            order=extension.ExtractOrder(
                organisation_id=next(iter(subject.organisations)),
                identity_hash=subject.hashed,
                child_id=subject.child.pk if subject.child is not None else None,
                child_masked=subject.child_masked,
                start=start,
                end=end,
                as_of=as_of,
            ),
        )


def log_extract_pdf_run(request: Request, run_id: uuid.UUID) -> dict[str, Any]:
    """The PDF's run as the API shows report runs (its state now: an eager run is done)."""
    return extension.log_extract_pdf().api_body(request, run_id)


def log_extract_pdf_page(run_id: uuid.UUID) -> str:
    """The page with the PDF's state and download."""
    return extension.log_extract_pdf().page_url(run_id)
