"""The patient's log extract as a PDF (API.md "Log review and the patient's log extract";
DOMAIN.md 7): `POST /api/v1/access-log/extract/` with `"format": "pdf"` → 202 with a report run
of kind `log_extract`, rendered by reporting's run machinery, read and downloaded by the log
reviewers of its organisation only; the identity number never reaches the run, the task, the
file's name or the logs; the page's "Hämta som PDF" button."""

from __future__ import annotations

import datetime
import io
import logging
import re
from dataclasses import dataclass
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from core.models import Centre, Organisation, Role, User
from reporting.models import LogExtractOrder, ReportRun
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.visits.factories import ChildFactory, nurse_at
from visits.access_log import log_children
from visits.identity import identity_hash
from visits.models import AccessLog, Child

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
URL = "/api/v1/access-log/extract/"


@dataclass
class World:
    organisation: Organisation
    centre: Centre
    second_centre: Centre
    other_centre: Centre  # another organisation's
    child: Child
    nurse: User
    second_nurse: User
    other_nurse: User
    reviewer: User
    other_reviewer: User
    cbhv: User
    finance: User
    admin: User


@pytest.fixture
def world(settings: Any, tmp_path: Any) -> World:
    settings.REPORT_STORE = tmp_path / "reports"
    organisation = OrganisationFactory(name="Region Testland")
    centre = CentreFactory(organisation=organisation, name="BVC Norr", hsa_id="SE2321000016-0001")
    second = CentreFactory(organisation=organisation, name="BVC Söder", hsa_id="SE2321000016-0002")
    other = CentreFactory(name="BVC Annanstans", hsa_id="SE2321000016-0099")
    admin = member(Role.ADMIN, organisation=organisation)
    User.objects.filter(pk=admin.pk).update(is_staff=True)
    return World(
        organisation=organisation,
        centre=centre,
        second_centre=second,
        other_centre=other,
        child=ChildFactory(current_centre=centre),
        nurse=nurse_at(centre),
        second_nurse=nurse_at(second),
        other_nurse=nurse_at(other),
        reviewer=member(Role.LOG_REVIEWER, organisation=organisation),
        other_reviewer=member(Role.LOG_REVIEWER, organisation=other.organisation),
        cbhv=member(Role.CBHV, organisation=organisation),
        finance=member(Role.FINANCE, organisation=organisation),
        admin=User.objects.get(pk=admin.pk),
    )


def at(day: str, hour: int = 10) -> datetime.datetime:
    return datetime.datetime.combine(
        datetime.date.fromisoformat(day), datetime.time(hour), STOCKHOLM
    )


def log(user: User, child: Child, centre: Centre, when: datetime.datetime, action="read") -> None:
    with time_machine.travel(when, tick=False):
        log_children(user=user, action=action, entries=[(child, centre.id)], what="child")


def dashed(child: Child) -> str:
    return f"{child.identity[:8]}-{child.identity[8:]}"


def text_of(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[\u00a0\u202f]", " ", text)


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def logged(world: World) -> None:
    log(world.nurse, world.child, world.centre, at("2025-03-01", 9))
    log(world.second_nurse, world.child, world.second_centre, at("2025-03-05", 14), "update")
    log(world.nurse, world.child, world.centre, at("2025-03-07", 8))
    stranger = ChildFactory(current_centre=world.other_centre)
    log(world.other_nurse, stranger, world.other_centre, at("2025-03-02"))


def request_pdf(client: Any, world: World, capture: Any, **extra: Any) -> Any:
    with capture(execute=True):
        response = client.post(
            URL,
            {"identity_type": "personnummer", "identity": dashed(world.child), "format": "pdf"}
            | extra,
            format="json",
        )
    return response


# --- The API --------------------------------------------------------------------------------
def test_a_pdf_request_is_202_with_a_log_extract_run_whose_file_lists_care_units_newest_first(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks
) -> None:
    client = api_client_for(world.reviewer)

    response = request_pdf(client, world, django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["file"]) == ("log_extract", "queued", None)
    assert (body["organisation"], body["grant"], body["centre"]) == (
        str(world.organisation.id),
        None,
        None,
    )
    assert body["year"] == timezone.localdate().year
    run = client.get(f"/api/v1/reports/{body['id']}/")
    assert run.status_code == 200
    assert run.json()["status"] == "done", run.json()
    download = client.get(run.json()["file"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download["Cache-Control"] == "no-store"
    disposition = download["Content-Disposition"]
    assert disposition == (f'attachment; filename="log-extract-{timezone.localdate().year}.pdf"')
    content = body_of(download)
    assert content.startswith(b"%PDF")
    text = text_of(content)
    assert "Loggutdrag till patient" in text and "Region Testland" in text
    assert f"{world.child.identity[:8]}-****" in text
    lines = [line for line in text.splitlines() if line.startswith("2025-03-0")]
    assert lines == [
        "2025-03-07 08:00 BVC Norr SE2321000016-0001 Läsning",
        "2025-03-05 14:00 BVC Söder SE2321000016-0002 Ändring",
        "2025-03-01 09:00 BVC Norr SE2321000016-0001 Läsning",
    ]
    assert "3 från 2 vårdenheter" in text
    assert "BVC Annanstans" not in text and "SE2321000016-0099" not in text
    for user in (world.nurse, world.second_nurse, world.reviewer):
        assert user.username not in text
    assert world.child.identity not in text and world.child.identity[8:] not in text
    assert world.child.family_name not in text


def test_asking_is_logged_as_a_read_and_the_download_as_an_export_of_the_child(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks
) -> None:
    client = api_client_for(world.reviewer)
    hashed = identity_hash("personnummer", world.child.identity)

    run = request_pdf(client, world, django_capture_on_commit_callbacks).json()

    rows = list(AccessLog.objects.filter(what="log_extract").values_list("action", "child_id"))
    assert rows == [("read", world.child.id)]
    client.get(f"/api/v1/reports/{run['id']}/file/")
    exported = AccessLog.objects.filter(what="log_extract").order_by("-id").first()
    assert exported is not None
    assert (exported.action, exported.username, exported.care_unit) == (
        "export",
        world.reviewer.username,
        None,
    )
    assert (exported.child_id, exported.identity_hash) == (world.child.id, hashed)


def test_the_pdf_lists_the_rows_up_to_the_request_and_earlier_extracts_but_not_its_own(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks
) -> None:
    client = api_client_for(world.reviewer)
    earlier = client.post(
        URL, {"identity_type": "personnummer", "identity": world.child.identity}, format="json"
    )
    assert earlier.status_code == 200
    extracted = AccessLog.objects.get(what="log_extract")

    run = request_pdf(client, world, django_capture_on_commit_callbacks).json()

    assert AccessLog.objects.filter(what="log_extract").count() == 2  # the JSON's and the PDF's
    text = text_of(body_of(client.get(f"/api/v1/reports/{run['id']}/file/")))
    assert text.count("Logggranskning (ingen vårdenhet)") == 1
    when = timezone.localtime(extracted.at).strftime("%Y-%m-%d %H:%M")
    assert f"{when} Logggranskning (ingen vårdenhet) – Läsning" in text
    assert "4 från 2 vårdenheter" in text


def test_the_pdf_takes_a_period(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks
) -> None:
    client = api_client_for(world.reviewer)

    run = request_pdf(
        client,
        world,
        django_capture_on_commit_callbacks,
        **{"from": "2025-03-02", "to": "2025-03-06"},
    ).json()

    order = LogExtractOrder.objects.get(run_id=run["id"])
    assert (order.period_from, order.period_to) == (
        datetime.date(2025, 3, 2),
        datetime.date(2025, 3, 6),
    )
    text = text_of(body_of(client.get(f"/api/v1/reports/{run['id']}/file/")))
    assert "2025-03-02 – 2025-03-06" in text
    assert [line for line in text.splitlines() if line.startswith("2025-03-0")] == [
        "2025-03-05 14:00 BVC Söder SE2321000016-0002 Ändring"
    ]


def test_the_identity_reaches_no_task_argument_run_row_file_name_or_log(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    client = api_client_for(world.reviewer)
    with mock.patch("reporting.tasks.run_report.delay") as delay:
        response = request_pdf(client, world, django_capture_on_commit_callbacks)
    run = ReportRun.objects.get(pk=response.json()["id"])
    delay.assert_called_once_with(str(run.pk))

    order = LogExtractOrder.objects.get(run=run)
    assert (order.identity_hash, order.child_id, order.child_masked) == (
        identity_hash("personnummer", world.child.identity),
        world.child.id,
        f"{world.child.identity[:8]}-****",
    )
    stored = " ".join(
        str(v)
        for row in (
            ReportRun.objects.filter(pk=run.pk).values().get(),
            LogExtractOrder.objects.filter(run=run).values().get(),
        )
        for v in row.values()
    )
    digits = world.child.identity
    assert digits not in stored and dashed(world.child) not in stored
    from reporting import runs

    assert runs.run_report_body(run.pk) == runs.Outcome.DONE
    run.refresh_from_db()
    assert run.file_name == f"{run.pk}.pdf"
    assert digits not in caplog.text and dashed(world.child) not in caplog.text


def test_every_request_is_a_new_run(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks
) -> None:
    client = api_client_for(world.reviewer)
    with mock.patch("reporting.tasks.run_report.delay"):  # both stay queued
        first = request_pdf(client, world, django_capture_on_commit_callbacks).json()
        second = request_pdf(client, world, django_capture_on_commit_callbacks).json()

    assert first["id"] != second["id"]
    assert (first["status"], second["status"]) == ("queued", "queued")
    assert ReportRun.objects.filter(kind="log_extract").count() == 2


def test_an_unknown_identity_gives_an_empty_pdf_and_is_not_logged(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks
) -> None:
    client = api_client_for(world.other_reviewer)  # the child is not in her organisation

    run = request_pdf(client, world, django_capture_on_commit_callbacks).json()

    assert not AccessLog.objects.filter(what="log_extract").exists()
    text = text_of(body_of(client.get(f"/api/v1/reports/{run['id']}/file/")))
    assert "Inga åtkomster är registrerade för barnet under perioden." in text
    assert "0 från 0 vårdenheter" in text
    assert "BVC Norr" not in text


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"format": "docx"}, "format"),
        ({"from": "2025-03-06", "to": "2025-03-02"}, "to"),
        ({"identity": "20240101-0019"}, "identity"),
        ({"organisation": "OTHER"}, "organisation"),
    ],
)
def test_a_bad_pdf_request_is_a_400_on_its_field_and_makes_nothing(
    world: World, api_client_for, extra: dict[str, str], field: str
) -> None:
    body = {"identity_type": "personnummer", "identity": dashed(world.child), "format": "pdf"}
    body |= {
        k: v.replace("OTHER", str(world.other_centre.organisation_id)) for k, v in extra.items()
    }

    response = api_client_for(world.reviewer).post(URL, body, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert not ReportRun.objects.exists()
    assert not AccessLog.objects.filter(what="log_extract").exists()


def test_a_reviewer_of_several_organisations_names_the_pdfs(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks
) -> None:
    member(Role.LOG_REVIEWER, organisation=world.other_centre.organisation, user=world.reviewer)
    client = api_client_for(User.objects.get(pk=world.reviewer.pk))

    refused = request_pdf(client, world, django_capture_on_commit_callbacks)
    made = request_pdf(
        client, world, django_capture_on_commit_callbacks, organisation=str(world.organisation.id)
    )

    assert refused.status_code == 400
    assert refused.json() == {"organisation": ["Välj organisation."]}
    assert made.status_code == 202
    assert made.json()["organisation"] == str(world.organisation.id)


# --- Who sees the run -----------------------------------------------------------------------
def test_only_the_organisations_log_reviewers_see_or_download_the_run(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks, client
) -> None:
    run = request_pdf(
        api_client_for(world.reviewer), world, django_capture_on_commit_callbacks
    ).json()
    colleague = member(Role.LOG_REVIEWER, organisation=world.organisation)
    assert api_client_for(colleague).get(f"/api/v1/reports/{run['id']}/file/").status_code == 200

    for user in (world.cbhv, world.finance, world.admin, world.other_reviewer, world.nurse):
        api = api_client_for(user)
        assert api.get(f"/api/v1/reports/{run['id']}/file/").status_code == 404, user
        client.force_login(user)
        assert client.get(f"/rapporter/{run['id']}/fil/").status_code == 404, user
    for user in (world.cbhv, world.finance, world.other_reviewer):
        assert api_client_for(user).get(f"/api/v1/reports/{run['id']}/").status_code == 404
        client.force_login(user)
        assert client.get(f"/rapporter/{run['id']}/").status_code == 404, user
    # Roles that never read reports are refused before the run is looked up (API.md's order).
    for user in (world.admin, world.nurse):
        assert api_client_for(user).get(f"/api/v1/reports/{run['id']}/").status_code == 403
    # Nor is it in anyone else's lists, nor can it be asked for or submitted as a report.
    for user in (world.cbhv, world.finance):
        assert api_client_for(user).get("/api/v1/reports/").json()["results"] == []
        client.force_login(user)
        assert run["id"] not in client.get("/rapporter/").content.decode()
        refused = api_client_for(user).post(
            "/api/v1/reports/", {"kind": "log_extract", "year": 2025}, format="json"
        )
        assert refused.status_code == 403
    assert (
        api_client_for(world.cbhv).post(f"/api/v1/reports/{run['id']}/submit/").status_code == 404
    )
    submit = api_client_for(world.reviewer).post(f"/api/v1/reports/{run['id']}/submit/")
    assert submit.status_code == 403
    client.force_login(world.admin)
    changelist = client.get(reverse("admin:reporting_reportrun_changelist"))
    assert changelist.status_code == 200
    assert run["id"] not in changelist.content.decode()
    assert "log_extract" not in str(api_client_for(world.cbhv).get("/api/v1/deadlines/").json())


def test_a_log_extract_run_can_never_be_submitted(
    world: World, logged: None, api_client_for, django_capture_on_commit_callbacks
) -> None:
    run = request_pdf(
        api_client_for(world.reviewer), world, django_capture_on_commit_callbacks
    ).json()
    with pytest.raises(IntegrityError), transaction.atomic():
        ReportRun.objects.filter(pk=run["id"]).update(
            submitted_at=timezone.now(), submitted_by=world.reviewer
        )


# --- The page -------------------------------------------------------------------------------
def test_the_extract_pages_button_starts_the_pdf_and_its_page_offers_the_download(
    world: World, logged: None, django_capture_on_commit_callbacks
) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.reviewer)
    page = browser.get("/logg/utdrag/")
    assert "Hämta som PDF" in page.content.decode()
    form = {"identity_type": "personnummer", "identity": dashed(world.child), "format": "pdf"}
    assert browser.post("/logg/utdrag/", form).status_code == 403  # no CSRF token
    token = browser.cookies["csrftoken"].value

    with django_capture_on_commit_callbacks(execute=True):
        started = browser.post("/logg/utdrag/", form | {"csrfmiddlewaretoken": token})

    run = ReportRun.objects.get(kind="log_extract")
    assert started.status_code == 302
    assert started["Location"] == f"/rapporter/{run.pk}/"
    assert world.child.identity not in started["Location"]
    shown = browser.get(started["Location"])
    html = shown.content.decode()
    assert shown.status_code == 200
    assert "Loggutdrag till patient" in html and "Loggutdraget skapas som PDF." in html
    assert 'href="/logg/utdrag/"' in html
    assert f'href="/rapporter/{run.pk}/fil/"' in html and "Ladda ner" in html
    assert world.child.identity[:8] not in html  # the page does not name the child
    download = browser.get(f"/rapporter/{run.pk}/fil/")
    assert download.status_code == 200
    assert body_of(download).startswith(b"%PDF")


def test_a_bad_identity_on_the_page_makes_no_pdf(world: World, client) -> None:
    client.force_login(world.reviewer)

    page = client.post(
        "/logg/utdrag/",
        {"identity_type": "personnummer", "identity": "20240101-0019", "format": "pdf"},
    )

    assert page.status_code == 400
    assert "Kontrollsiffran stämmer inte." in page.content.decode()
    assert not ReportRun.objects.exists()


def test_a_reviewer_of_several_organisations_chooses_the_pdfs_on_the_page(
    world: World, logged: None, client, django_capture_on_commit_callbacks
) -> None:
    member(Role.LOG_REVIEWER, organisation=world.other_centre.organisation, user=world.reviewer)
    client.force_login(world.reviewer)
    form = {"identity_type": "personnummer", "identity": dashed(world.child), "format": "pdf"}
    assert 'name="organisation"' in client.get("/logg/utdrag/").content.decode()

    refused = client.post("/logg/utdrag/", form)
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/logg/utdrag/", form | {"organisation": str(world.organisation.id)})

    assert refused.status_code == 400
    assert "Välj organisation." in refused.content.decode()
    run = ReportRun.objects.get(kind="log_extract")
    assert (started.status_code, started["Location"]) == (302, f"/rapporter/{run.pk}/")
    assert run.organisation_id == world.organisation.id
