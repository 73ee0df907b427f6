"""The PDF reports as plain functions (issue: reports 2–5, 11): text through pypdf, totals
equal to the grant's figures from the API, no identity numbers, the chart equal to the
selector's counts, the small-number rule, and the selectors' query count."""

from __future__ import annotations

import datetime
import io
import re
import shutil

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pypdf import PdfReader

from core.models import Centre, Role, User
from funding.models import Grant
from reporting import charts, pdf, selectors, suppression
from reporting.models import ReportKind, ReportRun
from tests.core.factories import CentreFactory, member
from tests.visits.factories import EnrolmentFactory, log_visit

pytestmark = pytest.mark.django_db
IDENTITY = re.compile(r"\b\d{6}(?:\d{2})?[-+]?\d{4}\b")


def text_of(content: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[\u00a0\u202f]", " ", text), len(reader.pages)


def grant_run(reference: str, kind: str = ReportKind.SOCIALSTYRELSEN) -> ReportRun:
    grant = Grant.objects.get(reference=reference)
    return ReportRun(
        kind=kind,
        organisation=grant.organisation,
        year=grant.year,
        grant=grant,
        requested_by=User.objects.get(username="cbhv"),
    )


def swedish(amount: str) -> str:
    whole, cents = amount.split(".")
    return f"{int(whole):,}".replace(",", " ") + f",{cents} kr"


def test_socialstyrelsen_report_shows_the_grants_figures_as_the_api_does(demo, api_client_for):
    run = grant_run("23RS9581")
    rendered = pdf.render_socialstyrelsen(run, {"use": "Utökade hembesök i fyra områden."})
    assert rendered.content.startswith(b"%PDF") and rendered.extension == "pdf"
    text, pages = text_of(rendered.content)
    assert 2 <= pages <= 6
    assert "Återrapportering av statsbidrag" in text
    assert "23RS9581" in text and "Region Örebro län" in text
    assert f"Sida 1 av {pages}" in text and f"Sida {pages} av {pages}" in text
    figures = (
        api_client_for(User.objects.get(username="finance"))
        .get(f"/api/v1/grants/{run.grant_id}/")
        .data
    )
    for field in ("amount", "paid_out", "unused", "repaid", "balance", "repayment_due"):
        assert swedish(figures[field]) in text, field
    assert "1 349 000,00 kr" in text
    assert "Utökade hembesök i fyra områden." in text
    assert "(ej ifyllt)" in text  # the sections not yet written
    assert not IDENTITY.search(text)


def test_no_child_names_or_identities_reach_the_pdf(demo):
    from visits.models import Child

    text, _pages = text_of(pdf.render_socialstyrelsen(grant_run("23RS9581"), {}).content)
    names = set(Child.objects.values_list("family_name", flat=True)) - {""}
    assert names and not any(name in text for name in names)
    identities = set(Child.objects.values_list("identity", flat=True))
    assert not any(identity[-4:] in text and identity in text for identity in identities)


def test_the_chart_draws_the_selectors_counts_as_the_tables_show_them():
    months = [selectors.MonthCount(m, m % 3, 12 - m) for m in range(1, 13)]
    svg = charts.visits_per_month_svg(suppression.months_shown(months), title="Test")
    drawn = {
        (series, int(month)): count
        for series, month, count in re.findall(
            r'data-series="(\w+)" data-month="(\d+)" data-count="([^"]+)"', svg
        )
    }
    for m in months:
        for series, n in (("with", m.with_social_services), ("without", m.without_social_services)):
            # Exact from 5 (and 0); 1–4 only as "<5" (escaped in the SVG).
            assert drawn[(series, m.month)] == ("&lt;5" if 0 < n < 5 else str(n))
    heights = {
        (series, int(month)): float(h)
        for series, month, h in re.findall(
            r'data-series="(\w+)" data-month="(\d+)" [^>]* height="([\d.]+)"', svg
        )
    }
    # Exact bars are proportional to their counts on a round top (15 for a peak of 11); every
    # "<5" band has one height, that of 5.
    per = heights[("without", 1)] / 11
    for key, h in heights.items():
        count = drawn[key]
        assert h == pytest.approx(per * (5 if count == "&lt;5" else int(count)), abs=0.02)
    assert ">15</text>" in svg
    assert charts.bar_heights([0, 0], 100) == [0.0, 0.0]


def test_chart_counts_in_the_pdf_come_from_the_selector(demo):
    run = grant_run("23RS9581")
    activity = selectors.programme_activity(run.organisation_id, 2023)
    assert sum(m.with_social_services for m in activity.per_month) == (
        activity.home_with_social_services
    )
    assert sum(m.with_social_services + m.without_social_services for m in activity.per_month) == (
        activity.home_visits
    )


@pytest.mark.parametrize("n,expected", [(0, "0"), (1, "<5"), (4, "<5"), (5, "5"), (312, "312")])
def test_small_number_rule(n, expected):
    assert selectors.shown(n) == expected


def test_a_centre_with_three_children_shows_less_than_five(settings):
    centre = CentreFactory()
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    today = timezone.localdate()
    enrolments = [EnrolmentFactory(child__current_centre=centre) for _ in range(3)]
    for enrolment in enrolments:
        log_visit(enrolment, date=today, social_services_present=True, slot="")
    activity = selectors.programme_activity(centre.organisation_id, today.year)
    assert activity.children_enrolled == 3 and activity.home_with_social_services == 3
    run = ReportRun(
        kind=ReportKind.HALSOVAL,
        organisation=centre.organisation,
        year=today.year,
        centre=centre,
        requested_by=manager,
    )
    text, _pages = text_of(pdf.render_halsoval(run, {"development": "Fler hembesök."}).content)
    line = next(row for row in text.splitlines() if "Barn inskrivna" in row)
    assert line.endswith("<5")
    # Visit counts could point at the same children: small ones are hidden too, with shares.
    joint = next(row for row in text.splitlines() if "med socialtjänsten (ZV509)" in row)
    assert joint.endswith("<5 (–)")
    # Three visits in all are not broken down by slot (the slots' zeros would tell where the
    # "<5" lies): every row of the slot table is "x" (reporting.suppression, rule 2).
    extra = next(row for row in text.splitlines() if "Extra besök" in row)
    assert extra.endswith(" x")
    completed = next(row for row in text.splitlines() if row.startswith("Genomförda besök"))
    assert completed.endswith("<5")
    assert selectors.share(50, 100) == "50,0 %" and selectors.share(3, 100) == "–"
    assert "Fler hembesök." in text and centre.name in text
    assert not IDENTITY.search(text)


def test_skl_report_is_the_same_selectors_in_another_template(demo):
    run = grant_run("23RS9581", kind=ReportKind.SKL)
    text, _pages = text_of(pdf.render_skl(run, {"results": "Fler familjer nåddes."}).content)
    assert "Slutrapport" in text and "Fler familjer nåddes." in text
    for heading in ("Resultat", "Hur arbetet ska bestå", "Utmaningar", "Behov"):
        assert heading in text


def test_selectors_use_a_fixed_number_of_queries(demo):
    centre = Centre.objects.get(name="Vivalla/Lundby")
    grant = Grant.objects.get(reference="23RS9581")
    for call in (
        lambda: selectors.programme_activity(centre.organisation_id, 2023),
        lambda: selectors.grant_account(grant),
        lambda: selectors.centre_account(centre, timezone.localdate().year),
    ):
        with CaptureQueriesContext(connection) as few:
            call()
        assert len(few) <= 12
    # The same count for a year without data.
    with CaptureQueriesContext(connection) as busy:
        selectors.programme_activity(centre.organisation_id, 2024)
    with CaptureQueriesContext(connection) as empty:
        selectors.programme_activity(centre.organisation_id, 2099)
    assert len(busy) == len(empty)


def test_grant_account_matches_the_ledger(demo):
    grant = Grant.objects.get(reference="23RS9581")
    account = selectors.grant_account(grant)
    assert sum(account.paid_by_category.values()) == account.figures.paid_out
    assert (
        sum(line.paid for line in account.recipients) + account.paid_by_category["coordination"]
        == account.figures.paid_out
    )
    assert datetime.date(2023, 12, 31) == grant.use_by


@pytest.fixture
def eager(settings, tmp_path):
    from config.celery import app

    settings.REPORT_STORE = tmp_path / "reports"
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = saved


def test_request_submit_and_bundle_with_the_real_renderers(
    demo, demo_report_store, eager, settings, api_client_for, django_capture_on_commit_callbacks
):
    """The whole path as a user takes it: the demo's CBHV has requested, rendered and submitted
    the 2023 grant report (reporting/demo.py, through the services); its PDF downloads with the
    recorded checksum, it is never replaced, and the auditor bundle holds that very file."""
    import hashlib
    import zipfile

    grant = Grant.objects.get(reference="23RS9581")
    assert grant.closed_at is not None  # a past year's grant: its report may be submitted
    submitted = ReportRun.objects.get(
        kind="socialstyrelsen", grant=grant, submitted_at__isnull=False
    )
    # This test's store starts with the demo's file (the `eager` fixture gave it its own).
    settings.REPORT_STORE.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo_report_store / submitted.file_name, settings.REPORT_STORE)
    cbhv = api_client_for(User.objects.get(username="cbhv"))
    run = cbhv.get(f"/api/v1/reports/{submitted.pk}/").data
    assert run["status"] == "done" and run["submitted_at"] is not None, run
    download = cbhv.get(f"/api/v1/reports/{run['id']}/file/")
    body = b"".join(download.streaming_content) if download.streaming else download.content
    assert download["Content-Type"] == "application/pdf"
    assert hashlib.sha256(body).hexdigest() == run["sha256"]
    assert "23RS9581" in text_of(body)[0]
    # A submitted report is never replaced: the texts are frozen, so no new run is made.
    again = cbhv.post(
        "/api/v1/reports/",
        {"kind": "socialstyrelsen", "year": 2023, "grant": str(grant.pk)},
        format="json",
    )
    assert again.status_code == 409
    assert cbhv.post(f"/api/v1/reports/{run['id']}/submit/").status_code == 200  # unchanged

    with django_capture_on_commit_callbacks(execute=True):
        bundle = cbhv.post(
            "/api/v1/reports/",
            {"kind": "auditor_bundle", "year": 2023, "grant": str(grant.pk)},
            format="json",
        )
    state = cbhv.get(f"/api/v1/reports/{bundle.data['id']}/").data
    assert state["status"] == "done", state
    archive = cbhv.get(f"/api/v1/reports/{state['id']}/file/")
    data = b"".join(archive.streaming_content) if archive.streaming else archive.content
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        pdfs = [n for n in zipped.namelist() if n.endswith(".pdf")]
        assert pdfs and zipped.read(pdfs[0]) == body


def test_the_renderer_fetches_nothing_outside_the_project(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not an image")
    fetcher = pdf._local_fetcher()
    for url in (f"file://{secret}", "http://example.org/x.png", "https://example.org/x.css"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    # An HTML that asks for outside resources still renders, without them.
    html = f'<html><body><img src="file://{secret}"><p>Hej</p></body></html>'
    assert pdf.html_to_pdf(html).startswith(b"%PDF")


def test_bundle_without_a_submitted_report_is_refused_and_a_lost_file_is_not_found(
    demo, eager, api_client_for, django_capture_on_commit_callbacks, settings
):
    import os

    # Linköpings kommun's 2021 grant is closed, but its report was never submitted (the demo
    # has no CBHV there to write it).
    grant = Grant.objects.get(reference="Dnr 2021/0880")
    assert grant.closed_at is not None
    finance = api_client_for(User.objects.get(username="finance_linkoping"))
    refused = finance.post(
        "/api/v1/reports/",
        {"kind": "auditor_bundle", "year": 2021, "grant": str(grant.pk)},
        format="json",
    )
    assert refused.status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        made = finance.post(
            "/api/v1/reports/", {"kind": "finance_csv", "year": 2021}, format="json"
        )
    run = ReportRun.objects.get(pk=made.data["id"])
    assert run.status == "done"
    os.remove(settings.REPORT_STORE / run.file_name)
    assert finance.get(f"/api/v1/reports/{run.pk}/file/").status_code == 404
