"""The journal import's HTTP API (issue 26; API.md "Importing visits from the journal system"):
upload, detail, rows and commit, in API.md's check order (401, 403, 404, 400, 409), the access
log of the rows read, and no identity number in any answer.

The import's rules (every outcome, the commit's rollback, idempotency by child/date/place/slot)
are tested at service level in tests/visits/test_visit_import.py; these hold the HTTP contract.
"""

from __future__ import annotations

import datetime
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import Workbook
from rest_framework.fields import DateTimeField
from rest_framework.test import APIClient

from core.models import Role
from tests.core.factories import CentreFactory, member
from tests.visits.factories import nurse_at, personnummer

# The shared fixtures live in test_visit_import; using an imported fixture as an argument looks
# like a redefinition to ruff.
# ruff: noqa: F811
from tests.visits.test_visit_import import (  # noqa: F401 - fixtures and helpers
    HEADER,
    HSA,
    _store,
    centre,
    csv_file,
    day,
    enrolled,
    line,
    nurse,
    written,
)
from visits.imports.service import import_check_size
from visits.models import AccessLog, ImportStatus, Visit, VisitImport, VisitImportRow

MEGABYTE = 1024 * 1024

pytestmark = pytest.mark.django_db

URL = "/api/v1/visit-imports/"


@pytest.fixture
def client(api_client_for, nurse):
    return api_client_for(nurse)


def upload(client, content: bytes, name: str = "export.csv", **data):
    file = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    return client.post(URL, {"file": file, **data}, format="multipart")


def csv_bytes(tmp_path, rows, **kwargs) -> bytes:
    return csv_file(tmp_path, rows, **kwargs).read_bytes()


def uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks) -> str:
    """Upload `rows` as CSV and run the preview that the upload queues; the import's id."""
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, csv_bytes(tmp_path, rows))
    assert response.status_code == 202, response.content
    return response.json()["id"]


def instant(value: datetime.datetime | None) -> str | None:
    return DateTimeField().to_representation(value) if value else None


def results(client, url: str) -> list[dict[str, object]]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- Upload, detail, rows, commit -------------------------------------------------------------
def test_an_upload_is_queued_then_read_and_its_detail_shows_the_counts(
    client, tmp_path, centre, nurse, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    stranger = personnummer(a.child.birth_date, 998)
    rows = [
        line(a.child.identity, day(a, 60)),  # 2: new
        line(a.child.identity, day(a, 90), kva="ZV509", socialtjanst="nej"),  # 3: invalid
        line(stranger, day(a, 61)),  # 4: unmatched
        line(a.child.identity, day(a, 60)),  # 5: the same visit again
    ]
    with django_capture_on_commit_callbacks() as queued:
        response = upload(client, csv_bytes(tmp_path, rows))

    assert response.status_code == 202, response.content
    visit_import = VisitImport.objects.get()
    assert response.json() == {"id": str(visit_import.pk), "status": "queued"}
    assert len(queued) == 1  # the preview, sent once the upload's transaction commits
    assert visit_import.centre == centre

    queued[0]()
    visit_import.refresh_from_db()
    detail = client.get(f"{URL}{visit_import.pk}/")

    assert detail.status_code == 200
    assert detail.json() == {
        "id": str(visit_import.pk),
        "status": "ready",
        "file_name": "export.csv",
        "progress": {"done": 4, "total": 4},
        "counts": {
            "rows": 4,
            "new": 1,
            "duplicate": 1,
            "conflict": 0,
            "unmatched": 1,
            "invalid": 1,
        },
        "created_by": nurse.username,
        "created_at": instant(visit_import.created_at),
        "committed_at": None,
        "error": "",
    }


def test_a_centre_manager_may_upload(
    api_client_for, tmp_path, centre, django_capture_on_commit_callbacks
):
    manager = api_client_for(member(Role.CENTRE_MANAGER, centre=centre))
    import_id = uploaded(manager, tmp_path, [], django_capture_on_commit_callbacks)
    assert manager.get(f"{URL}{import_id}/").json()["status"] == "ready"


def test_the_rows_are_in_file_order_and_filter_by_outcome(
    client, tmp_path, centre, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    b = enrolled(centre)
    stranger = personnummer(a.child.birth_date, 998)
    rows = [
        line(a.child.identity, day(a, 60)),
        line(b.child.identity, day(b, 60), kva="ZV509", socialtjanst="nej"),
        line(stranger, day(a, 61)),
        line(b.child.identity, day(b, 61), besokstyp="telefonbesök"),
    ]
    import_id = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    masked_a = f"{a.child.identity[:8]}-****"
    masked_b = f"{b.child.identity[:8]}-****"

    assert results(client, f"{URL}{import_id}/rows/") == [
        {
            "row": 2,
            "outcome": "new",
            "reason": "",
            "child_masked": masked_a,
            "enrolment": str(a.pk),
            "visit": None,
        },
        {
            "row": 3,
            "outcome": "invalid",
            "reason": "ZV509 (medverkan av socialtjänst) kräver att socialtjänsten deltog.",
            "child_masked": masked_b,
            "enrolment": str(b.pk),
            "visit": None,
        },
        {
            "row": 4,
            "outcome": "unmatched",
            "reason": "Barnet är inte registrerat i organisationen.",
            "child_masked": "",
            "enrolment": None,
            "visit": None,
        },
        {
            "row": 5,
            "outcome": "invalid",
            "reason": "Okänt värde i kolumnen besokstyp: telefonbesök.",
            "child_masked": masked_b,
            "enrolment": str(b.pk),
            "visit": None,
        },
    ]
    invalid = results(client, f"{URL}{import_id}/rows/?outcome=invalid")
    assert [(r["row"], r["reason"]) for r in invalid] == [
        (3, "ZV509 (medverkan av socialtjänst) kräver att socialtjänsten deltog."),
        (5, "Okänt värde i kolumnen besokstyp: telefonbesök."),
    ]
    assert [r["row"] for r in results(client, f"{URL}{import_id}/rows/?outcome=conflict")] == []


def test_the_rows_are_paged_by_cursor(client, tmp_path, centre, django_capture_on_commit_callbacks):
    a = enrolled(centre)
    rows = [line(a.child.identity, day(a, n)) for n in (60, 90, 120)]
    import_id = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)

    first = client.get(f"{URL}{import_id}/rows/?page_size=2").json()
    second = client.get(first["next"]).json()

    assert [r["row"] for r in first["results"]] == [2, 3]
    assert first["previous"] is None
    assert [r["row"] for r in second["results"]] == [4]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "?outcome=ok",
            {"outcome": ["Välj ett av: new, duplicate, conflict, unmatched, invalid."]},
        ),
        ("?outcome=", {"outcome": ["Ange ett värde eller utelämna parametern."]}),
    ],
)
def test_an_unknown_outcome_is_a_400_on_outcome(
    client, tmp_path, centre, django_capture_on_commit_callbacks, query, errors
):
    import_id = uploaded(client, tmp_path, [], django_capture_on_commit_callbacks)
    response = client.get(f"{URL}{import_id}/rows/{query}")
    assert response.status_code == 400
    assert response.json() == errors


def test_a_protected_child_is_shown_as_protected_in_the_rows(
    client, tmp_path, centre, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    import_id = uploaded(
        client, tmp_path, [line(a.child.identity, day(a, 60))], django_capture_on_commit_callbacks
    )
    a.child.protected = True  # since the preview
    a.child.save(update_fields=["protected"])

    assert [r["child_masked"] for r in results(client, f"{URL}{import_id}/rows/")] == [
        "Skyddad identitet"
    ]


def test_commit_is_202_then_committed_with_the_visits_saved(
    client, tmp_path, centre, nurse, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    b = enrolled(centre)
    rows = [
        line(a.child.identity, day(a, 60)),
        line(b.child.identity, day(b, 90), socialtjanst="nej", besokstyp="mottagningsbesök"),
        line(b.child.identity, day(b, 91), kva="ZV509", socialtjanst="nej"),  # invalid
    ]
    import_id = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{URL}{import_id}/commit/")

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["id"], body["status"], body["committed_at"]) == (import_id, "committing", None)
    assert body["counts"]["new"] == 2
    detail = client.get(f"{URL}{import_id}/").json()
    visit_import = VisitImport.objects.get(pk=import_id)
    assert (detail["status"], detail["committed_at"]) == (
        "committed",
        instant(visit_import.committed_at),
    )
    joint = Visit.objects.get(enrolment=a)
    clinic = Visit.objects.get(enrolment=b)
    assert (joint.date, joint.place, joint.slot, joint.kva_codes, joint.nurse) == (
        day(a, 60),
        "home",
        "2m",
        ["ZV509"],
        nurse,
    )
    assert (clinic.date, clinic.place, clinic.kva_codes) == (day(b, 90), "clinic", [])
    assert Visit.objects.count() == 2
    assert [r["visit"] for r in results(client, f"{URL}{import_id}/rows/")] == [
        str(joint.pk),
        str(clinic.pk),
        None,
    ]


def test_a_second_commit_is_409_and_saves_nothing_more(
    client, tmp_path, centre, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    import_id = uploaded(
        client, tmp_path, [line(a.child.identity, day(a, 60))], django_capture_on_commit_callbacks
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{URL}{import_id}/commit/").status_code == 202

    with django_capture_on_commit_callbacks(execute=True) as queued:
        again = client.post(f"{URL}{import_id}/commit/")

    assert again.status_code == 409
    assert again.json() == {"detail": "Importen är redan sparad."}
    assert queued == []
    assert Visit.objects.count() == 1


def test_a_commit_before_the_preview_is_done_is_409(client, tmp_path, centre):
    response = upload(client, csv_bytes(tmp_path, []))  # its preview never sent
    visit_import = VisitImport.objects.get(pk=response.json()["id"])

    refused = client.post(f"{URL}{visit_import.pk}/commit/")

    assert refused.status_code == 409
    assert refused.json() == {"detail": "Importen är inte klar att spara."}
    visit_import.refresh_from_db()
    assert visit_import.status == ImportStatus.QUEUED


def test_a_commit_repeated_with_its_idempotency_key_is_replayed(
    client, tmp_path, centre, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    import_id = uploaded(
        client, tmp_path, [line(a.child.identity, day(a, 60))], django_capture_on_commit_callbacks
    )
    url = f"{URL}{import_id}/commit/"
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, headers={"Idempotency-Key": "commit-1"})
    with django_capture_on_commit_callbacks(execute=True) as queued:
        replay = client.post(url, headers={"Idempotency-Key": "commit-1"})

    assert (first.status_code, replay.status_code) == (202, 202)
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert queued == []
    assert Visit.objects.count() == 1
    without_key = client.post(url)
    assert without_key.status_code == 409


# --- Who may: 401, 403, 404 -------------------------------------------------------------------
@pytest.fixture
def ready_import(client, tmp_path, centre, django_capture_on_commit_callbacks) -> str:
    a = enrolled(centre)
    return uploaded(
        client, tmp_path, [line(a.child.identity, day(a, 60))], django_capture_on_commit_callbacks
    )


def requests(import_id: str) -> list[tuple[str, str]]:
    return [
        ("get", f"{URL}{import_id}/"),
        ("get", f"{URL}{import_id}/rows/"),
        ("post", f"{URL}{import_id}/commit/"),
    ]


def test_anonymous_is_401_everywhere(ready_import, tmp_path):
    anonymous = APIClient()
    for method, url in requests(ready_import):
        assert getattr(anonymous, method)(url).status_code == 401, url
    assert upload(anonymous, csv_bytes(tmp_path, [])).status_code == 401
    assert VisitImport.objects.count() == 1


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CBHV])
def test_finance_and_cbhv_are_403_even_for_their_organisations_import(
    api_client_for, ready_import, tmp_path, centre, role
):
    other = api_client_for(member(role, organisation=centre.organisation))
    for method, url in requests(ready_import):
        response = getattr(other, method)(url)
        assert response.status_code == 403, url
        assert response.json() == {"detail": "Rollen får inte se barn."}
    assert upload(other, csv_bytes(tmp_path, [])).status_code == 403
    assert VisitImport.objects.count() == 1


def test_another_centres_nurse_gets_404_and_commits_nothing(api_client_for, ready_import, centre):
    colleague = api_client_for(nurse_at(CentreFactory(organisation=centre.organisation)))
    for method, url in requests(ready_import):
        response = getattr(colleague, method)(url)
        assert response.status_code == 404, url
    assert VisitImport.objects.get(pk=ready_import).status == ImportStatus.READY
    assert not AccessLog.objects.filter(what="visit_import_rows").exists()


def test_a_missing_import_is_404(client):
    for method, url in requests("6f0c1a35-0d7e-4d46-9d42-3c8f0e0b0a11"):
        assert getattr(client, method)(url).status_code == 404, url


# --- The upload's input: 400 ------------------------------------------------------------------
def test_an_upload_without_a_file_is_a_400_on_file(client):
    response = client.post(URL, {}, format="multipart")
    assert response.status_code == 400
    assert response.json() == {"file": ["Ingen fil skickades."]}


def test_a_file_without_the_required_columns_is_a_400_naming_them(client, tmp_path, settings):
    response = upload(client, b"personnummer;datum;kva\n199001011234;2026-01-01;\n")

    assert response.status_code == 400
    assert response.json() == {"file": ["Kolumner saknas: vardenhet, besokstyp."]}
    assert VisitImport.objects.count() == 0
    assert list(settings.IMPORT_STORE.iterdir()) == []  # not kept


def test_a_file_over_the_limit_is_a_400_naming_the_limit_in_mb(client, tmp_path, settings):
    settings.IMPORT_MAX_BYTES = MEGABYTE
    header = ";".join(HEADER).encode() + b"\n"
    at_limit = header + b"\n" * (MEGABYTE - len(header))

    too_large = upload(client, at_limit + b"\n")
    assert too_large.status_code == 400
    assert too_large.json() == {"file": ["Filen är för stor: högst 1 MB."]}
    assert VisitImport.objects.count() == 0

    assert upload(client, at_limit).status_code == 202


@pytest.mark.parametrize(("limit", "shown"), [(20 * MEGABYTE, "20"), (MEGABYTE * 5 // 2, "2,5")])
def test_the_limit_is_named_in_mb_with_a_decimal_comma(settings, limit, shown):
    settings.IMPORT_MAX_BYTES = limit
    with pytest.raises(ValidationError) as refused:
        import_check_size(limit + 1)
    assert refused.value.message_dict == {"file": [f"Filen är för stor: högst {shown} MB."]}
    import_check_size(limit)  # at the limit: taken


@pytest.fixture
def two_centres(centre, nurse):
    second = CentreFactory(organisation=centre.organisation, hsa_id="SE2321000164-BVC2")
    member(Role.NURSE, centre=second, user=nurse)
    return second


def test_a_nurse_of_two_centres_must_name_one_of_hers(client, tmp_path, two_centres):
    elsewhere = CentreFactory(organisation=two_centres.organisation)
    content = csv_bytes(tmp_path, [])

    unnamed = upload(client, content)
    outside = upload(client, content, centre=str(elsewhere.pk))
    named = upload(client, content, centre=str(two_centres.pk))

    assert (unnamed.status_code, unnamed.json()) == (400, {"centre": ["Välj BVC."]})
    assert (outside.status_code, outside.json()) == (
        400,
        {"centre": ["Välj en BVC där du arbetar."]},
    )
    assert named.status_code == 202
    assert VisitImport.objects.get().centre == two_centres


def test_an_xlsx_export_is_read(client, centre, django_capture_on_commit_callbacks):
    a = enrolled(centre)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Personnummer", "Datum", "Vårdenhet", "Besökstyp", "Socialtjänst"])
    sheet.append([written(a.child.identity), day(a, 60), HSA, "hembesök", "ja"])
    content = io.BytesIO()
    workbook.save(content)

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, content.getvalue(), name="export.xlsx")

    assert response.status_code == 202, response.content
    detail = client.get(f"{URL}{response.json()['id']}/").json()
    assert (detail["status"], detail["file_name"], detail["counts"]["new"]) == (
        "ready",
        "export.xlsx",
        1,
    )


# --- The access log and identity numbers --------------------------------------------------------
def test_reading_the_rows_logs_each_child_shown_once_with_its_centre(
    client, tmp_path, centre, nurse, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    b = enrolled(centre)
    rows = [
        line(a.child.identity, day(a, 60)),
        line(a.child.identity, day(a, 90), socialtjanst="nej"),
        line(personnummer(a.child.birth_date, 998), day(a, 61)),  # nobody's: no child
        line(b.child.identity, day(b, 60)),
    ]
    import_id = uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)
    reads = AccessLog.objects.filter(action="read", what="visit_import_rows")
    assert not reads.exists()  # the preview logs its own `import` rows, no read

    client.get(f"{URL}{import_id}/rows/?page_size=3")
    assert sorted(reads.values_list("child_id", "username", "care_unit")) == [
        (a.child.pk, nurse.username, centre.pk)
    ]

    client.get(f"{URL}{import_id}/rows/?outcome=new")
    assert sorted(reads.values_list("child_id", "care_unit")) == sorted(
        [(a.child.pk, centre.pk), (a.child.pk, centre.pk), (b.child.pk, centre.pk)]
    )


def test_a_child_moved_since_is_logged_through_the_centre_of_the_rows_enrolment(
    client, tmp_path, centre, nurse, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    import_id = uploaded(
        client, tmp_path, [line(a.child.identity, day(a, 60))], django_capture_on_commit_callbacks
    )
    moved_to = CentreFactory(organisation=centre.organisation)
    a.child.current_centre = moved_to
    a.child.save(update_fields=["current_centre"])

    client.get(f"{URL}{import_id}/rows/")

    reads = AccessLog.objects.filter(action="read", what="visit_import_rows")
    assert list(reads.values_list("child_id", "care_unit")) == [(a.child.pk, centre.pk)]


def test_no_answer_carries_an_identity_number(
    client, tmp_path, centre, django_capture_on_commit_callbacks
):
    a = enrolled(centre)
    b = enrolled(centre)
    wrong = b.child.identity[:-1] + str((int(b.child.identity[-1]) + 1) % 10)
    rows = [
        line(a.child.identity, day(a, 60)),
        line(wrong, day(b, 60)),
        line(b.child.identity, day(b, 60), besokstyp=written(a.child.identity)),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        created = upload(client, csv_bytes(tmp_path, rows))
    import_id = created.json()["id"]
    answers = [created, client.get(f"{URL}{import_id}/"), client.get(f"{URL}{import_id}/rows/")]
    with django_capture_on_commit_callbacks(execute=True):
        answers.append(client.post(f"{URL}{import_id}/commit/"))
    answers.append(client.get(f"{URL}{import_id}/rows/?outcome=invalid"))

    text = "\n".join(json.dumps(r.json(), ensure_ascii=False) for r in answers)
    assert "[personnummer borttaget]" in text  # the number in the wrong column, masked
    for identity in (a.child.identity, b.child.identity, wrong):
        for form in (identity, identity[2:], written(identity), written(identity)[2:]):
            assert form not in text


def test_the_rows_take_the_same_queries_for_1_and_50_rows(
    client, tmp_path, centre, django_capture_on_commit_callbacks, django_assert_num_queries
):
    def rows_of(count: int) -> str:
        enrolments = [enrolled(centre) for _ in range(count)]
        rows = [line(e.child.identity, day(e, 60)) for e in enrolments]
        return uploaded(client, tmp_path, rows, django_capture_on_commit_callbacks)

    one = rows_of(1)
    many = rows_of(50)
    with CaptureQueriesContext(connection) as first:
        assert len(results(client, f"{URL}{one}/rows/")) == 1
    with django_assert_num_queries(len(first.captured_queries)):
        assert len(results(client, f"{URL}{many}/rows/")) == 50
    assert VisitImportRow.objects.filter(visit_import_id=many).count() == 50
