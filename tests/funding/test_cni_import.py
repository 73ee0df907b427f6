"""CNI import: parsing CSV and XLSX, the preview that writes nothing, the commit that writes
everything valid or nothing, and the two pages."""

from __future__ import annotations

import datetime
import io
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from core.models import Role
from funding import cni_import
from funding.cni_import import Batch, ImportChanged, ImportFileError, RawRow
from funding.models import CniValue
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import cni

REF = datetime.date(2026, 6, 30)
BATCH = Batch(kind="child_cni", source="SCB", reference_date=REF, scale="Riksgenomsnitt 1,0")


@pytest.fixture
def org(db):
    organisation = OrganisationFactory(name="Region Test")
    CentreFactory(organisation=organisation, name="Norr", hsa_id="SE123-BVC1")
    CentreFactory(organisation=organisation, name="Söder", hsa_id="SE123-BVC2")
    CentreFactory(organisation=organisation, name="Väster", hsa_id="")
    return organisation


@pytest.fixture
def other_centre(db):
    return CentreFactory(
        organisation=OrganisationFactory(name="Annan kommun"), name="Öster", hsa_id="SE999-BVC1"
    )


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- Parsing ----------------------------------------------------------------------------------
def test_csv_with_commas_and_quoted_decimal_commas():
    content = b'hsa_id,child_cni,listed_children\nSE123-BVC1,"2,87",612\nSE123-BVC2,1.5,\n'
    assert cni_import.parse(content) == [
        RawRow(line=2, hsa_id="SE123-BVC1", child_cni="2,87", listed_children="612"),
        RawRow(line=3, hsa_id="SE123-BVC2", child_cni="1.5", listed_children=""),
    ]


def test_csv_with_semicolons_decimal_comma_and_a_bom():
    content = "\ufeffcentre;child_cni;listed_children\r\nNorr;2,87;612\r\n\r\nVäster;0,9;40\r\n"
    rows = cni_import.parse(content.encode("utf-8"))
    assert rows == [
        RawRow(line=2, centre="Norr", child_cni="2,87", listed_children="612"),
        RawRow(line=4, centre="Väster", child_cni="0,9", listed_children="40"),
    ]


def test_csv_from_swedish_excel_in_windows_1252():
    content = "centre;child_cni\nSöder;1,2\n".encode("cp1252")
    assert cni_import.parse(content) == [RawRow(line=2, centre="Söder", child_cni="1,2")]


def test_header_names_are_case_and_space_insensitive_and_extra_columns_ignored():
    content = b" HSA_ID ; Namn ; Child_CNI \nSE123-BVC1;x;2\n"
    assert cni_import.parse(content) == [RawRow(line=2, hsa_id="SE123-BVC1", child_cni="2")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "tom"),
        (b"centre;value\nNorr;2\n", "rubriker"),
        (b"child_cni;listed_children\n2;3\n", "rubriker"),
        (b"centre;child_cni\n", "inga rader"),
    ],
)
def test_files_that_cannot_be_read_are_refused(content, message):
    with pytest.raises(ImportFileError, match=message):
        cni_import.parse(content)


def test_xlsx_rows_with_numbers_and_text():
    content = xlsx(
        [
            ["hsa_id", "centre", "child_cni", "listed_children"],
            ["SE123-BVC1", None, 2.87, 612],
            [None, "Väster", "1,05", 40.0],
            [None, None, None, None],
            ["SE123-BVC2", "Söder", 3, None],
        ]
    )
    assert cni_import.parse(content) == [
        RawRow(line=2, hsa_id="SE123-BVC1", child_cni="2.87", listed_children="612"),
        RawRow(line=3, centre="Väster", child_cni="1,05", listed_children="40"),
        RawRow(line=5, hsa_id="SE123-BVC2", centre="Söder", child_cni="3"),
    ]


def test_a_broken_xlsx_is_refused():
    with pytest.raises(ImportFileError, match="Excel"):
        cni_import.parse(b"PK\x03\x04 not really a zip")


# --- Preview ------------------------------------------------------------------------------------
def _rows(*specs: dict[str, str]) -> list[RawRow]:
    return [RawRow(line=i, **spec) for i, spec in enumerate(specs, start=2)]


def test_preview_matches_by_hsa_id_and_exact_name_and_writes_nothing(org, other_centre):
    before = CniValue.objects.count()
    rows = _rows(
        {"hsa_id": "se123-bvc1", "child_cni": "2,87", "listed_children": "612"},
        {"centre": "Väster", "child_cni": "1.05"},
        {"centre": "väster", "child_cni": "1"},  # names match exactly
        {"hsa_id": "SE000-NONE", "child_cni": "1"},
        {"centre": "Söder", "child_cni": "två"},
        {"centre": "Söder", "child_cni": "-1"},
        {"hsa_id": "SE999-BVC1", "child_cni": "1"},
        {"centre": "Öster", "child_cni": "1"},
        {"centre": "", "child_cni": "1"},
    )
    report = cni_import.preview(org, rows, BATCH)
    assert CniValue.objects.count() == before
    by_line = {r.line: r for r in report.rows}
    assert by_line[2].valid and by_line[2].centre.name == "Norr"
    assert by_line[2].value == Decimal("2.87") and by_line[2].listed_children == 612
    assert by_line[3].valid and by_line[3].centre.name == "Väster"
    assert by_line[3].listed_children is None
    assert "Ingen BVC heter så." in by_line[4].errors
    assert "Okänt HSA-id." in by_line[5].errors
    assert "”två” är inget tal." in by_line[6].errors
    assert "Värdet är negativt." in by_line[7].errors
    assert "BVC:n hör till en annan organisation." in by_line[8].errors
    assert "BVC:n hör till en annan organisation." in by_line[9].errors
    assert "Varken hsa_id eller centre är ifyllt." in by_line[10].errors
    assert report.valid_lines == [2, 3]


def test_a_centre_on_two_rows_makes_both_invalid(org):
    rows = _rows(
        {"hsa_id": "SE123-BVC1", "child_cni": "2"},
        {"centre": "Norr", "child_cni": "2.1"},
        {"centre": "Söder", "child_cni": "1"},
    )
    report = cni_import.preview(org, rows)
    assert [r.valid for r in report.rows] == [False, False, True]
    assert "BVC:n finns på flera rader (rad 2, 3)." in report.rows[0].errors


@pytest.mark.parametrize(
    ("value", "listed", "error"),
    [
        ("", "", "Värde saknas i child_cni."),
        ("2.345", "", "Värdet har fler än två decimaler."),
        ("10000", "", "Värdet är för stort."),
        ("1,000.5", "", "”1,000.5” är inget tal."),
        ("NaN", "", "”NaN” är inget tal."),
        ("2", "12,5", "Antal listade barn ”12,5” är inget heltal."),
        ("2", "-3", "Antal listade barn är negativt."),
    ],
)
def test_bad_values(org, value, listed, error):
    report = cni_import.preview(
        org, _rows({"centre": "Norr", "child_cni": value, "listed_children": listed})
    )
    assert error in report.rows[0].errors


def test_a_value_already_stored_for_the_reference_date_and_source_is_refused(org):
    norr = org.centres.get(name="Norr")
    cni(norr, "2.00", reference_date=REF, source="SCB")
    report = cni_import.preview(org, _rows({"centre": "Norr", "child_cni": "2.5"}), BATCH)
    assert "Det finns redan ett värde" in report.rows[0].errors[0]
    other_source = Batch("child_cni", "Regionen", REF, "Riksgenomsnitt 1,0")
    report = cni_import.preview(org, _rows({"centre": "Norr", "child_cni": "2.5"}), other_source)
    assert report.rows[0].valid


# --- Commit -------------------------------------------------------------------------------------
def test_commit_writes_all_valid_rows(org):
    importer = member(Role.CBHV, organisation=org)
    rows = _rows(
        {"hsa_id": "SE123-BVC1", "child_cni": "2,87", "listed_children": "612"},
        {"centre": "Söder", "child_cni": "x"},
        {"centre": "Väster", "child_cni": "0.95"},
    )
    created = cni_import.commit(
        user=importer, organisation=org, rows=rows, batch=BATCH, expected_lines=[2, 4]
    )
    assert len(created) == 2
    stored = {v.centre.name: v for v in CniValue.objects.select_related("centre")}
    assert set(stored) == {"Norr", "Väster"}
    assert stored["Norr"].value == Decimal("2.87")
    assert stored["Norr"].listed_children == 612
    assert stored["Norr"].reference_date == REF
    assert stored["Norr"].source == "SCB"
    assert stored["Norr"].created_by == importer
    assert stored["Väster"].listed_children is None


def test_commit_writes_nothing_when_a_row_became_invalid_meanwhile(org):
    rows = _rows({"centre": "Norr", "child_cni": "2"}, {"centre": "Söder", "child_cni": "3"})
    report = cni_import.preview(org, rows, BATCH)
    assert report.valid_lines == [2, 3]
    cni(org.centres.get(name="Söder"), "1.00", reference_date=REF, source="SCB")
    before = CniValue.objects.count()
    with pytest.raises(ImportChanged):
        cni_import.commit(
            user=None, organisation=org, rows=rows, batch=BATCH, expected_lines=[2, 3]
        )
    assert CniValue.objects.count() == before


def test_commit_is_one_transaction(org, monkeypatch):
    """A failure while writing the second row leaves the first unwritten too."""
    from funding import centres

    calls = []
    real = centres.cni_record

    def failing(**kwargs):
        calls.append(kwargs["centre"].name)
        if len(calls) == 2:
            from django.core.exceptions import ValidationError

            raise ValidationError("boom")
        return real(**kwargs)

    monkeypatch.setattr(cni_import, "cni_record", failing)
    rows = _rows({"centre": "Norr", "child_cni": "2"}, {"centre": "Söder", "child_cni": "3"})
    with pytest.raises(ImportChanged):
        cni_import.commit(
            user=None, organisation=org, rows=rows, batch=BATCH, expected_lines=[2, 3]
        )
    assert calls == ["Norr", "Söder"]
    assert not CniValue.objects.exists()


# --- The pages ----------------------------------------------------------------------------------
@pytest.fixture
def cbhv_client(client, org):
    client.force_login(member(Role.CBHV, organisation=org))
    return client


def _upload(client, content: bytes, name: str = "cni.csv", **fields: str):
    data = {
        "file": SimpleUploadedFile(name, content),
        "kind": "child_cni",
        "source": "SCB",
        "reference_date": REF.isoformat(),
        "scale": "Riksgenomsnitt 1,0",
        **fields,
    }
    return client.post(reverse("funding:cni_import"), data)


def _payload(html: str) -> str:
    match = re.search(r'name="payload" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_upload_previews_and_commit_stores(cbhv_client, other_centre):
    content = (
        "\ufeffhsa_id;centre;child_cni;listed_children\n"
        "SE123-BVC1;;2,87;612\n"
        ";Väster;0,95;\n"
        ";Öster;2;10\n"
    )
    response = _upload(cbhv_client, content.encode())
    assert response.status_code == 200
    html = response.content.decode()
    assert CniValue.objects.count() == 0  # the preview writes nothing
    assert "Norr" in html and "2,87" in html and "612" in html
    assert "BVC:n hör till en annan organisation." in html
    assert "2 rader kan sparas." in html
    assert "Spara 2 värden" in html

    response = cbhv_client.post(
        reverse("funding:cni_import_commit"), {"payload": _payload(html)}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("funding:centre_list")
    assert "2 CNI-värden är sparade" in response.content.decode()
    assert set(CniValue.objects.values_list("centre__name", flat=True)) == {"Norr", "Väster"}
    # The list now shows the imported child CNI.
    assert "2,87" in response.content.decode()


def test_xlsx_upload(cbhv_client):
    content = xlsx([["centre", "child_cni", "listed_children"], ["Söder", 2.41, 455]])
    html = _upload(cbhv_client, content, name="cni.xlsx").content.decode()
    assert "1 rad kan sparas." in html
    cbhv_client.post(reverse("funding:cni_import_commit"), {"payload": _payload(html)})
    value = CniValue.objects.get()
    assert (value.centre.name, value.value, value.listed_children) == (
        "Söder",
        Decimal("2.41"),
        455,
    )


def test_a_file_that_cannot_be_read_is_an_error_on_the_file_field(cbhv_client):
    response = _upload(cbhv_client, b"namn;varde\nNorr;2\n")
    html = response.content.decode()
    assert 'href="#id_file"' in html
    assert re.search(r'<input[^>]*name="file"[^>]*aria-invalid="true"', html)


def test_commit_after_a_change_shows_the_new_preview_and_stores_nothing(cbhv_client, org):
    html = _upload(cbhv_client, b"centre;child_cni\nNorr;2\nS\xc3\xb6der;3\n").content.decode()
    cni(org.centres.get(name="Norr"), "1.00", reference_date=REF, source="SCB")
    response = cbhv_client.post(reverse("funding:cni_import_commit"), {"payload": _payload(html)})
    html = response.content.decode()
    assert "Inget har sparats" in html
    assert 'role="alert"' in html
    assert "Det finns redan ett värde" in html
    assert CniValue.objects.count() == 1
    # The new preview can be committed: the still valid row only.
    cbhv_client.post(reverse("funding:cni_import_commit"), {"payload": _payload(html)})
    assert CniValue.objects.count() == 2


def test_a_tampered_payload_is_refused(cbhv_client):
    response = cbhv_client.post(
        reverse("funding:cni_import_commit"), {"payload": "not-signed"}, follow=True
    )
    assert "Ladda upp filen igen" in response.content.decode()
    assert CniValue.objects.count() == 0


def test_another_users_payload_is_refused(cbhv_client, client, org):
    html = _upload(cbhv_client, b"centre;child_cni\nNorr;2\n").content.decode()
    payload = _payload(html)
    client.force_login(member(Role.ADMIN, organisation=org))
    response = client.post(reverse("funding:cni_import_commit"), {"payload": payload})
    assert response.status_code == 403
    assert CniValue.objects.count() == 0


def test_an_expired_preview_is_refused(cbhv_client, monkeypatch):
    from funding.views import centres as views

    html = _upload(cbhv_client, b"centre;child_cni\nNorr;2\n").content.decode()
    monkeypatch.setattr(views, "IMPORT_MAX_AGE", -1)
    response = cbhv_client.post(
        reverse("funding:cni_import_commit"), {"payload": _payload(html)}, follow=True
    )
    assert "för gammal" in response.content.decode()
    assert CniValue.objects.count() == 0


@pytest.mark.parametrize("role", [Role.FINANCE, Role.NURSE, Role.CENTRE_MANAGER])
def test_only_cbhv_and_admin_import(client, org, role):
    centre = org.centres.first() if role in (Role.NURSE, Role.CENTRE_MANAGER) else None
    client.force_login(member(role, organisation=org, centre=centre))
    assert client.get(reverse("funding:cni_import")).status_code == 403
    assert client.post(reverse("funding:cni_import_commit"), {"payload": "x"}).status_code == 403


def test_a_file_with_too_many_rows_is_refused(monkeypatch):
    monkeypatch.setattr(cni_import, "MAX_ROWS", 3)
    content = b"centre;child_cni\n" + b"Norr;2\n" * 4
    with pytest.raises(ImportFileError, match="fler än 3 rader"):
        cni_import.parse(content)
    with pytest.raises(ImportFileError, match="fler än 3 rader"):
        cni_import.parse(xlsx([["centre", "child_cni"], *[["Norr", 2]] * 4]))
