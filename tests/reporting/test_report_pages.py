"""Report pages: request a report, watch it (htmx polling and a plain refresh link), download,
submit; write and version the narrative sections."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from core.models import Role
from reporting import services
from reporting.models import NarrativeVersion, ReportRun
from tests.core.factories import CentreFactory, member

# The shared fixtures live in test_runs (a conftest here belongs to the lead); using an imported
# fixture as an argument looks like a redefinition to ruff.
# ruff: noqa: F811
from tests.reporting.test_runs import (  # noqa: F401 - fixtures
    cbhv,
    centre,
    close,
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
    request_and_run,
    write_sections,
)
from visits.models import AccessLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def test_the_list_page_shows_the_form_and_the_users_runs(
    login, finance, manager, nurse, grant, centre, cbhv, fake_renderer, no_enqueue
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fixed_compensation(centre, 2025, by=cbhv)
    request_and_run(manager, "halsoval", 2025, centre=centre.pk)
    client = login(finance)
    client.get(reverse("reporting:list"))  # session and the like, once
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("reporting:list"))
    for _ in range(3):
        request_and_run(finance, "finance_xlsx", 2023)
    with CaptureQueriesContext(connection) as four:
        html = client.get(reverse("reporting:list")).content.decode()
    assert len(four) == len(one)  # a constant number of queries
    assert 'name="kind"' in html and 'name="grant"' in html and 'name="centre"' in html
    assert html.count(">Öppna<") == 4
    assert "23RS9581" in html  # the grant among the choices
    # A centre manager sees her centre's account only, and can request only that kind.
    html = login(manager).get(reverse("reporting:list")).content.decode()
    assert html.count(">Öppna<") == 1
    assert 'value="socialstyrelsen"' not in html and 'value="halsoval"' in html
    assert login(nurse).get(reverse("reporting:list")).status_code == 403


def test_requesting_a_report_from_the_page(login, finance, grant, no_enqueue):
    client = login(finance)
    response = client.post(
        reverse("reporting:request"),
        {"kind": "socialstyrelsen", "year": "2023", "grant": str(grant.pk)},
    )
    run = ReportRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reporting:run", args=[run.pk])
    page = client.get(response["Location"]).content.decode()
    assert 'role="status"' in page and "Rapporten är beställd." in page
    # Polls while queued; a plain link refreshes without JavaScript.
    assert f'hx-get="{reverse("reporting:run", args=[run.pk])}"' in page
    assert 'hx-trigger="every 2s"' in page
    assert ">Uppdatera<" in page
    # The htmx request gets the state region only.
    partial = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<section id="run-state"') and "<html" not in partial


def test_form_errors_are_summarised(login, finance, grant, no_enqueue):
    response = login(finance).post(
        reverse("reporting:request"), {"kind": "socialstyrelsen", "year": "2024", "grant": ""}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "Välj bidrag." in html
    assert not ReportRun.objects.exists()


def test_a_done_run_offers_download_and_submit(
    login, org, finance, cbhv, grant, fake_renderer, no_enqueue
):
    close(grant, finance)
    write_sections(cbhv, "socialstyrelsen", org, 2023, grant=grant)
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    # Finance downloads the report but does not submit it: CBHV, who writes its texts, does.
    page = login(finance).get(reverse("reporting:run", args=[run.pk])).content.decode()
    assert reverse("reporting:file", args=[run.pk]) in page
    assert reverse("reporting:submit", args=[run.pk]) not in page
    assert login(finance).post(reverse("reporting:submit", args=[run.pk])).status_code == 403
    client = login(cbhv)
    page = client.get(reverse("reporting:run", args=[run.pk])).content.decode()
    assert "hx-get" not in page  # no polling once done
    assert reverse("reporting:file", args=[run.pk]) in page
    assert reverse("reporting:submit", args=[run.pk]) in page and "Ja, lämna in rapporten" in page
    download = client.get(reverse("reporting:file", args=[run.pk]))
    assert download.status_code == 200 and download["Cache-Control"] == "no-store"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert AccessLog.objects.filter(action="export", child_id__isnull=True).count() == 1
    response = client.post(reverse("reporting:submit", args=[run.pk]), follow=True)
    html = response.content.decode()
    assert "Rapporten är inlämnad och låst." in html
    assert "Ja, lämna in rapporten" not in html
    run.refresh_from_db()
    assert run.submitted_by == cbhv


def test_a_failed_run_can_be_tried_again_from_its_page(
    login, finance, grant, fake_renderer, no_enqueue
):
    from core.exceptions import Conflict

    fake_renderer.fail_with = [Conflict("Uppgifter saknas.")]
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    client = login(finance)
    page = client.get(reverse("reporting:run", args=[run.pk])).content.decode()
    assert "Uppgifter saknas." in page and "Försök igen" in page
    response = client.post(reverse("reporting:retry", args=[run.pk]))
    new = ReportRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == reverse("reporting:run", args=[new.pk])


def test_pages_are_scoped(
    login, org, other_org, finance, manager, nurse, grant, fake_renderer, no_enqueue
):
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    stranger = member(Role.FINANCE, organisation=other_org)
    for user in (stranger, manager):
        client = login(user)
        assert client.get(reverse("reporting:run", args=[run.pk])).status_code == 404
        assert client.get(reverse("reporting:file", args=[run.pk])).status_code == 404
    assert login(nurse).get(reverse("reporting:file", args=[run.pk])).status_code == 404
    assert login(finance).get(reverse("reporting:run", args=[uuid.uuid4()])).status_code == 404


def test_writing_narratives_adds_versions(login, org, other_org, finance, cbhv, grant, no_enqueue):
    url = reverse("reporting:narratives", args=["socialstyrelsen", 2023, grant.pk])
    client = login(cbhv)
    page = client.get(url).content.decode()
    assert "Hur bidraget har använts" in page and 'name="use"' in page
    response = client.post(url, {"use": "Version ett.", "comments": ""}, follow=True)
    assert "Texterna är sparade som en ny version." in response.content.decode()
    client.post(url, {"use": "Version två.", "comments": "Kommentar."})
    versions = NarrativeVersion.objects.filter(section="use").order_by("version")
    assert [v.text for v in versions] == ["Version ett.", "Version två."]
    page = client.get(url).content.decode()
    assert "Version två." in page and "Version ett." in page  # current text and the history
    assert cbhv.username in page or cbhv.get_full_name() in page
    # Finance reads, never writes.
    finance_page = login(finance).get(url).content.decode()
    assert "Spara en ny version" not in finance_page and "Version två." in finance_page
    assert login(finance).post(url, {"use": "Nej"}).status_code == 403
    # Another organisation's grant, or the wrong kind for it, is not found.
    stranger = member(Role.CBHV, organisation=other_org)
    assert login(stranger).get(url).status_code == 404
    wrong = reverse("reporting:narratives", args=["skl", 2023, grant.pk])
    assert login(cbhv).get(wrong).status_code == 404


def test_narratives_freeze_when_the_report_is_submitted(
    login, finance, cbhv, grant, fake_renderer, no_enqueue
):
    url = reverse("reporting:narratives", args=["socialstyrelsen", 2023, grant.pk])
    client = login(cbhv)
    texts = {
        "use": "Slutlig text.",
        "cooperation_municipalities": "Med socialtjänsten.",
        "cooperation_other": "Med tandvården.",
        "comments": "Inga.",
    }
    client.post(url, texts)
    close(grant, finance)
    run = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    services.report_submit(user=cbhv, run=run)
    page = client.get(url).content.decode()
    assert "Texterna är låsta." in page and "Spara en ny version" not in page
    response = client.post(url, {**texts, "use": "Ändrad."})
    assert response.status_code == 409
    assert NarrativeVersion.objects.count() == 4


def test_the_centre_manager_writes_her_centres_account(login, org, cbhv, manager, centre):
    url = reverse("reporting:narratives", args=["halsoval", 2025, centre.pk])
    client = login(manager)
    # No fixed compensation that year: no account to write.
    assert client.get(url).status_code == 404
    fixed_compensation(centre, 2025, by=cbhv)
    assert client.get(url).status_code == 200
    too_far = reverse("reporting:narratives", args=["halsoval", 99999999999, centre.pk])
    assert client.post(too_far, {"development": "x"}).status_code == 404
    refused = client.post(url, {"development": "Barnet 20250301-1237 har flyttat."})
    assert refused.status_code == 400 and "personnummer" in refused.content.decode()
    assert not NarrativeVersion.objects.exists()
    assert client.post(url, {"development": "Vi utvecklar samarbetet."}).status_code == 302
    other = CentreFactory(organisation=org)
    assert (
        client.get(reverse("reporting:narratives", args=["halsoval", 2025, other.pk])).status_code
        == 404
    )
    assert login(cbhv).post(url, {"development": "x"}).status_code == 403


def test_the_admin_lists_runs_of_her_organisation_only_and_changes_nothing(
    client, org, other_org, finance, grant, fake_renderer, no_enqueue
):
    from core.models import User

    mine = request_and_run(finance, "socialstyrelsen", 2023, grant=grant.pk)
    theirs = request_and_run(member(Role.FINANCE, organisation=other_org), "finance_xlsx", 2023)
    admin_user = member(Role.ADMIN, organisation=org)
    User.objects.filter(pk=admin_user.pk).update(is_staff=True)
    client.force_login(admin_user)
    html = client.get(reverse("admin:reporting_reportrun_changelist")).content.decode()
    assert reverse("admin:reporting_reportrun_change", args=[mine.pk]) in html
    assert reverse("admin:reporting_reportrun_change", args=[theirs.pk]) not in html
    url = reverse("admin:reporting_reportrun_change", args=[theirs.pk])
    assert client.get(url).status_code == 404
    assert client.get(reverse("admin:reporting_narrativeversion_changelist")).status_code == 200
    assert client.get(reverse("admin:reporting_reportrun_add")).status_code == 403


def test_a_narrative_save_with_one_invalid_section_stores_nothing_and_names_it(
    login, cbhv, grant, no_enqueue
):
    url = reverse("reporting:narratives", args=["socialstyrelsen", 2023, grant.pk])
    client = login(cbhv)
    texts = {"use": "Medlen gick till hembesök.", "comments": "Barnet 20250301-1237 flyttade."}
    response = client.post(url, texts)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_comments_error"' in html and 'href="#id_comments"' in html
    assert "personnummer" in html and 'id="id_use_error"' not in html
    assert not NarrativeVersion.objects.exists()
    # Corrected, both sections are saved, in one version each.
    response = client.post(url, {**texts, "comments": "Inga."})
    assert response.status_code == 302
    assert sorted(NarrativeVersion.objects.values_list("section", "version")) == [
        ("comments", 1),
        ("use", 1),
    ]
