"""SIE 4 export of one grant's ledger (issue 22 item 7; API.md "Money at the edges").

SIE is the Swedish standard for moving accounting data between systems (sie.se); regions'
finance systems import it. The file is an import file of SIE type 4 ("4I"): identification
records, the accounts used (`#KONTO`) and one voucher (`#VER`) per ledger transaction, with one
`#TRANS` row per leg. It carries no opening or closing balances (`#IB`/`#UB`/`#RES`): a grant's
ledger is a part of the organisation's books, not the whole of them, so balances of its own
would be wrong in the books it is imported into. Hence the extension `.si` (SIE's name for
import files; exports of whole books are `.se`).

Format (SIE 4B/4C, the parts used here):
- code page 437 (`#FORMAT PC8`), CRLF line ends; one record per line, fields separated by a
  space; strings always in double quotes, with `"` and `\\` escaped by a backslash; control
  characters are removed (tab and line breaks become a space) and characters that code page 437
  lacks are replaced (`–` by `-`, `é`-like letters by their base letter, anything else by `?`);
  å, ä, ö, Å, Ä, Ö and é are in code page 437 and are kept;
- dates `YYYYMMDD`, amounts with a decimal point and two decimals, debit positive and credit
  negative. The ledger's legs already have exactly that sign convention (a receipt is +balance
  −funder; a payout −balance +paid), so each leg is written with its own sign and every
  voucher sums to zero as its transaction does (the database holds that);
- `#RAR 0` is the grant's year (1 January–31 December). Vouchers keep their own dates: a
  repayment, a reversal or a carry-over booked after the year (after use_by, or after close) is
  dated in the later year and falls outside `#RAR 0`; the receiving system decides where it
  goes (most ask, or book it in the year of its date);
- vouchers in series `A`, numbered 1… in date order (then in the order they were posted), with
  the registration date and the user who posted the row; the text is the row's kind, its
  recipient and its reference (a reversal names the voucher it reverses). Free text has
  anything shaped like a valid personnummer masked, as in every report; the ledger holds no
  child data in the first place.

The account chart. Each internal ledger account (`funding.models.Account`) is written as the
organisation's own account: its `SieAccount` row (edited in the admin), or else the default
chart below. The numbers follow the BAS chart's classes, and most regions will map them to
their own (Kommun-/RK-BAS) accounts:

====================  ======  ==================================================================
ledger account        number  why
====================  ======  ==================================================================
balance               1930    the money still held for the grant: a bank account (BAS 19xx)
funder                2990    what the funder paid, a liability until used or repaid: the grant
                              is "erhållet men ej förbrukat" (förutbetald intäkt, BAS 29xx); the
                              receiving system recognises income against the costs itself
carried_over          2991    moved to a later year's grant by the funder's decision: a reduction
                              of the same liability, kept apart so the file shows it (the later
                              grant's file credits 2990 and debits 1930 with the same amount)
repaid                2992    paid back to the funder: settles the same liability
paid                  4600    payouts to centres, partners and the own coordination: purchased
                              services and transfers, a cost (BAS class 4)
unallocated           9910    commitments (memo accounts, see below)
allocated             9920
====================  ======  ==================================================================

Allocations are commitments, not movements (API.md): the ledger posts them as legs on
`unallocated` (−) and `allocated` (+) that leave the money as it is. They are exported too (the
file has one voucher per ledger transaction, and a reversed allocation must be visible as
such), on two memo accounts in class 9, which the BAS chart leaves to internal accounting and
which never reach the balance sheet or the result; each allocation voucher balances on its own
(+x on 9920, −x on 9910). An organisation that does not want them in its books maps both to an
account it ignores, or deletes those vouchers on import.

So with the default chart the file's totals are the grant's figures (`funding.ledger.figures`):
1930 = balance, 2990 = −amount, 2991 = carried_over, 2992 = repaid, 4600 = paid_out,
9920 = allocated, 9910 = −allocated.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from core.exceptions import Conflict
from funding.models import Account, Grant, LedgerTransaction, TxKind
from reporting.models import ReportRun, SieAccount
from reporting.renderers import Rendered
from reporting.selectors import ledger_transactions, recipient_names
from visits.identity import mask_identities

# Served as bytes to be imported, not read: a `text/plain; charset=IBM437` label is honoured
# unevenly by browsers and would invite them to show the file instead of saving it.
CONTENT_TYPE = "application/octet-stream"
EXTENSION = "si"
ENCODING = "cp437"
NEWLINE = "\r\n"
SERIES = "A"
PROGRAM = "Hembesök"


@dataclass(frozen=True)
class ChartAccount:
    number: str
    name: str


# The default chart (see the module's docstring): used for every ledger account that the
# organisation has not mapped.
DEFAULT_CHART: dict[str, ChartAccount] = {
    Account.BALANCE: ChartAccount("1930", "Bank, bidragsmedel"),
    Account.FUNDER: ChartAccount("2990", "Erhållna bidrag, ej förbrukade"),
    Account.CARRIED_OVER: ChartAccount("2991", "Bidrag överfört till senare år"),
    Account.REPAID: ChartAccount("2992", "Bidrag återbetalt till bidragsgivaren"),
    Account.PAID: ChartAccount("4600", "Utbetalt ur bidrag"),
    Account.UNALLOCATED: ChartAccount("9910", "Bidrag, ej fördelat (åtagande)"),
    Account.ALLOCATED: ChartAccount("9920", "Bidrag, fördelat (åtagande)"),
}


def chart_for(organisation_id: uuid.UUID) -> dict[str, ChartAccount]:
    """The organisation's account for each ledger account: its own mapping, else the default
    (one query)."""
    chart = dict(DEFAULT_CHART)
    for ledger_account, number, name in SieAccount.objects.filter(
        organisation_id=organisation_id
    ).values_list("ledger_account", "number", "name"):
        chart[ledger_account] = ChartAccount(number, name)
    return chart


# --- Fields -----------------------------------------------------------------------------------
# Characters that code page 437 lacks but that are common in names and references.
_REPLACEMENTS = {
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus sign
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2026": "...",
    "\u20ac": "EUR",
    "\u00a0": " ",  # no-break space (in cp437, but importers read it as a letter)
    "\u202f": " ",
}
_LINE_BREAKS = "\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029"


def _encodable(text: str) -> bool:
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _cp437_char(char: str) -> str:
    if char in _REPLACEMENTS:
        return _REPLACEMENTS[char]
    if _encodable(char):
        return char
    # A letter with a mark that cp437 lacks (ł, š, ő …): its base letter.
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and _encodable(base):
        return base
    return "?"


def clean_text(value: str) -> str:
    """Text that code page 437 can carry on one line: line breaks and tabs as a space, other
    control and format characters removed, what cp437 lacks replaced; personnummer masked."""
    chars: list[str] = []
    for char in unicodedata.normalize("NFC", value):
        if char in _LINE_BREAKS:
            chars.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        else:
            chars.append(_cp437_char(char))
    text = re.sub(r" {2,}", " ", "".join(chars)).strip()
    return mask_identities(text)


def quoted(value: str) -> str:
    """A string field: in double quotes, with `"` and `\\` escaped by a backslash."""
    text = clean_text(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def token(value: str) -> str:
    """A field written bare when it is a plain token (a version, a series), else quoted."""
    return value if re.fullmatch(r"[0-9A-Za-z.+_-]+", value) else quoted(value)


def date_field(value: datetime.date) -> str:
    return f"{value:%Y%m%d}"


def amount_field(value: Decimal) -> str:
    """A point and two decimals, minus for credit (the ledger's legs have exactly two)."""
    return f"{value:.2f}"


def program_version() -> str:
    try:
        return importlib.metadata.version("hembesok")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
        return "0"


# --- Vouchers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Voucher:
    number: int
    date: datetime.date
    text: str
    registered: datetime.date
    sign: str
    rows: tuple[tuple[str, Decimal], ...]  # (account number, amount), one per ledger leg


def _voucher_text(
    tx: LedgerTransaction, numbers: Mapping[uuid.UUID, int], names: Mapping[uuid.UUID, str]
) -> str:
    head = str(tx.get_kind_display())
    reversed_number = numbers.get(tx.reverses_id) if tx.reverses_id else None
    if tx.kind == TxKind.REVERSAL and reversed_number is not None:
        head = _("%(kind)s av %(series)s %(number)d") % {
            "kind": head,
            "series": SERIES,
            "number": reversed_number,
        }
    recipient = names.get(tx.recipient_id) if tx.recipient_id else None
    text = f"{head}, {recipient}" if recipient else head
    reference = tx.reference.strip()
    return f"{text}: {reference}" if reference else text


def grant_vouchers(grant: Grant, chart: Mapping[str, ChartAccount]) -> list[Voucher]:
    """One voucher per ledger transaction of the grant, in date order, its legs on the chart's
    accounts (a fixed number of queries, whatever the ledger's length)."""
    transactions = sorted(
        ledger_transactions([grant]), key=lambda tx: (tx.date, tx.created_at, str(tx.pk))
    )
    names = recipient_names((tx.recipient_type, tx.recipient_id) for tx in transactions)
    numbers = {tx.pk: index for index, tx in enumerate(transactions, start=1)}
    return [
        Voucher(
            number=numbers[tx.pk],
            date=tx.date,
            text=_voucher_text(tx, numbers, names),
            registered=timezone.localdate(tx.created_at),
            sign=tx.created_by.username,
            rows=tuple((chart[leg.account].number, leg.amount) for leg in tx.legs.all()),
        )
        for tx in transactions
    ]


def used_accounts(
    vouchers: Iterable[Voucher], chart: Mapping[str, ChartAccount]
) -> list[ChartAccount]:
    """The accounts the vouchers use, by number; a number that several ledger accounts map to
    gets the name of the first of them in the ledger's own order of accounts."""
    used = {number for voucher in vouchers for number, _amount in voucher.rows}
    by_number: dict[str, ChartAccount] = {}
    for ledger_account in Account.values:
        account = chart[ledger_account]
        if account.number in used:
            by_number.setdefault(account.number, account)
    return [by_number[number] for number in sorted(by_number)]


def write_sie(
    *,
    company: str,
    year: int,
    generated: datetime.date,
    accounts: Sequence[ChartAccount],
    vouchers: Sequence[Voucher],
) -> bytes:
    """The SIE 4 file: code page 437, CRLF."""
    lines = [
        "#FLAGGA 0",
        f"#PROGRAM {quoted(PROGRAM)} {token(program_version())}",
        "#FORMAT PC8",
        f"#GEN {date_field(generated)}",
        "#SIETYP 4",
        f"#FNAMN {quoted(company)}",
        f"#RAR 0 {year}0101 {year}1231",
    ]
    lines.extend(f"#KONTO {account.number} {quoted(account.name)}" for account in accounts)
    for voucher in vouchers:
        lines.append(
            f"#VER {SERIES} {voucher.number} {date_field(voucher.date)} {quoted(voucher.text)} "
            f"{date_field(voucher.registered)} {quoted(voucher.sign)}"
        )
        lines.append("{")
        lines.extend(
            f"   #TRANS {number} {{}} {amount_field(amount)}" for number, amount in voucher.rows
        )
        lines.append("}")
    return (NEWLINE.join(lines) + NEWLINE).encode(ENCODING)


def grant_sie(grant: Grant, generated: datetime.date | None = None) -> bytes:
    """The grant's ledger as an SIE 4 file on its organisation's accounts."""
    chart = chart_for(grant.organisation_id)
    vouchers = grant_vouchers(grant, chart)
    return write_sie(
        company=grant.organisation.name,
        year=grant.year,
        generated=generated or timezone.localdate(),
        accounts=used_accounts(vouchers, chart),
        vouchers=vouchers,
    )


def render_sie(run: ReportRun, narratives: Mapping[str, str]) -> Rendered:
    """The renderer of `ReportKind.SIE` (a grant kind: the run always has a grant). `#GEN` is
    the day the run was requested, so rendering a run again gives the same bytes while the
    ledger is unchanged."""
    if run.grant_id is None:  # pragma: no cover - the database requires a grant for this kind
        raise Conflict(_("Bokföringsexporten gäller ett bidrag."))
    grant = Grant.objects.select_related("organisation").get(pk=run.grant_id)
    generated = timezone.localdate(run.created_at) if run.created_at else None
    return Rendered(grant_sie(grant, generated), CONTENT_TYPE, EXTENSION)
