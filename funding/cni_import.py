"""CNI import: read a CSV or XLSX file of CNI values per centre, preview what it would store, then
store all valid rows in one transaction (or nothing).

The file has a header row with `hsa_id` or `centre` (the centre's exact name), `child_cni`, and
optionally `listed_children` (listed children aged 0–5; SCB's delivery carries it, DOMAIN.md
4.2). What the values are (kind, source, reference date, scale) is said by the person importing,
not by the file. Parsing is pure; `preview()` reads centres and existing values and writes
nothing; `commit()` re-checks everything inside its transaction and writes through
`funding.centres.cni_record`.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils.translation import gettext as _

from core.models import Centre, Organisation
from funding.centres import cni_record
from funding.models import CniValue

if TYPE_CHECKING:
    from core.models import User

COLUMNS = ("hsa_id", "centre", "child_cni", "listed_children")
MAX_ROWS = 2000
MAX_LINES = 10 * MAX_ROWS  # blank lines included
MAX_COLUMNS = 50
# CniValue.value is DecimalField(max_digits=6, decimal_places=2).
MAX_VALUE = Decimal("9999.99")
MAX_LISTED = 2_147_483_647
_SPACES = str.maketrans("", "", " \u00a0\u202f\t")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not a table, no header, too many rows)."""


class ImportChanged(Exception):
    """The data changed between preview and commit; nothing was written."""


@dataclass(frozen=True)
class RawRow:
    """One data row of the file, as text. `line` is the row's number in the file (header = 1)."""

    line: int
    hsa_id: str = ""
    centre: str = ""
    child_cni: str = ""
    listed_children: str = ""

    def to_list(self) -> list[object]:
        return [self.line, self.hsa_id, self.centre, self.child_cni, self.listed_children]

    @classmethod
    def from_list(cls, values: Sequence[object]) -> RawRow:
        line, hsa_id, centre, child_cni, listed = values
        return cls(int(str(line)), str(hsa_id), str(centre), str(child_cni), str(listed))


@dataclass(frozen=True)
class Batch:
    """What the importer says about every value of the file."""

    kind: str
    source: str
    reference_date: datetime.date
    scale: str


# --- Parsing ----------------------------------------------------------------------------------
def parse(content: bytes) -> list[RawRow]:
    """Rows of a CSV or XLSX file (told apart by content, not by the file's name)."""
    if content.startswith(b"PK\x03\x04"):
        return parse_xlsx(content)
    return parse_csv(content)


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's "CSV (semikolonavgränsad)" on Swedish Windows writes Windows-1252.
        return content.decode("cp1252", errors="replace")


def parse_csv(content: bytes) -> list[RawRow]:
    """Comma or semicolon separated (chosen from the header line); decimal comma or point (a
    comma-separated file quotes its decimal commas, as Excel does); UTF-8 with or without BOM."""
    text = _decode(content)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        table = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise ImportFileError(_("Filen går inte att läsa som CSV: %s") % exc) from exc
    return _rows(table)


def parse_xlsx(content: bytes) -> list[RawRow]:
    """The first worksheet of an XLSX workbook, with cached values of formulas."""
    from openpyxl import load_workbook

    unreadable = _("Filen går inte att läsa som Excel-fil (XLSX).")
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # a malformed workbook fails in many ways, all the file's fault
        raise ImportFileError(unreadable) from exc
    try:
        # Streamed row by row (read-only mode), so a sheet far larger than its file stops at
        # the row limit instead of filling memory.
        sheet = workbook.worksheets[0]
        return _rows(
            [_cell_text(cell) for cell in row]
            for row in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
        )
    except ImportFileError:
        raise
    except Exception as exc:
        raise ImportFileError(unreadable) from exc
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # 612.0 is a count; other floats by their shortest repr (2.87, not 2.8700000000000001).
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)


def _rows(table: Iterable[Sequence[str]]) -> list[RawRow]:
    rows = iter(enumerate(table, start=1))
    header: dict[str, int] = {}
    for _line, cells in rows:
        if any(c.strip() for c in cells):
            names = [c.strip().lstrip("\ufeff").lower() for c in cells]
            header = {name: i for i, name in enumerate(names) if name in COLUMNS}
            break
    if not header:
        raise ImportFileError(_("Filen är tom."))
    if "child_cni" not in header or not ({"hsa_id", "centre"} & header.keys()):
        raise ImportFileError(
            _(
                "Första raden ska vara rubriker: hsa_id eller centre, child_cni och "
                "eventuellt listed_children."
            )
        )

    def cell(cells: Sequence[str], name: str) -> str:
        i = header.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    result = []
    for line, cells in rows:
        if line > MAX_LINES:
            raise ImportFileError(_("Filen har fler än %d rader.") % MAX_ROWS)
        if not any(c.strip() for c in cells):
            continue
        result.append(
            RawRow(
                line=line,
                hsa_id=cell(cells, "hsa_id"),
                centre=cell(cells, "centre"),
                child_cni=cell(cells, "child_cni"),
                listed_children=cell(cells, "listed_children"),
            )
        )
        if len(result) > MAX_ROWS:
            raise ImportFileError(_("Filen har fler än %d rader.") % MAX_ROWS)
    if not result:
        raise ImportFileError(_("Filen har rubriker men inga rader med värden."))
    return result


# --- Checking ---------------------------------------------------------------------------------
@dataclass
class RowResult:
    line: int
    key: str  # what the file says about the centre: its HSA-id or its name
    centre: Centre | None = None
    value: Decimal | None = None
    listed_children: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass
class Report:
    rows: list[RowResult]

    @property
    def valid_rows(self) -> list[RowResult]:
        return [r for r in self.rows if r.valid]

    @property
    def invalid_rows(self) -> list[RowResult]:
        return [r for r in self.rows if not r.valid]

    @property
    def valid_lines(self) -> list[int]:
        return [r.line for r in self.valid_rows]


def _number(text: str) -> Decimal | None:
    """A decimal written with a comma or a point (and perhaps spaces); None if it is none."""
    text = text.translate(_SPACES)
    if "," in text and "." in text:
        return None
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _check_value(text: str, row: RowResult) -> None:
    if not text:
        row.errors.append(_("Värde saknas i child_cni."))
        return
    value = _number(text)
    if value is None:
        row.errors.append(_("”%s” är inget tal.") % text)
    elif value < 0:
        row.errors.append(_("Värdet är negativt."))
    elif value > MAX_VALUE:
        row.errors.append(_("Värdet är för stort."))
    elif value != value.quantize(Decimal("0.01")):
        row.errors.append(_("Värdet har fler än två decimaler."))
    else:
        row.value = value.quantize(Decimal("0.01"))


def _check_listed(text: str, row: RowResult) -> None:
    if not text:
        return
    value = _number(text)
    if value is None or value != value.to_integral_value():
        row.errors.append(_("Antal listade barn ”%s” är inget heltal.") % text)
    elif value < 0:
        row.errors.append(_("Antal listade barn är negativt."))
    elif value > MAX_LISTED:
        row.errors.append(_("Antal listade barn är för stort."))
    else:
        row.listed_children = int(value)


def preview(
    organisation: Organisation, rows: Sequence[RawRow], batch: Batch | None = None
) -> Report:
    """What an import of `rows` into `organisation` would store, row by row; writes nothing.
    With `batch`, a value already stored for the same centre, kind, reference date and source
    is refused too (the database would refuse it)."""
    hsa_keys = {r.hsa_id.upper() for r in rows if r.hsa_id}
    names = {r.centre for r in rows if r.centre}
    candidates: list[Centre] = []
    if hsa_keys or names:
        candidates = list(
            Centre.objects.annotate(hsa_upper=Upper("hsa_id")).filter(
                Q(hsa_upper__in=hsa_keys) | Q(name__in=names)
            )
        )
    by_hsa = {c.hsa_id.upper(): c for c in candidates if c.hsa_id}
    by_name: dict[str, list[Centre]] = defaultdict(list)
    for c in candidates:
        by_name[c.name].append(c)

    report = Report(rows=[])
    for raw in rows:
        row = RowResult(line=raw.line, key=raw.hsa_id or raw.centre)
        report.rows.append(row)
        centre = _match(raw, organisation, by_hsa, by_name, row)
        if centre is not None:
            row.centre = centre
        _check_value(raw.child_cni, row)
        _check_listed(raw.listed_children, row)

    by_centre: dict[object, list[RowResult]] = defaultdict(list)
    for row in report.rows:
        if row.centre is not None:
            by_centre[row.centre.pk].append(row)
    for same in by_centre.values():
        if len(same) > 1:
            lines = ", ".join(str(r.line) for r in same)
            for row in same:
                row.errors.append(_("BVC:n finns på flera rader (rad %s).") % lines)

    if batch is not None and by_centre:
        stored = set(
            CniValue.objects.filter(
                centre_id__in=list(by_centre),
                kind=batch.kind,
                reference_date=batch.reference_date,
                source=batch.source,
            ).values_list("centre_id", flat=True)
        )
        for centre_id in stored:
            for row in by_centre[centre_id]:
                row.errors.append(
                    _("Det finns redan ett värde med samma typ, referensdatum och källa.")
                )
    return report


def _match(
    raw: RawRow,
    organisation: Organisation,
    by_hsa: dict[str, Centre],
    by_name: dict[str, list[Centre]],
    row: RowResult,
) -> Centre | None:
    other = _("BVC:n hör till en annan organisation.")
    if raw.hsa_id:
        centre = by_hsa.get(raw.hsa_id.upper())
        if centre is None:
            row.errors.append(_("Okänt HSA-id."))
            return None
        if centre.organisation_id != organisation.pk:
            row.errors.append(other)
            return None
        if raw.centre and raw.centre != centre.name:
            row.errors.append(
                _("HSA-id:t hör till %(name)s, inte till ”%(given)s”.")
                % {"name": centre.name, "given": raw.centre}
            )
            return None
        return centre
    if not raw.centre:
        row.errors.append(_("Varken hsa_id eller centre är ifyllt."))
        return None
    matches = by_name.get(raw.centre, [])
    own = [c for c in matches if c.organisation_id == organisation.pk]
    if own:
        return own[0]
    row.errors.append(other if matches else _("Ingen BVC heter så."))
    return None


# --- Committing -------------------------------------------------------------------------------
def commit(
    *,
    user: User | None,
    organisation: Organisation,
    rows: Sequence[RawRow],
    batch: Batch,
    expected_lines: Sequence[int],
) -> list[CniValue]:
    """Store the valid rows, all or none. `expected_lines` are the rows that were valid in the
    preview the user saw: if the check now gives another set (a centre renamed, a value stored
    meanwhile), nothing is written and ImportChanged is raised."""
    try:
        with transaction.atomic():
            report = preview(organisation, rows, batch)
            if report.valid_lines != list(expected_lines):
                raise ImportChanged(_("Uppgifterna har ändrats sedan förhandsgranskningen."))
            return [
                cni_record(
                    user=user,
                    centre=row.centre,
                    value=row.value,
                    reference_date=batch.reference_date,
                    source=batch.source,
                    kind=batch.kind,
                    scale=batch.scale,
                    listed_children=row.listed_children,
                )
                for row in report.valid_rows
                if row.centre is not None and row.value is not None
            ]
    except (ValidationError, IntegrityError) as exc:
        # Another import stored one of these values between our check and our write.
        raise ImportChanged(_("Ett av värdena sparades samtidigt av någon annan.")) from exc
