"""The journal import's file reader (visits.imports.reader): CSV in its encodings and
delimiters, XLSX with typed cells, header matching and mapping, refusals, row numbers.

No database: the reader only reads files. The personnummer are made-up test values.
"""

from __future__ import annotations

import datetime
import re
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from openpyxl import Workbook

from visits.imports.reader import (
    CONTRACT_COLUMNS,
    FileRefused,
    SourceRow,
    count_rows,
    read_rows,
)

HEADER = "personnummer;datum;vardenhet;besokstyp;status;kva;socialtjanst;tolk;sprak;besokstillfalle"
EMPTY = dict.fromkeys(CONTRACT_COLUMNS, "")


def write(tmp_path: Path, content: bytes, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def refusal(path: Path, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(FileRefused) as caught:
        read_rows(path, **kwargs)
    return caught.value.message_dict


def test_a_utf8_semicolon_file_gives_every_contract_column_as_text(tmp_path):
    path = write(
        tmp_path,
        (
            HEADER + "\n"
            "200503011234;2026-03-02;SE2321000164-7381;hembesök;genomfört;ZV509 AU120;ja;"
            "på plats;arabiska;2\n"
            " 201901022383 ;2026-03-04;SE2321000164-7381;mottagningsbesök;;;;;;\n"
        ).encode(),
    )

    rows = list(read_rows(path))

    assert rows == [
        SourceRow(
            number=2,
            values={
                "personnummer": "200503011234",
                "datum": "2026-03-02",
                "vardenhet": "SE2321000164-7381",
                "besokstyp": "hembesök",
                "status": "genomfört",
                "kva": "ZV509 AU120",
                "socialtjanst": "ja",
                "tolk": "på plats",
                "sprak": "arabiska",
                "besokstillfalle": "2",
            },
        ),
        SourceRow(
            number=3,
            values=EMPTY
            | {
                "personnummer": "201901022383",
                "datum": "2026-03-04",
                "vardenhet": "SE2321000164-7381",
                "besokstyp": "mottagningsbesök",
            },
        ),
    ]
    assert count_rows(path) == 2


def test_a_windows_1252_comma_file_with_mixed_case_swedish_headers_is_read(tmp_path):
    path = write(
        tmp_path,
        (
            "PersonNummer,DATUM,Vårdenhet,Besökstyp,Språk,Tolk\r\n"
            "200503011234,2026-03-02,SE2321000164-7381,hembesök,svenska,nej\r\n"
        ).encode("cp1252"),
    )

    rows = list(read_rows(path))

    assert rows == [
        SourceRow(
            number=2,
            values=EMPTY
            | {
                "personnummer": "200503011234",
                "datum": "2026-03-02",
                "vardenhet": "SE2321000164-7381",
                "besokstyp": "hembesök",
                "sprak": "svenska",
                "tolk": "nej",
            },
        )
    ]


def test_a_windows_1252_letter_far_down_an_ascii_file_is_still_decoded(tmp_path):
    # The first 100 kB are ASCII: a decision from the file's start alone would choose UTF-8
    # and fail on the last row.
    ascii_rows = "200503011234,2026-03-02,SE2321000164-7381,annat\n" * 2500
    path = write(
        tmp_path,
        (
            "personnummer,datum,vardenhet,besokstyp\n"
            + ascii_rows
            + "200503011234,2026-03-03,SE2321000164-7381,hembesök\n"
        ).encode("cp1252"),
    )

    rows = list(read_rows(path))

    assert len(rows) == 2501
    assert rows[-1].number == 2502
    assert rows[-1].values["besokstyp"] == "hembesök"
    assert count_rows(path) == 2501


def test_a_utf8_file_with_a_byte_order_mark_matches_its_first_header(tmp_path):
    path = write(
        tmp_path,
        "\ufeffpersonnummer;datum;vardenhet;besokstyp\r\n"
        "200503011234;2026-03-02;SE2321000164-7381;hembesök\r\n".encode(),
    )

    rows = list(read_rows(path))

    assert [(row.number, row.values["personnummer"], row.values["besokstyp"]) for row in rows] == [
        (2, "200503011234", "hembesök")
    ]


def test_an_xlsx_file_gives_dates_as_iso_and_whole_numbers_without_decimals(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Personnummer", "Datum", "Vårdenhet", "Besökstyp", "Besökstillfälle", "Kva"])
    sheet.append(
        [
            200503011234,
            datetime.datetime(2026, 3, 2, 14, 30),
            "SE2321000164-7381",
            "hembesök",
            3.0,
            "ZV509",
        ]
    )
    sheet.append([None, None, None, None, None, None])  # an empty row: skipped, still counted
    sheet.append(
        ["201901022383", datetime.date(2026, 3, 4), " SE2321000164-7381 ", "annat", 2.5, None]
    )
    # A name that says CSV: the content decides.
    path = tmp_path / "journal-export.csv"
    workbook.save(path)

    rows = list(read_rows(path))

    assert rows == [
        SourceRow(
            number=2,
            values=EMPTY
            | {
                "personnummer": "200503011234",
                "datum": "2026-03-02",
                "vardenhet": "SE2321000164-7381",
                "besokstyp": "hembesök",
                "besokstillfalle": "3",
                "kva": "ZV509",
            },
        ),
        SourceRow(
            number=4,
            values=EMPTY
            | {
                "personnummer": "201901022383",
                "datum": "2026-03-04",
                "vardenhet": "SE2321000164-7381",
                "besokstyp": "annat",
                "besokstillfalle": "2.5",
            },
        ),
    ]
    assert count_rows(path) == 2


def test_an_xlsx_file_with_a_wrong_dimension_still_gives_every_column(tmp_path):
    # Some exporters write <dimension ref="A1"/> whatever the sheet holds.
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["personnummer", "datum", "vardenhet", "besokstyp"])
    sheet.append(["200503011234", "2026-03-02", "SE2321000164-7381", "hembesök"])
    source = tmp_path / "source.xlsx"
    workbook.save(source)
    path = tmp_path / "upload"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as copy:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, changed = re.subn(
                    rb'<dimension ref="A1:D2" ?/>', b'<dimension ref="A1"/>', data
                )
                assert changed == 1
            copy.writestr(item, data)

    rows = list(read_rows(path))

    assert [row.values["besokstyp"] for row in rows] == ["hembesök"]


def test_an_organisations_mapping_names_its_own_headers(tmp_path):
    path = write(
        tmp_path,
        "Patient-ID;Besöksdatum;vardenhet;besokstyp;datum;;\n"
        "200503011234;2026-03-02;SE2321000164-7381;hembesök;2026-01-01;x;y\n".encode(),
    )
    # An empty entry (as the admin's blank field stores it) means the contract's name.
    mapping = {"personnummer": "Patient-ID", "datum": "besöksdatum", "kva": "", "tolk": " "}

    rows = list(read_rows(path, mapping=mapping))

    # The mapped column wins: the file's own "datum" column is another column now, and the
    # untitled columns are nobody's.
    assert rows == [
        SourceRow(
            number=2,
            values=EMPTY
            | {
                "personnummer": "200503011234",
                "datum": "2026-03-02",
                "vardenhet": "SE2321000164-7381",
                "besokstyp": "hembesök",
            },
        )
    ]


def test_a_mapped_column_missing_from_the_file_is_named_as_the_file_should_name_it(tmp_path):
    path = write(tmp_path, b"personnummer;datum;vardenhet;besokstyp\n")

    assert refusal(path, mapping={"personnummer": "Patient-ID"}) == {
        "file": ["Kolumn saknas: Patient-ID (personnummer)."]
    }


def test_missing_required_columns_are_named_in_the_contracts_order(tmp_path):
    path = write(tmp_path, b"kva;Besokstyp;Status\n1;2;3\n")

    assert refusal(path) == {"file": ["Kolumner saknas: personnummer, datum, vardenhet."]}


def test_a_required_column_found_twice_is_refused(tmp_path):
    path = write(tmp_path, b"personnummer;Datum;vardenhet;besokstyp;DATUM\n")

    assert refusal(path) == {"file": ["Kolumnen finns flera gånger: datum."]}


def test_the_refusal_is_a_validation_error_for_the_file_field(tmp_path):
    path = write(tmp_path, b"a;b\n")

    with pytest.raises(ValidationError) as caught:
        read_rows(path)

    assert caught.value.message_dict == {
        "file": ["Kolumner saknas: personnummer, datum, vardenhet, besokstyp."]
    }


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02binary\x00",
        # An old Excel (.xls) file starts like this and has NUL bytes.
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00\x00",
        "personnummer;datum\n".encode("utf-16"),
    ],
)
def test_a_binary_file_is_refused_as_neither_csv_nor_xlsx(tmp_path, content):
    path = write(tmp_path, content)

    assert refusal(path) == {"file": ["Filen är varken CSV eller XLSX."]}
    with pytest.raises(FileRefused):
        count_rows(path)


def test_a_zip_that_is_no_workbook_is_refused(tmp_path):
    path = tmp_path / "export.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "personnummer;datum")

    assert refusal(path) == {"file": ["Filen är varken CSV eller XLSX."]}


@pytest.mark.parametrize("content", [b"", b"\n \n;;;\n"])
def test_an_empty_file_is_refused(tmp_path, content):
    path = write(tmp_path, content)

    assert refusal(path) == {"file": ["Filen är tom."]}
    assert count_rows(path) == 0


def test_a_header_without_rows_gives_no_rows(tmp_path):
    path = write(tmp_path, b"personnummer;datum;vardenhet;besokstyp\n")

    assert list(read_rows(path)) == []
    assert count_rows(path) == 0


def test_blank_lines_are_skipped_and_rows_keep_their_line_numbers(tmp_path):
    path = write(
        tmp_path,
        (
            "\n"
            "personnummer;datum;vardenhet;besokstyp;sprak\n"
            "\n"
            "200503011234;2026-03-02;SE2321000164-7381;hembesök;svenska\n"
            ";;;;\n"
            "   \n"
            '201901022383;2026-03-04;SE2321000164-7381;annat;"två\nrader"\n'
            "201901022383;2026-03-05;SE2321000164-7381;annat;\n"
        ).encode(),
    )

    rows = list(read_rows(path))

    # The header is on line 2; the quoted cell spans lines 7 and 8.
    assert [(row.number, row.values["datum"], row.values["sprak"]) for row in rows] == [
        (4, "2026-03-02", "svenska"),
        (7, "2026-03-04", "två\nrader"),
        (9, "2026-03-05", ""),
    ]
    assert count_rows(path) == 3


def test_a_wide_row_and_a_long_cell_are_still_read_and_only_contract_columns_kept(tmp_path):
    extra = [f"extra{i}" for i in range(60)]
    long_language = "a" * 1500
    path = write(
        tmp_path,
        (
            ";".join(["personnummer", "datum", "vardenhet", "besokstyp", "sprak", *extra])
            + "\n"
            + ";".join(
                ["200503011234", "2026-03-02", "SE2321000164-7381", "hembesök", long_language]
                + ["x" * 5000] * 60
            )
            + "\n"
        ).encode(),
    )

    (row,) = read_rows(path)

    assert list(row.values) == list(CONTRACT_COLUMNS)
    assert len(row.values["sprak"]) == 1500
    assert row.values["besokstyp"] == "hembesök"


def test_an_unreadable_row_further_down_is_refused_without_its_content(tmp_path):
    # A cell beyond the csv module's field limit (128 kB) breaks the row.
    path = write(
        tmp_path,
        (
            "personnummer;datum;vardenhet;besokstyp\n"
            "200503011234;2026-03-02;SE2321000164-7381;hembesök\n"
            "201901022383;" + "9" * 200_000 + ";SE2321000164-7381;annat\n"
        ).encode(),
    )
    rows = read_rows(path)

    assert next(rows).number == 2
    with pytest.raises(FileRefused) as caught:
        next(rows)
    assert caught.value.message_dict == {"file": ["Rad 3 i filen går inte att läsa."]}
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_an_unmapped_column_is_matched_by_its_contract_name_in_any_case(tmp_path):
    path = write(
        tmp_path,
        " PERSONNUMMER , Datum ,VARDENHET,BESÖKSTYP,Socialtjänst\n"
        "200503011234,2026-03-02,SE2321000164-7381,hembesök,ja\n".encode(),
    )

    (row,) = read_rows(path, mapping={"sprak": "Språk"})

    assert row.values["socialtjanst"] == "ja"
    assert row.values["personnummer"] == "200503011234"
