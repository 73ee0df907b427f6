"""Reading a journal system's visit export, CSV or XLSX, one row at a time (issue 26 items 4, 5).

A 50 000-row export must not be loaded whole: a CSV goes through the csv module over a text
stream, an XLSX through openpyxl's read-only mode, and only one row is held at a time (besides
openpyxl's table of shared strings, which it always reads whole). What the cells mean (children,
visits, rules) is the import service's business; this module only turns the file into text cells
under the contract's column names (API.md, "Importing visits from the journal system").

Cells hold identity numbers: nothing here logs, and no error message or exception chain carries
a cell (errors are raised `from None`, as a library's message may quote the text it choked on).
"""

from __future__ import annotations

import codecs
import csv
import datetime
import itertools
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from openpyxl import load_workbook

CONTRACT_COLUMNS: tuple[str, ...] = (
    "personnummer",
    "datum",
    "vardenhet",
    "besokstyp",
    "status",
    "kva",
    "socialtjanst",
    "tolk",
    "sprak",
    "besokstillfalle",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("personnummer", "datum", "vardenhet", "besokstyp")

# Enough to see a ZIP's signature and the NUL bytes of a binary file; also the size of the
# pieces the encoding check reads, so its memory does not grow with the file.
_CHUNK = 64 * 1024
_ZIP = b"PK\x03\x04"

Cells = Sequence[object]


class FileRefused(ValidationError):
    """The file as a whole is no visit export we can read: `{"file": [message]}`."""


@dataclass(frozen=True)
class SourceRow:
    """One data row of the file.

    `number` is the row's line in the file (the header's is 1; in an XLSX its row number), so
    that a message points where the user looks. `values` has every contract column: the cell as
    stripped text, "" when the cell is empty or the file has no such column.
    """

    number: int
    values: dict[str, str]


def read_rows(path: Path, *, mapping: Mapping[str, str] | None = None) -> Iterator[SourceRow]:
    """Stream the data rows of a CSV or XLSX journal export, blank rows left out.

    `mapping`: contract column -> the header of that column in this organisation's export (a
    missing or empty entry: the contract name itself). Headers match case-insensitively, trimmed
    and with diacritics folded ('Vårdenhet' is `vardenhet`); other columns are ignored.

    Raises FileRefused (a ValidationError `{"file": [message]}`) when this function is called,
    before any row is yielded, if the file is neither CSV nor XLSX, is empty, or its header
    lacks a required column or has one twice; and while iterating, if a row further down
    cannot be read (a broken quote, a damaged workbook). The file is closed when the iterator is
    exhausted or dropped.
    """
    rows = _rows(path, mapping or {})
    # Run the generator up to its first row, so that a refused file is refused here and not
    # at the caller's first `next()`.
    first = next(rows, None)
    if first is None:
        return iter(())
    return itertools.chain((first,), rows)


def count_rows(path: Path) -> int:
    """The number of data rows `read_rows` yields for a readable file (a progress bar's total),
    counted by streaming the file too. Refuses a file that is neither CSV nor XLSX."""
    return max(sum(1 for _row in _table(path)) - 1, 0)


# --- Rows ------------------------------------------------------------------------------------
def _rows(path: Path, mapping: Mapping[str, str]) -> Iterator[SourceRow]:
    table = _table(path)
    header = next(table, None)
    if header is None:
        raise _refused(_("Filen är tom."))
    positions = _positions([_text(cell) for cell in header[1]], mapping)
    for number, cells in table:
        width = len(cells)
        # Only the contract's cells are kept: a row of a thousand cells costs no more memory
        # than one of ten once it has been read.
        yield SourceRow(
            number=number,
            values={
                column: _text(cells[i]) if i is not None and i < width else ""
                for column, i in positions.items()
            },
        )


def _positions(names: Sequence[str], mapping: Mapping[str, str]) -> dict[str, int | None]:
    """Where each contract column is in the header row (None: not there)."""
    folded = [_fold(name) for name in names]
    positions: dict[str, int | None] = {}
    missing: list[str] = []
    doubled: list[str] = []
    for column in CONTRACT_COLUMNS:
        header = (mapping.get(column) or "").strip() or column
        found = [i for i, name in enumerate(folded) if name == _fold(header)]
        positions[column] = found[0] if found else None
        # Named as the user's file would name it, with the contract's name when they differ.
        shown = column if _fold(header) == column else f"{header} ({column})"
        if not found and column in REQUIRED_COLUMNS:
            missing.append(shown)
        if len(found) > 1:
            doubled.append(shown)
    if missing:
        raise _refused(
            ngettext("Kolumn saknas: %(columns)s.", "Kolumner saknas: %(columns)s.", len(missing))
            % {"columns": ", ".join(missing)}
        )
    if doubled:
        # Two "Datum" columns (the visit's and the entry's, say): taking either would be a guess.
        raise _refused(
            ngettext(
                "Kolumnen finns flera gånger: %(columns)s.",
                "Kolumnerna finns flera gånger: %(columns)s.",
                len(doubled),
            )
            % {"columns": ", ".join(doubled)}
        )
    return positions


def _fold(name: str) -> str:
    """A header as it is compared: 'Besöksdatum ' and 'besoksdatum' are one."""
    decomposed = unicodedata.normalize("NFKD", name.replace("\ufeff", "").casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _text(value: object) -> str:
    """A cell as text. XLSX cells come typed: a date as ISO 8601, a whole number without '.0'
    (a personnummer typed into Excel is a number: 200503011234.0 must stay 200503011234)."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def _refused(message: str) -> FileRefused:
    return FileRefused({"file": [message]})


def _unreadable_row(number: int) -> FileRefused:
    return _refused(_("Rad %(row)d i filen går inte att läsa.") % {"row": number})


# --- Files -----------------------------------------------------------------------------------
def _table(path: Path) -> Iterator[tuple[int, Cells]]:
    """The file's non-blank rows with their numbers, the header first. The kind of file is
    told by its content: an upload's name says nothing we can trust."""
    with path.open("rb") as file:
        prefix = file.read(_CHUNK)
    if prefix.startswith(_ZIP):
        rows = _xlsx_rows(path)
    elif b"\x00" in prefix:
        # No text file has NUL bytes: an old .xls, a PDF, a UTF-16 text export.
        raise _refused(_("Filen är varken CSV eller XLSX."))
    else:
        rows = _csv_rows(path)
    for number, cells in rows:
        if any(_text(cell) for cell in cells):
            yield number, cells


def _csv_rows(path: Path) -> Iterator[tuple[int, Cells]]:
    encoding = _encoding(path)
    # "replace": cp1252 leaves five byte values undefined; a stray one is not worth a refusal.
    with path.open(encoding=encoding, errors="replace", newline="") as file:
        delimiter = _delimiter(file)
        file.seek(0)
        reader = csv.reader(file, delimiter=delimiter)
        while True:
            # The line the row starts on (a quoted cell may span lines).
            number = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error:
                raise _unreadable_row(number) from None
            yield number, cells


def _encoding(path: Path) -> str:
    """UTF-8 (with or without a BOM) when the whole file decodes as UTF-8, else Windows-1252.

    The whole file, in chunks, not only its start: an export whose first non-ASCII letter comes
    after the first chunk would otherwise be read as UTF-8 and fail half-way. A Windows-1252 å,
    ä or ö is a single byte that is never valid UTF-8 where it stands, so the test is safe.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as file:
        try:
            while chunk := file.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            # Excel's "CSV (semikolonavgränsad)" on a Swedish Windows, and older journal exports.
            return "cp1252"
    return "utf-8-sig"


def _delimiter(file: Iterator[str]) -> str:
    """`;` or `,`, whichever the header line has more of (Swedish Excel writes `;`)."""
    for line in file:
        if line.strip():
            return ";" if line.count(";") > line.count(",") else ","
    return ","


def _xlsx_rows(path: Path) -> Iterator[tuple[int, Cells]]:
    # A file object, not the path: openpyxl refuses a path whose name does not end in .xlsx.
    with path.open("rb") as file:
        try:
            workbook = load_workbook(file, read_only=True, data_only=True)
        except Exception:  # a damaged workbook or another kind of ZIP fails in many ways
            raise _refused(_("Filen är varken CSV eller XLSX.")) from None
        try:
            if not workbook.worksheets:
                raise _refused(_("Filen är tom."))
            sheet = workbook.worksheets[0]
            # Some exporters write a wrong <dimension> (only A1), which would cut every row
            # to its width; without one, each row is as wide as its last cell.
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True)
            number = 0
            while True:
                try:
                    cells = next(rows)
                except StopIteration:
                    return
                except Exception:
                    raise _unreadable_row(number + 1) from None
                number += 1
                yield number, cells
        finally:
            # Read-only mode keeps the ZIP open until told.
            workbook.close()
