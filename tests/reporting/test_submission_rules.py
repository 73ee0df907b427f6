"""Submission rules and the auditor bundle (issue 22, items 1 and 6; API.md "Money at the edges":
"Reports are submitted when their period is over").

Only the role that writes a report's texts submits it (CBHV: Socialstyrelsen and SKL; the
centre's manager: Hälsoval), 403 for others; every section written (400 naming the empty ones);
the period over (409): a closed grant, or the account's year ended. Before that a run can be
made and downloaded, and its PDF says "Preliminär" on every page. The auditor bundle is for a
closed grant only; its manifest verifies with the real `sha256sum -c`; it holds the year's
monthly statements and lists the ledger rows posted after the report was submitted."""

from __future__ import annotations

import datetime
import io
import shutil
import subprocess
import zipfile
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from pypdf import PdfReader

from core.exceptions import Conflict
from funding import ledger
from reporting import exports, pdf, services, subjects
from reporting.models import ReportKind, ReportRun, RunStatus

# The shared fixtures live in test_runs and test_exports; using an imported fixture as an
# argument looks like a redefinition to ruff.
# ruff: noqa: F811
from tests.funding.test_compensation import at, d
from tests.reporting.test_exports import (  # noqa: F401 - fixtures and helpers
    bundle_run,
    csv_rows,
    submitted_report,
    unzip,
    world,
)
from tests.reporting.test_pdf import text_of
from tests.reporting.test_runs import (  # noqa: F401 - fixtures and helpers
    cbhv,
    centre,
    close,
    eager_celery,
    fake_renderer,
    finance,
    fixed_compensation,
    grant,
    make_grant,
    manager,
    no_enqueue,
    org,
    request_and_run,
    write_sections,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/reports/"
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def on(day: datetime.date) -> time_machine.travel:
    noon = datetime.datetime(day.year, day.month, day.day, 12, tzinfo=STOCKHOLM)
    return time_machine.travel(noon, tick=False)


@pytest.fixture
def worker(fake_renderer, eager_celery, django_capture_on_commit_callbacks):
    """Requests a report through the API and runs its task as the eager set-up does."""

    class Worker:
        def request(self, client, body):
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(URL, body, format="json")
            assert response.status_code == 202, response.json()
            return response.json()["id"]

    return Worker()


def submit(client, run_id):
    return client.post(f"{URL}{run_id}/submit/")


# --- Who submits (403) ----------------------------------------------------------------------------
def test_finance_submitting_a_socialstyrelsen_report_is_forbidden(
    api_client_for, org, finance, cbhv, grant, worker
):
    close(grant, finance)
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    run_id = worker.request(
        api_client_for(finance), {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk}
    )
    response = submit(api_client_for(finance), run_id)
    assert response.status_code == 403
    assert ReportRun.objects.get(pk=run_id).submitted_at is None
    assert submit(api_client_for(cbhv), run_id).status_code == 200


def test_cbhv_submitting_a_halsoval_account_is_forbidden(
    api_client_for, org, cbhv, manager, centre, worker
):
    fixed_compensation(centre, 2025, by=cbhv)
    write_sections(manager, "halsoval", org, 2025, centre=centre)
    run_id = worker.request(
        api_client_for(manager), {"kind": "halsoval", "year": 2025, "centre": centre.pk}
    )
    response = submit(api_client_for(cbhv), run_id)
    assert response.status_code == 403
    assert ReportRun.objects.get(pk=run_id).submitted_at is None


def test_the_checks_run_in_the_apis_order(org, finance, cbhv, grant, fake_renderer, no_enqueue):
    """403 (role) before 400 (empty sections) before 409 (the grant is open)."""
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    with pytest.raises(PermissionDenied):
        services.report_submit(user=finance, run=run)
    with pytest.raises(ValidationError):
        services.report_submit(user=cbhv, run=run)
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    with pytest.raises(Conflict):
        services.report_submit(user=cbhv, run=run)


# --- The period (409) -----------------------------------------------------------------------------
def test_a_report_for_an_open_grant_is_not_submitted(
    api_client_for, org, finance, cbhv, grant, worker
):
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    client = api_client_for(cbhv)
    run_id = worker.request(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk})
    response = submit(client, run_id)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "23RS9581 är inte avslutat" in detail and "2023-12-31" in detail
    assert ReportRun.objects.get(pk=run_id).submitted_at is None
    # Once finance closes the grant, the report made while it was open still says
    # "Preliminär": that file is refused, a new one is submitted.
    close(grant, finance)
    response = submit(client, run_id)
    assert response.status_code == 409 and "Preliminär" in response.json()["detail"]
    new_id = worker.request(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk})
    assert new_id != run_id
    assert submit(client, new_id).status_code == 200


def test_a_current_year_account_waits_for_the_year_to_end(
    api_client_for, org, cbhv, manager, centre, worker
):
    client = api_client_for(manager)
    with on(datetime.date(2025, 11, 14)):
        fixed_compensation(centre, 2025, by=cbhv)
        write_sections(manager, "halsoval", org, 2025, centre=centre)
        early = worker.request(client, {"kind": "halsoval", "year": 2025, "centre": centre.pk})
        response = submit(client, early)
        assert response.status_code == 409
        assert response.json()["detail"] == (
            "Året 2025 är inte slut. Rapporten kan lämnas in från 2026-01-01."
        )
    with on(datetime.date(2026, 1, 8)):
        # The run made in 2025 is the preliminary one; a new run is the account.
        assert submit(client, early).status_code == 409
        final = worker.request(client, {"kind": "halsoval", "year": 2025, "centre": centre.pk})
        response = submit(client, final)
        assert response.status_code == 200 and response.json()["submitted_at"]


def test_skl_waits_for_its_year(org, finance):
    skl = make_grant(org, finance, reference="SKL-2026", funder="skl", year=2026)
    subject = subjects.Subject(ReportKind.SKL, org, 2026, grant=skl)
    with on(datetime.date(2026, 12, 31)):
        assert subjects.preliminary_reason(subject) == (
            "Året 2026 är inte slut. Rapporten kan lämnas in från 2027-01-01."
        )
    with on(datetime.date(2027, 1, 1)):
        assert not subjects.is_preliminary(subject)


# --- The texts (400) ------------------------------------------------------------------------------
def test_an_empty_section_is_refused_naming_it(api_client_for, org, finance, cbhv, grant, worker):
    close(grant, finance)
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    services.narrative_save(
        user=cbhv,
        subject=subjects.Subject("socialstyrelsen", org, 2023, grant=grant),
        texts={"comments": "   "},
    )
    client = api_client_for(cbhv)
    run_id = worker.request(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk})
    response = submit(client, run_id)
    assert response.status_code == 400
    assert response.json() == {"narratives": ["Saknar text: Övriga kommentarer"]}


def test_every_unwritten_section_is_named(api_client_for, org, finance, cbhv, grant, worker):
    close(grant, finance)
    services.narrative_save(
        user=cbhv,
        subject=subjects.Subject("socialstyrelsen", org, 2023, grant=grant),
        texts={"use": "Fyra områden."},
    )
    client = api_client_for(cbhv)
    run_id = worker.request(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk})
    assert submit(client, run_id).json() == {
        "narratives": [
            "Saknar text: Samverkan med kommuner (socialtjänst)",
            "Saknar text: Samverkan med förskola, tandvård och mödrahälsovård",
            "Saknar text: Övriga kommentarer",
        ]
    }


def test_a_report_made_before_its_texts_changed_is_not_submitted(
    org, finance, cbhv, grant, fake_renderer, no_enqueue
):
    close(grant, finance)
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    services.narrative_save(
        user=cbhv,
        subject=subjects.Subject("socialstyrelsen", org, 2023, grant=grant),
        texts={"use": "Ändrad efter att rapporten skapades."},
    )
    with pytest.raises(Conflict, match="Texterna har ändrats"):
        services.report_submit(user=cbhv, run=run)
    newer = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    assert services.report_submit(user=cbhv, run=newer)[1]


# --- Pages ----------------------------------------------------------------------------------------
def test_the_page_offers_submit_to_the_writer_only_and_says_what_is_missing(
    client, org, finance, cbhv, manager, centre, grant, fake_renderer, no_enqueue
):
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    url = reverse("reporting:run", args=[run.pk])
    submit_url = reverse("reporting:submit", args=[run.pk])
    client.force_login(cbhv)
    page = client.get(url).content.decode()
    assert "Preliminär." in page and "23RS9581 är inte avslutat" in page
    assert submit_url not in page
    close(grant, finance)
    page = client.get(url).content.decode()
    assert "Saknar text:" in page and "Övriga kommentarer" in page and submit_url not in page
    response = client.post(submit_url, follow=True)
    assert "Saknar text: Hur bidraget har använts" in response.content.decode()
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    final = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    final_url = reverse("reporting:run", args=[final.pk])
    page = client.get(final_url).content.decode()
    assert reverse("reporting:submit", args=[final.pk]) in page and "Preliminär" not in page
    client.force_login(finance)
    page = client.get(final_url).content.decode()
    assert reverse("reporting:submit", args=[final.pk]) not in page
    assert client.post(reverse("reporting:submit", args=[final.pk])).status_code == 403
    # The centre's account: its manager submits it, CBHV does not.
    fixed_compensation(centre, 2025, by=cbhv)
    write_sections(manager, "halsoval", org, 2025, centre=centre)
    account = request_and_run(manager, "halsoval", 2025, centre=centre.pk)
    account_submit = reverse("reporting:submit", args=[account.pk])
    client.force_login(cbhv)
    assert (
        account_submit
        not in client.get(reverse("reporting:run", args=[account.pk])).content.decode()
    )
    client.force_login(manager)
    assert (
        account_submit in client.get(reverse("reporting:run", args=[account.pk])).content.decode()
    )


# --- "Preliminär" on every page -------------------------------------------------------------------
LONG = "\n\n".join(
    f"Stycke {n}: hembesöken fortsätter i området med socialtjänsten." for n in range(60)
)


def pages_of(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def test_the_pdf_of_an_open_grants_report_says_preliminary_on_every_page(org, finance, cbhv, grant):
    run = ReportRun(
        kind=ReportKind.SOCIALSTYRELSEN,
        organisation=org,
        year=2023,
        grant=grant,
        requested_by=cbhv,
    )
    narratives = {"use": LONG, "comments": LONG}
    pages = pages_of(pdf.render_socialstyrelsen(run, narratives).content)
    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        assert "Preliminär" in text, number
    assert "23RS9581 är inte avslutat" in pages[0]
    close(grant, finance)
    run.grant = grant
    final = pages_of(pdf.render_socialstyrelsen(run, narratives).content)
    assert len(final) >= 3 and not any("Preliminär" in text for text in final)


def test_the_account_of_a_year_not_over_says_preliminary(org, cbhv, manager, centre):
    run = ReportRun(
        kind=ReportKind.HALSOVAL, organisation=org, year=2026, centre=centre, requested_by=manager
    )
    with on(datetime.date(2026, 6, 15)):
        text, pages = text_of(pdf.render_halsoval(run, {"development": LONG}).content)
        assert pages >= 2 and text.count("Preliminär") >= pages
    with on(datetime.date(2027, 1, 4)):
        text, _pages = text_of(pdf.render_halsoval(run, {"development": LONG}).content)
        assert "Preliminär" not in text


# --- The auditor bundle ---------------------------------------------------------------------------
def test_the_auditor_bundle_for_an_open_grant_is_refused(
    api_client_for, org, finance, grant, no_enqueue
):
    # Even with a report that was submitted while the grant was open (before this rule).
    ReportRun.objects.create(
        kind=ReportKind.SOCIALSTYRELSEN,
        organisation=org,
        year=2023,
        grant=grant,
        requested_by=finance,
        status=RunStatus.DONE,
        file_name="legacy.pdf",
        sha256="0" * 64,
        submitted_at=grant.created_at,
        submitted_by=finance,
    )
    response = api_client_for(finance).post(
        URL, {"kind": "auditor_bundle", "year": 2023, "grant": str(grant.pk)}, format="json"
    )
    assert response.status_code == 409
    assert "avslutat bidrag" in response.json()["detail"]
    assert not ReportRun.objects.filter(kind=ReportKind.AUDITOR_BUNDLE).exists()


def bundle_after_a_late_repayment(world):
    with at(d(12, 1)):
        report = submitted_report(world)  # closes the grant, then submits its report
    with at(d(12, 2)):
        late = ledger.repayment_post(
            user=world["finance"],
            grant=world["grant"],
            amount=Decimal("500"),
            date=d(12, 2),
            reference="Socialstyrelsens faktura 2026-0001",
        )
    return report, late, exports.render_auditor_bundle(bundle_run(world), {}).content


def test_the_bundles_manifest_verifies_with_sha256sum(world, tmp_path):
    sha256sum = shutil.which("sha256sum")
    assert sha256sum, "coreutils' sha256sum is needed for this test"
    _report, _late, content = bundle_after_a_late_repayment(world)
    folder = tmp_path / "underlag"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(folder)
    checked = subprocess.run(
        [sha256sum, "--strict", "-c", exports.MANIFEST_NAME],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = sorted(p.name for p in folder.iterdir() if p.name != exports.MANIFEST_NAME)
    assert sorted(line.split(": ")[0] for line in checked.stdout.splitlines()) == names
    assert all(line.endswith(": OK") for line in checked.stdout.splitlines())
    # A changed file fails the check.
    (folder / "huvudbok.csv").write_bytes(b"changed")
    tampered = subprocess.run(
        [sha256sum, "-c", exports.MANIFEST_NAME], cwd=folder, capture_output=True, check=False
    )
    assert tampered.returncode != 0


def test_the_bundle_holds_the_years_monthly_statements(world):
    _report, _late, content = bundle_after_a_late_repayment(world)
    rows = csv_rows(unzip(content)["ersattning.csv"])
    assert rows[0] == [
        "BVC",
        "Månad",
        "Besök",
        "Rörlig ersättning",
        "Ordinarie ersättning",
        "Justeringar",
        "Summa",
        "Låst",
    ]
    # World's August visits: two with social services at the evil-named centre (2 × 2 500 kr),
    # one with and one without at "+1 BVC" (2 500 + 1 800 kr); August was paid (locked).
    assert ["'+1 BVC", "2026-08", "2", "2500,00", "1800,00", "0,00", "4300,00", "Ja"] in rows
    evil = next(
        row for row in rows[1:] if row[0].endswith('HYPERLINK("http://evil.example","klicka")')
    )
    assert evil[1:] == ["2026-08", "2", "5000,00", "0,00", "0,00", "5000,00", "Ja"]


def test_the_bundle_lists_the_rows_posted_after_the_submission(world):
    report, _late, content = bundle_after_a_late_repayment(world)
    files = unzip(content)
    after = csv_rows(files["efter-inlamning.csv"])
    header = after[0]
    assert header == csv_rows(files["huvudbok.csv"])[0]
    assert len(after) == 2
    row = dict(zip(header, after[1], strict=True))
    assert (row["Typ"], row["Rörelse"], row["Referens"], row["Datum"]) == (
        "Återbetalning",
        "-500,00",
        "Socialstyrelsens faktura 2026-0001",
        "2026-12-02",
    )
    journal = csv_rows(files["huvudbok.csv"])
    assert after[1] in journal[1:]  # the same row, with the same number as in the ledger
    readme = files["LASMIG.txt"].decode("utf-8")
    assert "1 rad i huvudboken registrerades efter att rapporten lämnades in 2026-12-01" in readme
    assert "är däremot dagens" in readme  # the ledger figures are today's, the report frozen
    assert report.sha256 in readme


def test_the_bundle_says_when_nothing_was_posted_after_the_submission(world):
    with at(d(12, 1)):
        submitted_report(world)
    files = unzip(exports.render_auditor_bundle(bundle_run(world), {}).content)
    assert len(csv_rows(files["efter-inlamning.csv"])) == 1  # the header only
    readme = files["LASMIG.txt"].decode("utf-8")
    assert "Inga rader i huvudboken har registrerats efter att rapporten lämnades in" in readme
