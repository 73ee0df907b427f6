"""The journal import's pages (issue 26): upload, the preview's progress polled with htmx, the
rows per outcome, the commit; field errors, roles and scope, the access log, no identity number.

The import's rules are tested at service level (tests/visits/test_visit_import.py), its HTTP
contract in tests/visits/test_import_api.py; these hold what the browser shows.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.models import Role
from tests.core.factories import CentreFactory, member
from tests.visits.factories import nurse_at, personnummer
from tests.visits.test_pages import error_summary, html_of, invalid_fields

# Fixtures used as parameters (pytest's way) shadow their imports.
# ruff: noqa: F811
from tests.visits.test_visit_import import (  # noqa: F401 - fixtures and helpers
    HEADER,
    _store,
    centre,
    csv_file,
    day,
    enrolled,
    line,
    nurse,
    written,
)
from visits.imports.service import import_create, import_preview
from visits.models import AccessLog, ImportStatus, Visit, VisitImport

pytestmark = pytest.mark.django_db

LIST = "/besok/import/"
NEW_REASON = "ZV509 (medverkan av socialtjänst) kräver att socialtjänsten deltog."
UNMATCHED_REASON = "Barnet är inte registrerat i organisationen."


def upload(client: Any, content: bytes, name: str = "export.csv", **data: str) -> Any:
    file = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(LIST, {"file": file, **data})


def uploaded(client, tmp_path, rows, capture) -> VisitImport:
    """Upload `rows` as CSV on the page and run the preview it queues."""
    with capture(execute=True):
        response = upload(client, csv_file(tmp_path, rows).read_bytes())
    assert response.status_code == 302
    visit_import = VisitImport.objects.order_by("-created_at").first()
    assert visit_import is not None
    assert response["Location"] == f"/besok/import/{visit_import.pk}/"
    return visit_import


@pytest.fixture
def three_rows(centre):
    """A new row, an invalid one (ZV509 without social services), an unmatched one."""
    a = enrolled(centre)
    b = enrolled(centre)
    stranger = personnummer(a.child.birth_date, 998)
    rows = [
        line(a.child.identity, day(a, 60)),
        line(b.child.identity, day(b, 60), kva="ZV509", socialtjanst="nej"),
        line(stranger, day(a, 61)),
    ]
    return a, b, stranger, rows


def table_rows(html: str) -> list[list[str]]:
    """The rows table's cells as text (tags stripped, whitespace folded)."""
    table = re.search(r'<table class="data data--cards import-rows">.*?</table>', html, re.S)
    assert table, "no rows table"
    body = table.group(0).split("<tbody>")[1]
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td.*?</td>", tr, re.S)
        ]
        for tr in re.findall(r"<tr>.*?</tr>", body, re.S)
    ]


def counts_of(html: str) -> list[str]:
    found = re.search(r'<ul class="link-list import-counts">.*?</ul>', html, re.S)
    assert found, "no counts"
    return [
        " ".join(re.sub(r"<[^>]+>", " ", li).split())
        for li in re.findall(r"<li>.*?</li>", found.group(0), re.S)
    ]


# --- Upload, preview, rows --------------------------------------------------------------------
def test_upload_reads_the_file_and_the_detail_shows_counts_and_reasons(
    client, tmp_path, centre, nurse, three_rows, django_capture_on_commit_callbacks
):
    a, _b, _stranger, rows = three_rows
    client.force_login(nurse)
    visit_import = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    assert visit_import.status == ImportStatus.READY
    assert (visit_import.file_name, visit_import.centre, visit_import.created_by) == (
        "export.csv",
        centre,
        nurse,
    )

    page = client.get(f"/besok/import/{visit_import.pk}/")
    html = html_of(page)
    assert page.status_code == 200
    assert "Filen är uppladdad och läses nu." in html
    assert "hx-trigger" not in html  # ready: nothing to poll
    assert "3 rader i filen" in html
    assert counts_of(html) == [
        "Alla 3",
        "Nya 1",
        "Dubbletter 0",
        "Konflikter 0",
        "Omatchade 1",
        "Ogiltiga 1",
    ]
    assert table_rows(html) == [
        ["2", "Ny", f"{a.child.identity[:8]}-****", "–", ""],
        ["3", "Ogiltig", f"{_b.child.identity[:8]}-****", NEW_REASON, ""],
        ["4", "Omatchad", "–", UNMATCHED_REASON, ""],  # no child matched: none shown
    ]
    assert f'action="/besok/import/{visit_import.pk}/spara/"' in html
    assert "Spara 1 nytt besök" in html
    assert page["Cache-Control"] == "no-store, private"


def test_the_counts_filter_the_rows_by_outcome(
    client, tmp_path, nurse, three_rows, django_capture_on_commit_callbacks
):
    _a, b, _stranger, rows = three_rows
    client.force_login(nurse)
    visit_import = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    html = html_of(client.get(f"/besok/import/{visit_import.pk}/?outcome=invalid"))
    assert table_rows(html) == [["3", "Ogiltig", f"{b.child.identity[:8]}-****", NEW_REASON, ""]]
    assert "Rader: Ogiltig" in html
    assert (
        f'<a href="/besok/import/{visit_import.pk}/?outcome=invalid" aria-current="true">' in html
    )
    assert html.count('aria-current="true"') == 1

    none = html_of(client.get(f"/besok/import/{visit_import.pk}/?outcome=conflict"))
    assert "Inga rader med det utfallet." in none
    unknown = html_of(client.get(f"/besok/import/{visit_import.pk}/?outcome=nonsense"))
    assert "Välj ett av: new, duplicate, conflict, unmatched, invalid." in unknown
    assert len(table_rows(unknown)) == 3  # all rows, with the notice


def test_the_state_polls_while_the_file_is_read_and_stops_once_ready(
    client, tmp_path, centre, nurse, three_rows
):
    _a, _b, _stranger, rows = three_rows
    path = csv_file(tmp_path, rows)
    visit_import = import_create(user=nurse, centre=centre, path_or_file=path, file_name="x.csv")
    VisitImport.objects.filter(pk=visit_import.pk).update(
        status=ImportStatus.PREVIEWING, progress_done=2, progress_total=3
    )
    client.force_login(nurse)
    url = f"/besok/import/{visit_import.pk}/"

    partial = html_of(client.get(url, headers={"HX-Request": "true"}))
    assert partial.startswith('<section id="import-state"')
    assert "<html" not in partial
    assert f'hx-get="{url}" hx-trigger="every 1s" hx-target="this" hx-swap="outerHTML"' in partial
    assert '<progress id="import-progress" value="2" max="3"' in partial
    assert "Rad 2 av 3" in partial
    assert f'<a class="button button--ghost" href="{url}">Uppdatera</a>' in partial  # no JS
    assert "import-rows" not in partial
    full = html_of(client.get(url))
    assert "<html" in full and 'hx-trigger="every 1s"' in full and "Rad 2 av 3" in full

    import_preview(VisitImport.objects.get(pk=visit_import.pk))
    ready = html_of(client.get(url, headers={"HX-Request": "true"}))
    assert ready.startswith('<section id="import-state"')
    assert "hx-trigger" not in ready and "<progress" not in ready
    assert "3 rader i filen" in ready
    assert len(table_rows(ready)) == 3


def test_a_queued_import_shows_waiting_without_numbers(client, tmp_path, centre, nurse):
    path = csv_file(tmp_path, [])
    visit_import = import_create(user=nurse, centre=centre, path_or_file=path, file_name="x.csv")
    client.force_login(nurse)
    html = html_of(client.get(f"/besok/import/{visit_import.pk}/"))
    assert "Filen väntar på att läsas." in html
    assert 'hx-trigger="every 1s"' in html
    assert (
        '<progress id="import-progress" aria-labelledby="import-progress-text"></progress>' in html
    )


# --- Commit -----------------------------------------------------------------------------------
def test_commit_saves_the_new_rows_and_the_page_confirms_with_links_to_the_visits(
    client, tmp_path, nurse, three_rows, django_capture_on_commit_callbacks
):
    a, _b, _stranger, rows = three_rows
    client.force_login(nurse)
    visit_import = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    url = f"/besok/import/{visit_import.pk}/"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{url}spara/")
    assert (response.status_code, response["Location"]) == (302, url)
    visit_import.refresh_from_db()
    assert visit_import.status == ImportStatus.COMMITTED
    visit = Visit.objects.get()
    assert (visit.enrolment, visit.slot, visit.kva_codes) == (a, "2m", ["ZV509"])

    html = html_of(client.get(url))
    when = visit_import.committed_at.astimezone().strftime("%Y-%m-%d %H:%M")
    assert f'<p role="status" class="message">Importen är sparad {when}: 1 nytt besök.</p>' in html
    assert "De nya besöken sparas nu." in html
    assert "spara/" not in html  # no second commit offered
    assert table_rows(html)[0] == [
        "2",
        "Ny",
        f"{a.child.identity[:8]}-****",
        "–",
        "Visa besök : rad 2",
    ]
    assert f'href="/besok/{visit.pk}/"' in html


def test_a_second_commit_shows_the_conflict_on_the_detail_page(
    client, tmp_path, nurse, three_rows, django_capture_on_commit_callbacks
):
    _a, _b, _stranger, rows = three_rows
    client.force_login(nurse)
    visit_import = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    commit = f"/besok/import/{visit_import.pk}/spara/"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(commit)

    again = client.post(commit, follow=True)
    assert again.redirect_chain == [(f"/besok/import/{visit_import.pk}/", 302)]
    assert '<p class="message message--error">Importen är redan sparad.</p>' in html_of(again)
    assert Visit.objects.count() == 1


def test_commit_of_an_import_not_ready_is_a_conflict_not_an_error(client, tmp_path, centre, nurse):
    visit_import = import_create(
        user=nurse, centre=centre, path_or_file=csv_file(tmp_path, []), file_name="x.csv"
    )
    client.force_login(nurse)
    response = client.post(f"/besok/import/{visit_import.pk}/spara/", follow=True)
    assert response.status_code == 200
    assert "Importen är inte klar att spara." in html_of(response)
    assert VisitImport.objects.get().status == ImportStatus.QUEUED


def test_a_failed_import_shows_its_error(client, tmp_path, centre, nurse):
    visit_import = import_create(
        user=nurse, centre=centre, path_or_file=csv_file(tmp_path, []), file_name="x.csv"
    )
    VisitImport.objects.filter(pk=visit_import.pk).update(
        status=ImportStatus.FAILED, error="Filen kunde inte läsas."
    )
    client.force_login(nurse)
    html = html_of(client.get(f"/besok/import/{visit_import.pk}/"))
    assert (
        '<div role="alert" class="message message--error">\n    <p><strong>Importen '
        "misslyckades.</strong> Filen kunde inte läsas.</p>" in html
    )
    assert "hx-trigger" not in html


# --- The upload form --------------------------------------------------------------------------
def test_the_upload_form_names_the_columns_and_takes_csv_or_xlsx(client, nurse):
    client.force_login(nurse)
    html = html_of(client.get(LIST))
    assert '<input type="file" name="file" accept=".csv,.xlsx"' in html
    assert (
        "Första raden är rubriker: personnummer, datum, vardenhet, besokstyp och, om de finns, "
        "status, kva, socialtjanst, tolk, sprak, besokstillfalle. CSV eller Excel (XLSX), högst "
        "20 MB." in html
    )
    assert "Filen tas bort när importen är sparad, eller efter 30 dagar." in html
    assert 'name="centre"' not in html  # one centre: nothing to choose
    assert "Inga importer än." in html


def test_a_missing_file_is_a_field_error(client, nurse):
    client.force_login(nurse)
    response = client.post(LIST, {})
    html = html_of(response)
    assert response.status_code == 200
    assert (
        '<a href="#id_file">Fil från journalsystemet (CSV eller Excel): '
        "Välj en fil att importera.</a>" in error_summary(html)
    )
    assert invalid_fields(html) == {"file"}
    assert not VisitImport.objects.exists()


def test_missing_columns_are_a_field_error_and_nothing_is_kept(client, tmp_path, nurse):
    client.force_login(nurse)
    header = tuple(c for c in HEADER if c not in ("datum", "besokstyp"))
    content = csv_file(tmp_path, [], header=header).read_bytes()
    html = html_of(upload(client, content))
    assert "Kolumner saknas: datum, besokstyp." in error_summary(html)
    assert invalid_fields(html) == {"file"}
    assert not VisitImport.objects.exists()
    assert not any((tmp_path / "store").iterdir())


def test_a_file_above_the_limit_is_a_field_error(client, tmp_path, nurse, settings):
    settings.IMPORT_MAX_BYTES = 512 * 1024
    client.force_login(nurse)
    html = html_of(upload(client, b"x" * (512 * 1024 + 1)))
    assert "Filen är för stor: högst 0,5 MB." in error_summary(html)
    assert invalid_fields(html) == {"file"}
    assert not VisitImport.objects.exists()


def test_a_nurse_of_several_centres_chooses_the_centre(
    client, tmp_path, centre, nurse, three_rows, django_capture_on_commit_callbacks
):
    _a, _b, _stranger, rows = three_rows
    second = CentreFactory(organisation=centre.organisation, name="Örnsro BVC")
    member(Role.NURSE, centre=second, user=nurse)
    client.force_login(nurse)
    assert '<select name="centre"' in html_of(client.get(LIST))
    content = csv_file(tmp_path, rows).read_bytes()

    html = html_of(upload(client, content))
    assert "BVC: Välj BVC." in error_summary(html)
    assert invalid_fields(html) == {"centre"}
    outside = CentreFactory(organisation=centre.organisation)
    html = html_of(upload(client, content, centre=str(outside.pk)))
    assert "BVC: Välj en BVC där du arbetar." in error_summary(html)
    assert not VisitImport.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, content, centre=str(centre.pk))
    assert response.status_code == 302
    assert VisitImport.objects.get().centre == centre


# --- The list ---------------------------------------------------------------------------------
def test_the_list_shows_the_centres_imports_newest_first(
    client, tmp_path, centre, nurse, three_rows, django_capture_on_commit_callbacks
):
    _a, _b, _stranger, rows = three_rows
    client.force_login(nurse)
    first = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    second = import_create(
        user=nurse, centre=centre, path_or_file=csv_file(tmp_path, []), file_name="senare.csv"
    )
    elsewhere = CentreFactory(organisation=centre.organisation)
    import_create(
        user=nurse_at(elsewhere),
        centre=elsewhere,
        path_or_file=csv_file(tmp_path, []),
        file_name="annan.csv",
    )
    html = html_of(client.get(LIST))
    opened = re.findall(r'href="/besok/import/([0-9a-f-]{36})/"', html)
    assert opened == [str(second.pk), str(first.pk)]
    assert "annan.csv" not in html
    assert "3: nya 1, omatchade 1, ogiltiga 1" in " ".join(re.sub(r"<[^>]+>", "", html).split())
    assert centre.name in html
    assert "I kö" in html and "Klar att spara" in html


def test_the_list_is_paged_by_25(client, tmp_path, centre, nurse):
    for n in range(26):
        import_create(
            user=nurse, centre=centre, path_or_file=csv_file(tmp_path, []), file_name=f"f{n}.csv"
        )
    client.force_login(nurse)
    first = html_of(client.get(LIST))
    assert len(re.findall(r'href="/besok/import/[0-9a-f-]{36}/"', first)) == 25
    assert 'href="/besok/import/?page=2"' in first
    second = html_of(client.get(f"{LIST}?page=2"))
    assert len(re.findall(r'href="/besok/import/[0-9a-f-]{36}/"', second)) == 1


def test_the_navigation_offers_the_import_to_those_who_see_children(client, centre, nurse):
    link = '<a href="/besok/import/" aria-current="page">Importera besök</a>'
    client.force_login(nurse)
    assert '<a href="/besok/import/">Importera besök</a>' in html_of(client.get("/"))
    page = html_of(client.get(LIST))
    assert link in page
    assert '<a href="/besok/" aria-current="page">' not in page
    client.force_login(member(Role.FINANCE, organisation=centre.organisation))
    assert "Importera besök" not in html_of(client.get("/"))


# --- Roles, scope, the access log, no identity number -----------------------------------------
def test_roles_that_never_see_children_get_403(client, tmp_path, centre, nurse):
    visit_import = import_create(
        user=nurse, centre=centre, path_or_file=csv_file(tmp_path, []), file_name="x.csv"
    )
    for role in (Role.FINANCE, Role.CBHV):
        client.force_login(member(role, organisation=centre.organisation))
        assert client.get(LIST).status_code == 403, role
        assert client.post(LIST, {}).status_code == 403, role
        assert client.get(f"/besok/import/{visit_import.pk}/").status_code == 403, role
        assert client.post(f"/besok/import/{visit_import.pk}/spara/").status_code == 403, role


def test_another_centres_nurse_gets_404_and_the_manager_reads(
    client, tmp_path, centre, nurse, three_rows, django_capture_on_commit_callbacks
):
    _a, _b, _stranger, rows = three_rows
    client.force_login(nurse)
    visit_import = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    url = f"/besok/import/{visit_import.pk}/"
    client.force_login(nurse_at(CentreFactory(organisation=centre.organisation)))
    assert client.get(url).status_code == 404
    assert client.post(f"{url}spara/").status_code == 404
    assert "export.csv" not in html_of(client.get(LIST))
    assert VisitImport.objects.get().status == ImportStatus.READY

    client.force_login(member(Role.CENTRE_MANAGER, centre=centre))
    assert client.get(url).status_code == 200


def test_the_rows_shown_are_logged_as_read(
    client, tmp_path, centre, nurse, three_rows, django_capture_on_commit_callbacks
):
    a, b, _stranger, rows = three_rows
    client.force_login(nurse)
    visit_import = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    client.force_login(manager)
    before = AccessLog.objects.count()

    client.get(f"/besok/import/{visit_import.pk}/")
    logged = AccessLog.objects.filter(username=manager.username)
    assert AccessLog.objects.count() - before == 2  # the stranger's row shows no child
    assert sorted(logged.values_list("child_id", "care_unit", "action", "what")) == sorted(
        [
            (a.child.pk, centre.pk, "read", "visit_import_rows"),
            (b.child.pk, centre.pk, "read", "visit_import_rows"),
        ]
    )
    client.get(f"/besok/import/{visit_import.pk}/?outcome=invalid")
    assert AccessLog.objects.filter(username=manager.username).count() == 3  # b only
    client.get(LIST)  # names no child
    assert AccessLog.objects.filter(username=manager.username).count() == 3


def test_a_child_moved_since_is_logged_through_the_centre_of_its_rows_enrolment(
    client, tmp_path, centre, nurse, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    client.force_login(nurse)
    visit_import = uploaded(
        client, tmp_path, [line(a.child.identity, day(a, 60))], django_capture_on_commit_callbacks
    )
    a.child.current_centre = CentreFactory(organisation=centre.organisation)
    a.child.save(update_fields=["current_centre"])

    client.get(f"/besok/import/{visit_import.pk}/")
    reads = AccessLog.objects.filter(action="read", what="visit_import_rows")
    assert list(reads.values_list("child_id", "care_unit")) == [(a.child.pk, centre.pk)]


def test_no_identity_number_is_in_the_pages(
    client, tmp_path, nurse, three_rows, django_capture_on_commit_callbacks
):
    a, b, stranger, rows = three_rows
    client.force_login(nurse)
    visit_import = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    url = f"/besok/import/{visit_import.pk}/"
    pages = [client.get(LIST), client.get(url), client.get(url, headers={"HX-Request": "true"})]
    with django_capture_on_commit_callbacks(execute=True):
        pages.append(client.post(f"{url}spara/", follow=True))
    for identity in (a.child.identity, b.child.identity, stranger):
        for form in (identity, identity[2:], written(identity), written(identity)[2:]):
            for page in pages:
                assert form not in html_of(page)


def test_the_rows_page_costs_the_same_queries_at_1_and_50_rows(
    client, tmp_path, centre, nurse, django_capture_on_commit_callbacks
):
    def committed(count: int) -> str:
        enrolments = [enrolled(centre) for _ in range(count)]
        rows = [line(e.child.identity, day(e, 60)) for e in enrolments]
        visit_import = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/besok/import/{visit_import.pk}/spara/")
        return f"/besok/import/{visit_import.pk}/"

    client.force_login(nurse)

    def queries(url: str) -> int:
        client.get(url)  # the message of the commit, once
        with CaptureQueriesContext(connection) as ctx:
            html = html_of(client.get(url))
        assert "Visa besök" in html
        return len(ctx.captured_queries)

    one = queries(committed(1))
    url = committed(50)
    fifty = queries(url)
    assert html_of(client.get(url)).count("Visa besök") == 50
    assert one == fifty
