"""Log review (API.md, "Log review and the patient's log extract"; DOMAIN.md 7): the access log's
filters, reproducible samples with append-only findings, the patient's log extract, and the
log reviewer's pages."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.models import Centre, Role, User
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.visits.factories import ChildFactory, nurse_at
from visits import log_review
from visits.access_log import log_children, log_without_patient
from visits.models import AccessLog, AccessLogFinding, AccessLogSample, Child

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@dataclass
class World:
    centre: Centre
    second_centre: Centre
    other_centre: Centre  # another organisation's
    child: Child
    nurse: User
    second_nurse: User
    other_nurse: User
    reviewer: User
    other_reviewer: User
    finance: User


@pytest.fixture
def world() -> World:
    organisation = OrganisationFactory()
    centre = CentreFactory(organisation=organisation, name="BVC Norr", hsa_id="SE2321000016-0001")
    second = CentreFactory(organisation=organisation, name="BVC Söder", hsa_id="SE2321000016-0002")
    other = CentreFactory(name="BVC Annanstans", hsa_id="SE2321000016-0099")
    return World(
        centre=centre,
        second_centre=second,
        other_centre=other,
        child=ChildFactory(current_centre=centre),
        nurse=nurse_at(centre),
        second_nurse=nurse_at(second),
        other_nurse=nurse_at(other),
        reviewer=member(Role.LOG_REVIEWER, organisation=organisation),
        other_reviewer=member(Role.LOG_REVIEWER, organisation=other.organisation),
        finance=member(Role.FINANCE, organisation=organisation),
    )


def at(day: str, hour: int = 10) -> datetime.datetime:
    return datetime.datetime.combine(
        datetime.date.fromisoformat(day), datetime.time(hour), STOCKHOLM
    )


def log(user: User, child: Child, centre: Centre, when: datetime.datetime, action="read") -> int:
    with time_machine.travel(when, tick=False):
        log_children(user=user, action=action, entries=[(child, centre.id)], what="child")
    return AccessLog.objects.order_by("-id").values_list("id", flat=True)[0]


def dashed(child: Child) -> str:
    return f"{child.identity[:8]}-{child.identity[8:]}"


# --- The access log's filters -----------------------------------------------------------------
def test_access_log_filters_by_centre_and_action(world: World, api_client_for) -> None:
    log(world.nurse, world.child, world.centre, at("2025-03-01"))
    log(world.nurse, world.child, world.centre, at("2025-03-02"), action="update")
    log(world.second_nurse, world.child, world.second_centre, at("2025-03-03"))
    client = api_client_for(world.reviewer)

    def rows(query: str) -> list[tuple[str, str]]:
        response = client.get(f"/api/v1/access-log/{query}")
        assert response.status_code == 200, response.content
        return [(r["care_unit"], r["action"]) for r in response.json()["results"]]

    centre, second = str(world.centre.id), str(world.second_centre.id)
    assert rows(f"?centre={centre}") == [(centre, "update"), (centre, "read")]
    assert rows("?action=read") == [(second, "read"), (centre, "read")]
    assert rows(f"?centre={centre}&action=update&from=2025-03-02&to=2025-03-02") == [
        (centre, "update")
    ]
    assert rows(f"?centre={second}&action=update") == []


@pytest.mark.parametrize("query", ["?action=delete", "?action=", "?centre=abc", "?centre=OTHER"])
def test_access_log_refuses_an_unknown_action_or_a_centre_outside_scope(
    world: World, api_client_for, query: str
) -> None:
    query = query.replace("OTHER", str(world.other_centre.id))
    response = api_client_for(world.reviewer).get(f"/api/v1/access-log/{query}")
    assert response.status_code == 400
    assert set(response.json()) == {query[1:].split("=")[0]}


# --- Samples ----------------------------------------------------------------------------------
@pytest.fixture
def period_rows(world: World) -> list[int]:
    """Ten rows in 1–10 March 2025 in the reviewer's scope, and rows she must never get."""
    ids = [
        log(world.nurse, world.child, world.centre, at(f"2025-03-{d:02d}")) for d in range(1, 11)
    ]
    stranger = ChildFactory(current_centre=world.other_centre)
    for day in range(1, 6):
        log(world.other_nurse, stranger, world.other_centre, at(f"2025-03-{day:02d}"))
    log(world.nurse, world.child, world.centre, at("2025-02-28", 23))
    log(world.nurse, world.child, world.centre, at("2025-03-11", 0))
    return ids


def test_a_sample_of_three_is_drawn_from_the_period_in_scope(
    world: World, api_client_for, period_rows: list[int]
) -> None:
    client = api_client_for(world.reviewer)

    response = client.post(
        "/api/v1/access-log/samples/",
        {"from": "2025-03-01", "to": "2025-03-10", "size": 3},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {"id", "from", "to", "size", "seed", "created_by", "created_at", "rows"}
    assert (body["from"], body["to"], body["size"]) == ("2025-03-01", "2025-03-10", 3)
    assert body["created_by"] == world.reviewer.username
    ids = [r["id"] for r in body["rows"]]
    assert len(set(ids)) == 3
    assert set(ids) <= set(period_rows)
    assert {r["care_unit"] for r in body["rows"]} == {str(world.centre.id)}
    assert set(body["rows"][0]) == {"id", "time", "user", "care_unit", "action", "child"}

    detail = client.get(f"/api/v1/access-log/samples/{body['id']}/").json()
    assert [r["id"] for r in detail["rows"]] == ids
    listed = client.get("/api/v1/access-log/samples/").json()["results"]
    assert [s["id"] for s in listed] == [body["id"]]


def test_the_same_seed_chooses_the_same_rows(world: World, period_rows: list[int]) -> None:
    first = log_review.access_log_sample_create(
        user=world.reviewer,
        start=datetime.date(2025, 3, 1),
        end=datetime.date(2025, 3, 10),
        size=3,
        seed="c0ffee",
    )
    again = log_review.access_log_sample_create(
        user=world.reviewer,
        start=datetime.date(2025, 3, 1),
        end=datetime.date(2025, 3, 10),
        size=3,
        seed="c0ffee",
    )
    other_seeds = {
        tuple(
            log_review.sample_row_ids(
                user=world.reviewer,
                start=datetime.date(2025, 3, 1),
                end=datetime.date(2025, 3, 10),
                size=3,
                seed=seed,
            )
        )
        for seed in ("a", "b", "c", "d", "e")
    }

    assert first.row_ids == again.row_ids
    assert len(first.row_ids) == 3
    assert set(first.row_ids) <= set(period_rows)
    assert len(other_seeds) > 1  # the seed matters


def test_a_sample_is_not_found_by_a_reviewer_of_another_organisation(
    world: World, api_client_for, period_rows: list[int]
) -> None:
    sample = log_review.access_log_sample_create(
        user=world.reviewer, start=datetime.date(2025, 3, 1), end=datetime.date(2025, 3, 10), size=3
    )
    client = api_client_for(world.other_reviewer)

    assert client.get(f"/api/v1/access-log/samples/{sample.id}/").status_code == 404
    assert client.get("/api/v1/access-log/samples/").json()["results"] == []
    finding = {"row": sample.row_ids[0], "verdict": "justified", "remark": ""}
    url = f"/api/v1/access-log/samples/{sample.id}/findings/"
    assert client.post(url, finding, format="json").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "2025-03-01", "to": "2025-03-10", "size": 0}, "size"),
        ({"from": "2025-03-01", "to": "2025-03-10", "size": 501}, "size"),
        ({"from": "2025-03-10", "to": "2025-03-01", "size": 3}, "to"),
        ({"to": "2025-03-10", "size": 3}, "from"),
    ],
)
def test_a_sample_request_is_checked(world: World, api_client_for, body, field) -> None:
    response = api_client_for(world.reviewer).post(
        "/api/v1/access-log/samples/", body, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()


# --- Findings ---------------------------------------------------------------------------------
@pytest.fixture
def sample(world: World, period_rows: list[int]) -> AccessLogSample:
    return log_review.access_log_sample_create(
        user=world.reviewer,
        start=datetime.date(2025, 3, 1),
        end=datetime.date(2025, 3, 10),
        size=3,
        seed="c0ffee",
    )


def test_a_finding_is_recorded_and_a_later_one_counts(
    world: World, api_client_for, sample: AccessLogSample
) -> None:
    client = api_client_for(world.reviewer)
    url = f"/api/v1/access-log/samples/{sample.id}/findings/"
    row = sample.row_ids[0]

    first = client.post(url, {"row": row, "verdict": "justified", "remark": ""}, format="json")
    second = client.post(
        url,
        {"row": row, "verdict": "questioned", "remark": "Ingen vårdrelation"},
        format="json",
    )

    assert first.status_code == 201, first.content
    assert set(first.json()) == {"row", "verdict", "remark", "reviewed_by", "reviewed_at"}
    assert (first.json()["row"], first.json()["reviewed_by"]) == (row, world.reviewer.username)
    assert second.status_code == 201
    assert AccessLogFinding.objects.filter(sample=sample, row_id=row).count() == 2
    latest = log_review.latest_findings(log_review.sample_findings(sample))
    assert (latest[row].verdict, latest[row].remark) == ("questioned", "Ingen vårdrelation")


def test_questioned_without_a_remark_is_refused(
    world: World, api_client_for, sample: AccessLogSample
) -> None:
    response = api_client_for(world.reviewer).post(
        f"/api/v1/access-log/samples/{sample.id}/findings/",
        {"row": sample.row_ids[0], "verdict": "questioned", "remark": "  "},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"remark"}
    assert not AccessLogFinding.objects.exists()


def test_a_finding_on_a_row_outside_the_sample_is_refused(
    world: World, api_client_for, sample: AccessLogSample, period_rows: list[int]
) -> None:
    outside = next(i for i in period_rows if i not in sample.row_ids)
    response = api_client_for(world.reviewer).post(
        f"/api/v1/access-log/samples/{sample.id}/findings/",
        {"row": outside, "verdict": "justified"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"row"}


def test_findings_are_append_only_in_the_database(world: World, sample: AccessLogSample) -> None:
    finding = log_review.access_log_finding_create(
        user=world.reviewer, sample=sample, row_id=sample.row_ids[0], verdict="justified", remark=""
    )
    for change in (
        lambda: AccessLogFinding.objects.filter(pk=finding.pk).update(verdict="questioned"),
        lambda: AccessLogFinding.objects.filter(pk=finding.pk).delete(),
        lambda: AccessLogSample.objects.filter(pk=sample.pk).update(size=1),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE visits_accesslogfinding SET remark = 'ändrad'")
    finding.refresh_from_db()
    assert (finding.verdict, finding.remark) == ("justified", "")


# --- The patient's log extract ----------------------------------------------------------------
def test_the_extract_lists_care_units_and_times_newest_first_and_never_users(
    world: World, api_client_for
) -> None:
    log(world.nurse, world.child, world.centre, at("2025-03-01"))
    log(world.second_nurse, world.child, world.second_centre, at("2025-03-05"), action="update")
    log_without_patient(user=world.nurse, action="export", what="report")

    response = api_client_for(world.reviewer).post(
        "/api/v1/access-log/extract/",
        {"identity_type": "personnummer", "identity": dashed(world.child)},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["child_masked"] == f"{world.child.identity[:8]}-****"
    assert [
        (a["time"][:10], a["care_unit"], a["care_unit_hsa_id"], a["action"])
        for a in body["accesses"]
    ] == [
        ("2025-03-05", str(world.second_centre.id), "SE2321000016-0002", "update"),
        ("2025-03-01", str(world.centre.id), "SE2321000016-0001", "read"),
    ]
    text = response.content.decode()
    for user in (world.nurse, world.second_nurse):
        assert user.username not in text
    assert world.child.identity not in text
    # The extract is itself logged, as the reviewer's read of the child without a care unit.
    logged = AccessLog.objects.get(what="log_extract")
    assert (logged.username, logged.action, logged.care_unit, logged.child_id) == (
        world.reviewer.username,
        "read",
        None,
        world.child.id,
    )


def test_the_extract_takes_a_period(world: World, api_client_for) -> None:
    log(world.nurse, world.child, world.centre, at("2025-03-01"))
    log(world.nurse, world.child, world.centre, at("2025-03-05"))

    response = api_client_for(world.reviewer).post(
        "/api/v1/access-log/extract/",
        {
            "identity_type": "personnummer",
            "identity": world.child.identity,
            "from": "2025-03-02",
            "to": "2025-03-31",
        },
        format="json",
    )

    assert [a["time"][:10] for a in response.json()["accesses"]] == ["2025-03-05"]


def test_an_unknown_identity_gives_an_empty_extract(world: World, api_client_for) -> None:
    log(world.nurse, world.child, world.centre, at("2025-03-01"))
    client = api_client_for(world.reviewer)

    for _ in range(2):  # not logged, so a second extract is empty too
        response = client.post(
            "/api/v1/access-log/extract/",
            {"identity_type": "personnummer", "identity": "20240101-0018"},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert response.json() == {"child_masked": "20240101-****", "accesses": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"identity_type": "personnummer", "identity": "20240101-0019"}, "identity"),
        ({"identity_type": "personnummer", "identity": ""}, "identity"),
        ({"identity_type": "pass", "identity": "20240101-0018"}, "identity_type"),
        ({"identity_type": "personnummer", "identity": "20240101-0018", "format": "doc"}, "format"),
    ],
)
def test_an_invalid_extract_request_is_refused(world: World, api_client_for, body, field) -> None:
    response = api_client_for(world.reviewer).post(
        "/api/v1/access-log/extract/", body, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {field}


def test_the_extract_of_another_organisations_child_is_empty(world: World, api_client_for) -> None:
    log(world.nurse, world.child, world.centre, at("2025-03-01"))
    response = api_client_for(world.other_reviewer).post(
        "/api/v1/access-log/extract/",
        {"identity_type": "personnummer", "identity": world.child.identity},
        format="json",
    )
    assert response.json()["accesses"] == []
    assert not AccessLog.objects.filter(what="log_extract").exists()


# --- Who may --------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", ["nurse", "finance"])
def test_only_the_log_reviewer_reviews_the_log(world: World, api_client_for, persona) -> None:
    client = api_client_for(getattr(world, persona))
    sample = log_review.access_log_sample_create(
        user=world.reviewer, start=datetime.date(2025, 3, 1), end=datetime.date(2025, 3, 10), size=3
    )
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("get", "/api/v1/access-log/", {}),
        ("get", "/api/v1/access-log/samples/", {}),
        (
            "post",
            "/api/v1/access-log/samples/",
            {"from": "2025-03-01", "to": "2025-03-10", "size": 3},
        ),
        ("get", f"/api/v1/access-log/samples/{sample.id}/", {}),
        (
            "post",
            f"/api/v1/access-log/samples/{sample.id}/findings/",
            {"row": 1, "verdict": "justified"},
        ),
        (
            "post",
            "/api/v1/access-log/extract/",
            {"identity_type": "personnummer", "identity": dashed(world.child)},
        ),
    ]
    for method, url, body in calls:
        response = getattr(client, method)(url, body, format="json") if body else client.get(url)
        assert response.status_code == 403, (method, url)
    for url in ("/logg/", "/logg/stickprov/", f"/logg/stickprov/{sample.id}/", "/logg/utdrag/"):
        page_client = Client()
        page_client.force_login(getattr(world, persona))
        assert page_client.get(url).status_code == 403, url


# --- Pages ------------------------------------------------------------------------------------
@pytest.fixture
def browser(world: World, client) -> Any:
    client.force_login(world.reviewer)
    return client


def test_the_log_page_searches_by_filters_and_by_identity_in_the_body(
    world: World, browser, period_rows: list[int]
) -> None:
    other = ChildFactory(current_centre=world.centre)
    log(world.second_nurse, other, world.second_centre, at("2025-03-04"), action="update")

    page = browser.get("/logg/")
    assert page.status_code == 200
    assert "Loggranskning" in page.content.decode()
    assert page.content.decode().count("<tr>") == 1 + 13  # header + every row in scope

    filtered = browser.get(f"/logg/?centre={world.second_centre.id}&action=update")
    assert filtered.content.decode().count("<tr>") == 1 + 1
    assert world.second_nurse.username in filtered.content.decode()

    by_child = browser.post("/logg/", {"identity_type": "personnummer", "identity": dashed(other)})
    assert by_child.status_code == 200
    assert by_child.content.decode().count("<tr>") == 1 + 1
    assert str(other.id) in by_child.content.decode()

    bad = browser.post("/logg/", {"identity_type": "personnummer", "identity": "20240101-0019"})
    assert "Kontrollsiffran stämmer inte." in bad.content.decode()
    assert browser.get("/logg/?action=delete").content.decode().count("<tr>") == 0


def test_the_log_page_costs_the_same_queries_at_1_and_50_rows(world: World, browser) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert browser.get("/logg/").status_code == 200
        return len(captured)

    log(world.nurse, world.child, world.centre, at("2025-03-01"))
    queries()  # the first request after signing in renews the session (core.sessions)
    one = queries()
    for day in range(49):
        log(world.nurse, world.child, world.centre, at("2025-01-01") + datetime.timedelta(days=day))
    assert AccessLog.objects.count() == 50
    assert queries() == one


def test_the_sample_pages_draw_a_sample_and_record_findings(
    world: World, browser, period_rows: list[int]
) -> None:
    assert browser.get("/logg/stickprov/").status_code == 200

    created = browser.post(
        "/logg/stickprov/", {"date_from": "2025-03-01", "date_to": "2025-03-10", "size": "3"}
    )
    assert created.status_code == 302
    sample = AccessLogSample.objects.get()
    assert created["Location"] == f"/logg/stickprov/{sample.id}/"
    detail = browser.get(created["Location"])
    assert detail.status_code == 200
    assert detail.content.decode().count("Spara bedömning") == 3

    refused = browser.post(
        f"/logg/stickprov/{sample.id}/granska/",
        {"row": sample.row_ids[0], "verdict": "questioned", "remark": ""},
    )
    assert refused.status_code == 400
    assert "Skriv varför åtkomsten ifrågasätts." in refused.content.decode()

    saved = browser.post(
        f"/logg/stickprov/{sample.id}/granska/",
        {"row": sample.row_ids[0], "verdict": "questioned", "remark": "Okänd vårdrelation"},
    )
    assert saved.status_code == 302
    after = browser.get(f"/logg/stickprov/{sample.id}/").content.decode()
    assert "Okänd vårdrelation" in after
    assert after.count("Spara bedömning") == 2
    assert "Granska igen" in after
    assert (
        browser.get("/logg/stickprov/").content.decode().count("/logg/stickprov/" + str(sample.id))
    )


def test_the_extract_page_shows_care_units_and_times(world: World, browser) -> None:
    log(world.nurse, world.child, world.centre, at("2025-03-01"))
    assert browser.get("/logg/utdrag/").status_code == 200

    page = browser.post(
        "/logg/utdrag/", {"identity_type": "personnummer", "identity": dashed(world.child)}
    )

    text = page.content.decode()
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    assert "BVC Norr" in text and "SE2321000016-0001" in text and "2025-03-01 10:00" in text
    assert world.nurse.username not in text


def test_a_period_without_rows_gives_an_empty_sample(world: World, api_client_for) -> None:
    response = api_client_for(world.reviewer).post(
        "/api/v1/access-log/samples/",
        {"from": "2020-01-01", "to": "2020-01-31", "size": 5},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["size"], response.json()["rows"]) == (5, [])


def test_an_extract_whose_period_ends_before_it_starts_is_refused_on_to_and_not_logged(
    world: World, api_client_for
) -> None:
    """The JSON extract checks what the PDF's does (visits.log_review.extract_subject)."""
    log(world.nurse, world.child, world.centre, at("2025-03-01"))
    response = api_client_for(world.reviewer).post(
        "/api/v1/access-log/extract/",
        {
            "identity_type": "personnummer",
            "identity": dashed(world.child),
            "from": "2025-03-05",
            "to": "2025-03-01",
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["to"] == ["Slutdagen ligger före startdagen."]
    assert not AccessLog.objects.filter(what="log_extract").exists()
