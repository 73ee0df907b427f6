"""Finance exports (XLSX and CSV) and the auditor bundle (issue 18 items 6 and 8;
`reporting.exports`): numeric amount cells equal to the ledger and the statements, formula
escaping in both formats, the Swedish CSV dialect, the bundle's files and manifest, the
Conflict without a submitted report, no identity numbers, and a constant number of queries."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
import uuid
import zipfile
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from core.exceptions import Conflict
from core.models import Role
from funding import ledger
from funding.allocation import fixed_allocation_post
from funding.applications import application_approve, application_submit
from funding.compensation import month_pay, statements
from funding.models import LedgerTransaction, TxKind
from reporting import exports, storage
from reporting.models import ReportKind, ReportRun, RunStatus
from tests.core.factories import CentreFactory, OrganisationFactory, PartnerFactory, member
from tests.funding.factories import cni, draft
from tests.funding.test_compensation import at, d, rule, visit
from visits.identity import luhn_check_digit
from visits.models import Child

pytestmark = pytest.mark.django_db

D = Decimal
HYPERLINK = '=HYPERLINK("http://evil.example","klicka")'
TOLVAN = "19121212-1212"  # Skatteverket's well-known test personnummer (valid check digit)
IDENTITY = re.compile(r"\d{6,8}[-+]?\d{4}")
SHA256 = re.compile(r"\b[0-9a-f]{64}\b")
PDF = b"%PDF-1.7\n% a submitted report, as filed\n1 0 obj <<>> endobj\n%%EOF\n"


# --- Data, built through the ledger services ------------------------------------------------------
def approve(centre, cbhv, comment=""):
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    with at(d(1, 10)):
        app = draft(centre, by=manager, year=2026, start_date=d(1, 1))
        app = application_submit(user=manager, application=app)
        return application_approve(
            user=cbhv, application=app, effective_from=d(2, 1), comment=comment
        )


@pytest.fixture
def world(settings, tmp_path):
    settings.REPORT_STORE = str(tmp_path)
    org = OrganisationFactory(name="Region Testland")
    rule(org)
    finance = member(Role.FINANCE, organisation=org)
    cbhv = member(Role.CBHV, organisation=org)
    evil = CentreFactory(organisation=org, name=HYPERLINK)
    plus = CentreFactory(organisation=org, name="+1 BVC")
    partner = PartnerFactory(organisation=org, name="\tTandvården")
    vivalla = CentreFactory(organisation=org, name="Vivalla")
    varberga = CentreFactory(organisation=org, name="Varberga")
    with at(d(1, 5)):
        grant = ledger.grant_create(
            user=finance,
            organisation=org,
            funder="socialstyrelsen",
            reference="@x 26RS1",
            year=2026,
            amount=D("100000"),
            received_on=d(1, 5),
            use_by=d(12, 31),
            report_due=d(3, 1, 2027),
        )
    with at(d(1, 9)):
        cni(varberga, "3.00", listed=100)
    approve(vivalla, cbhv, comment=f"Beviljas. (Felskrivet: {TOLVAN})")  # child CNI 2.50 × 300
    approve(varberga, cbhv)
    with at(d(2, 1)):
        fixed_allocation_post(user=finance, grant=grant, year=2026, pool=30000)
    with at(d(2, 2)):
        ledger.allocation_post(
            user=finance, grant=grant, recipient=partner, amount=D("7000"), purpose="@x avtal"
        )
    with at(d(3, 1)):
        ledger.payout_post(
            user=finance,
            grant=grant,
            recipient_type="partner",
            recipient_id=partner.pk,
            category="partner_transfer",
            amount=D("3000"),
            date=d(3, 1),
            reference="-2 delbetalning",
        )
    with at(d(3, 2)):
        ledger.payout_post(
            user=finance,
            grant=grant,
            recipient_type="centre",
            recipient_id=vivalla.pk,
            category="fixed",
            amount=D("5000"),
            date=d(3, 2),
            reference="+1 utbetalning",
        )
    with at(d(4, 1)):
        coordination = ledger.payout_post(
            user=finance,
            grant=grant,
            recipient_type="organisation",
            recipient_id=org.pk,
            category="coordination",
            amount=D("1234.56"),
            date=d(4, 1),
            reference="=1+1",
        )
    with at(d(4, 2)):
        ledger.reversal_post(
            user=finance, grant=grant, original=coordination, reason=f"-fel, se {TOLVAN}"
        )
    visit(evil, d(8, 3))
    visit(evil, d(8, 4))
    visit(plus, d(8, 5))
    visit(plus, d(8, 6), social_services_present=False)
    with at(d(9, 15)):
        month_pay(user=finance, grant=grant, year=2026, month=8)
    return {
        "org": org,
        "finance": finance,
        "grant": grant,
        "partner": partner,
        "vivalla": vivalla,
        "varberga": varberga,
        "evil": evil,
    }


def new_run(world, kind, grant=None):
    """A run as the machinery hands it to the renderer (an earlier one of the subject fails,
    so that several may be made in one test)."""
    ReportRun.objects.filter(kind=kind, status__in=["queued", "running"]).update(
        status=RunStatus.FAILED
    )
    return ReportRun.objects.create(
        kind=kind,
        organisation=world["org"],
        year=2026,
        grant=grant,
        requested_by=world["finance"],
        status=RunStatus.RUNNING,
    )


def finance_run(world, kind=ReportKind.FINANCE_XLSX):
    return new_run(world, kind)


def bundle_run(world):
    return new_run(world, ReportKind.AUDITOR_BUNDLE, world["grant"])


def submitted_report(world, content=PDF):
    """The grant closed and its report submitted (a report is submitted for a closed grant
    only, and the auditor bundle is made for a closed grant only)."""
    ledger.grant_close(user=world["finance"], grant=world["grant"])
    world["grant"].refresh_from_db()
    run_id = uuid.uuid4()
    name = f"{run_id}.pdf"
    sha = storage.save(name, content)
    now = timezone.now()
    return ReportRun.objects.create(
        id=run_id,
        kind=ReportKind.SOCIALSTYRELSEN,
        organisation=world["org"],
        year=2026,
        grant=world["grant"],
        requested_by=world["finance"],
        status=RunStatus.DONE,
        file_name=name,
        content_type="application/pdf",
        size=len(content),
        sha256=sha,
        finished_at=now,
        submitted_at=now,
        submitted_by=world["finance"],
    )


def workbook(world):
    rendered = exports.render_finance_xlsx(finance_run(world), {})
    assert rendered.content_type == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert rendered.extension == "xlsx"
    return load_workbook(io.BytesIO(rendered.content))


def rows_of(sheet):
    return list(sheet.iter_rows(min_row=2))


def unzip(content):
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def csv_rows(content):
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content[3:].decode("utf-8"), newline=""), delimiter=";"))


def ordered_transactions(grant):
    return list(
        LedgerTransaction.objects.filter(grant=grant)
        .prefetch_related("legs")
        .order_by("created_at", "id")
    )


# --- safe_text and scrub ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("\tflik", "'\tflik"),
        ("\rrad", "'\rrad"),
        ("Vivalla", "Vivalla"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_safe_text_escapes_formula_starts(text, expected):
    assert exports.safe_text(text) == expected


def test_scrub_masks_valid_identity_numbers_only():
    ten = "121212121"
    wrong_check = (luhn_check_digit(ten) + 1) % 10
    invoice = f"Faktura 20{ten}{wrong_check}"  # a 12-digit number failing the check digit
    assert exports.scrub(invoice) == invoice
    assert TOLVAN not in exports.scrub(f"se {TOLVAN} och 191212121212")
    assert exports.scrub(f"se {TOLVAN}") == f"se {exports.MASK}"
    assert exports.scrub("Dnr 23RS9581") == "Dnr 23RS9581"


# --- XLSX -------------------------------------------------------------------------------------
def test_xlsx_has_four_sheets_with_bold_headers_and_widths(world):
    wb = workbook(world)
    assert wb.sheetnames == ["Bidrag", "Ersättning", "Huvudbok", "Fördelningar"]
    for sheet in wb.worksheets:
        assert all(cell.font.bold for cell in sheet[1])
        assert sheet.column_dimensions["A"].width > 5
    assert [c.value for c in wb["Huvudbok"][1]][:4] == ["Nr", "Bidrag", "Datum", "Typ"]


def test_xlsx_compensation_amounts_are_numeric_and_equal_the_statements(world):
    sheet = workbook(world)["Ersättning"]
    expected = statements(world["org"], 2026)
    got = rows_of(sheet)
    assert len(got) == len(expected) == 2
    for cells, statement in zip(got, expected, strict=True):
        centre, month, visits, pv, ordinary, adjustments, total, locked = cells
        assert centre.value == exports.safe_text(statement.centre_name)
        assert isinstance(month.value, datetime.datetime)
        assert month.value.date() == statement.month and month.number_format == "yyyy-mm"
        assert visits.value == statement.visits and visits.data_type == "n"
        for cell, amount in (
            (pv, statement.programme_variable),
            (ordinary, statement.ordinary),
            (adjustments, statement.adjustments),
            (total, statement.total),
        ):
            assert cell.data_type == "n" and isinstance(cell.value, int | float)
            assert cell.number_format == "#,##0.00"
            assert D(str(cell.value)) == amount
        assert locked.value == "Ja"
    by_centre = {c[0].value: D(str(c[6].value)) for c in got}
    assert by_centre == {"'" + HYPERLINK: D("5000"), "'+1 BVC": D("4300")}


def test_xlsx_ledger_amounts_are_numeric_and_equal_the_ledger(world):
    grant = world["grant"]
    sheet = workbook(world)["Huvudbok"]
    got = rows_of(sheet)
    transactions = ordered_transactions(grant)
    assert len(got) == len(transactions)
    for number, (cells, tx) in enumerate(zip(got, transactions, strict=True), start=1):
        amount, commitment = cells[7], cells[8]
        assert cells[0].value == number
        assert cells[1].value == "'@x 26RS1"
        assert isinstance(cells[2].value, datetime.datetime)
        assert cells[2].value.date() == tx.date and cells[2].number_format == "yyyy-mm-dd"
        movement, committed = ledger.transaction_parts(tx)
        money = commitment if tx.kind == "allocation" else amount
        assert money.data_type == "n" and money.number_format == "#,##0.00"
        if tx.kind == "allocation":
            assert amount.value is None and D(str(commitment.value)) == committed
        else:
            assert D(str(amount.value)) == movement == ledger.transaction_amount(tx)
        assert cells[11].value == world["finance"].username
        assert isinstance(cells[12].value, datetime.datetime)
    figures = ledger.figures(grant)
    # Each column sums to a figure: movements to the balance, commitments to the allocated.
    assert sum((D(str(c[7].value)) for c in got if c[7].value is not None), D(0)) == (
        figures.balance
    )
    assert sum((D(str(c[8].value)) for c in got if c[8].value is not None), D(0)) == (
        figures.allocated
    )
    # The reversal names the row it reverses by its number.
    reversal = next(i for i, tx in enumerate(transactions) if tx.kind == TxKind.REVERSAL)
    reversed_number = got[reversal][10].value
    assert transactions[reversed_number - 1].pk == transactions[reversal].reverses_id
    # Recipients by name: the organisation for coordination, the partner, the centres.
    names = {c[6].value for c in got}
    assert {"Region Testland", "'\tTandvården", "Vivalla", "Varberga"} <= names


def test_xlsx_allocations_show_allocated_and_paid(world):
    got = {
        c[2].value: tuple(D(str(x.value)) for x in c[4:7])
        for c in rows_of(workbook(world)["Fördelningar"])
    }
    assert got == {
        "'\tTandvården": (D("7000"), D("3000"), D("4000")),
        "Vivalla": (D("21429"), D("5000"), D("16429")),  # 30 000 × 750 / 1050, rounded up
        "Varberga": (D("8571"), D("0"), D("8571")),
    }
    assert sum(v[0] for v in got.values()) == ledger.figures(world["grant"]).allocated


def test_formula_text_is_escaped_in_xlsx_and_csv(world):
    wb = workbook(world)
    texts = [
        cell.value
        for sheet in wb.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str)
    ]
    assert all(cell.data_type != "f" for s in wb.worksheets for r in s.iter_rows() for cell in r)
    files = unzip(
        exports.render_finance_csv(finance_run(world, ReportKind.FINANCE_CSV), {}).content
    )
    csv_texts = [value for content in files.values() for row in csv_rows(content) for value in row]
    for found in (texts, csv_texts):
        for escaped in (
            "'" + HYPERLINK,
            "'+1 BVC",
            "'\tTandvården",
            "'@x 26RS1",
            "'@x avtal",
            "'-2 delbetalning",
            "'+1 utbetalning",
            "'=1+1",
        ):
            assert escaped in found
        assert not [t for t in found if t.startswith(("=", "+", "@", "\t", "\r"))]
    # In CSV only negative amounts start with "-": numbers, not text.
    assert all(re.fullmatch(r"-\d+,\d\d", v) for v in csv_texts if v.startswith("-"))


# --- CSV --------------------------------------------------------------------------------------
def test_csv_zip_is_what_swedish_excel_expects(world):
    rendered = exports.render_finance_csv(finance_run(world, ReportKind.FINANCE_CSV), {})
    assert (rendered.content_type, rendered.extension) == ("application/zip", "zip")
    files = unzip(rendered.content)
    assert list(files) == ["bidrag.csv", "ersattning.csv", "huvudbok.csv", "fordelningar.csv"]
    for content in files.values():
        assert content.startswith(b"\xef\xbb\xbf")
        text = content[3:].decode("utf-8")
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
        assert ";" in text.splitlines()[0]
    comp = csv_rows(files["ersattning.csv"])
    assert comp[0] == [
        "BVC",
        "Månad",
        "Besök",
        "Rörlig ersättning",
        "Ordinarie ersättning",
        "Justeringar",
        "Summa",
        "Låst",
    ]
    assert ["'" + HYPERLINK, "2026-08", "2", "5000,00", "0,00", "0,00", "5000,00", "Ja"] in comp
    assert ["'+1 BVC", "2026-08", "2", "2500,00", "1800,00", "0,00", "4300,00", "Ja"] in comp
    journal = csv_rows(files["huvudbok.csv"])
    transactions = ordered_transactions(world["grant"])
    assert len(journal) == len(transactions) + 1
    assert journal[0][7:9] == ["Rörelse", "Åtagande"]
    for row, tx in zip(journal[1:], transactions, strict=True):
        movement, commitment = ledger.transaction_parts(tx)
        for cell, amount in zip(row[7:9], (movement, commitment), strict=True):
            # decimal comma, no thousands; empty where the row has no such leg
            assert cell == ("" if amount is None else f"{amount:.2f}".replace(".", ","))
    assert journal[1][7:9] == ["100000,00", ""]
    allocation_rows = [row for row in journal[1:] if row[3] == "Fördelning"]
    assert allocation_rows and all(row[7] == "" and row[8] for row in allocation_rows)
    grants = csv_rows(files["bidrag.csv"])
    assert grants[0][:6] == [
        "Bidrag",
        "Bidragsgivare",
        "År",
        "Mottaget",
        "Används senast",
        "Mottaget belopp",
    ]
    assert len(grants) == 2 and grants[1][5] == "100000,00"
    allocations = csv_rows(files["fordelningar.csv"])
    assert [
        "'@x 26RS1",
        "Samverkanspart",
        "'\tTandvården",
        "'@x avtal",
        "7000,00",
        "3000,00",
        "4000,00",
    ] in allocations


def test_same_rows_in_xlsx_and_csv(world):
    wb = workbook(world)
    files = unzip(
        exports.render_finance_csv(finance_run(world, ReportKind.FINANCE_CSV), {}).content
    )
    for sheet, name in zip(wb.worksheets, files, strict=True):
        assert sheet.max_row == len(csv_rows(files[name]))


# --- The auditor bundle -----------------------------------------------------------------------
def test_auditor_bundle_holds_the_submitted_pdf_and_a_manifest_that_checks(world):
    submitted_report(world)
    rendered = exports.render_auditor_bundle(bundle_run(world), {})
    assert (rendered.content_type, rendered.extension) == ("application/zip", "zip")
    files = unzip(rendered.content)
    assert list(files) == [
        "aterrapportering.pdf",
        "huvudbok.csv",
        "efter-inlamning.csv",
        "ersattning.csv",
        "fordelningsbeslut.csv",
        "ansokningar.csv",
        "ansokningshandelser.csv",
        "LASMIG.txt",
        "sha256sums.txt",
    ]
    assert files["aterrapportering.pdf"] == PDF
    # sha256sum's own format: no BOM, LF only, `<hex>  <name>`, every other file once.
    manifest = files["sha256sums.txt"]
    assert not manifest.startswith(b"\xef\xbb\xbf") and b"\r" not in manifest
    listed = re.findall(r"^([0-9a-f]{64})  (\S+)$", manifest.decode("utf-8"), re.MULTILINE)
    assert len(listed) == manifest.count(b"\n")
    assert [name for _sha, name in listed] == list(files)[:-1]
    for sha, name in listed:
        assert hashlib.sha256(files[name]).hexdigest() == sha
    readme = files["LASMIG.txt"].decode("utf-8")
    figures = ledger.figures(world["grant"])
    for label, amount in (
        ("Mottaget", figures.amount),
        ("Fördelat", figures.allocated),
        ("Utbetalt", figures.paid_out),
        ("Saldo", figures.balance),
        ("Oanvänt", figures.unused),
        ("Att återbetala", figures.repayment_due),
    ):
        assert f"{label}: {amount:.2f}".replace(".", ",") in readme
    assert "@x 26RS1" in readme and "Region Testland" in readme
    assert "sha256sum -c sha256sums.txt" in readme


def test_auditor_bundle_is_deterministic_for_a_run(world):
    submitted_report(world)
    run = bundle_run(world)
    assert exports.render_auditor_bundle(run, {}).content == (
        exports.render_auditor_bundle(run, {}).content
    )


def test_auditor_bundle_ledger_and_decisions(world):
    submitted_report(world)
    files = unzip(exports.render_auditor_bundle(bundle_run(world), {}).content)
    journal = csv_rows(files["huvudbok.csv"])
    assert len(journal) - 1 == LedgerTransaction.objects.filter(grant=world["grant"]).count()
    decisions = csv_rows(files["fordelningsbeslut.csv"])
    header = decisions[0]
    by_name = {
        row[header.index("Mottagare")]: dict(zip(header, row, strict=True)) for row in decisions[1:]
    }
    vivalla = by_name["Vivalla"]
    assert vivalla["Belopp"] == "21429,00"
    assert vivalla["Fast ersättning för år"] == "2026"
    assert (vivalla["Barn-CNI"], vivalla["Listade barn 0–5 år"], vivalla["Vikt"]) == (
        "2,50",
        "300",
        "750,00",
    )
    assert by_name["Varberga"]["Vikt"] == "300,00"
    partner = by_name["'\tTandvården"]
    assert (partner["Belopp"], partner["Barn-CNI"], partner["Vikt"]) == ("7000,00", "", "")
    applications = csv_rows(files["ansokningar.csv"])
    header = applications[0]
    rows = [dict(zip(header, row, strict=True)) for row in applications[1:]]
    assert [r["BVC"] for r in rows] == ["Varberga", "Vivalla"]
    assert all(r["Status"] == "Beviljad" and r["Gäller från"] == "2026-02-01" for r in rows)
    assert all(r["Beslutad av"] and r["Beslutad"].startswith("2026-01-10") for r in rows)
    events = csv_rows(files["ansokningshandelser.csv"])
    kinds = [(row[0], row[2]) for row in events[1:]]
    assert kinds == [
        ("Varberga", "Utkast skapat"),
        ("Varberga", "Inskickad"),
        ("Varberga", "Beviljad"),
        ("Vivalla", "Utkast skapat"),
        ("Vivalla", "Inskickad"),
        ("Vivalla", "Beviljad"),
    ]


def test_auditor_bundle_without_a_submitted_report_is_a_conflict(world):
    submitted_report(world)  # another grant's submitted report does not count
    other = ledger.grant_create(
        user=world["finance"],
        organisation=world["org"],
        funder="socialstyrelsen",
        reference="26RS2",
        year=2026,
        amount=D("1000"),
        received_on=d(1, 5),
        use_by=d(12, 31),
        report_due=d(3, 1, 2027),
    )
    with pytest.raises(Conflict) as raised:  # the grant is open: no bundle yet
        exports.render_auditor_bundle(new_run(world, ReportKind.AUDITOR_BUNDLE, other), {})
    assert "inte avslutat" in raised.value.detail
    ledger.grant_close(user=world["finance"], grant=other)
    name = f"{uuid.uuid4()}.pdf"
    ReportRun.objects.create(  # done but not submitted: not enough
        kind=ReportKind.SOCIALSTYRELSEN,
        organisation=world["org"],
        year=2026,
        grant=other,
        requested_by=world["finance"],
        status=RunStatus.DONE,
        file_name=name,
        sha256=storage.save(name, PDF),
    )
    with pytest.raises(Conflict) as raised:
        exports.render_auditor_bundle(new_run(world, ReportKind.AUDITOR_BUNDLE, other), {})
    assert raised.value.detail == (
        "Bidragets rapport måste vara inskickad innan revisionsunderlaget kan skapas."
    )


def test_auditor_bundle_refuses_a_report_file_that_changed(world):
    report = submitted_report(world)
    storage.save(report.file_name, PDF + b"tampered")
    with pytest.raises(Conflict):
        exports.render_auditor_bundle(bundle_run(world), {})


# --- No identity numbers, no children ---------------------------------------------------------
def test_no_identity_number_or_child_name_in_any_output(world):
    submitted_report(world)
    xlsx = exports.render_finance_xlsx(finance_run(world), {}).content
    csvs = exports.render_finance_csv(finance_run(world, ReportKind.FINANCE_CSV), {}).content
    bundle = exports.render_auditor_bundle(bundle_run(world), {}).content
    texts = [content.decode("utf-8") for content in unzip(xlsx).values()]
    texts += [content.decode("utf-8-sig") for content in unzip(csvs).values()]
    texts += [
        content.decode("utf-8-sig")
        for name, content in unzip(bundle).items()
        if not name.endswith(".pdf")
    ]
    children = list(Child.objects.values_list("identity", "given_name", "family_name"))
    assert children  # the visits behind the statements have children
    everything = "\n".join(texts)
    assert exports.MASK in everything  # the number typed into a reason and a comment
    assert not IDENTITY.search(SHA256.sub("", everything))
    for identity, _given, family in children:
        assert identity not in everything and family not in everything


# --- Queries ----------------------------------------------------------------------------------
def count_queries(render, run):
    with CaptureQueriesContext(connection) as ctx:
        render(run, {})
    return len(ctx.captured_queries)


def test_queries_do_not_grow_with_rows(world):
    xlsx_before = count_queries(exports.render_finance_xlsx, finance_run(world))
    grant, finance, org = world["grant"], world["finance"], world["org"]
    for n in range(5):
        partner = PartnerFactory(organisation=org)
        centre = CentreFactory(organisation=org)
        with at(d(5, 1)):
            ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("100"))
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type="partner",
                recipient_id=partner.pk,
                category="partner_transfer",
                amount=D("50"),
                date=d(5, 1),
                reference=f"del {n}",
            )
            ledger.allocation_post(user=finance, grant=grant, recipient=centre, amount=D("10"))
        visit(centre, d(9, 1))
    assert count_queries(exports.render_finance_xlsx, finance_run(world)) == xlsx_before
    # The bundle is for a closed grant: after closing, repayments are what the ledger still
    # takes (each also listed as posted after the submission), and more centres' statements.
    submitted_report(world)
    bundle_before = count_queries(exports.render_auditor_bundle, bundle_run(world))
    for n in range(5):
        with at(d(11, 2 + n)):
            ledger.repayment_post(
                user=finance, grant=grant, amount=D("10"), date=d(11, 2 + n), reference=f"F{n}"
            )
        visit(CentreFactory(organisation=org), d(9, 2))
    assert count_queries(exports.render_auditor_bundle, bundle_run(world)) == bundle_before


# --- The demo region ----------------------------------------------------------------------------
def test_demo_exports_agree_with_the_ledger_and_hold_no_identity(demo):
    from funding.models import Grant

    grant = Grant.objects.select_related("organisation").order_by("-year", "reference").first()
    assert grant is not None
    requester = member(Role.FINANCE, organisation=grant.organisation)
    run = ReportRun.objects.create(
        kind=ReportKind.FINANCE_XLSX,
        organisation=grant.organisation,
        year=grant.year,
        requested_by=requester,
    )
    wb = load_workbook(io.BytesIO(exports.render_finance_xlsx(run, {}).content))
    ledger_rows = rows_of(wb["Huvudbok"])
    grants = Grant.objects.filter(organisation=grant.organisation, year=grant.year)
    assert len(ledger_rows) == LedgerTransaction.objects.filter(grant__in=grants).count()
    for each in grants:
        moved = sum(
            (
                D(str(row[7].value))
                for row in ledger_rows
                if row[1].value == exports.safe_text(each.reference)
                and row[3].value != "Fördelning"
            ),
            D(0),
        )
        assert moved == ledger.figures(each).balance
    totals = [D(str(row[6].value)) for row in rows_of(wb["Ersättning"])]
    assert totals == [s.total for s in statements(grant.organisation, grant.year)]
    csvs = exports.render_finance_csv(run, {}).content
    text = "\n".join(c.decode("utf-8-sig") for c in unzip(csvs).values())
    assert not IDENTITY.search(text)


def test_report_files_are_private_to_the_applications_user(settings, tmp_path):
    """Issue 25, item 11: written 0600 whatever the umask; a store folder it creates is 0700."""
    import os
    import stat

    settings.REPORT_STORE = tmp_path / "store"
    saved = os.umask(0o022)
    try:
        storage.save("private.pdf", PDF)
    finally:
        os.umask(saved)
    assert stat.S_IMODE((tmp_path / "store" / "private.pdf").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700
    assert storage.read("private.pdf") == PDF
