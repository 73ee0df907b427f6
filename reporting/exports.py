"""Finance exports and the auditor bundle (DOMAIN.md 4.3 and 5; issue 18 items 6 and 8).

The figures come from `reporting.selectors` (its `exports` module); this module only lays them
out. Each table is built once, as columns and rows of plain Python values (`Table`), by one
function per table; the writers turn the same rows into an XLSX sheet (numeric cells with an
explicit number format, date cells) or a CSV file the way Swedish Excel opens it (UTF-8 with
BOM, semicolons, decimal comma, CRLF). Every text cell goes through `safe_text()`, so a name or
reference beginning with `= + - @`, tab or CR is never run as a formula (OWASP CSV injection).

The outputs hold money and aggregates only: no child, no identity number. Free text typed by
users (references, purposes, reasons, decision comments) has anything shaped like a valid
personnummer or samordningsnummer masked, in case one was typed there by mistake. Every table
costs the fixed number of queries of its selector, whatever its length.
"""

from __future__ import annotations

import csv
import datetime
import enum
import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from core.exceptions import Conflict
from reporting import selectors, storage
from reporting.models import ReportKind, ReportRun
from reporting.renderers import Rendered
from reporting.subjects import Subject, preliminary_reason
from visits.identity import MASK as MASK  # re-exported: what a masked number reads as
from visits.identity import mask_identities

if TYPE_CHECKING:
    from funding.models import Grant

scrub = mask_identities  # every free-text field of an export goes through it

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_TYPE = "application/zip"

# --- Cell values ------------------------------------------------------------------------------
# A cell whose text begins with one of these is a formula (or starts one) in Excel, LibreOffice
# and Google Sheets; tab and CR are used to slip past naive checks.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_text(value: str) -> str:
    """Text that no spreadsheet runs as a formula: one leading `'` when it begins with
    `= + - @`, tab or CR (or LF). Used for every text cell, in XLSX and CSV alike."""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class Kind(enum.Enum):
    TEXT = "text"
    MONEY = "money"  # Decimal, two decimals
    DECIMAL = "decimal"  # exact Decimal (CNI, weights)
    INT = "int"
    DATE = "date"
    DATETIME = "datetime"  # shown in Swedish local time
    MONTH = "month"  # a date, the first of its month
    BOOL = "bool"


@dataclass(frozen=True)
class Column:
    title: str
    kind: Kind
    width: int = 14


@dataclass(frozen=True)
class Table:
    title: str  # the XLSX sheet's name
    file_name: str  # the CSV file's name
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]


def _local(value: datetime.datetime) -> datetime.datetime:
    """Naive Swedish local time, to the minute (spreadsheets have no time zones)."""
    return timezone.localtime(value).replace(tzinfo=None, second=0, microsecond=0)


def _yes_no(value: bool) -> str:
    return _("Ja") if value else _("Nej")


# --- CSV --------------------------------------------------------------------------------------
def _csv_value(kind: Kind, value: Any) -> str:
    if value is None:
        return ""
    if kind is Kind.TEXT:
        return safe_text(str(value))
    if kind is Kind.MONEY:
        return f"{value:.2f}".replace(".", ",")
    if kind is Kind.DECIMAL:
        return format(value, "f").replace(".", ",")
    if kind is Kind.INT:
        return str(value)
    if kind is Kind.DATE:
        day: datetime.date = value
        return day.isoformat()
    if kind is Kind.DATETIME:
        return f"{_local(value):%Y-%m-%d %H:%M}"
    if kind is Kind.MONTH:
        return f"{value:%Y-%m}"
    if kind is Kind.BOOL:
        return _yes_no(value)
    raise ValueError(kind)


def write_csv(table: Table) -> bytes:
    """Semicolon-separated, UTF-8 with BOM, decimal comma, CRLF: what Swedish Excel opens as
    columns without an import dialogue."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_text(column.title) for column in table.columns])
    for row in table.rows:
        writer.writerow(
            [
                _csv_value(column.kind, value)
                for column, value in zip(table.columns, row, strict=True)
            ]
        )
    return buffer.getvalue().encode("utf-8-sig")


# --- XLSX -------------------------------------------------------------------------------------
# Number formats are stored in the file as the en-US pattern; Excel shows them in the reader's
# locale (`1 349 000,00` in Swedish). Set explicitly so amounts never show as General.
NUMBER_FORMATS = {
    Kind.MONEY: "#,##0.00",
    Kind.DECIMAL: "0.00##########",
    Kind.INT: "0",
    Kind.DATE: "yyyy-mm-dd",
    Kind.DATETIME: "yyyy-mm-dd hh:mm",
    Kind.MONTH: "yyyy-mm",
}
XLSX_TEXT_LIMIT = 32767  # Excel's limit for one cell


def _xlsx_cell(sheet: WriteOnlyWorksheet, kind: Kind, value: Any) -> WriteOnlyCell | None:
    if value is None:
        return None
    if kind in (Kind.TEXT, Kind.BOOL):
        text = _yes_no(value) if kind is Kind.BOOL else str(value)
        # Control characters are illegal in XML; a text never becomes a formula or an error code.
        text = safe_text(ILLEGAL_CHARACTERS_RE.sub("", text))[:XLSX_TEXT_LIMIT]
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"
        return cell
    if kind is Kind.DATETIME:
        value = _local(value)
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = NUMBER_FORMATS[kind]
    return cell


def _write_sheet(workbook: Workbook, table: Table) -> None:
    sheet = workbook.create_sheet(title=table.title)
    for index, column in enumerate(table.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=safe_text(column.title))
        cell.data_type = "s"
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        sheet.append(
            [
                _xlsx_cell(sheet, column.kind, value)
                for column, value in zip(table.columns, row, strict=True)
            ]
        )


def write_xlsx(tables: Sequence[Table]) -> bytes:
    workbook = Workbook(write_only=True)
    for table in tables:
        _write_sheet(workbook, table)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- ZIP --------------------------------------------------------------------------------------
def _zip_time(run: ReportRun) -> tuple[int, int, int, int, int, int]:
    """Every entry carries the run's creation time: rendering a run twice gives the same bytes."""
    moment = _local(run.created_at) if run.created_at else datetime.datetime(1980, 1, 1)  # noqa: DTZ001
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, 0)


def write_zip(run: ReportRun, files: Sequence[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    stamp = _zip_time(run)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


# --- Tables -----------------------------------------------------------------------------------
def compensation_table(organisation_id: uuid.UUID, year: int) -> Table:
    """The compensation statements per centre and month (API.md `GET /api/v1/compensation/`)."""
    rows = [
        (
            row.centre_name,
            row.month,
            row.visits,
            row.programme_variable,
            row.ordinary,
            row.adjustments,
            row.total,
            row.locked,
        )
        for row in selectors.compensation_statements(organisation_id, year)
    ]
    return Table(
        title=_("Ersättning"),
        file_name="ersattning.csv",
        columns=(
            Column(_("BVC"), Kind.TEXT, 32),
            Column(_("Månad"), Kind.MONTH, 10),
            Column(_("Besök"), Kind.INT, 8),
            Column(_("Rörlig ersättning"), Kind.MONEY, 16),
            Column(_("Ordinarie ersättning"), Kind.MONEY, 16),
            Column(_("Justeringar"), Kind.MONEY, 14),
            Column(_("Summa"), Kind.MONEY, 16),
            Column(_("Låst"), Kind.BOOL, 6),
        ),
        rows=rows,
    )


LEDGER_COLUMNS = (
    Column(_("Nr"), Kind.INT, 6),
    Column(_("Bidrag"), Kind.TEXT, 16),
    Column(_("Datum"), Kind.DATE, 11),
    Column(_("Typ"), Kind.TEXT, 18),
    Column(_("Kategori"), Kind.TEXT, 28),
    Column(_("Mottagartyp"), Kind.TEXT, 14),
    Column(_("Mottagare"), Kind.TEXT, 32),
    # Money in or out of the grant (receipts positive) apart from commitments (allocations),
    # so that a column sums to something meaningful.
    Column(_("Rörelse"), Kind.MONEY, 16),
    Column(_("Åtagande"), Kind.MONEY, 16),
    Column(_("Referens"), Kind.TEXT, 32),
    Column(_("Rättar nr"), Kind.INT, 9),
    Column(_("Registrerad av"), Kind.TEXT, 16),
    Column(_("Registrerad"), Kind.DATETIME, 17),
)


def _journal_row(line: selectors.JournalLine) -> tuple[Any, ...]:
    return (
        line.number,
        line.grant,
        line.date,
        line.kind,
        line.category,
        line.recipient_type,
        line.recipient,
        line.movement,
        line.commitment,
        scrub(line.reference) or None,
        line.reverses,
        line.created_by,
        line.created_at,
    )


def _journal(lines: Iterable[selectors.JournalLine]) -> Table:
    return Table(
        title=_("Huvudbok"),
        file_name="huvudbok.csv",
        columns=LEDGER_COLUMNS,
        rows=[_journal_row(line) for line in lines],
    )


def ledger_table(grants: Iterable[Grant]) -> Table:
    """The ledger journal: amounts signed as API.md (receipts positive; payouts, carry-overs
    and repayments negative; allocations show their commitment). Rows are numbered so that a
    reversal can name the row it reverses without an internal id."""
    return _journal(selectors.journal(grants))


def allocations_table(grants: Iterable[Grant]) -> Table:
    """Per grant and recipient: what is allocated (net of reversals), what has been paid against
    it (fixed compensation and partner transfers, as the ledger bounds them) and what is left."""
    rows = [
        (
            line.grant,
            line.recipient_type,
            line.recipient,
            scrub("; ".join(line.purposes)) or None,
            line.allocated,
            line.paid,
            line.left,
        )
        for line in selectors.allocation_lines(grants)
    ]
    return Table(
        title=_("Fördelningar"),
        file_name="fordelningar.csv",
        columns=(
            Column(_("Bidrag"), Kind.TEXT, 16),
            Column(_("Mottagartyp"), Kind.TEXT, 14),
            Column(_("Mottagare"), Kind.TEXT, 32),
            Column(_("Ändamål"), Kind.TEXT, 32),
            Column(_("Fördelat"), Kind.MONEY, 16),
            Column(_("Utbetalt mot fördelningen"), Kind.MONEY, 18),
            Column(_("Kvar att betala"), Kind.MONEY, 16),
        ),
        rows=rows,
    )


def allocation_decisions_table(grant: Grant) -> Table:
    """Each allocation of the grant (and each reversal of one), as decided. A fixed allocation
    also shows what decided its amount: the centre's child CNI and listed children 0–5 as they
    stood when it was posted, and the weight under the year's weighting (left empty when the
    scheme was changed after the posting, so the weighting then is not known)."""
    rows = []
    for decision in selectors.allocation_decisions(grant):
        cni = decision.cni
        rows.append(
            (
                decision.number,
                decision.date,
                decision.kind,
                decision.recipient_type,
                decision.recipient,
                scrub(decision.reference) or None,
                decision.amount,
                decision.reverses,
                decision.fixed_year,
                cni.value if cni is not None else None,
                cni.listed_children if cni is not None else None,
                f"{cni.source}, {cni.reference_date:%Y-%m-%d}" if cni is not None else None,
                decision.weighting,
                decision.weight,
                decision.created_by,
                decision.created_at,
            )
        )
    return Table(
        title=_("Fördelningsbeslut"),
        file_name="fordelningsbeslut.csv",
        columns=(
            Column(_("Nr"), Kind.INT, 6),
            Column(_("Datum"), Kind.DATE, 11),
            Column(_("Typ"), Kind.TEXT, 16),
            Column(_("Mottagartyp"), Kind.TEXT, 14),
            Column(_("Mottagare"), Kind.TEXT, 32),
            Column(_("Ändamål"), Kind.TEXT, 32),
            Column(_("Belopp"), Kind.MONEY, 16),
            Column(_("Rättar nr"), Kind.INT, 9),
            Column(_("Fast ersättning för år"), Kind.INT, 10),
            Column(_("Barn-CNI"), Kind.DECIMAL, 10),
            Column(_("Listade barn 0–5 år"), Kind.INT, 10),
            Column(_("CNI-källa"), Kind.TEXT, 18),
            Column(_("Fördelningsgrund"), Kind.TEXT, 28),
            Column(_("Vikt"), Kind.DECIMAL, 14),
            Column(_("Registrerad av"), Kind.TEXT, 16),
            Column(_("Registrerad"), Kind.DATETIME, 17),
        ),
        rows=rows,
    )


def application_decisions_table(decisions: Iterable[selectors.ApplicationDecision]) -> Table:
    rows = [
        (
            decision.centre,
            decision.year,
            decision.status,
            decision.submitted_at,
            decision.decided_by,
            decision.decided_at,
            decision.effective_from,
            decision.withdrawn_on,
            scrub(decision.decision_comment) or None,
        )
        for decision in decisions
    ]
    return Table(
        title=_("Ansökningar"),
        file_name="ansokningar.csv",
        columns=(
            Column(_("BVC"), Kind.TEXT, 32),
            Column(_("År"), Kind.INT, 6),
            Column(_("Status"), Kind.TEXT, 14),
            Column(_("Inskickad"), Kind.DATETIME, 17),
            Column(_("Beslutad av"), Kind.TEXT, 16),
            Column(_("Beslutad"), Kind.DATETIME, 17),
            Column(_("Gäller från"), Kind.DATE, 11),
            Column(_("Återtagen"), Kind.DATE, 11),
            Column(_("Beslutskommentar"), Kind.TEXT, 40),
        ),
        rows=rows,
    )


def application_events_table(events: Iterable[selectors.ApplicationEvent]) -> Table:
    rows = [
        (event.centre, event.year, event.kind, event.by, event.at, scrub(event.comment) or None)
        for event in events
    ]
    return Table(
        title=_("Ansökningshändelser"),
        file_name="ansokningshandelser.csv",
        columns=(
            Column(_("BVC"), Kind.TEXT, 32),
            Column(_("År"), Kind.INT, 6),
            Column(_("Händelse"), Kind.TEXT, 20),
            Column(_("Av"), Kind.TEXT, 16),
            Column(_("Tidpunkt"), Kind.DATETIME, 17),
            Column(_("Kommentar"), Kind.TEXT, 40),
        ),
        rows=rows,
    )


def grants_table(grants: Iterable[Grant]) -> Table:
    """One row per grant with its figures from the ledger (API.md `GET /api/v1/grants/{id}/`):
    the summary the journal's rows add up to."""
    rows = [
        (
            line.reference,
            line.funder,
            line.year,
            line.received_on,
            line.use_by,
            line.figures.amount,
            line.figures.allocated,
            line.figures.paid_out,
            line.figures.carried_over,
            line.figures.repaid,
            line.figures.balance,
            line.figures.unused,
            line.figures.repayment_due,
            _("Avslutat") if line.figures.closed else _("Öppet"),
        )
        for line in selectors.grant_lines(grants)
    ]
    return Table(
        title=_("Bidrag"),
        file_name="bidrag.csv",
        columns=(
            Column(_("Bidrag"), Kind.TEXT, 16),
            Column(_("Bidragsgivare"), Kind.TEXT, 18),
            Column(_("År"), Kind.INT, 6),
            Column(_("Mottaget"), Kind.DATE, 11),
            Column(_("Används senast"), Kind.DATE, 11),
            Column(_("Mottaget belopp"), Kind.MONEY, 16),
            Column(_("Fördelat"), Kind.MONEY, 16),
            Column(_("Utbetalt"), Kind.MONEY, 16),
            Column(_("Överfört"), Kind.MONEY, 16),
            Column(_("Återbetalt"), Kind.MONEY, 16),
            Column(_("Saldo"), Kind.MONEY, 16),
            Column(_("Outnyttjat"), Kind.MONEY, 16),
            Column(_("Att återbetala"), Kind.MONEY, 16),
            Column(_("Status"), Kind.TEXT, 10),
        ),
        rows=rows,
    )


def finance_tables(run: ReportRun) -> list[Table]:
    """The tables of the yearly finance export, for the run's organisation and year: the
    grants' figures, the compensation statements, the journal and the allocations."""
    grants = selectors.grants_of_year(run.organisation_id, run.year)
    return [
        grants_table(grants),
        compensation_table(run.organisation_id, run.year),
        ledger_table(grants),
        allocations_table(grants),
    ]


# --- Renderers --------------------------------------------------------------------------------
def render_finance_xlsx(run: ReportRun, narratives: Mapping[str, str]) -> Rendered:
    return Rendered(write_xlsx(finance_tables(run)), XLSX_TYPE, "xlsx")


def render_finance_csv(run: ReportRun, narratives: Mapping[str, str]) -> Rendered:
    files = [(table.file_name, write_csv(table)) for table in finance_tables(run)]
    return Rendered(write_zip(run, files), ZIP_TYPE, "zip")


REPORT_FILE_NAMES = {
    ReportKind.SOCIALSTYRELSEN: "aterrapportering.pdf",
    ReportKind.SKL: "slutrapport.pdf",
}
# The checksum manifest, in the format `sha256sum -c` reads as it is: one line per file,
# `<64 hex>  <name>`, names relative to the folder the ZIP is extracted into, UTF-8 without
# BOM, LF line ends. Everything else an auditor should know is in the README.
MANIFEST_NAME = "sha256sums.txt"
README_NAME = "LASMIG.txt"
AFTER_SUBMISSION_NAME = "efter-inlamning.csv"


def checksum_manifest(files: Sequence[tuple[str, bytes]]) -> bytes:
    """`sha256sum`'s own format, so that `sha256sum -c sha256sums.txt` verifies the extracted
    files as they are (no BOM, no CR, no size column: each of those breaks it)."""
    lines = [f"{hashlib.sha256(content).hexdigest()}  {name}\n" for name, content in files]
    return "".join(lines).encode("utf-8")


def _kr(value: Decimal) -> str:
    return _csv_value(Kind.MONEY, value)


def _readme(
    run: ReportRun,
    grant: Grant,
    report: ReportRun,
    report_name: str,
    after: Table,
    descriptions: Sequence[tuple[str, str]],
) -> bytes:
    state = selectors.grant_figures(grant)
    assert report.submitted_at is not None  # `submitted_report()` found it submitted
    submitted = _local(report.submitted_at)
    made = _local(run.created_at) if run.created_at else None
    made_text = f"{made:%Y-%m-%d %H:%M}" if made else ""
    closed = f"{_local(grant.closed_at):%Y-%m-%d %H:%M}" if grant.closed_at else _("öppet")
    if after.rows:
        after_text = ngettext(
            "%(n)d rad i huvudboken registrerades efter att rapporten lämnades in "
            "%(submitted)s. Den står i %(file)s (med samma nummer som i huvudbok.csv) och finns "
            "inte med i rapportens siffror.",
            "%(n)d rader i huvudboken registrerades efter att rapporten lämnades in "
            "%(submitted)s. De står i %(file)s (med samma nummer som i huvudbok.csv) och finns "
            "inte med i rapportens siffror.",
            len(after.rows),
        ) % {
            "n": len(after.rows),
            "submitted": f"{submitted:%Y-%m-%d %H:%M}",
            "file": after.file_name,
        }
    else:
        after_text = _(
            "Inga rader i huvudboken har registrerats efter att rapporten lämnades in "
            "%(submitted)s; %(file)s har bara sin rubrikrad."
        ) % {"submitted": f"{submitted:%Y-%m-%d %H:%M}", "file": after.file_name}
    submitted_by = report.submitted_by.username if report.submitted_by else ""
    lines = [
        _("Revisionsunderlag"),
        "",
        f"{_('Organisation')}: {grant.organisation.name}",
        f"{_('Bidragsgivare')}: {grant.get_funder_display()}",
        f"{_('Beslut (diarienummer)')}: {scrub(grant.reference)}",
        f"{_('År')}: {grant.year}",
        f"{_('Mottaget')}: {grant.received_on:%Y-%m-%d}",
        f"{_('Används senast')}: {grant.use_by:%Y-%m-%d}",
        f"{_('Redovisas senast')}: {grant.report_due:%Y-%m-%d}",
        f"{_('Avslutat')}: {closed}",
        f"{_('Rapport inskickad')}: {submitted:%Y-%m-%d %H:%M} {_('av')} {submitted_by}".rstrip(),
        f"{_('Rapportens kontrollsumma (SHA-256)')}: {report.sha256}",
        f"{_('Underlaget skapat')}: {made_text}",
        "",
        _(
            "Rapporten (%(report)s) är filen som lämnades in, oförändrad och låst sedan dess. "
            "Huvudbokens siffror nedan och i huvudbok.csv, fordelningsbeslut.csv och "
            "ersattning.csv är däremot dagens, som de var när underlaget skapades: det som "
            "registrerats efter inlämningen finns med i dem men inte i rapporten."
        )
        % {"report": report_name},
        "",
        _("Bidragets siffror ur huvudboken när underlaget skapades (kronor):"),
        f"{_('Mottaget')}: {_kr(state.amount)}",
        f"{_('Fördelat')}: {_kr(state.allocated)}",
        f"{_('Utbetalt')}: {_kr(state.paid_out)}",
        f"{_('Överfört till senare år')}: {_kr(state.carried_over)}",
        f"{_('Återbetalt')}: {_kr(state.repaid)}",
        f"{_('Saldo')}: {_kr(state.balance)}",
        f"{_('Oanvänt')}: {_kr(state.unused)}",
        f"{_('Att återbetala')}: {_kr(state.repayment_due)}",
        f"{_('Status')}: {_('avslutat') if state.closed else _('öppet')}",
        "",
        _("Efter inlämningen:"),
        after_text,
        "",
        _("Filer:"),
        *(f"{name}: {what}" for name, what in descriptions),
        f"{README_NAME}: " + _("den här filen."),
        f"{MANIFEST_NAME}: "
        + _("kontrollsummor (SHA-256) för alla filer ovan, i formatet som sha256sum läser."),
        "",
        _(
            "Kontroll: packa upp alla filer i en mapp och kör i den mappen "
            "`sha256sum -c %(manifest)s` (macOS: `shasum -a 256 -c %(manifest)s`). Varje fil "
            "ska ge OK."
        )
        % {"manifest": MANIFEST_NAME},
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def render_auditor_bundle(run: ReportRun, narratives: Mapping[str, str]) -> Rendered:
    """One ZIP for an auditor or the funder, for a closed grant: the submitted report as filed,
    the grant's ledger (today's) and the rows of it posted after the report was submitted, the
    year's monthly compensation statements behind the programme-variable payouts, the
    allocation decisions and the application decisions behind the fixed allocations, a README
    with the grant's figures and what is frozen and what is today's, and a checksum manifest
    that `sha256sum -c` verifies."""
    grant = selectors.run_grant(run)
    if grant is None:
        raise Conflict(_("Revisionsunderlaget gäller ett bidrag."))
    reason = preliminary_reason(Subject(run.kind, grant.organisation, run.year, grant=grant))
    if reason:
        raise Conflict(
            _("Revisionsunderlaget görs för ett avslutat bidrag. %(reason)s") % {"reason": reason}
        )
    report = selectors.submitted_report(grant)
    pdf = storage.read(report.file_name)
    if report.sha256 and hashlib.sha256(pdf).hexdigest() != report.sha256:
        raise Conflict(_("Den inskickade rapportens fil stämmer inte med sin kontrollsumma."))
    assert report.submitted_at is not None  # `submitted_report()` found it submitted
    applications = selectors.fixed_applications(grant)
    journal = selectors.journal([grant])
    after = Table(
        title=_("Efter inlämningen"),
        file_name=AFTER_SUBMISSION_NAME,
        columns=LEDGER_COLUMNS,
        rows=[_journal_row(line) for line in journal if line.created_at > report.submitted_at],
    )
    report_name = REPORT_FILE_NAMES[ReportKind(report.kind)]
    tables: list[tuple[Table, str]] = [
        (
            _journal(journal),
            _("bidragets huvudbok, alla rader som de var när underlaget skapades."),
        ),
        (
            after,
            _("raderna i huvudboken som registrerats efter att rapporten lämnades in."),
        ),
        (
            compensation_table(grant.organisation_id, grant.year),
            _(
                "månadsbeskeden %(year)s: ersättningen per BVC och månad i hela organisationen, "
                "underlaget för utbetalningarna av rörlig ersättning."
            )
            % {"year": grant.year},
        ),
        (allocation_decisions_table(grant), _("bidragets fördelningsbeslut.")),
        (
            application_decisions_table(selectors.application_decisions(applications)),
            _("besluten om fast ersättning bakom fördelningarna."),
        ),
        (
            application_events_table(selectors.application_events(applications)),
            _("ansökningarnas händelser."),
        ),
    ]
    files: list[tuple[str, bytes]] = [
        (report_name, pdf),
        *((table.file_name, write_csv(table)) for table, _what in tables),
    ]
    descriptions = [
        (report_name, _("rapporten som den lämnades in.")),
        *((table.file_name, what) for table, what in tables),
    ]
    files.append((README_NAME, _readme(run, grant, report, report_name, after, descriptions)))
    files.append((MANIFEST_NAME, checksum_manifest(files)))
    return Rendered(write_zip(run, files), ZIP_TYPE, "zip")
