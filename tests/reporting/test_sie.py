"""The SIE 4 export of a grant's ledger (issue 22 item 7; `reporting.sie`): the file is parsed
back (code page 437, CRLF, `#VER` blocks) and checked against the ledger: one balanced voucher
per ledger transaction, totals per account equal to the grant's figures, literal amounts, the
organisation's own account mapping (and nobody else's), quoting; through the API (202, the
file, 403 for a nurse, 400 on another organisation's grant); the mapping in the admin."""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import Role
from funding import ledger
from funding.models import Account, LedgerLeg, LedgerTransaction
from reporting import sie
from reporting.models import ReportKind, ReportRun, RunStatus, SieAccount
from tests.core.factories import CentreFactory, PartnerFactory, member

# The shared fixtures live in test_runs (a conftest here belongs to the lead); using an imported
# fixture as an argument looks like a redefinition to ruff.
# ruff: noqa: F811
from tests.reporting.test_runs import (  # noqa: F401 - fixtures
    cbhv,
    centre,
    eager_celery,
    finance,
    manager,
    nurse,
    org,
    other_org,
)

pytestmark = pytest.mark.django_db

D = Decimal
STOCKHOLM = ZoneInfo("Europe/Stockholm")
URL = "/api/v1/reports/"
TOLVAN = "19121212-1212"  # Skatteverket's well-known test personnummer (valid check digit)


def at(day: datetime.date) -> time_machine.travel:
    return time_machine.travel(
        datetime.datetime(day.year, day.month, day.day, 12, 0, tzinfo=STOCKHOLM), tick=False
    )


# --- A small SIE reader -------------------------------------------------------------------------
FIELD = re.compile(r'"((?:[^"\\]|\\.)*)"|(\{[^}]*\})|(\S+)')


def fields(line: str) -> list[str]:
    """A record's fields: quoted strings unescaped, `{...}` object lists and bare tokens."""
    out = []
    for quoted, objects, bare in FIELD.findall(line):
        if objects:
            out.append(objects)
        elif bare:
            out.append(bare)
        else:
            out.append(re.sub(r"\\(.)", r"\1", quoted))
    return out


@dataclass
class Voucher:
    series: str
    number: int
    date: str
    text: str
    registered: str
    sign: str
    rows: list[tuple[str, Decimal]] = field(default_factory=list)


@dataclass
class SieFile:
    text: str
    records: list[list[str]]
    accounts: dict[str, str]
    vouchers: list[Voucher]

    def first(self, label: str) -> list[str]:
        return next(r[1:] for r in self.records if r[0] == label)

    def totals(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for voucher in self.vouchers:
            for number, amount in voucher.rows:
                totals[number] += amount
        return dict(totals)


def parse(content: bytes) -> SieFile:
    text = content.decode("cp437")
    assert text.endswith("\r\n")
    assert text.count("\n") == text.count("\r\n")  # CRLF only, no bare LF or CR
    assert text.count("\r") == text.count("\r\n")
    lines = text.split("\r\n")[:-1]
    records: list[list[str]] = []
    accounts: dict[str, str] = {}
    vouchers: list[Voucher] = []
    current: Voucher | None = None
    in_block = False
    for line in lines:
        stripped = line.strip()
        if stripped == "{":
            assert current is not None and not in_block
            in_block = True
            continue
        if stripped == "}":
            assert in_block
            in_block = False
            current = None
            continue
        record = fields(stripped)
        records.append(record)
        label = record[0]
        if label == "#KONTO":
            assert record[1] not in accounts
            accounts[record[1]] = record[2]
        elif label == "#VER":
            assert not in_block
            series, number, date, text_, registered, sign = record[1:]
            current = Voucher(series, int(number), date, text_, registered, sign)
            vouchers.append(current)
        elif label == "#TRANS":
            assert in_block and current is not None
            number, objects, amount = record[1:]
            assert objects == "{}"
            assert re.fullmatch(r"-?\d+\.\d\d", amount), amount
            current.rows.append((number, Decimal(amount)))
        else:
            assert not in_block, line
    assert not in_block
    return SieFile(text, records, accounts, vouchers)


# --- A grant's ledger, built through the ledger services ----------------------------------------
@pytest.fixture
def books(org, finance, centre):
    """The 23RS9581 grant of 1 349 000 kr (2023): allocations (one reversed), three payouts (one
    reversed), closed, a carry-over to 2024 and the rest repaid."""
    varberga = centre
    partner = PartnerFactory(organisation=org, name="Folktandvården Örebro")
    with at(datetime.date(2023, 3, 1)):
        grant = ledger.grant_create(
            user=finance,
            organisation=org,
            funder="socialstyrelsen",
            reference="23RS9581",
            year=2023,
            amount=D("1349000.00"),
            received_on=datetime.date(2023, 3, 1),
            use_by=datetime.date(2023, 12, 31),
            report_due=datetime.date(2024, 3, 1),
        )
    with at(datetime.date(2023, 3, 6)):
        ledger.allocation_post(
            user=finance,
            grant=grant,
            recipient=varberga,
            amount=D("600000"),
            purpose="Fast ersättning 2023",
        )
    with at(datetime.date(2023, 3, 7)):
        to_partner = ledger.allocation_post(
            user=finance, grant=grant, recipient=partner, amount=D("100000"), purpose="Avtal"
        )
    with at(datetime.date(2023, 4, 3)):
        ledger.payout_post(
            user=finance,
            grant=grant,
            recipient_type="centre",
            recipient_id=varberga.pk,
            category="programme_variable",
            amount=D("2500"),
            date=datetime.date(2023, 4, 3),
            reference="Besök mars",
        )
    with at(datetime.date(2023, 5, 2)):
        ledger.payout_post(
            user=finance,
            grant=grant,
            recipient_type="centre",
            recipient_id=varberga.pk,
            category="fixed",
            amount=D("50000"),
            date=datetime.date(2023, 5, 2),
            reference="Fast ersättning, första delen",
        )
    with at(datetime.date(2023, 6, 1)):
        coordination = ledger.payout_post(
            user=finance,
            grant=grant,
            recipient_type="organisation",
            recipient_id=org.pk,
            category="coordination",
            amount=D("1234.56"),
            date=datetime.date(2023, 6, 1),
            reference=f'Samordning "juni"\nrad två, {TOLVAN}',
        )
    with at(datetime.date(2023, 6, 5)):
        ledger.reversal_post(user=finance, grant=grant, original=coordination, reason="Fel belopp")
    with at(datetime.date(2023, 9, 1)):
        ledger.reversal_post(user=finance, grant=grant, original=to_partner, reason="Avtalet föll")
    with at(datetime.date(2024, 1, 10)):
        ledger.grant_close(user=finance, grant=grant)
    with at(datetime.date(2024, 2, 1)):
        ledger.carry_over_post(
            user=finance,
            grant=grant,
            amount=D("10000"),
            to_year=2024,
            decision_reference="S2024/123",
        )
    with at(datetime.date(2024, 2, 15)):
        ledger.repayment_post(
            user=finance,
            grant=grant,
            amount=D("1286500.00"),
            date=datetime.date(2024, 2, 15),
            reference="Faktura 2024-117",
        )
    grant.refresh_from_db()
    return grant


def export(grant) -> SieFile:
    return parse(sie.grant_sie(grant, generated=datetime.date(2024, 3, 1)))


# --- The file ------------------------------------------------------------------------------------
def test_the_file_is_sie_4_in_code_page_437_with_crlf(books):
    content = sie.grant_sie(books, generated=datetime.date(2024, 3, 1))
    parsed = parse(content)
    head = parsed.text.split("\r\n")[:7]
    assert head == [
        "#FLAGGA 0",
        f'#PROGRAM "Hembesök" {sie.program_version()}',
        "#FORMAT PC8",
        "#GEN 20240301",
        "#SIETYP 4",
        '#FNAMN "Region Örebro län"',
        "#RAR 0 20230101 20231231",
    ]
    # å, ä and ö are code page 437's own bytes (0x86, 0x84, 0x94; Ö 0x99), not UTF-8.
    assert "Örebro län".encode("cp437") in content
    assert "Återbetalning".encode("cp437") in content
    assert b"\x94" in content and b"\x84" in content and b"\x86" in content
    assert "ö".encode() not in content
    assert any("Folktandvården Örebro" in v.text for v in parsed.vouchers)


def test_one_balanced_voucher_per_ledger_transaction(books):
    parsed = export(books)
    transactions = LedgerTransaction.objects.filter(grant=books)
    assert len(parsed.vouchers) == transactions.count() == 10
    assert [v.number for v in parsed.vouchers] == list(range(1, 11))
    assert {v.series for v in parsed.vouchers} == {"A"}
    assert [v.date for v in parsed.vouchers] == sorted(v.date for v in parsed.vouchers)
    legs = LedgerLeg.objects.filter(transaction__grant=books).count()
    assert sum(len(v.rows) for v in parsed.vouchers) == legs
    for voucher in parsed.vouchers:
        assert len(voucher.rows) >= 2
        assert sum(amount for _n, amount in voucher.rows) == 0, voucher
    # Each voucher is dated as its transaction (a movement after the year keeps its own date).
    assert sorted(v.date for v in parsed.vouchers) == sorted(
        f"{d:%Y%m%d}" for d in transactions.values_list("date", flat=True)
    )
    assert parsed.vouchers[-1].date == "20240215"
    assert parsed.vouchers[0].registered == "20230301"
    assert parsed.vouchers[0].sign == books.created_by.username


def test_the_totals_per_account_are_the_grants_figures(books):
    parsed = export(books)
    totals = parsed.totals()
    chart = sie.DEFAULT_CHART
    figures = ledger.figures(books)
    assert -totals[chart[Account.FUNDER].number] == figures.amount == D("1349000.00")
    assert totals[chart[Account.PAID].number] == figures.paid_out == D("52500.00")
    assert totals[chart[Account.CARRIED_OVER].number] == figures.carried_over == D("10000.00")
    assert totals[chart[Account.REPAID].number] == figures.repaid == D("1286500.00")
    assert totals[chart[Account.BALANCE].number] == figures.balance == D("0.00")
    assert totals[chart[Account.ALLOCATED].number] == figures.allocated == D("600000.00")
    assert totals[chart[Account.UNALLOCATED].number] == -figures.allocated
    assert sum(totals.values()) == 0
    # The same, leg by leg from the ledger itself.
    by_account: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount in LedgerLeg.objects.filter(transaction__grant=books).values_list(
        "account", "amount"
    ):
        by_account[chart[account].number] += amount
    assert totals == dict(by_account)


def test_literal_amounts_and_texts(books):
    parsed = export(books)
    lines = parsed.text.split("\r\n")
    receipt, _centre, _partner, payout = parsed.vouchers[:4]
    assert (receipt.date, receipt.text) == ("20230301", "Inbetalning: 23RS9581")
    assert receipt.rows == [("2990", D("-1349000.00")), ("1930", D("1349000.00"))]
    assert "   #TRANS 2990 {} -1349000.00" in lines
    assert (payout.date, payout.text) == ("20230403", "Utbetalning, Varberga: Besök mars")
    assert payout.rows == [("1930", D("-2500.00")), ("4600", D("2500.00"))]
    assert '#VER A 4 20230403 "Utbetalning, Varberga: Besök mars" 20230403' in parsed.text
    assert "   #TRANS 1930 {} -2500.00" in lines
    assert "   #TRANS 4600 {} 2500.00" in lines
    allocation = parsed.vouchers[1]
    assert allocation.text == "Fördelning, Varberga: Fast ersättning 2023"
    assert allocation.rows == [("9910", D("-600000.00")), ("9920", D("600000.00"))]
    repayment = parsed.vouchers[-1]
    assert repayment.text == "Återbetalning: Faktura 2024-117"
    assert repayment.rows == [("1930", D("-1286500.00")), ("2992", D("1286500.00"))]


def test_a_reversal_names_the_voucher_it_reverses(books):
    parsed = export(books)
    by_number = {v.number: v for v in parsed.vouchers}
    coordination = next(v for v in parsed.vouchers if v.rows[0] == ("1930", D("-1234.56")))
    reversal = next(v for v in parsed.vouchers if v.text.startswith("Rättelse av A 6"))
    assert coordination.number == 6
    assert reversal.text == "Rättelse av A 6, Region Örebro län: Fel belopp"
    assert reversal.rows == [(n, -a) for n, a in by_number[6].rows]
    assert by_number[8].text == "Rättelse av A 3, Folktandvården Örebro: Avtalet föll"


def test_text_is_quoted_on_one_line_without_identity_numbers(books):
    parsed = export(books)
    coordination = parsed.vouchers[5]
    # The quote survives (escaped in the file), the line break is a space, the number masked.
    assert coordination.text == (
        'Utbetalning, Region Örebro län: Samordning "juni" rad två, [personnummer borttaget]'
    )
    assert '\\"juni\\"' in parsed.text
    assert TOLVAN not in parsed.text and "191212121212" not in parsed.text


def test_each_used_account_is_listed_once_with_its_name(books):
    parsed = export(books)
    assert parsed.accounts == {
        account.number: account.name for account in sie.DEFAULT_CHART.values()
    }
    assert list(parsed.accounts) == sorted(parsed.accounts)
    konto_lines = [line for line in parsed.text.split("\r\n") if line.startswith("#KONTO")]
    assert konto_lines[0] == '#KONTO 1930 "Bank, bidragsmedel"'
    # Only accounts that are used: a grant with its receipt only has two.
    with at(datetime.date(2023, 3, 1)):
        lone = ledger.grant_create(
            user=books.created_by,
            organisation=books.organisation,
            funder="region",
            reference="R2023",
            year=2023,
            amount=D("100"),
            received_on=datetime.date(2023, 3, 1),
            use_by=datetime.date(2023, 12, 31),
            report_due=datetime.date(2024, 3, 1),
        )
    assert set(export(lone).accounts) == {"1930", "2990"}


def test_the_organisations_mapping_changes_the_accounts_and_another_ones_does_not(books, other_org):
    SieAccount.objects.create(
        organisation=books.organisation,
        ledger_account=Account.PAID,
        number="45100",
        name="Köpta tjänster, hembesök",
    )
    SieAccount.objects.create(
        organisation=books.organisation,
        ledger_account=Account.BALANCE,
        number="1920",
        name="Plusgiro",
    )
    SieAccount.objects.create(
        organisation=other_org, ledger_account=Account.FUNDER, number="2970", name="Annans"
    )
    parsed = export(books)
    assert parsed.accounts["45100"] == "Köpta tjänster, hembesök"
    assert parsed.accounts["1920"] == "Plusgiro"
    assert "4600" not in parsed.accounts and "1930" not in parsed.accounts
    assert "2990" in parsed.accounts and "2970" not in parsed.accounts
    assert "   #TRANS 1920 {} -2500.00" in parsed.text.split("\r\n")
    totals = parsed.totals()
    assert totals["45100"] == ledger.figures(books).paid_out
    assert all(sum(a for _n, a in v.rows) == 0 for v in parsed.vouchers)


def test_a_number_that_several_ledger_accounts_share_is_listed_once(books):
    for account in (Account.ALLOCATED, Account.UNALLOCATED):
        SieAccount.objects.create(
            organisation=books.organisation, ledger_account=account, number="9900", name="Memo"
        )
    parsed = export(books)
    assert parsed.accounts["9900"] == "Memo"
    assert parsed.totals()["9900"] == 0
    assert "9910" not in parsed.accounts and "9920" not in parsed.accounts


def test_a_constant_number_of_queries(org, finance):
    centre = CentreFactory(organisation=org)
    partner = PartnerFactory(organisation=org)
    with at(datetime.date(2023, 3, 1)):
        grant = ledger.grant_create(
            user=finance,
            organisation=org,
            funder="region",
            reference="R1",
            year=2023,
            amount=D("100000"),
            received_on=datetime.date(2023, 3, 1),
            use_by=datetime.date(2023, 12, 31),
            report_due=datetime.date(2024, 3, 1),
        )
        for recipient in (centre, partner):
            ledger.allocation_post(user=finance, grant=grant, recipient=recipient, amount=D("10"))

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            sie.grant_sie(grant)
        return len(queries)

    few = count()
    with at(datetime.date(2023, 4, 1)):
        for _ in range(5):
            ledger.allocation_post(user=finance, grant=grant, recipient=partner, amount=D("10"))
            ledger.payout_post(
                user=finance,
                grant=grant,
                recipient_type="centre",
                recipient_id=centre.pk,
                category="programme_variable",
                amount=D("2500"),
                date=datetime.date(2023, 4, 1),
            )
    assert LedgerTransaction.objects.filter(grant=grant).count() == 13
    assert count() == few <= 6


# --- Fields --------------------------------------------------------------------------------------
def test_strings_are_quoted_and_escaped():
    assert sie.quoted('Sagt "hej" i C:\\mapp') == '"Sagt \\"hej\\" i C:\\\\mapp"'
    assert sie.quoted("rad ett\r\nrad\ttvå\x00\x1b[31m") == '"rad ett rad två[31m"'
    assert sie.quoted("Nord–Syd “BVC” š €") == '"Nord-Syd \\"BVC\\" s EUR"'
    assert sie.quoted("Ärende 19121212-1212") == '"Ärende [personnummer borttaget]"'
    assert sie.quoted("\u200bdolt\u202e") == '"dolt"'
    tricky = 'a "b" \\ c'
    assert fields("#VER A 1 20230101 " + sie.quoted(tricky)) == [
        "#VER",
        "A",
        "1",
        "20230101",
        tricky,
    ]
    for char in "åäöÅÄÖé":
        assert sie.clean_text(char) == char
    assert sie.token("0.1.0") == "0.1.0" and sie.token("1 2") == '"1 2"'


def test_amounts_have_a_point_and_two_decimals():
    assert sie.amount_field(D("-2500.00")) == "-2500.00"
    assert sie.amount_field(D("1349000")) == "1349000.00"
    assert sie.amount_field(D("0.5")) == "0.50"


# --- The mapping model ---------------------------------------------------------------------------
def test_an_account_number_is_four_to_six_digits(org):
    for bad in ["193", "1930000", "19A0", " 1930", ""]:
        account = SieAccount(
            organisation=org, ledger_account=Account.PAID, number=bad, name="Kostnad"
        )
        with pytest.raises(ValidationError) as error:
            account.full_clean()
        assert "number" in error.value.message_dict, bad
        with pytest.raises(DatabaseError), transaction.atomic():  # CHECK, or too long
            account.save()
    SieAccount(organisation=org, ledger_account=Account.PAID, number="4600", name="K").full_clean()


def test_one_mapping_per_ledger_account_and_organisation(org, other_org):
    SieAccount.objects.create(
        organisation=org, ledger_account=Account.PAID, number="4600", name="K"
    )
    SieAccount.objects.create(
        organisation=other_org, ledger_account=Account.PAID, number="4600", name="K"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        SieAccount.objects.create(
            organisation=org, ledger_account=Account.PAID, number="4610", name="K2"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        SieAccount.objects.create(organisation=org, ledger_account="cash", number="1910", name="K")


# --- The admin -----------------------------------------------------------------------------------
@pytest.fixture
def org_admin(client, org):
    user = member(Role.ADMIN, organisation=org)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    return client


def test_the_admin_edits_her_organisations_mapping_only(org_admin, org, other_org):
    theirs = SieAccount.objects.create(
        organisation=other_org, ledger_account=Account.PAID, number="4999", name="Deras"
    )
    response = org_admin.post(
        reverse("admin:reporting_sieaccount_add"),
        {"organisation": org.pk, "ledger_account": "paid", "number": "45100", "name": "Hembesök"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    mine = SieAccount.objects.get(organisation=org)
    assert (mine.number, mine.name) == ("45100", "Hembesök")
    assert mine.updated_by is not None
    listing = org_admin.get(reverse("admin:reporting_sieaccount_changelist")).content.decode()
    assert "45100" in listing and "4999" not in listing
    assert "4600 Utbetalt ur bidrag" in listing  # the default it replaces
    url = reverse("admin:reporting_sieaccount_change", args=[theirs.pk])
    assert org_admin.get(url).status_code == 404
    # Another organisation is not a choice; a bad number is refused with a message.
    response = org_admin.post(
        reverse("admin:reporting_sieaccount_add"),
        {"organisation": other_org.pk, "ledger_account": "balance", "number": "1920", "name": "X"},
    )
    assert response.status_code == 200
    response = org_admin.post(
        reverse("admin:reporting_sieaccount_add"),
        {"organisation": org.pk, "ledger_account": "balance", "number": "19-20", "name": "X"},
    )
    assert response.status_code == 200
    assert not SieAccount.objects.filter(ledger_account="balance").exists()


def test_other_roles_do_not_reach_the_mapping(client, finance):
    finance.is_staff = True
    finance.save(update_fields=["is_staff"])
    client.force_login(finance)
    response = client.get(reverse("admin:reporting_sieaccount_changelist"))
    assert response.status_code == 403


# --- Through the API -----------------------------------------------------------------------------
@pytest.fixture
def report_store(settings, tmp_path):
    settings.REPORT_STORE = tmp_path / "reports"


def request_sie(client, grant, django_capture_on_commit_callbacks, **extra):
    body = {"kind": "sie", "year": grant.year, "grant": str(grant.pk), **extra}
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(URL, body, format="json")


def test_finance_requests_the_sie_file_through_the_api(
    api_client_for, finance, books, report_store, eager_celery, django_capture_on_commit_callbacks
):
    client = api_client_for(finance)
    response = request_sie(client, books, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.json()
    run_id = response.json()["id"]
    detail = client.get(f"{URL}{run_id}/").json()
    assert (detail["kind"], detail["year"], detail["status"]) == ("sie", 2023, "done")
    assert detail["content_type"] == "application/octet-stream"
    run = ReportRun.objects.get(pk=run_id)
    assert run.file_name == f"{run_id}.si"  # stored under the run's id only
    assert run.grant_id == books.pk and run.status == RunStatus.DONE

    download = client.get(detail["file"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Cache-Control"] == "no-store"
    assert download["X-Content-Type-Options"] == "nosniff"
    disposition = download["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="sie-2023-23rs9581.si"' in disposition  # kind, year, reference: no person
    parsed = parse(content)
    assert parsed.first("#SIETYP") == ["4"] and parsed.first("#FORMAT") == ["PC8"]
    assert len(parsed.vouchers) == LedgerTransaction.objects.filter(grant=books).count()
    assert parsed.first("#GEN") == [f"{run.created_at.astimezone(STOCKHOLM):%Y%m%d}"]


def test_cbhv_may_request_it_too_and_it_is_never_submitted(
    api_client_for, cbhv, books, report_store, eager_celery, django_capture_on_commit_callbacks
):
    client = api_client_for(cbhv)
    response = request_sie(client, books, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    assert client.get(f"{URL}{response.json()['id']}/").json()["status"] == "done"
    assert ReportKind.SIE.label == "Bokföringsexport (SIE 4)"
    submit = client.post(f"{URL}{response.json()['id']}/submit/")
    assert submit.status_code in (403, 409)  # not a report that is submitted, by anyone
    assert ReportRun.objects.get(pk=response.json()["id"]).submitted_at is None


def test_who_may_request_it_and_for_which_grant(
    api_client_for,
    org,
    other_org,
    finance,
    nurse,
    manager,
    books,
    report_store,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    for user in (nurse, manager):
        response = request_sie(api_client_for(user), books, django_capture_on_commit_callbacks)
        assert response.status_code == 403, user
    client = api_client_for(finance)
    other_finance = member(Role.FINANCE, organisation=other_org)
    with at(datetime.date(2023, 3, 1)):
        theirs = ledger.grant_create(
            user=other_finance,
            organisation=other_org,
            funder="socialstyrelsen",
            reference="23RS0001",
            year=2023,
            amount=D("1000"),
            received_on=datetime.date(2023, 3, 1),
            use_by=datetime.date(2023, 12, 31),
            report_due=datetime.date(2024, 3, 1),
        )
    response = request_sie(client, theirs, django_capture_on_commit_callbacks)
    assert response.status_code == 400 and set(response.json()) == {"grant"}
    response = client.post(URL, {"kind": "sie", "year": 2023}, format="json")
    assert response.status_code == 400 and set(response.json()) == {"grant"}
    response = request_sie(client, books, django_capture_on_commit_callbacks, year=2024)
    assert response.status_code == 400 and set(response.json()) == {"year"}
    assert not ReportRun.objects.exists()


def test_the_report_page_offers_it_to_finance(client, finance):
    client.force_login(finance)
    html = client.get(reverse("reporting:list")).content.decode()
    assert '<option value="sie">Bokföringsexport (SIE 4)</option>' in html
