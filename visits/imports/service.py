"""The journal import (issue 26; API.md "Importing visits from the journal system"): store the
uploaded file, preview it into classified rows, commit the new ones through `visit_log()`.

No rule of a visit is written here: the preview classifies each row with `visit_check()` (what
`visit_log()` checks before it saves) and the commit saves with `visit_log()` itself, so an
imported visit gets its codes, compensation and locked months exactly as a typed one. What is
the import's own: finding the child (by its identity key, never storing the number), the centre
(by HSA-id, within the importer's scope) and the enrolment, reading the contract's words, the
idempotency key (child, date, place, slot) and the private store of uploaded files.

Identity numbers stay in the file: rows keep the child's foreign key and masked form, reasons
are the visit's own messages, and nothing here logs a row's values.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _

from core.exceptions import Conflict
from core.liveness import WorkLock
from visits import extension
from visits.access_log import log_children
from visits.identity import (
    Identity,
    IdentityType,
    identity_hash,
    mask_identities,
    normalise_identity,
)
from visits.imports.reader import SourceRow, count_rows, read_rows
from visits.models import (
    AccessAction,
    Child,
    ColumnMapping,
    Enrolment,
    ImportStatus,
    InterpreterMode,
    ProgrammeTemplate,
    RowOutcome,
    Visit,
    VisitImport,
    VisitImportRow,
    VisitPlace,
    VisitStatus,
)
from visits.selectors import child_centre_ids
from visits.services import VisitInput, slot_taken_message, visit_check, visit_log

if TYPE_CHECKING:
    from core.models import Centre, Organisation, User

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
FILE_DAYS = 30  # an uploaded file is removed after commit, or after this many days

# The contract's words (API.md), lower case, to the visit's values.
PLACES = {
    "hembesök": VisitPlace.HOME,
    "mottagningsbesök": VisitPlace.CLINIC,
    "annat": VisitPlace.OTHER,
}
STATUSES = {
    "": VisitStatus.COMPLETED,
    "genomfört": VisitStatus.COMPLETED,
    "inställt": VisitStatus.CANCELLED,
    "uteblev": VisitStatus.NO_SHOW,
}
SOCIAL_SERVICES = {"": False, "nej": False, "ja": True}
INTERPRETER = {
    "": InterpreterMode.NONE,
    "nej": InterpreterMode.NONE,
    "på plats": InterpreterMode.IN_PERSON,
    "telefon": InterpreterMode.PHONE,
    "video": InterpreterMode.VIDEO,
}
_CODE_SEPARATORS = re.compile(r"[\s,;]+")


# --- Create -----------------------------------------------------------------------------------
def import_create(
    *, user: User, centre: Centre, path_or_file: Path | IO[bytes], file_name: str
) -> VisitImport:
    """An import of `file_name` for `centre` (a centre where the user is nurse or centre
    manager), its file copied into the private store under the import's id. A file that is no
    visit export (not CSV or XLSX, empty, a required column missing: named) is refused here,
    ValidationError on `file`, and not kept."""
    if centre.pk not in child_centre_ids(user):
        raise PermissionDenied(_("Du kan bara importera besök för BVC där du arbetar."))
    visit_import = VisitImport(
        organisation_id=centre.organisation_id,
        centre=centre,
        created_by=user,
        # Shown to users; never a path. Only its last part, as browsers may send a whole path.
        file_name=re.split(r"[\\/]", file_name)[-1][:255],
    )
    visit_import.stored_name = str(visit_import.pk)
    _store(visit_import, path_or_file)
    try:
        # Only the header is read: the rows are the preview's (a Celery task).
        read_rows(stored_path(visit_import), mapping=_mapping(visit_import))
        visit_import.save()
    except BaseException:
        _remove_file(visit_import)
        raise
    return visit_import


def import_check_size(size: int | None) -> None:
    """A file over IMPORT_MAX_BYTES is refused (ValidationError on `file`, the limit in MB as
    users read it: "20", "0,5"), before the service stores it."""
    limit = int(settings.IMPORT_MAX_BYTES)
    if size is not None and size > limit:
        shown = f"{limit / (1024 * 1024):.1f}".rstrip("0").rstrip(".").replace(".", ",")
        raise ValidationError(
            {"file": [_("Filen är för stor: högst %(size)s MB.") % {"size": shown}]},
            code="too_large",
        )


def import_request(
    *, user: User, centre: Centre, file: Path | IO[bytes], file_name: str
) -> VisitImport:
    """An upload from the page or the API: `import_create`, then the preview queued in Celery
    once the caller's transaction commits (its only argument the import's id)."""
    visit_import = import_create(user=user, centre=centre, path_or_file=file, file_name=file_name)
    _queue("preview", visit_import)
    return visit_import


def _mapping(visit_import: VisitImport) -> dict[str, str] | None:
    row = ColumnMapping.objects.filter(organisation_id=visit_import.organisation_id).first()
    return row.mapping() if row else None


def stored_path(visit_import: VisitImport) -> Path:
    return Path(settings.IMPORT_STORE) / visit_import.stored_name


def _store(visit_import: VisitImport, source: Path | IO[bytes]) -> None:
    folder = Path(settings.IMPORT_STORE)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created 0600 from the start (never readable by others, not even briefly).
    descriptor = os.open(stored_path(visit_import), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as target:
        if isinstance(source, Path):
            with source.open("rb") as data:
                shutil.copyfileobj(data, target)
        else:
            shutil.copyfileobj(source, target)


def _remove_file(visit_import: VisitImport) -> None:
    if visit_import.stored_name:
        stored_path(visit_import).unlink(missing_ok=True)


# --- Preview ----------------------------------------------------------------------------------
@dataclass
class _Row:
    """One row as the preview found it, before it is written."""

    number: int
    outcome: str = ""
    reason: str = ""
    child: Child | None = None
    care_unit: uuid.UUID | None = None
    enrolment: Enrolment | None = None
    visit_id: uuid.UUID | None = None
    key: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def refuse(self, outcome: str, reason: str) -> _Row:
        self.outcome, self.reason = outcome, reason
        return self


@dataclass
class _Stored:
    """What one chunk of rows needs from the database, fetched in a few queries for the chunk
    (not per row): the children its identity numbers name, their enrolments at the centres in
    scope, and their stored visits on the dates of the chunk."""

    children: dict[str, Child] = field(default_factory=dict)  # by identity key
    enrolments: dict[tuple[uuid.UUID, uuid.UUID], Enrolment] = field(default_factory=dict)
    visits: dict[tuple[uuid.UUID, datetime.date, str], list[Visit]] = field(default_factory=dict)


class _Preview:
    """The state one preview keeps while it streams the file: small lookups and the keys of
    the rows already seen (the same visit twice in a file is a duplicate the second time)."""

    def __init__(self, visit_import: VisitImport) -> None:
        self.visit_import = visit_import
        self.user: User = visit_import.created_by
        self.organisation: Organisation = visit_import.organisation
        self.scope = child_centre_ids(self.user)
        self.centres: dict[str, Centre | None] = {}
        self.templates: dict[uuid.UUID, ProgrammeTemplate] = {}
        self.keys: set[str] = set()
        self.claimed_slots: set[tuple[uuid.UUID, str]] = set()
        self.logged: set[uuid.UUID] = set()

    def centre(self, hsa_id: str) -> Centre | None:
        """The centre of `hsa_id` in the import's organisation and the importer's scope (and,
        for an import made for one centre, that centre)."""
        if hsa_id not in self.centres:
            found = self.organisation.centres.filter(hsa_id=hsa_id).first() if hsa_id else None
            wanted = self.visit_import.centre_id
            if found is not None and (
                found.pk not in self.scope or (wanted is not None and found.pk != wanted)
            ):
                found = None
            self.centres[hsa_id] = found
        return self.centres[hsa_id]

    def classify_chunk(self, sources: list[SourceRow]) -> list[_Row]:
        identities = [
            _identity(s.values.get("personnummer", ""), self.organisation) for s in sources
        ]
        stored = self.fetch(
            [i for i in identities if not isinstance(i, ValidationError)],
            {d for s in sources if (d := _date_or_none(s.values.get("datum", ""))) is not None},
        )
        return [
            self.classify(source, identity, stored)
            for source, identity in zip(sources, identities, strict=True)
        ]

    def fetch(self, identities: list[Identity], dates: set[datetime.date]) -> _Stored:
        """The chunk's children, enrolments and stored visits: three queries, and one per
        programme template the first time it is met."""
        stored = _Stored()
        keys = {identity_hash(i.type.value, i.value) for i in identities}
        if not keys:
            return stored
        children = Child.objects.filter(
            organisation=self.organisation, identity_key__in=keys, anonymised_on__isnull=True
        ).select_related("current_centre")
        stored.children = {c.identity_key: c for c in children}
        by_id = {c.pk: c for c in stored.children.values()}
        # The child's enrolment at a centre: the open one, else the latest not declined (a visit
        # before it ended). Only the first of each (child, centre) in this order is kept.
        enrolments = Enrolment.objects.filter(
            child_id__in=by_id, centre_id__in=self.scope, declined_on__isnull=True
        ).order_by("child_id", "centre_id", F("ended_on").desc(nulls_first=True), "-offered_on")
        for enrolment in enrolments:
            enrolment.child = by_id[enrolment.child_id]
            enrolment.template = self.template(enrolment.template_id)
            stored.enrolments.setdefault((enrolment.child_id, enrolment.centre_id), enrolment)
        if dates:
            # API.md: the same visit is the same child, date, place and slot, typed or imported.
            visits = Visit.objects.filter(
                enrolment__child_id__in=by_id, date__in=dates
            ).select_related("enrolment")
            for visit in visits.order_by("created_at", "id"):
                key = (visit.enrolment.child_id, visit.date, visit.place)
                stored.visits.setdefault(key, []).append(visit)
        return stored

    def template(self, template_id: uuid.UUID) -> ProgrammeTemplate:
        if template_id not in self.templates:
            self.templates[template_id] = ProgrammeTemplate.objects.prefetch_related("slots").get(
                pk=template_id
            )
        return self.templates[template_id]

    def classify(
        self, source: SourceRow, identity: Identity | ValidationError, stored: _Stored
    ) -> _Row:
        row = _Row(number=source.number)
        values = source.values
        if isinstance(identity, ValidationError):
            return row.refuse(RowOutcome.INVALID, _reason(identity))
        child = stored.children.get(identity_hash(identity.type.value, identity.value))
        if child is None:
            return row.refuse(
                RowOutcome.UNMATCHED, _("Barnet är inte registrerat i organisationen.")
            )
        row.child, row.care_unit = child, child.current_centre_id
        centre = self.centre(values.get("vardenhet", "").strip())
        if centre is None:
            return row.refuse(
                RowOutcome.UNMATCHED,
                _("Vårdenheten är okänd eller ingen BVC som importen gäller för dig."),
            )
        row.care_unit = centre.pk
        enrolment = stored.enrolments.get((child.pk, centre.pk))
        if enrolment is None:
            return row.refuse(RowOutcome.UNMATCHED, _("Barnet är inte inskrivet vid BVC:n."))
        row.enrolment = enrolment

        try:
            data = _visit_input(values)
        except ValidationError as exc:
            return row.refuse(RowOutcome.INVALID, _reason(exc))
        if not data.slot:
            data.slot = self.slot_of(enrolment, child, data.date)
        row.values = _values(data)

        same = _stored_visit(
            stored.visits.get((child.pk, data.date, data.place), []),
            data,
            slot_given=bool(values.get("besokstillfalle")),
        )
        if same is not None:
            row.key = _key(child, data.date, data.place, same.slot)
            row.visit_id = same.pk
            return row.refuse(RowOutcome.DUPLICATE, _("Besöket finns redan."))
        row.key = _key(child, data.date, data.place, data.slot)
        if row.key in self.keys:
            return row.refuse(RowOutcome.DUPLICATE, _("Besöket står redan på en tidigare rad."))

        try:
            visit = visit_check(user=self.user, enrolment=enrolment, data=data)
        except ValidationError as exc:
            return row.refuse(RowOutcome.INVALID, _reason(exc))
        except Conflict as exc:
            if data.slot:
                row.visit_id = (
                    Visit.objects.filter(
                        enrolment=enrolment, slot=data.slot, status=VisitStatus.COMPLETED
                    )
                    .values_list("pk", flat=True)
                    .first()
                )
            return row.refuse(RowOutcome.CONFLICT, exc.detail)
        row.values = _values(VisitInput.from_visit(visit))  # as it will be saved (ZV509 added)
        if visit.status == VisitStatus.COMPLETED and visit.slot:
            claim = (enrolment.pk, visit.slot)
            if claim in self.claimed_slots:  # an earlier row of the file takes the slot
                return row.refuse(RowOutcome.CONFLICT, slot_taken_message())
            self.claimed_slots.add(claim)
        self.keys.add(row.key)
        row.outcome = RowOutcome.NEW
        return row

    def slot_of(self, enrolment: Enrolment, child: Child, day: datetime.date) -> str:
        """API.md: without `besokstillfalle`, the slot whose window holds the date; of several,
        the one whose target age is nearest; none: an extra visit outside the template."""
        age = (day - child.birth_date).days
        holding = []
        for slot in enrolment.template.slots.all():
            earliest, latest = slot.window(child.birth_date)
            if enrolment.includes_slot(slot.key) and earliest <= day <= latest:
                holding.append(slot)
        if not holding:
            return ""
        return min(holding, key=lambda s: (abs(s.target_age_days - age), s.key)).key

    def write(self, rows: list[_Row]) -> None:
        """One batch: its rows, the access log of the children it touched, the progress."""
        VisitImportRow.objects.bulk_create(
            [
                VisitImportRow(
                    visit_import=self.visit_import,
                    number=r.number,
                    outcome=r.outcome,
                    reason=r.reason,
                    child=r.child,
                    child_masked=r.child.masked if r.child else "",
                    enrolment=r.enrolment,
                    visit_id=r.visit_id,
                    key=r.key,
                    values=r.values,
                )
                for r in rows
            ]
        )
        entries = []
        for r in rows:
            if r.child is not None and r.child.pk not in self.logged:
                self.logged.add(r.child.pk)
                entries.append((r.child, r.care_unit))
        if entries:
            log_children(
                user=self.user, action=AccessAction.IMPORT, entries=entries, what="visit_import"
            )
        VisitImport.objects.filter(pk=self.visit_import.pk).update(
            progress_done=F("progress_done") + len(rows), updated_at=Now()
        )


def import_preview(visit_import: VisitImport) -> VisitImport:
    """Read the stored file and classify every row (API.md: new, duplicate, conflict,
    unmatched, invalid) without saving a visit; the import is then `ready`, or `failed` when
    the file cannot be read (its reason in `error`). Rows are written in batches as the file
    streams, so memory does not grow with the file."""
    if visit_import.status not in (ImportStatus.QUEUED, ImportStatus.PREVIEWING):
        raise Conflict(_("Importen är redan läst."))
    path = stored_path(visit_import)
    mapping = _mapping(visit_import)
    visit_import.rows.all().delete()  # a preview started again (a lost worker) starts over
    visit_import.status = ImportStatus.PREVIEWING
    visit_import.progress_done = 0
    try:
        visit_import.progress_total = count_rows(path)
        visit_import.save(update_fields=["status", "progress_done", "progress_total", "updated_at"])
        preview = _Preview(visit_import)
        counts = dict.fromkeys(RowOutcome.values, 0)
        with extension.many_visits():
            for chunk in _chunks(read_rows(path, mapping=mapping), BATCH_SIZE):
                rows = preview.classify_chunk(chunk)
                for row in rows:
                    counts[row.outcome] += 1
                preview.write(rows)
    except ValidationError as exc:  # the file as a whole (not a table, missing columns)
        return _fail(visit_import, _reason(exc))
    except Exception:
        _fail(visit_import, _("Filen kunde inte läsas."))
        raise
    visit_import.refresh_from_db(fields=["progress_done"])
    visit_import.count_rows = sum(counts.values())
    for outcome, number in counts.items():
        setattr(visit_import, f"count_{outcome}", number)
    visit_import.status = ImportStatus.READY
    visit_import.save(
        update_fields=[
            "status",
            "count_rows",
            "updated_at",
            *(f"count_{o}" for o in RowOutcome.values),
        ]
    )
    return visit_import


def _fail(visit_import: VisitImport, error: str) -> VisitImport:
    visit_import.status = ImportStatus.FAILED
    visit_import.error = error
    visit_import.save(update_fields=["status", "error", "updated_at"])
    return visit_import


# --- Commit ---------------------------------------------------------------------------------
def import_claim_commit(visit_import: VisitImport, *, user: User) -> VisitImport:
    """Mark a `ready` import `committing` in `user`'s name (a nurse or centre manager of its
    centre), or raise Conflict: a second commit is 409 (API.md)."""
    if visit_import.centre_id not in child_centre_ids(user):
        raise PermissionDenied(_("Du kan bara importera besök för BVC där du arbetar."))
    with transaction.atomic():
        locked = VisitImport.objects.select_for_update().get(pk=visit_import.pk)
        if locked.status != ImportStatus.READY:
            raise Conflict(
                _("Importen är redan sparad.")
                if locked.status in (ImportStatus.COMMITTING, ImportStatus.COMMITTED)
                else _("Importen är inte klar att spara.")
            )
        locked.status = ImportStatus.COMMITTING
        locked.committed_by = user
        locked.save(update_fields=["status", "committed_by", "updated_at"])
    visit_import.status, visit_import.committed_by = locked.status, user
    return visit_import


def import_commit_rows(visit_import: VisitImport) -> VisitImport:
    """Save the `new` rows of a `committing` import through `visit_log()` in one transaction,
    or none of them (API.md). The transaction holds the import's row lock, so a second attempt
    (a redelivered task) waits and then finds it committed, and one whose worker died left
    nothing and is still `committing`. A row refused now (the world changed since the preview)
    fails the whole import: `failed`, with the row and its reason in `error`; a new import of
    the file classifies it afresh."""
    number = 0
    try:
        with extension.many_visits(), transaction.atomic():
            locked = (
                VisitImport.objects.select_for_update(of=("self",))
                .select_related("committed_by")
                .get(pk=visit_import.pk)
            )
            if locked.status != ImportStatus.COMMITTING or locked.committed_by is None:
                return locked
            user = locked.committed_by
            created: list[VisitImportRow] = []
            for row in _new_rows(locked):
                number = row.number
                assert row.enrolment is not None
                visit = visit_log(user=user, enrolment=row.enrolment, data=_input(row.values))
                row.visit = visit
                created.append(row)
                if len(created) >= BATCH_SIZE:
                    VisitImportRow.objects.bulk_update(created, ["visit"])
                    created = []
            VisitImportRow.objects.bulk_update(created, ["visit"])
            locked.status = ImportStatus.COMMITTED
            locked.committed_at = timezone.now()
            locked.save(update_fields=["status", "committed_at", "updated_at"])
    except (ValidationError, Conflict) as exc:
        reason = _reason(exc) if isinstance(exc, ValidationError) else exc.detail
        return _fail(
            visit_import,
            _("Rad %(row)s: %(reason)s Inget sparades.") % {"row": number, "reason": reason},
        )
    except Exception:
        _fail(visit_import, _("Importen kunde inte sparas. Inget sparades."))
        raise
    _remove_file(locked)
    return locked


def import_commit(visit_import: VisitImport, *, user: User) -> VisitImport:
    """Claim and commit at once (`manage.py import_visits --commit`, tests)."""
    return import_commit_rows(import_claim_commit(visit_import, user=user))


def _new_rows(visit_import: VisitImport) -> Iterator[VisitImportRow]:
    return (
        VisitImportRow.objects.filter(visit_import=visit_import, outcome=RowOutcome.NEW)
        .select_related("enrolment__child", "enrolment__template")
        .prefetch_related("enrolment__template__slots")
        .order_by("number")
        .iterator(chunk_size=BATCH_SIZE)
    )


def import_request_commit(visit_import: VisitImport, *, user: User) -> VisitImport:
    """A commit asked for on the page or in the API: claimed now (a second one is 409), saved
    in Celery once the caller's transaction commits."""
    visit_import = import_claim_commit(visit_import, user=user)
    _queue("commit", visit_import)
    return visit_import


# --- Queued work and its recovery -------------------------------------------------------------
# While a worker previews or commits an import it holds the import's liveness lock (core.liveness):
# an import `previewing` or `committing` whose lock is free has lost its worker.
IMPORTS = WorkLock(0x494D5054, "visit import")  # "IMPT"
# An import still `queued` this long after its upload has lost its message (the preview of a
# 50 000-row file takes about a minute; a busy queue is allowed for).
QUEUED_TOO_LONG = datetime.timedelta(minutes=15)


def _queue(step: str, visit_import: VisitImport) -> None:
    """Send the task of `step` ("preview" or "commit") once the caller's transaction commits."""
    from visits import tasks  # tasks.py calls this module

    task = tasks.import_preview if step == "preview" else tasks.import_commit
    import_id = str(visit_import.pk)
    transaction.on_commit(lambda: task.delay(import_id))


def import_run(import_id: str, *, step: Callable[[VisitImport], VisitImport]) -> str:
    """One task's body: `step` (the preview or the commit) on the import, holding its liveness
    lock; "skipped" when another live attempt holds it or the import is gone."""
    try:
        pk = uuid.UUID(str(import_id))
    except ValueError:
        return "skipped"
    if not IMPORTS.acquire(pk):
        return "skipped"
    try:
        visit_import = (
            VisitImport.objects.select_related("organisation", "created_by").filter(pk=pk).first()
        )
        if visit_import is None:
            return "skipped"
        try:
            return str(step(visit_import).status)
        except Conflict:
            return "skipped"  # already read or saved by an earlier delivery
    finally:
        IMPORTS.release(pk)


def import_resume_stuck() -> int:
    """Imports whose worker is gone are queued again (beat, every minute): previewing or
    committing with their lock free (the preview starts over; the commit's transaction left
    nothing), and queued ones whose message was lost. Returns how many were queued."""
    now = timezone.now()
    candidates = list(
        VisitImport.objects.filter(
            Q(status__in=[ImportStatus.PREVIEWING, ImportStatus.COMMITTING])
            | Q(status=ImportStatus.QUEUED, updated_at__lt=now - QUEUED_TOO_LONG)
        ).only("pk", "status")
    )
    alive = IMPORTS.holders(i.pk for i in candidates)
    resumed = 0
    for visit_import in candidates:
        if visit_import.pk in alive:
            continue
        step = "commit" if visit_import.status == ImportStatus.COMMITTING else "preview"
        with transaction.atomic():
            VisitImport.objects.filter(pk=visit_import.pk).update(updated_at=now)
            _queue(step, visit_import)
        resumed += 1
    if resumed:
        logger.info("queued %d visit imports again", resumed)
    return resumed


# --- Clean-up ---------------------------------------------------------------------------------
def import_purge_files(*, older_than: datetime.timedelta | None = None) -> int:
    """Remove the stored files of imports older than FILE_DAYS (their rows stay); returns how
    many files were removed."""
    cutoff = timezone.now() - (older_than or datetime.timedelta(days=FILE_DAYS))
    removed = 0
    for visit_import in VisitImport.objects.filter(created_at__lt=cutoff).exclude(stored_name=""):
        path = stored_path(visit_import)
        if path.exists():
            path.unlink()
            removed += 1
        visit_import.stored_name = ""
        visit_import.save(update_fields=["stored_name"])
    return removed


# --- Reading a row ----------------------------------------------------------------------------
def _reason(exc: ValidationError) -> str:
    """The messages of a refusal, as the visit form shows them, in one line."""
    return " ".join(str(m) for m in exc.messages)


def _identity(raw: str, organisation: Organisation) -> Identity | ValidationError:
    """The file's `personnummer` column: a personnummer, a samordningsnummer, or a reserve
    number of the organisation's format; the personnummer's refusal when it is none."""
    text = raw.strip()
    try:
        return normalise_identity(IdentityType.PERSONNUMMER, text)
    except ValidationError as exc:
        refusal = exc
    for kind in (IdentityType.SAMORDNINGSNUMMER, IdentityType.RESERVNUMMER):
        try:
            return normalise_identity(
                kind, text, reserve_pattern=organisation.reserve_number_pattern
            )
        except ValidationError:
            continue
    return refusal


def _word(values: dict[str, str], column: str, words: dict[str, Any]) -> Any:
    text = values.get(column, "").strip()
    if text.lower() in words:
        return words[text.lower()]
    if not text:
        raise ValidationError({column: [_("Kolumnen %s saknar värde.") % column]})
    shown = mask_identities(text[:40])
    raise ValidationError(
        {
            column: [
                _("Okänt värde i kolumnen %(column)s: %(value)s.")
                % {"column": column, "value": shown}
            ]
        }
    )


def _date(text: str) -> datetime.date:
    text = text.strip()
    # XLSX cells read as datetimes come with a time part (midnight): the date is what counts.
    for value in (text, text[:10]):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            continue
    raise ValidationError({"datum": [_("Ange datum som ÅÅÅÅ-MM-DD.")]})


def _visit_input(values: dict[str, str]) -> VisitInput:
    """The contract's columns as a VisitInput; ValidationError naming the column of a word the
    contract does not know."""
    errors: dict[str, list[str]] = {}
    parsed: dict[str, Any] = {}
    readers: dict[str, Callable[[], Any]] = {
        "date": lambda: _date(values.get("datum", "")),
        "place": lambda: _word(values, "besokstyp", PLACES),
        "status": lambda: _word(values, "status", STATUSES),
        "social_services_present": lambda: _word(values, "socialtjanst", SOCIAL_SERVICES),
        "interpreter_mode": lambda: _word(values, "tolk", INTERPRETER),
    }
    for name, read in readers.items():
        try:
            parsed[name] = read()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return VisitInput(
        slot=values.get("besokstillfalle", "").strip(),
        interpreter_language=values.get("sprak", "").strip(),
        kva_codes=[c for c in _CODE_SEPARATORS.split(values.get("kva", "")) if c],
        **parsed,
    )


def _values(data: VisitInput) -> dict[str, Any]:
    return {**data.__dict__, "date": data.date.isoformat()}


def _input(values: dict[str, Any]) -> VisitInput:
    return VisitInput(**{**values, "date": datetime.date.fromisoformat(values["date"])})


def _key(child: Child, day: datetime.date, place: str, slot: str) -> str:
    return f"{child.pk}|{day.isoformat()}|{place}|{slot}"


def _stored_visit(candidates: list[Visit], data: VisitInput, *, slot_given: bool) -> Visit | None:
    """The stored visit this row is, among the child's stored visits of that date and place
    (API.md: same child, date, place and slot, typed or imported). A slot the import derived
    from the date is its guess, so without one in the file a visit of the same child, date and
    place is the same visit whatever its slot."""
    if slot_given:
        candidates = [v for v in candidates if v.slot == data.slot]
    return candidates[0] if candidates else None


def _date_or_none(text: str) -> datetime.date | None:
    try:
        return _date(text)
    except ValidationError:
        return None


def _chunks(rows: Iterator[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    chunk: list[SourceRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- Reading imports (the page and the API) ---------------------------------------------------
def imports_visible(user: User) -> QuerySet[VisitImport]:
    """The imports of the centres where the user is nurse or centre manager (API.md: the
    importer's scope); anything else is 404."""
    return VisitImport.objects.filter(centre_id__in=child_centre_ids(user)).select_related(
        "centre", "created_by", "committed_by"
    )


def import_rows(visit_import: VisitImport, outcome: str = "") -> QuerySet[VisitImportRow]:
    """An import's rows in file order, of one outcome when given (unknown: ValidationError on
    `outcome`)."""
    rows = VisitImportRow.objects.filter(visit_import=visit_import).order_by("number")
    if outcome:
        if outcome not in RowOutcome.values:
            raise ValidationError(
                {"outcome": [_("Välj ett av: %s.") % ", ".join(RowOutcome.values)]}
            )
        rows = rows.filter(outcome=outcome)
    return rows


def import_centre(user: User, centre_id: uuid.UUID | str | None) -> Centre:
    """The centre an upload is for: the one named (in the user's scope), or the user's only
    one; ValidationError on `centre` when she works at several and names none, or names one
    outside her scope (API.md: an id in the body outside scope is 400)."""
    from core.models import Centre

    scope = child_centre_ids(user)
    if centre_id in (None, ""):
        if len(scope) == 1:
            return Centre.objects.get(pk=next(iter(scope)))
        raise ValidationError({"centre": [_("Välj BVC.")]})
    try:
        pk = uuid.UUID(str(centre_id))
    except ValueError:
        pk = None
    if pk is None or pk not in scope:
        raise ValidationError({"centre": [_("Välj en BVC där du arbetar.")]})
    return Centre.objects.get(pk=pk)
