"""Identity numbers stay out of everything the system writes down (issue 24, item 6 b;
DOMAIN.md 7: "identifiers never go into URLs, task arguments, file names or application logs";
reports and exports hold aggregates only).

One journey through the pages and the API, as the people who do it: a nurse registers a child
through the page (the number typed as `YYYYMMDD-NNNN`), enrols it and logs a completed home
visit with social services (ZV509); the API is asked for the child and, again, to register it
(409); finance requests the finance exports (XLSX, CSV) and the SIE file, CBHV the grant
report as a PDF, the log reviewer the child's log extract on the page and as a PDF, each run by
the Celery task (eagerly here, as without REDIS_URL, after commit); every file is downloaded;
and there are error pages (404, 403, 400, 409).

All the while the capture points record what they see:

- every request URL, every redirect, and every link, form action and htmx URL in the HTML
  pages (what a browser would request next, and what a proxy's access log would hold);
- every log record at DEBUG, of every logger (root, django, celery and the app's own,
  hembesok.security included), message, arguments, extra fields and traceback, and the line
  core.logging's JSON formatter writes for it;
- every Celery task sent (`Task.apply_async`: name, args, kwargs and options);
- the names of the stored report files and the downloads' Content-Disposition;
- the export bodies (every part of the XLSX and the CSV zip, the SIE text) and the PDFs' text
  (pdftotext);
- the bodies of the error pages and of the API's error answers;
- the mail that went out, and the access log's rows.

The child's number, as stored (12 digits), with 10 digits, and with a dash in both, and her
given and family name, appear in none of them; the assertion names the capture point.
"""

from __future__ import annotations

import datetime
import io
import logging
import re
import shutil
import subprocess
import uuid
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from celery.app.task import Task
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.logging import JsonFormatter
from core.models import Role
from funding import ledger
from funding.models import CompensationRule
from reporting.models import ReportRun, RunStatus
from tests.conftest import missing_service
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.visits.factories import ProgrammeTemplateFactory, personnummer, zv509
from visits.models import AccessLog, Child, Enrolment, Visit

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
YEAR = TODAY.year
GIVEN, FAMILY = "Vilgotxq", "Ekströmxq"
# A link, a form's action, an htmx URL or a source in a page.
PAGE_URL = re.compile(r'(?:href|action|src|hx-get|hx-post|hx-delete|hx-patch)="([^"]*)"')


@dataclass
class Captured:
    """What each capture point saw: point → texts."""

    caplog: Any
    seen: dict[str, list[str]] = field(default_factory=dict)

    def add(self, point: str, text: object) -> None:
        self.seen.setdefault(point, []).append(str(text))

    def add_logs(self) -> None:
        formatter = logging.Formatter()
        for record in self.caplog.records:
            self.add("log records", formatter.format(record))  # with any traceback
            self.add("log records (fields)", vars(record))  # args and extra fields
            # The lines as production writes them (core.logging: JSON, UTC, request id).
            self.add("log lines (JSON)", JsonFormatter().format(record))


@pytest.fixture
def captured(caplog, monkeypatch) -> Captured:
    """Logs at DEBUG for every logger, and every task sent."""
    seen = Captured(caplog)
    caplog.set_level(logging.DEBUG)
    names = ["django", "django.request", "django.server", "django.security", "celery"]
    names += ["celery.app.trace", "celery.worker", "hembesok", "hembesok.security", "axes"]
    names += ["weasyprint", "fontTools"]
    names += [
        name
        for name in logging.root.manager.loggerDict
        if name.split(".")[0] in ("core", "visits", "funding", "reporting", "config")
    ]
    for name in names:
        caplog.set_level(logging.DEBUG, logger=name)

    original = Task.apply_async

    def recording(self: Task, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        seen.add("Celery task arguments", (self.name, args, kwargs, options))
        return original(self, args, kwargs, **options)

    monkeypatch.setattr(Task, "apply_async", recording)
    return seen


@pytest.fixture
def eager_celery():
    """Tasks run in the calling process, as without REDIS_URL (also when CI sets one)."""
    from config.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = saved


def pdf_text(content: bytes) -> str:
    if shutil.which("pdftotext") is None:
        missing_service("pdftotext is not installed (apt-get install poppler-utils)")
    result = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True
    )
    return result.stdout.decode("utf-8")


def unzip_texts(content: bytes, encoding: str = "utf-8") -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return [
            f"{info.filename}\n" + archive.read(info).decode(encoding, "replace")
            for info in archive.infolist()
        ]


class Journey:
    """Requests through test clients, each URL, redirect and page link recorded."""

    def __init__(self, captured: Captured, on_commit: Any) -> None:
        self.captured = captured
        self.on_commit = on_commit
        self.clients: dict[str, Client] = {}

    def client(self, user: Any) -> Client:
        if user.username not in self.clients:
            client = Client()
            client.force_login(user)  # signed in fully (tests/conftest.py)
            self.clients[user.username] = client
        return self.clients[user.username]

    def go(self, user: Any, method: str, url: str, data: Any = None, **extra: Any) -> Any:
        """One request; callbacks queued on commit (the Celery tasks) run after it."""
        self.captured.add("request URLs", url)
        client = self.client(user)
        with self.on_commit(execute=True):
            if method == "GET":
                response = client.get(url, data, **extra)
            elif method == "POST" and extra.get("content_type") == "application/json":
                response = client.post(url, data, **extra)
            else:
                response = client.post(url, data or {}, **extra)
        if "Location" in response:
            self.captured.add("redirects", response["Location"])
        if "text/html" in response.get("Content-Type", "") and not response.streaming:
            for link in PAGE_URL.findall(response.content.decode()):
                self.captured.add("URLs in pages", link)
        return response

    def error(self, what: str, response: Any, status: int) -> None:
        assert response.status_code == status, (what, response.status_code)
        self.captured.add(f"error pages ({status})", response.content.decode())

    def download(self, user: Any, run_id: uuid.UUID) -> tuple[bytes, str]:
        run = ReportRun.objects.get(pk=run_id)
        assert run.status == RunStatus.DONE, (run.kind, run.status, run.error)
        response = self.go(user, "GET", reverse("reporting:file", args=[run_id]))
        assert response.status_code == 200
        disposition = response["Content-Disposition"]
        self.captured.add("download file names (Content-Disposition)", disposition)
        return b"".join(response.streaming_content), disposition


def run_id_of(response: Any) -> uuid.UUID:
    """The run a report request redirected to (its page: /rapporter/<id>/)."""
    assert response.status_code == 302, response.status_code
    match = re.search(r"/rapporter/([0-9a-f-]{36})/", response["Location"])
    assert match, response["Location"]
    return uuid.UUID(match.group(1))


def forms_of(identity: str) -> list[str]:
    """The number as stored and as people write it."""
    return [
        identity,
        identity[2:],
        f"{identity[:8]}-{identity[8:]}",
        f"{identity[2:8]}-{identity[8:]}",
    ]


def test_no_capture_point_holds_the_childs_identity(
    captured: Captured,
    eager_celery: None,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.REPORT_STORE = tmp_path / "reports"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organisation = OrganisationFactory(name="Region Skanningxq")
    centre = CentreFactory(organisation=organisation, name="BVC Kvarnbyxq", hsa_id="SE2321000xq")
    template = ProgrammeTemplateFactory(organisation=organisation, name="Utökade hembesök")
    zv509()
    CompensationRule.objects.create(
        organisation=organisation,
        valid_from=datetime.date(YEAR - 1, 1, 1),
        programme_variable=Decimal("2500"),
        ordinary=Decimal("1800"),
    )
    nurse = member(Role.NURSE, centre=centre)
    finance = member(Role.FINANCE, organisation=organisation)
    cbhv = member(Role.CBHV, organisation=organisation)
    reviewer = member(Role.LOG_REVIEWER, organisation=organisation)
    grant = ledger.grant_create(
        user=finance,
        organisation=organisation,
        funder="socialstyrelsen",
        reference=f"{YEAR % 100}RS0001",
        year=YEAR,
        amount=Decimal("1349000.00"),
        received_on=datetime.date(YEAR, 1, 2),
        use_by=datetime.date(YEAR, 12, 31),
        report_due=datetime.date(YEAR + 1, 3, 1),
    )
    birth = TODAY - datetime.timedelta(days=60)  # the 2-month visit is due
    identity = personnummer(birth, 987)
    typed = f"{identity[:8]}-{identity[8:]}"
    journey = Journey(captured, django_capture_on_commit_callbacks)

    # The nurse registers the child through the page, enrols it and logs the visit.
    response = journey.go(
        nurse,
        "POST",
        reverse("visits:child_create"),
        {
            "identity_type": "personnummer",
            "identity": typed,
            "given_name": GIVEN,
            "family_name": FAMILY,
        },
    )
    child = Child.objects.get(identity=identity)
    assert response["Location"] == reverse("visits:child_detail", args=[child.pk])
    page = journey.go(nurse, "GET", response["Location"])
    assert typed in page.content.decode()  # her page shows the number to the centre's nurse
    response = journey.go(
        nurse,
        "POST",
        reverse("visits:enrolment_create", args=[child.pk]),
        {
            "template": template.pk,
            "offered_on": birth.isoformat(),
            "accepted_on": birth.isoformat(),
            "eligibility": ["first_time_parents"],
            "programme": "full",
        },
    )
    enrolment = Enrolment.objects.get(child=child)
    journey.go(nurse, "GET", response["Location"])
    response = journey.go(
        nurse,
        "POST",
        reverse("visits:visit_create", args=[enrolment.pk]),
        {
            "date": TODAY.isoformat(),
            "place": "home",
            "status": "completed",
            "slot": "2m",
            "social_services_present": "on",
            "interpreter_mode": "none",
        },
    )
    visit = Visit.objects.get(enrolment=enrolment)
    assert visit.kva_codes == ["ZV509"]
    for url in (response["Location"], reverse("home"), reverse("visits:child_list")):
        journey.go(nurse, "GET", url)
    journey.go(nurse, "GET", reverse("visits:visit_list"))
    # The API: the child's record, and registering it again (409).
    journey.go(nurse, "GET", f"/api/v1/children/{child.pk}/")
    again = journey.go(
        nurse,
        "POST",
        "/api/v1/children/",
        {"identity_type": "personnummer", "identity": identity},
        content_type="application/json",
    )
    journey.error("registering the child again", again, 409)

    # Finance: the exports; CBHV: the grant report as a PDF. Each through the Celery task.
    files: dict[str, tuple[bytes, str]] = {}
    for user, kind, subject in (
        (finance, "finance_xlsx", {}),
        (finance, "finance_csv", {}),
        (finance, "sie", {"grant": grant.pk}),
        (cbhv, "socialstyrelsen", {"grant": grant.pk}),
    ):
        data = {"kind": kind, "year": YEAR, **subject}
        run_id = run_id_of(journey.go(user, "POST", reverse("reporting:request"), data))
        journey.go(user, "GET", reverse("reporting:run", args=[run_id]))
        files[kind] = journey.download(user, run_id)
    # The log reviewer: the child's log extract on the page, then as a PDF.
    extract = {"identity_type": "personnummer", "identity": typed}
    page = journey.go(reviewer, "POST", reverse("visits:log_extract"), extract)
    assert page.status_code == 200 and f"{identity[:8]}-****" in page.content.decode()
    response = journey.go(
        reviewer, "POST", reverse("visits:log_extract"), {**extract, "format": "pdf"}
    )
    files["log_extract"] = journey.download(reviewer, run_id_of(response))

    # Error pages.
    journey.error("an unknown child", journey.go(nurse, "GET", f"/barn/{uuid.uuid4()}/"), 404)
    journey.error(
        "a nurse on the grants", journey.go(nurse, "GET", reverse("funding:grant_list")), 403
    )
    journey.error(
        "ZV509 without social services",
        journey.go(
            nurse,
            "POST",
            "/api/v1/visits/",
            {
                "enrolment": str(enrolment.pk),
                "date": TODAY.isoformat(),
                "place": "home",
                "status": "completed",
                "slot": "4m",
                "kva_codes": ["ZV509"],
            },
            content_type="application/json",
        ),
        400,
    )
    wrong = identity[:-1] + str((int(identity[-1]) + 1) % 10)
    journey.error(
        "a log extract for a wrong check digit",
        journey.go(reviewer, "POST", reverse("visits:log_extract"), {**extract, "identity": wrong}),
        400,
    )
    journey.error(
        "another centre's child", journey.go(finance, "GET", f"/api/v1/children/{child.pk}/"), 403
    )

    # What was written: file names, exports, PDFs, mail, the access log.
    stored = sorted(p.name for p in Path(settings.REPORT_STORE).iterdir())
    assert len(stored) == len(files)
    for name in stored:
        captured.add("stored report file names", name)
    xlsx, csv_zip, sie = files["finance_xlsx"][0], files["finance_csv"][0], files["sie"][0]
    for text in unzip_texts(xlsx):
        captured.add("exports (XLSX)", text)
    for text in unzip_texts(csv_zip, "utf-8-sig"):
        captured.add("exports (CSV)", text)
    captured.add("exports (SIE)", sie.decode("cp437"))
    for kind in ("socialstyrelsen", "log_extract"):
        text = pdf_text(files[kind][0])
        assert text.strip(), kind
        captured.add(f"PDF text ({kind})", text)
    assert "****" in pdf_text(files["log_extract"][0])  # the child, masked
    for message in mail.outbox:
        alternatives = getattr(message, "alternatives", [])  # an HTML part, if any
        captured.add("mail", f"{message.subject}\n{message.body}\n{alternatives}")
    for row in AccessLog.objects.values():
        captured.add("access log rows", row)
    captured.add_logs()

    secrets = [*forms_of(identity), GIVEN, FAMILY]
    found = {
        point: sorted({s for s in secrets for text in texts if s in text})
        for point, texts in captured.seen.items()
    }
    assert {point: hits for point, hits in found.items() if hits} == {}
    # The capture points saw something (so the scan above could have failed).
    seen = {point: len(texts) for point, texts in captured.seen.items()}
    expected = [
        "request URLs",
        "redirects",
        "URLs in pages",
        "log records",
        "log lines (JSON)",
        "Celery task arguments",
        "download file names (Content-Disposition)",
        "stored report file names",
        "exports (XLSX)",
        "exports (CSV)",
        "exports (SIE)",
        "PDF text (socialstyrelsen)",
        "PDF text (log_extract)",
        "error pages (404)",
        "error pages (403)",
        "error pages (400)",
        "error pages (409)",
        "access log rows",
    ]
    assert [point for point in expected if not seen.get(point)] == []
    print(f"\nidentity scan: {seen}")
