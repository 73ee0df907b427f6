"""A child's identity: personnummer, samordningsnummer or a regional reserve number.

Pure Python on purpose (no models): forms, the API and imports all call
``normalise_identity`` and store what it returns.

- Personnummer and samordningsnummer are stored as 12 digits with century and no separator
  (``YYYYMMDDNNNC``), checked with Luhn on the ten digits ``YYMMDDNNNC``. A samordningsnummer
  carries the day of birth plus 60.
- Accepted written forms: ``YYMMDD-NNNN``, ``YYMMDD+NNNN`` (100 years or older),
  ``YYMMDDNNNN``, ``YYYYMMDDNNNN`` and ``YYYYMMDD-NNNN``.
- Reserve numbers differ by region: stored as given (trimmed, upper case) and validated only
  against the format the organisation declares.

Every refusal is a ``ValidationError`` keyed on the field (``identity`` or ``identity_type``)
so a form shows it next to the input. The number itself never appears in a message, a
``repr`` or a log line: ``str()`` and ``repr()`` of an ``Identity`` show the masked form.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import hmac
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

__all__ = [
    "Identity",
    "IdentityType",
    "identity_hash",
    "luhn_check_digit",
    "normalise_identity",
]

# The date that decides the century of a ten-digit number is the Swedish calendar date.
_SWEDISH_TIME = ZoneInfo("Europe/Stockholm")

# Samordningsnummer: day of birth + 60.
_COORDINATION_DAY_OFFSET = 60

# Optional century, date, optional separator, three-digit birth number, check digit.
# ASCII digits only (``\d`` would also accept e.g. Arabic-Indic digits).
_WRITTEN_NUMBER = re.compile(
    r"(?P<century>[0-9]{2})?(?P<yymmdd>[0-9]{6})(?P<sep>[-+]?)(?P<serial>[0-9]{3})(?P<check>[0-9])"
)


class IdentityType(enum.StrEnum):
    PERSONNUMMER = "personnummer"
    SAMORDNINGSNUMMER = "samordningsnummer"
    RESERVNUMMER = "reservnummer"

    @property
    def label(self) -> str:
        return {
            IdentityType.PERSONNUMMER: _("Personnummer"),
            IdentityType.SAMORDNINGSNUMMER: _("Samordningsnummer"),
            IdentityType.RESERVNUMMER: _("Reservnummer"),
        }[self]

    @property
    def oid(self) -> str | None:
        """The national OID of the identifier type; reserve numbers have regional OIDs."""
        return {
            IdentityType.PERSONNUMMER: "1.2.752.129.2.1.3.1",
            IdentityType.SAMORDNINGSNUMMER: "1.2.752.129.2.1.3.3",
            IdentityType.RESERVNUMMER: None,
        }[self]


@dataclass(frozen=True, repr=False)
class Identity:
    type: IdentityType
    value: str  # normalised: 12 digits for personnummer/samordningsnummer
    birth_date: datetime.date | None  # None for reserve numbers (the caller supplies it)

    @property
    def masked(self) -> str:
        if self.type in (IdentityType.PERSONNUMMER, IdentityType.SAMORDNINGSNUMMER):
            return f"{self.value[:8]}-****"
        if len(self.value) > 4:
            return f"{self.value[:4]}-****"
        return "****"

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Identity(type={self.type.value!r}, masked={self.masked!r})"


def identity_hash(identity_type: str, identity: str) -> str:
    """A keyed hash (HMAC-SHA256, ACCESS_LOG_KEY) of a normalised identity: what the access log
    holds instead of the number, and what `Child.identity_key` holds so that uniqueness per
    organisation is checked without the number ever reaching a database error or its log."""
    key = settings.ACCESS_LOG_KEY.encode()
    return hmac.new(key, f"{identity_type}:{identity}".encode(), hashlib.sha256).hexdigest()


def luhn_check_digit(digits: str) -> int:
    """The Luhn check digit for ``digits`` (for a personnummer: the nine digits YYMMDDNNN)."""
    total = 0
    for position, char in enumerate(digits):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def normalise_identity(
    identity_type: str,
    raw: str,
    *,
    reserve_pattern: str = "",
    today: datetime.date | None = None,
) -> Identity:
    """Validate ``raw`` as an identity of ``identity_type`` and return it normalised.

    ``reserve_pattern`` is the organisation's regular expression for reserve numbers (matched
    against the whole trimmed, upper-cased value); empty means it accepts none. ``today``
    decides the century of ten-digit numbers and what counts as a future birth date
    (default: today's date in Sweden).
    """
    try:
        kind = IdentityType(identity_type)
    except ValueError:
        raise ValidationError({"identity_type": [_("Okänd typ av identitet.")]}) from None

    text = (raw or "").strip()
    if not text:
        raise _identity_error(_("Ange numret."))

    if kind is IdentityType.RESERVNUMMER:
        return _normalise_reserve_number(text, reserve_pattern)
    return _normalise_swedish_number(
        kind, text, today or datetime.datetime.now(_SWEDISH_TIME).date()
    )


def _identity_error(message: str) -> ValidationError:
    return ValidationError({"identity": [message]})


def _normalise_reserve_number(text: str, reserve_pattern: str) -> Identity:
    value = text.upper()
    if not reserve_pattern:
        raise _identity_error(_("Organisationen har inget format för reservnummer."))
    try:
        matches = re.fullmatch(reserve_pattern, value) is not None
    except re.error:
        # A configuration fault, not the user's: say so without echoing anything.
        raise _identity_error(
            _("Organisationens format för reservnummer är felaktigt angivet.")
        ) from None
    if not matches:
        raise _identity_error(_("Reservnumret följer inte organisationens format."))
    return Identity(type=IdentityType.RESERVNUMMER, value=value, birth_date=None)


def _normalise_swedish_number(kind: IdentityType, text: str, today: datetime.date) -> Identity:
    match = _WRITTEN_NUMBER.fullmatch(text)
    # With the century written out, only "-" or no separator: "+" belongs to the short form.
    if match is None or (match["century"] and match["sep"] == "+"):
        raise _identity_error(_("Ange numret som ÅÅMMDD-NNNN eller ÅÅÅÅMMDD-NNNN."))

    yymmdd, serial, check = match["yymmdd"], match["serial"], match["check"]
    if luhn_check_digit(yymmdd + serial) != int(check):
        raise _identity_error(_("Kontrollsiffran stämmer inte."))

    yy, month, day_field = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    is_coordination = day_field > _COORDINATION_DAY_OFFSET
    day = day_field - _COORDINATION_DAY_OFFSET if is_coordination else day_field

    if match["century"]:
        year = int(match["century"] + yymmdd[:2])
    else:
        year = _year_of_short_form(yy, month, day, plus=match["sep"] == "+", today=today)

    # Day 32-60 and 92-99 fail here too: they are neither a personnummer nor a
    # samordningsnummer day.
    try:
        birth_date = datetime.date(year, month, day) if day >= 1 else None
    except ValueError:
        birth_date = None
    if birth_date is None:
        raise _identity_error(_("Datumet i numret finns inte."))

    if kind is IdentityType.PERSONNUMMER and is_coordination:
        raise _identity_error(_("Numret är ett samordningsnummer, inte ett personnummer."))
    if kind is IdentityType.SAMORDNINGSNUMMER and not is_coordination:
        raise _identity_error(_("Numret är ett personnummer, inte ett samordningsnummer."))

    if serial == "000":
        raise _identity_error(
            _("Födelsenumret (siffrorna före kontrollsiffran) kan inte vara 000.")
        )

    if birth_date > today:
        raise _identity_error(_("Födelsedatumet i numret ligger i framtiden."))

    return Identity(
        type=kind, value=f"{year:04d}{yymmdd[2:]}{serial}{check}", birth_date=birth_date
    )


def _year_of_short_form(yy: int, month: int, day: int, *, plus: bool, today: datetime.date) -> int:
    """The latest year ending in ``yy`` whose (month, day) is not after ``today``.

    With ``+`` (100 years or older) a further hundred years back.
    """
    year = today.year - (today.year - yy) % 100
    if (year, month, day) > (today.year, today.month, today.day):
        year -= 100
    if plus:
        year -= 100
    return year


# --- Keeping identity numbers out of reports ----------------------------------------------------
# Shaped like a personnummer/samordningsnummer as people type one: optional century, YYMMDD,
# a sign or space (with spaces around the sign or not), four digits; a space may also fall
# between any two pairs of digits ("2026 09 15 18 46"). Only between pairs, and never a "-"
# inside the date, so amounts in groups of three ("1 349 000") and dates ("2026-09-15") do not
# take this shape; what does is then checked for a real date and check digit.
_SPACE = "[ \u00a0\u202f]"
_PAIR_SPACE = f"{_SPACE}?"
# A lookahead, so that every place one could start is tried: a number that only looks like one
# ("Rum 1203 260915-1846" read from "1203") must not hide the real one after it.
_IDENTITY_SHAPE = re.compile(
    rf"(?=(?<![0-9])((?:[0-9]{{2}}{_PAIR_SPACE})?"
    rf"[0-9]{{2}}{_PAIR_SPACE}[0-9]{{2}}{_PAIR_SPACE}[0-9]{{2}}"
    rf"(?:{_SPACE}?[-+]{_SPACE}?|{_SPACE}?)"
    rf"[0-9]{{2}}{_PAIR_SPACE}[0-9]{{2}})(?![0-9]))"
)
MASK = "[personnummer borttaget]"


def _is_identity(yymmdd: str, serial: str, check: str) -> bool:
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    if not 1 <= month <= 12:
        return False
    if not (1 <= day <= 31 or 1 + _COORDINATION_DAY_OFFSET <= day <= 31 + _COORDINATION_DAY_OFFSET):
        return False
    return luhn_check_digit(yymmdd + serial) == int(check)


def mask_identities(value: str) -> str:
    """Free text with anything that is a valid personnummer or samordningsnummer (date and
    check digit) replaced by MASK: a report never carries one, even one typed by mistake.
    Numbers that only look similar (invoice or OCR numbers failing the check) are kept."""

    kept: list[str] = []
    done = 0
    for match in _IDENTITY_SHAPE.finditer(value):
        start, end = match.span(1)
        digits = re.sub("[^0-9]", "", match.group(1))[-10:]  # YYMMDDNNNC
        if start >= done and _is_identity(digits[:6], digits[6:9], digits[9]):
            kept += [value[done:start], MASK]
            done = end
    return "".join(kept) + value[done:]
