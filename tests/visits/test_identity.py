"""Identity numbers: personnummer, samordningsnummer and reserve numbers (DOMAIN.md section 3).

Oracles: python-stdnum (plain personnummer only; it rejects samordningsnummer) and the
``personnummer`` package (accepts both). The check digit in these tests comes from stdnum's
Luhn, not from the module under test.
"""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st
from personnummer import personnummer as pnr_oracle
from stdnum import luhn
from stdnum.se import personnummer as stdnum_pnr

from visits.identity import MASK, Identity, IdentityType, mask_identities, normalise_identity

TODAY = datetime.date(2025, 6, 15)
HUNDRED_YEARS_AGO = datetime.date(1925, 6, 15)  # born on or before: "+" in the short form
OLDEST = datetime.date(1825, 6, 16)  # the short "+" form reaches back 200 years

PNR = IdentityType.PERSONNUMMER
SAMO = IdentityType.SAMORDNINGSNUMMER
RESERVE = IdentityType.RESERVNUMMER


def twelve_digits(birth: datetime.date, serial: int, *, coordination: bool = False) -> str:
    """A valid 12-digit number for ``birth`` (day + 60 for a samordningsnummer)."""
    day = birth.day + (60 if coordination else 0)
    nine = f"{birth.year % 100:02d}{birth.month:02d}{day:02d}{serial:03d}"
    return f"{birth.year // 100:02d}{nine}{luhn.calc_check_digit(nine)}"


def with_check_digit(ten_or_twelve_without_check: str) -> str:
    """Append the Luhn digit over the last nine digits (works for 9 or 11 digits given)."""
    return ten_or_twelve_without_check + luhn.calc_check_digit(ten_or_twelve_without_check[-9:])


def written_forms(twelve: str, birth: datetime.date) -> list[str]:
    """Every accepted way to write ``twelve`` relative to TODAY."""
    short_sep = "-" if birth > HUNDRED_YEARS_AGO else "+"
    forms = [
        f"{twelve[2:8]}{short_sep}{twelve[8:]}",
        twelve,
        f"{twelve[:8]}-{twelve[8:]}",
        f"  {twelve[:8]}-{twelve[8:]}\n",
    ]
    if short_sep == "-":
        forms.append(twelve[2:])  # ten digits, no separator, read as "-"
    return forms


def identity_errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return exc.value.message_dict["identity"]


birth_dates = st.dates(min_value=OLDEST, max_value=TODAY)
serials = st.integers(min_value=1, max_value=999)


# --- valid numbers --------------------------------------------------------------------------


@settings(max_examples=150)
@given(birth=birth_dates, serial=serials)
def test_every_written_form_of_a_personnummer_normalises_to_the_same_twelve_digits(
    birth: datetime.date, serial: int
) -> None:
    twelve = twelve_digits(birth, serial)
    assert stdnum_pnr.is_valid(twelve)
    assert pnr_oracle.valid(twelve)
    assert pnr_oracle.parse(twelve).get_date() == birth

    for form in written_forms(twelve, birth):
        identity = normalise_identity("personnummer", form, today=TODAY)
        assert identity == Identity(type=PNR, value=twelve, birth_date=birth), form


@settings(max_examples=150)
@given(birth=birth_dates, serial=serials)
def test_every_written_form_of_a_samordningsnummer_normalises_with_the_real_birth_date(
    birth: datetime.date, serial: int
) -> None:
    twelve = twelve_digits(birth, serial, coordination=True)
    assert pnr_oracle.valid(twelve)
    assert pnr_oracle.parse(twelve).is_coordination_number()
    assert pnr_oracle.parse(twelve).get_date() == birth

    for form in written_forms(twelve, birth):
        identity = normalise_identity("samordningsnummer", form, today=TODAY)
        assert identity == Identity(type=SAMO, value=twelve, birth_date=birth), form


def test_stdnum_is_no_oracle_for_samordningsnummer() -> None:
    twelve = twelve_digits(datetime.date(1981, 12, 18), 987, coordination=True)
    assert not stdnum_pnr.is_valid(twelve)
    assert normalise_identity(SAMO, twelve, today=TODAY).birth_date == datetime.date(1981, 12, 18)


def test_identity_type_may_be_given_as_the_enum_or_its_value() -> None:
    twelve = twelve_digits(datetime.date(2020, 2, 29), 123)
    assert normalise_identity(PNR, twelve) == normalise_identity("personnummer", twelve)


# --- check digit ----------------------------------------------------------------------------


@settings(max_examples=150)
@given(
    birth=birth_dates,
    serial=serials,
    coordination=st.booleans(),
    shift=st.integers(min_value=1, max_value=9),
    form_index=st.integers(min_value=0, max_value=3),
)
def test_wrong_check_digit_is_a_field_error(
    birth: datetime.date, serial: int, coordination: bool, shift: int, form_index: int
) -> None:
    good = twelve_digits(birth, serial, coordination=coordination)
    bad = good[:-1] + str((int(good[-1]) + shift) % 10)
    assert not pnr_oracle.valid(bad)
    assert not stdnum_pnr.is_valid(bad)

    form = written_forms(bad, birth)[form_index]
    kind = SAMO if coordination else PNR
    with pytest.raises(ValidationError) as exc:
        normalise_identity(kind, form, today=TODAY)
    assert identity_errors(exc) == ["Kontrollsiffran stämmer inte."]
    assert bad[2:] not in str(exc.value.messages)


# --- personnummer versus samordningsnummer --------------------------------------------------


def test_samordningsnummer_given_as_personnummer_says_which_it_is() -> None:
    twelve = twelve_digits(datetime.date(1990, 3, 31), 456, coordination=True)  # day 91
    with pytest.raises(ValidationError) as exc:
        normalise_identity(PNR, twelve, today=TODAY)
    assert identity_errors(exc) == ["Numret är ett samordningsnummer, inte ett personnummer."]


def test_personnummer_given_as_samordningsnummer_says_which_it_is() -> None:
    twelve = twelve_digits(datetime.date(1990, 3, 1), 456)
    with pytest.raises(ValidationError) as exc:
        normalise_identity(SAMO, twelve[2:8] + "-" + twelve[8:], today=TODAY)
    assert identity_errors(exc) == ["Numret är ett personnummer, inte ett samordningsnummer."]


@pytest.mark.parametrize("kind", [PNR, SAMO])
@pytest.mark.parametrize("day", ["00", "32", "60", "92", "99"])
def test_day_outside_both_ranges_is_a_date_error(kind: IdentityType, day: str) -> None:
    number = with_check_digit(f"199003{day}456")
    with pytest.raises(ValidationError) as exc:
        normalise_identity(kind, number, today=TODAY)
    assert identity_errors(exc) == ["Datumet i numret finns inte."]


# --- century --------------------------------------------------------------------------------


def test_plus_separator_means_a_hundred_years_earlier() -> None:
    ten = with_check_digit("121212121")
    minus = normalise_identity(PNR, f"{ten[:6]}-{ten[6:]}", today=TODAY)
    plus = normalise_identity(PNR, f"{ten[:6]}+{ten[6:]}", today=TODAY)
    assert minus.value == "20" + ten
    assert minus.birth_date == datetime.date(2012, 12, 12)
    assert plus.value == "19" + ten
    assert plus.birth_date == datetime.date(1912, 12, 12)


@pytest.mark.parametrize(
    ("yymmdd", "today", "year"),
    [
        ("250615", TODAY, 2025),  # born today: not in the future
        ("250616", TODAY, 1925),  # tomorrow would be the future: previous century
        ("250101", TODAY, 2025),
        ("260101", TODAY, 1926),
        ("991231", TODAY, 1999),
        ("000229", TODAY, 2000),
        ("991231", datetime.date(2099, 12, 31), 2099),
        ("991231", datetime.date(2099, 12, 30), 1999),
        ("000101", datetime.date(1999, 12, 31), 1900),
    ],
)
@pytest.mark.parametrize("separator", ["-", ""])
def test_ten_digit_forms_take_the_latest_century_not_in_the_future(
    yymmdd: str, today: datetime.date, year: int, separator: str
) -> None:
    ten = with_check_digit(yymmdd + "123")
    identity = normalise_identity(PNR, f"{ten[:6]}{separator}{ten[6:]}", today=today)
    assert identity.value == f"{year // 100}{ten}"
    assert identity.birth_date == datetime.date(year, int(yymmdd[2:4]), int(yymmdd[4:6]))


def test_ten_digit_samordningsnummer_century_uses_the_real_day() -> None:
    ten = with_check_digit("250675123")  # 15 June + 60
    assert normalise_identity(SAMO, ten, today=TODAY).value == "20" + ten
    assert normalise_identity(SAMO, ten, today=datetime.date(2025, 6, 14)).value == "19" + ten


def test_ten_digit_form_defaults_to_todays_date() -> None:
    ten = with_check_digit("000101123")
    assert normalise_identity(PNR, ten).value == "20" + ten


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "202302301234",  # 30 February (check digit fixed below)
        "202313011234",  # month 13
        "202300011234",  # month 0
        "202304311234",  # 31 April
        "190002291234",  # 1900 was no leap year
    ],
)
def test_date_that_does_not_exist_is_a_field_error(number: str) -> None:
    number = with_check_digit(number[:11])
    with pytest.raises(ValidationError) as exc:
        normalise_identity(PNR, number, today=TODAY)
    assert identity_errors(exc) == ["Datumet i numret finns inte."]


def test_leap_day_with_plus_in_a_non_leap_century_is_a_date_error() -> None:
    ten = with_check_digit("000229123")  # with "+": 1900-02-29
    with pytest.raises(ValidationError) as exc:
        normalise_identity(PNR, f"{ten[:6]}+{ten[6:]}", today=TODAY)
    assert identity_errors(exc) == ["Datumet i numret finns inte."]


@pytest.mark.parametrize("coordination", [False, True])
def test_birth_date_in_the_future_is_a_field_error(coordination: bool) -> None:
    twelve = twelve_digits(TODAY + datetime.timedelta(days=1), 123, coordination=coordination)
    with pytest.raises(ValidationError) as exc:
        normalise_identity(SAMO if coordination else PNR, twelve, today=TODAY)
    assert identity_errors(exc) == ["Födelsedatumet i numret ligger i framtiden."]


def test_birth_number_000_is_refused_like_the_personnummer_package_does() -> None:
    twelve = twelve_digits(datetime.date(2001, 1, 1), 0)
    assert not pnr_oracle.valid(twelve)
    with pytest.raises(ValidationError) as exc:
        normalise_identity(PNR, twelve, today=TODAY)
    assert "000" in identity_errors(exc)[0]


# --- format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", "\n"])
def test_empty_number_asks_for_the_number(raw: str) -> None:
    with pytest.raises(ValidationError) as exc:
        normalise_identity(PNR, raw, today=TODAY)
    assert identity_errors(exc) == ["Ange numret."]


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "19811218-98",
        "811218-98766",
        "1981-12-18-9876",
        "811218 9876",
        "811218--9876",
        "811218/9876",
        "19811218+9876",  # "+" only in the short form
        "x8112189876",
        "٨١١٢١٨٩٨٧٦",  # Arabic-Indic digits are not accepted
        "8112189876x",
    ],
)
def test_garbage_asks_for_the_written_format(raw: str) -> None:
    with pytest.raises(ValidationError) as exc:
        normalise_identity(PNR, raw, today=TODAY)
    assert identity_errors(exc) == ["Ange numret som ÅÅMMDD-NNNN eller ÅÅÅÅMMDD-NNNN."]


@pytest.mark.parametrize("identity_type", ["", "PERSONNUMMER", "lma", "passport"])
def test_unknown_identity_type_is_an_error_on_identity_type(identity_type: str) -> None:
    with pytest.raises(ValidationError) as exc:
        normalise_identity(identity_type, "811218-9876", today=TODAY)
    assert set(exc.value.message_dict) == {"identity_type"}


# --- masking --------------------------------------------------------------------------------


def test_personnummer_is_masked_after_the_date() -> None:
    identity = normalise_identity(PNR, "811218-9876", today=TODAY)
    assert identity.value == "198112189876"
    assert identity.masked == "19811218-****"


def test_samordningsnummer_is_masked_after_the_date_as_written_in_the_number() -> None:
    twelve = twelve_digits(datetime.date(1981, 12, 18), 987, coordination=True)
    assert normalise_identity(SAMO, twelve, today=TODAY).masked == "19811278-****"


def test_str_and_repr_never_show_the_whole_number() -> None:
    identity = normalise_identity(PNR, "811218-9876", today=TODAY)
    assert str(identity) == "19811218-****"
    assert "9876" not in repr(identity)
    assert "19811218-****" in repr(identity)


@pytest.mark.parametrize(("value", "masked"), [("AB123456", "AB12-****"), ("AB12", "****")])
def test_reserve_number_masks_all_but_the_first_four_characters(value: str, masked: str) -> None:
    identity = normalise_identity(RESERVE, value, reserve_pattern=r"[A-Z0-9]+")
    assert identity.masked == masked


# --- reserve numbers ------------------------------------------------------------------------


def test_reserve_number_is_trimmed_upper_cased_and_checked_against_the_pattern() -> None:
    identity = normalise_identity(RESERVE, "  sll-123456 ", reserve_pattern=r"SLL-[0-9]{6}")
    assert identity == Identity(type=RESERVE, value="SLL-123456", birth_date=None)


def test_reserve_number_must_match_the_whole_pattern() -> None:
    with pytest.raises(ValidationError) as exc:
        normalise_identity(RESERVE, "SLL-1234567", reserve_pattern=r"SLL-[0-9]{6}")
    assert identity_errors(exc) == ["Reservnumret följer inte organisationens format."]


def test_reserve_number_is_refused_without_a_declared_format() -> None:
    with pytest.raises(ValidationError) as exc:
        normalise_identity(RESERVE, "SLL-123456")
    assert identity_errors(exc) == ["Organisationen har inget format för reservnummer."]


def test_broken_reserve_pattern_is_a_field_error_not_a_crash() -> None:
    with pytest.raises(ValidationError) as exc:
        normalise_identity(RESERVE, "SLL-123456", reserve_pattern="SLL-[0-9")
    assert set(exc.value.message_dict) == {"identity"}


def test_empty_reserve_number_asks_for_the_number() -> None:
    with pytest.raises(ValidationError) as exc:
        normalise_identity(RESERVE, "  ", reserve_pattern=".*")
    assert identity_errors(exc) == ["Ange numret."]


def test_identity_types_carry_their_national_oids() -> None:
    assert PNR.oid == "1.2.752.129.2.1.3.1"
    assert SAMO.oid == "1.2.752.129.2.1.3.3"
    assert RESERVE.oid is None


# --- keeping identity numbers out of free text (report narratives, exports) ---------------------

# 2026-09-15, birth number 184: check digit 6 (stdnum's Luhn over 260915184).
PNR_TEN = with_check_digit("260915184")
SAMO_TEN = with_check_digit("260975184")  # the same child's day + 60


def test_the_masking_examples_are_valid_numbers() -> None:
    assert PNR_TEN == "2609151846"
    assert pnr_oracle.valid(PNR_TEN) and pnr_oracle.valid(SAMO_TEN)


@pytest.mark.parametrize(
    "written",
    [
        "20260915-1846",
        "202609151846",
        "260915-1846",
        "2609151846",
        "20260915 - 1846",  # the finding: spaces around the dash
        "20260915 -1846",
        "20260915- 1846",
        "260915- 1846",
        "260915 - 1846",
        "20260915 1846",
        "2026 0915 1846",  # twelve digits with spaces
        "2026 09 15 18 46",
        "20 26 09 15 - 18 46",
        "26 09 15-1846",
        "20260915\u00a01846",  # a no-break space, as word processors put one
        f"{SAMO_TEN[:6]}-{SAMO_TEN[6:]}",  # a samordningsnummer
        f"20{SAMO_TEN[:6]} - {SAMO_TEN[6:]}",
    ],
)
def test_every_way_of_typing_an_identity_number_is_masked(written: str) -> None:
    assert mask_identities(f"Barnet ({written}) flyttade.") == f"Barnet ({MASK}) flyttade."


@pytest.mark.parametrize(
    "text",
    [
        "Bidraget var 1 349 000 kr, varav 2 500 kr per besök.",
        "1 349 000,00 kr",
        "12 500 000 kr",
        "Besöket 2026-09-15 och 2026-09-16.",
        "2026-09-15 1846",  # a date and a time or count: the date has dashes
        "Tel 019-602 10 00 eller 070-123 45 67.",
        "År 2021 2022 2023",
        "OCR 1234 5678 9012",
        "Dnr 23RS9581, faktura 2024-001846",
        "20260915 - 1847",  # shaped like one, failing the check digit
        "20261315-1846",  # month 13
    ],
)
def test_ordinary_numbers_are_not_masked(text: str) -> None:
    assert mask_identities(text) == text


def test_a_number_shaped_like_one_does_not_hide_the_real_one_after_it() -> None:
    # Read from "1203", "1203 260915" is ten digits failing the check; the number after it is real.
    assert mask_identities("Rum 1203 260915-1846.") == f"Rum 1203 {MASK}."
    assert mask_identities("20260915 - 1846 och 260915- 1846") == f"{MASK} och {MASK}"
