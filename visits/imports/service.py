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
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.exceptions import Conflict
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
    RowOutcome,
    TemplateSlot,
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
    manager), its file copied into the private store under the import's id."""
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
    visit_import.save()
    return visit_import


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


class _Preview:
    """The state one preview keeps while it streams the file: small lookups and the keys of
    the rows already seen (the same visit twice in a file is a duplicate the second time)."""

    def __init__(self, visit_import: VisitImport) -> None:
        self.visit_import = visit_import
        self.user: User = visit_import.created_by
        self.organisation: Organisation = visit_import.organisation
        self.scope = child_centre_ids(self.user)
        self.centres: dict[str, Centre | None] = {}
        self.slots: dict[uuid.UUID, list[TemplateSlot]] = {}
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

    def template_slots(self, enrolment: Enrolment) -> list[TemplateSlot]:
        if enrolment.template_id not in self.slots:
            self.slots[enrolment.template_id] = list(enrolment.template.slots.all())
        return self.slots[enrolment.template_id]

    def classify(self, source: SourceRow) -> _Row:
        row = _Row(number=source.number)
        values = source.values
        identity = _identity(values.get("personnummer", ""), self.organisation)
        if isinstance(identity, ValidationError):
            return row.refuse(RowOutcome.INVALID, _reason(identity))
        child = (
            Child.objects.filter(
                organisation=self.organisation,
                identity_key=identity_hash(identity.type.value, identity.value),
                anonymised_on__isnull=True,
            )
            .select_related("current_centre")
            .first()
        )
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
        enrolment = _enrolment(child, centre)
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

        stored = _stored_visit(child, data, slot_given=bool(values.get("besokstillfalle")))
        if stored is not None:
            row.key = _key(child, data.date, data.place, stored.slot)
            row.visit_id = stored.pk
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
        for slot in self.template_slots(enrolment):
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
            progress_done=F("progress_done") + len(rows)
        )


def import_preview(visit_import: VisitImport) -> VisitImport:
    """Read the stored file and classify every row (API.md: new, duplicate, conflict,
    unmatched, invalid) without saving a visit; the import is then `ready`, or `failed` when
    the file cannot be read (its reason in `error`). Rows are written in batches as the file
    streams, so memory does not grow with the file."""
    if visit_import.status not in (ImportStatus.QUEUED, ImportStatus.PREVIEWING):
        raise Conflict(_("Importen är redan läst."))
    path = stored_path(visit_import)
    mapping_row = ColumnMapping.objects.filter(organisation_id=visit_import.organisation_id).first()
    mapping = mapping_row.mapping() if mapping_row else None
    visit_import.rows.all().delete()  # a preview started again (a lost worker) starts over
    visit_import.status = ImportStatus.PREVIEWING
    visit_import.progress_done = 0
    try:
        visit_import.progress_total = count_rows(path)
        visit_import.save(update_fields=["status", "progress_done", "progress_total"])
        preview = _Preview(visit_import)
        counts = dict.fromkeys(RowOutcome.values, 0)
        batch: list[_Row] = []
        for source in read_rows(path, mapping=mapping):
            row = preview.classify(source)
            counts[row.outcome] += 1
            batch.append(row)
            if len(batch) >= BATCH_SIZE:
                preview.write(batch)
                batch = []
        if batch:
            preview.write(batch)
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
        update_fields=["status", "count_rows", *(f"count_{o}" for o in RowOutcome.values)]
    )
    return visit_import


def _fail(visit_import: VisitImport, error: str) -> VisitImport:
    visit_import.status = ImportStatus.FAILED
    visit_import.error = error
    visit_import.save(update_fields=["status", "error"])
    return visit_import


# --- Commit -----------------------------------------------------------------------------------
def import_commit(visit_import: VisitImport, *, user: User) -> VisitImport:
    """Save the `new` rows through `visit_log()` in one transaction, or none of them (API.md).
    A row refused now (the world changed since the preview) fails the whole import: `failed`,
    with the row and its reason in `error`; a new import of the file classifies it afresh.
    Raises Conflict unless the import is `ready` (a second commit is 409)."""
    with transaction.atomic():
        locked = VisitImport.objects.select_for_update().get(pk=visit_import.pk)
        if locked.status != ImportStatus.READY:
            raise Conflict(
                _("Importen är redan sparad.")
                if locked.status in (ImportStatus.COMMITTING, ImportStatus.COMMITTED)
                else _("Importen är inte klar att spara.")
            )
        locked.status = ImportStatus.COMMITTING
        locked.save(update_fields=["status"])
    visit_import.status = ImportStatus.COMMITTING
    number = 0
    try:
        with transaction.atomic():
            created: list[VisitImportRow] = []
            for row in _new_rows(visit_import):
                number = row.number
                assert row.enrolment is not None
                visit = visit_log(user=user, enrolment=row.enrolment, data=_input(row.values))
                row.visit = visit
                created.append(row)
                if len(created) >= BATCH_SIZE:
                    VisitImportRow.objects.bulk_update(created, ["visit"])
                    created = []
            VisitImportRow.objects.bulk_update(created, ["visit"])
            visit_import.status = ImportStatus.COMMITTED
            visit_import.committed_at = timezone.now()
            visit_import.save(update_fields=["status", "committed_at"])
    except (ValidationError, Conflict) as exc:
        reason = _reason(exc) if isinstance(exc, ValidationError) else exc.detail
        return _fail(
            visit_import,
            _("Rad %(row)s: %(reason)s Inget sparades.") % {"row": number, "reason": reason},
        )
    except Exception:
        _fail(visit_import, _("Importen kunde inte sparas. Inget sparades."))
        raise
    _remove_file(visit_import)
    return visit_import


def _new_rows(visit_import: VisitImport) -> Iterator[VisitImportRow]:
    return (
        VisitImportRow.objects.filter(visit_import=visit_import, outcome=RowOutcome.NEW)
        .select_related("enrolment__child", "enrolment__template")
        .order_by("number")
        .iterator(chunk_size=BATCH_SIZE)
    )


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


def _enrolment(child: Child, centre: Centre) -> Enrolment | None:
    """The child's enrolment at the centre: the open one, else the latest not declined (a visit
    before it ended)."""
    return (
        Enrolment.objects.filter(child=child, centre=centre, declined_on__isnull=True)
        .select_related("child", "template")
        .order_by(F("ended_on").desc(nulls_first=True), "-offered_on")
        .first()
    )


def _stored_visit(child: Child, data: VisitInput, *, slot_given: bool) -> Visit | None:
    """The stored visit this row is (API.md: same child, date, place and slot, typed or
    imported). A slot the import derived from the date is its guess, so without one in the file
    a visit of the same child, date and place is the same visit whatever its slot."""
    visits = Visit.objects.filter(enrolment__child=child, date=data.date, place=data.place)
    if slot_given:
        visits = visits.filter(slot=data.slot)
    return visits.order_by("created_at").first()
