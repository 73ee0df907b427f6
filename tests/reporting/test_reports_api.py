"""API v1 report runs (API.md "Reports"): status codes in the API's order, the run's fields,
downloads (headers, the access log, scoping) and submitting."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from rest_framework.test import APIClient

from core.models import Role
from reporting.models import ReportRun
from tests.core.factories import CentreFactory, member

# The shared fixtures live in test_runs (a conftest here belongs to the lead); using an imported
# fixture as an argument looks like a redefinition to ruff.
# ruff: noqa: F811
from tests.reporting.test_runs import (  # noqa: F401 - fixtures
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
    nurse,
    org,
    other_centre,
    other_org,
    write_sections,
)
from visits.models import AccessLog

pytestmark = pytest.mark.django_db
URL = "/api/v1/reports/"
FAKE_PDF = b"%PDF fake socialstyrelsen 2023"


@pytest.fixture
def worker(fake_renderer, eager_celery, django_capture_on_commit_callbacks):
    """Runs what is enqueued after commit, as the eager Celery set-up does."""

    class Worker:
        def post(self, client, body, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return client.post(URL, body, format="json", **kwargs)

    return Worker()


def test_request_run_and_download(api_client_for, finance, grant, worker):
    client = api_client_for(finance)
    response = worker.post(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued"  # rendered after commit (here: when the test's block ends)
    run_id = body["id"]

    detail = client.get(f"{URL}{run_id}/").json()
    assert detail["kind"] == "socialstyrelsen" and detail["year"] == 2023
    assert detail["status"] == "done" and detail["error"] is None
    assert detail["sha256"] == hashlib.sha256(FAKE_PDF).hexdigest()
    assert detail["file"] == f"http://testserver/api/v1/reports/{run_id}/file/"
    assert detail["submitted_at"] is None and detail["finished_at"] and detail["created_at"]

    download = client.get(detail["file"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == FAKE_PDF
    assert download["Content-Type"] == "application/pdf"
    assert download["Cache-Control"] == "no-store"
    assert download["X-Content-Type-Options"] == "nosniff"
    disposition = download["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="socialstyrelsen-2023-23rs9581.pdf"' in disposition
    log = AccessLog.objects.get()
    assert (log.username, log.action, log.child_id, log.identity_hash) == (
        finance.username,
        "export",
        None,
        "",
    )


def test_a_queued_run_has_no_file_yet(api_client_for, finance, grant, no_enqueue):
    client = api_client_for(finance)
    response = client.post(
        URL, {"kind": "socialstyrelsen", "year": 2023, "grant": str(grant.pk)}, format="json"
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["file"] is None and body["sha256"] is None
    assert client.get(f"{URL}{body['id']}/file/").status_code == 409
    again = client.post(
        URL, {"kind": "socialstyrelsen", "year": 2023, "grant": str(grant.pk)}, format="json"
    )
    assert again.status_code == 202 and again.json()["id"] == body["id"]


def test_failed_runs_say_why(api_client_for, finance, grant, worker, fake_renderer):
    from core.exceptions import Conflict

    fake_renderer.fail_with = [Conflict("Bidraget saknar beslut.")]
    client = api_client_for(finance)
    response = worker.post(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk})
    body = client.get(f"{URL}{response.json()['id']}/").json()
    assert (body["status"], body["error"], body["file"]) == (
        "failed",
        "Bidraget saknar beslut.",
        None,
    )


def test_status_codes_in_the_apis_order(
    api_client_for, org, other_org, finance, manager, nurse, grant, no_enqueue
):
    anonymous = APIClient()
    assert anonymous.post(URL, {}, format="json").status_code == 401
    assert anonymous.get(URL).status_code == 401
    # 403: a role that never requests reports, or a kind the role may not request.
    assert api_client_for(nurse).post(URL, {"kind": "x"}, format="json").status_code == 403
    assert api_client_for(nurse).get(URL).status_code == 403
    response = api_client_for(manager).post(
        URL, {"kind": "socialstyrelsen", "year": "bad"}, format="json"
    )
    assert response.status_code == 403
    # 400 by field, including ids outside the caller's scope.
    client = api_client_for(finance)
    assert client.post(URL, {"kind": "x", "year": 2023}, format="json").json().keys() == {"kind"}
    assert client.post(URL, ["not", "an", "object"], format="json").status_code == 400
    other = make_grant(other_org, member(Role.FINANCE, organisation=other_org), reference="LK21")
    response = client.post(
        URL, {"kind": "socialstyrelsen", "year": 2023, "grant": str(other.pk)}, format="json"
    )
    assert response.status_code == 400 and "grant" in response.json()
    response = client.post(
        URL, {"kind": "socialstyrelsen", "year": 2024, "grant": str(grant.pk)}, format="json"
    )
    assert response.status_code == 400 and "year" in response.json()
    response = client.post(URL, {"kind": "halsoval", "year": 2024}, format="json")
    assert response.status_code == 400 and "centre" in response.json()
    # 404 for a run that is not there.
    missing = uuid.uuid4()
    assert client.get(f"{URL}{missing}/").status_code == 404
    assert client.get(f"{URL}{missing}/file/").status_code == 404
    # Submitting: finance may never submit (403 before the lookup); CBHV gets the 404.
    assert client.post(f"{URL}{missing}/submit/").status_code == 403
    cbhv = member(Role.CBHV, organisation=org)
    assert api_client_for(cbhv).post(f"{URL}{missing}/submit/").status_code == 404
    assert not ReportRun.objects.exists()


def test_downloads_only_for_those_entitled(
    api_client_for, org, other_org, finance, cbhv, manager, nurse, centre, grant, worker
):
    fixed_compensation(centre, 2025, by=cbhv)
    account = worker.post(
        api_client_for(manager), {"kind": "halsoval", "year": 2025, "centre": centre.pk}
    ).json()
    report = worker.post(
        api_client_for(finance), {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk}
    ).json()
    other_manager = member(Role.CENTRE_MANAGER, centre=CentreFactory(organisation=org))
    strangers = [
        nurse,  # never sees reports
        member(Role.FINANCE, organisation=other_org),
        member(Role.CBHV, organisation=other_org),
        other_manager,
        member(Role.LOG_REVIEWER, organisation=org),
    ]
    for user in strangers:
        client = api_client_for(user)
        for run in (account, report):
            assert client.get(f"{URL}{run['id']}/file/").status_code == 404, user
    for user in strangers[1:4]:
        assert api_client_for(user).get(f"{URL}{account['id']}/").status_code == 404
    assert api_client_for(manager).get(f"{URL}{report['id']}/file/").status_code == 404
    for user in (finance, cbhv, manager):
        response = api_client_for(user).get(f"{URL}{account['id']}/file/")
        assert response.status_code == 200, user
        assert 'filename="halsoval-2025-varberga.pdf"' in response["Content-Disposition"]
    assert AccessLog.objects.filter(action="export", child_id__isnull=True).count() == 3
    # The list shows each caller her reports only.
    listed = {r["id"] for r in api_client_for(manager).get(URL).json()["results"]}
    assert listed == {account["id"]}
    listed = {r["id"] for r in api_client_for(finance).get(URL).json()["results"]}
    assert listed == {account["id"], report["id"]}
    assert api_client_for(strangers[1]).get(URL).json()["results"] == []
    filtered = api_client_for(finance).get(URL, {"kind": "halsoval", "year": 2025}).json()
    assert [r["id"] for r in filtered["results"]] == [account["id"]]
    assert api_client_for(finance).get(URL, {"kind": "nope"}).status_code == 400
    assert api_client_for(finance).get(URL, {"year": ""}).status_code == 400


def test_submit(api_client_for, org, finance, cbhv, manager, nurse, centre, grant, worker):
    close(grant, finance)
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    client = api_client_for(cbhv)
    run = worker.post(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk}).json()
    assert api_client_for(nurse).post(f"{URL}{run['id']}/submit/").status_code == 403
    assert api_client_for(manager).post(f"{URL}{run['id']}/submit/").status_code == 404
    assert api_client_for(finance).post(f"{URL}{run['id']}/submit/").status_code == 403
    first = client.post(f"{URL}{run['id']}/submit/")
    assert first.status_code == 200 and first.json()["submitted_at"]
    second = client.post(f"{URL}{run['id']}/submit/")
    assert (
        second.status_code == 200 and second.json()["submitted_at"] == first.json()["submitted_at"]
    )
    again = worker.post(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk})
    assert again.status_code == 409 and again.json()["id"] == run["id"]
    # Exports are not submitted (finance never submits anything); the centre's account is its
    # manager's to submit, not finance's or CBHV's.
    export = worker.post(api_client_for(finance), {"kind": "finance_xlsx", "year": 2023}).json()
    assert api_client_for(finance).post(f"{URL}{export['id']}/submit/").status_code == 403
    assert client.post(f"{URL}{export['id']}/submit/").status_code == 409
    fixed_compensation(centre, 2025, by=cbhv)
    write_sections(manager, "halsoval", org, 2025, centre=centre)
    account = worker.post(
        api_client_for(manager), {"kind": "halsoval", "year": 2025, "centre": centre.pk}
    ).json()
    assert api_client_for(finance).post(f"{URL}{account['id']}/submit/").status_code == 403
    assert client.post(f"{URL}{account['id']}/submit/").status_code == 403
    assert api_client_for(manager).post(f"{URL}{account['id']}/submit/").status_code == 200


def test_a_run_not_done_cannot_be_submitted(api_client_for, org, finance, cbhv, grant, no_enqueue):
    close(grant, finance)
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    client = api_client_for(cbhv)
    run = client.post(
        URL, {"kind": "socialstyrelsen", "year": 2023, "grant": str(grant.pk)}, format="json"
    ).json()
    response = client.post(f"{URL}{run['id']}/submit/")
    assert response.status_code == 409 and response.json()["detail"]


def test_the_file_answers_an_accept_header_for_its_type(api_client_for, finance, grant, worker):
    client = api_client_for(finance)
    run = worker.post(client, {"kind": "socialstyrelsen", "year": 2023, "grant": grant.pk}).json()
    response = client.get(f"{URL}{run['id']}/file/", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200
    assert (
        client.get(f"{URL}{uuid.uuid4()}/file/", HTTP_ACCEPT="application/pdf").status_code == 404
    )
