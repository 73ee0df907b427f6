"""Who gets what from the visits API: the scope matrix (API.md, "Scope and roles") and the
access log (Patientdatalagen, DOMAIN.md 7).

Centre B's child, enrolment and visit, seen by: a nurse and the centre manager of centre A
(same organisation), a nurse of another organisation, and CBHV and finance of the organisation.
Path objects outside scope are 404, roles that may never act are 403 (before 404), ids in the
body outside scope are 400 on that field (after 404).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest
from django.db.models import Max
from django.utils import timezone

from core.models import Centre, Role, User
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.visits.factories import (
    ChildFactory,
    EnrolmentFactory,
    ProgrammeTemplateFactory,
    log_visit,
    nurse_at,
    personnummer,
)
from visits.access_log import log_without_patient
from visits.models import AccessLog, Child, Enrolment, Visit

pytestmark = pytest.mark.django_db


def today() -> str:
    return timezone.localdate().isoformat()


@dataclass
class World:
    centre_a: Centre
    centre_b: Centre
    other_centre: Centre
    child: Child
    enrolment: Enrolment
    visit: Visit
    nurse_b: User
    manager_b: User
    nurse_a: User
    manager_a: User
    nurse_other: User
    cbhv: User
    finance: User
    log_reviewer: User
    admin: User


@pytest.fixture
def world() -> World:
    centre_a = CentreFactory()
    organisation = centre_a.organisation
    centre_b = CentreFactory(organisation=organisation)
    other_centre = CentreFactory()
    nurse_b = nurse_at(centre_b)
    enrolment = EnrolmentFactory(
        child__current_centre=centre_b,
        child__birth_date=timezone.localdate() - datetime.timedelta(days=100),
    )
    visit = log_visit(enrolment, nurse_b, slot="2m")
    return World(
        centre_a=centre_a,
        centre_b=centre_b,
        other_centre=other_centre,
        child=enrolment.child,
        enrolment=enrolment,
        visit=visit,
        nurse_b=nurse_b,
        manager_b=member(Role.CENTRE_MANAGER, centre=centre_b),
        nurse_a=nurse_at(centre_a),
        manager_a=member(Role.CENTRE_MANAGER, centre=centre_a),
        nurse_other=nurse_at(other_centre),
        cbhv=member(Role.CBHV, organisation=organisation),
        finance=member(Role.FINANCE, organisation=organisation),
        log_reviewer=member(Role.LOG_REVIEWER, organisation=organisation),
        admin=member(Role.ADMIN, organisation=organisation),
    )


def routes(w: World) -> list[tuple[str, str, dict[str, Any]]]:
    """Every route with a path object, with a valid body where one is needed."""
    return [
        ("get", f"/api/v1/children/{w.child.id}/", {}),
        ("patch", f"/api/v1/children/{w.child.id}/", {"given_name": "Ny"}),
        ("get", f"/api/v1/enrolments/{w.enrolment.id}/", {}),
        ("patch", f"/api/v1/enrolments/{w.enrolment.id}/", {"language": "dari"}),
        (
            "post",
            f"/api/v1/enrolments/{w.enrolment.id}/end/",
            {"ended_on": today(), "reason": "completed"},
        ),
        ("get", f"/api/v1/visits/{w.visit.id}/", {}),
        ("patch", f"/api/v1/visits/{w.visit.id}/", {"place": "clinic"}),
    ]


def call(client: Any, method: str, url: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(url, body) if body else getattr(client, method)(url)


def test_centre_b_staff_reach_every_route(world, api_client_for):
    """The control: the same requests succeed for B's nurse (each in a fresh world)."""
    client = api_client_for(world.nurse_b)
    for method, url, body in routes(world):
        assert call(client, method, url, body).status_code == 200, (method, url)


@pytest.mark.parametrize("persona", ["nurse_a", "manager_a", "nurse_other"])
def test_path_objects_of_another_centre_are_404(world, api_client_for, persona):
    client = api_client_for(getattr(world, persona))
    for method, url, body in routes(world):
        if persona == "manager_a" and method == "patch" and "/visits/" in url:
            continue  # a centre manager may never change visits: 403 (below)
        response = call(client, method, url, body)
        assert response.status_code == 404, (persona, method, url, response.content)
        assert "detail" in response.json()
    assert Visit.objects.get().place == "home"
    assert Enrolment.objects.get().ended_on is None


@pytest.mark.parametrize("persona", ["cbhv", "finance", "log_reviewer", "admin"])
def test_roles_that_never_see_children_get_403_everywhere(world, api_client_for, persona):
    client = api_client_for(getattr(world, persona))
    for method, url, body in [
        *routes(world),
        ("get", "/api/v1/children/", {}),
        ("post", "/api/v1/children/", {"identity_type": "personnummer", "identity": "x"}),
        ("get", "/api/v1/enrolments/", {}),
        ("post", "/api/v1/enrolments/", {}),
        ("get", "/api/v1/worklist/", {}),
        ("get", "/api/v1/visits/", {}),
        ("post", "/api/v1/visits/", {"enrolment": str(world.enrolment.id)}),
    ]:
        response = call(client, method, url, body)
        assert response.status_code == 403, (persona, method, url, response.content)


def test_403_comes_before_404_and_404_before_400(world, api_client_for):
    # CBHV, garbage body, path object out of scope: the role answers first.
    cbhv = api_client_for(world.cbhv)
    assert cbhv.patch(f"/api/v1/visits/{world.visit.id}/", {"date": "x"}).status_code == 403
    # A centre manager may never change a visit, in scope or not.
    manager_a = api_client_for(world.manager_a)
    assert manager_a.patch(f"/api/v1/visits/{world.visit.id}/", {"date": "x"}).status_code == 403
    manager_b = api_client_for(world.manager_b)
    assert manager_b.patch(f"/api/v1/visits/{world.visit.id}/", {"date": "x"}).status_code == 403
    # In scope only for reading: B's centre manager may not change B's child either.
    assert manager_b.patch(f"/api/v1/children/{world.child.id}/", {}).status_code == 403
    # A nurse of another centre with a garbage body: the path answers before the body.
    nurse_a = api_client_for(world.nurse_a)
    for url in (
        f"/api/v1/visits/{world.visit.id}/",
        f"/api/v1/children/{world.child.id}/",
        f"/api/v1/enrolments/{world.enrolment.id}/",
    ):
        assert nurse_a.patch(url, {"date": "x", "protected": "x"}).status_code == 404
    end = f"/api/v1/enrolments/{world.enrolment.id}/end/"
    assert nurse_a.post(end, {"reason": "x"}).status_code == 404
    # A missing object is the same 404.
    assert nurse_a.get(f"/api/v1/visits/{world.enrolment.id}/").status_code == 404


def test_anonymous_callers_get_401_everywhere(world, client):
    for method, url, body in [
        *routes(world),
        ("get", "/api/v1/children/", {}),
        ("post", "/api/v1/children/", {}),
        ("get", "/api/v1/enrolments/", {}),
        ("post", "/api/v1/enrolments/", {}),
        ("get", "/api/v1/worklist/", {}),
        ("get", "/api/v1/visits/", {}),
        ("post", "/api/v1/visits/", {}),
        ("get", "/api/v1/kva-codes/", {}),
        ("get", "/api/v1/programme-templates/", {}),
        ("get", "/api/v1/access-log/", {}),
    ]:
        response = getattr(client, method)(url, body, content_type="application/json")
        assert response.status_code == 401, (method, url)


def test_body_ids_outside_scope_are_400_on_that_field(world, api_client_for):
    nurse_a = api_client_for(world.nurse_a)
    mine = ChildFactory(current_centre=world.centre_a)
    my_template = ProgrammeTemplateFactory(organisation=world.centre_a.organisation)
    foreign_template = ProgrammeTemplateFactory(organisation=world.other_centre.organisation)
    enrolment = {
        "child": str(mine.id),
        "centre": str(world.centre_a.id),
        "template": str(my_template.id),
        "offered_on": mine.birth_date.isoformat(),
        "eligibility": [],
        "programme": "full",
    }
    cases = [
        (
            "/api/v1/visits/",
            {
                "enrolment": str(world.enrolment.id),
                "date": today(),
                "place": "home",
                "status": "completed",
            },
            "enrolment",
        ),
        ("/api/v1/enrolments/", {**enrolment, "child": str(world.child.id)}, "child"),
        ("/api/v1/enrolments/", {**enrolment, "centre": str(world.centre_b.id)}, "centre"),
        ("/api/v1/enrolments/", {**enrolment, "template": str(foreign_template.id)}, "template"),
        (
            "/api/v1/children/",
            {
                "identity_type": "personnummer",
                "identity": personnummer(mine.birth_date),
                "centre": str(world.centre_b.id),
            },
            "centre",
        ),
    ]
    for url, body, field in cases:
        response = nurse_a.post(url, body)
        assert response.status_code == 400, (url, field, response.content)
        assert field in response.json(), (url, field, response.json())
    # Moving a child to another organisation's centre.
    nurse_b = api_client_for(world.nurse_b)
    response = nurse_b.post(
        f"/api/v1/enrolments/{world.enrolment.id}/end/",
        {"ended_on": today(), "reason": "moved", "moved_to": str(world.other_centre.id)},
    )
    assert response.status_code == 400
    assert list(response.json()) == ["moved_to"]
    assert Enrolment.objects.filter(child=mine).count() == 0


@pytest.mark.parametrize(
    "url", ["/api/v1/children/", "/api/v1/enrolments/", "/api/v1/worklist/", "/api/v1/visits/"]
)
def test_lists_show_nothing_of_another_centre(world, api_client_for, url):
    for persona in ("nurse_a", "manager_a", "nurse_other"):
        response = api_client_for(getattr(world, persona)).get(url)
        assert response.status_code == 200
        assert response.json()["results"] == [], persona
    assert api_client_for(world.nurse_b).get(url).json()["results"]


def test_worklist_filter_on_another_centre_is_a_400(world, api_client_for):
    response = api_client_for(world.nurse_a).get(f"/api/v1/worklist/?centre={world.centre_b.id}")
    assert response.status_code == 400
    assert list(response.json()) == ["centre"]


# --- Access log -------------------------------------------------------------------------------
def last_row_id() -> int:
    return AccessLog.objects.aggregate(last=Max("id"))["last"] or 0


def rows_since(row_id: int) -> list[AccessLog]:
    """The rows written after `row_id` (the log is append-only: nothing else changes)."""
    return list(AccessLog.objects.filter(id__gt=row_id).order_by("id"))


def test_each_list_logs_one_read_per_child_shown(world, api_client_for):
    second = EnrolmentFactory(child__current_centre=world.centre_b)
    log_visit(second, world.nurse_b, slot="1-2w", date=second.child.birth_date)
    client = api_client_for(world.nurse_b)
    for url, what in [
        ("/api/v1/children/", "child list"),
        ("/api/v1/enrolments/", "enrolment list"),
        ("/api/v1/worklist/", "worklist"),
        ("/api/v1/visits/", "visit list"),
    ]:
        since = last_row_id()
        assert len(client.get(url).json()["results"]) >= 2
        rows = rows_since(since)
        assert len(rows) == 2, url  # one per child, however many rows show it
        assert {r.child_id for r in rows} == {world.child.id, second.child.id}
        assert {(r.action, r.care_unit, r.what, r.username) for r in rows} == {
            ("read", world.centre_b.id, what, world.nurse_b.username)
        }


def test_each_detail_logs_one_read_with_its_care_unit(world, api_client_for):
    client = api_client_for(world.manager_b)
    for url, what in [
        (f"/api/v1/children/{world.child.id}/", "child"),
        (f"/api/v1/enrolments/{world.enrolment.id}/", "enrolment"),
        (f"/api/v1/visits/{world.visit.id}/", "visit"),
    ]:
        since = last_row_id()
        assert client.get(url).status_code == 200
        (row,) = rows_since(since)
        assert (row.action, row.what, row.child_id, row.care_unit, row.user_id) == (
            "read",
            what,
            world.child.id,
            world.centre_b.id,
            world.manager_b.id,
        )


def test_refused_requests_log_nothing(world, api_client_for):
    since = last_row_id()
    api_client_for(world.nurse_a).get(f"/api/v1/children/{world.child.id}/")
    api_client_for(world.cbhv).get("/api/v1/children/")
    api_client_for(world.nurse_b).patch(f"/api/v1/visits/{world.visit.id}/", {"date": "x"})
    assert rows_since(since) == []


def test_old_centre_reads_are_logged_through_the_centre_that_made_the_history(
    world, api_client_for
):
    nurse_b = api_client_for(world.nurse_b)
    response = nurse_b.post(
        f"/api/v1/enrolments/{world.enrolment.id}/end/",
        {"ended_on": today(), "reason": "moved", "moved_to": str(world.centre_a.id)},
    )
    assert response.status_code == 200
    since = last_row_id()
    api_client_for(world.nurse_a).get(f"/api/v1/children/{world.child.id}/")
    nurse_b.get(f"/api/v1/visits/{world.visit.id}/")
    assert [(r.username, r.care_unit) for r in rows_since(since)] == [
        (world.nurse_a.username, world.centre_a.id),
        (world.nurse_b.username, world.centre_b.id),
    ]


def test_writes_are_logged_once_by_the_service_not_again_as_reads(world, api_client_for):
    client = api_client_for(world.nurse_b)
    since = last_row_id()
    response = client.patch(f"/api/v1/visits/{world.visit.id}/", {"place": "clinic"})
    assert response.status_code == 200
    assert [(r.action, r.what) for r in rows_since(since)] == [("update", "visit")]

    since = last_row_id()
    client.patch(f"/api/v1/children/{world.child.id}/", {"given_name": "Ny"})
    assert [(r.action, r.what) for r in rows_since(since)] == [("update", "child")]

    # A PATCH that changes nothing still shows the child: a read.
    since = last_row_id()
    client.patch(f"/api/v1/children/{world.child.id}/", {"given_name": "Ny"})
    client.patch(f"/api/v1/enrolments/{world.enrolment.id}/", {})
    assert [(r.action, r.what) for r in rows_since(since)] == [
        ("read", "child"),
        ("read", "enrolment"),
    ]

    since = last_row_id()
    response = client.post(
        "/api/v1/visits/",
        {
            "enrolment": str(world.enrolment.id),
            "date": today(),
            "place": "home",
            "status": "completed",
        },
    )
    assert response.status_code == 201
    assert [(r.action, r.what) for r in rows_since(since)] == [("create", "visit")]


def test_no_identity_number_reaches_the_log_or_a_url(world, api_client_for):
    client = api_client_for(world.nurse_b)
    response = client.post(
        "/api/v1/children/",
        {"identity_type": "personnummer", "identity": personnummer(world.child.birth_date)},
    )
    assert response.status_code == 201
    for row in AccessLog.objects.values("what", "username"):
        assert not any(ch.isdigit() for ch in row["what"])
    assert world.child.identity not in client.get("/api/v1/enrolments/").content.decode()


def test_log_reviewer_reads_the_access_log_of_her_organisation(world, api_client_for):
    api_client_for(world.nurse_b).get(f"/api/v1/children/{world.child.id}/")
    elsewhere = EnrolmentFactory(child__current_centre=world.other_centre)
    api_client_for(world.nurse_other).get(f"/api/v1/children/{elsewhere.child.id}/")
    # Downloads without a patient: shown for the organisation's own staff only.
    log_without_patient(user=world.cbhv, action="export", what="report")
    log_without_patient(user=world.nurse_other, action="export", what="report")

    client = api_client_for(world.log_reviewer)
    response = client.get("/api/v1/access-log/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert rows
    assert {(r["care_unit"], r["user"]) for r in rows if r["child"] is None} == {
        (None, world.cbhv.username)
    }
    patients = [r for r in rows if r["child"] is not None]
    assert {r["care_unit"] for r in patients} == {str(world.centre_b.id)}
    assert str(elsewhere.child.id) not in response.content.decode()
    newest = patients[0]
    assert set(newest) >= {"time", "user", "care_unit", "action", "child"}
    assert (newest["user"], newest["action"], newest["child"]) == (
        world.nurse_b.username,
        "read",
        str(world.child.id),
    )
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True)


def test_access_log_filters(world, api_client_for):
    api_client_for(world.manager_b).get(f"/api/v1/children/{world.child.id}/")
    other = ChildFactory(current_centre=world.centre_b)
    api_client_for(world.nurse_b).get(f"/api/v1/children/{other.id}/")
    client = api_client_for(world.log_reviewer)

    def rows(query: str) -> list[dict[str, Any]]:
        response = client.get(f"/api/v1/access-log/{query}")
        assert response.status_code == 200, response.content
        return response.json()["results"]

    assert {r["child"] for r in rows(f"?child={other.id}")} == {str(other.id)}
    assert {r["user"] for r in rows(f"?user={world.manager_b.username}")} == {
        world.manager_b.username
    }
    assert rows(f"?from={today()}&to={today()}")
    day = timezone.localdate()
    assert rows(f"?to={day - datetime.timedelta(days=1)}") == []
    assert rows(f"?from={day + datetime.timedelta(days=1)}") == []
    assert rows("?from=0001-01-01&to=9999-12-31")
    for bad in ("?from=yesterday", "?to=2025-13-01", "?child=abc", "?from="):
        response = client.get(f"/api/v1/access-log/{bad}")
        assert response.status_code == 400, bad
        assert all(isinstance(v, list) for v in response.json().values())


@pytest.mark.parametrize("persona", ["nurse_b", "manager_b", "cbhv", "finance", "admin"])
def test_only_the_log_reviewer_reads_the_access_log(world, api_client_for, persona):
    response = api_client_for(getattr(world, persona)).get("/api/v1/access-log/")
    assert response.status_code == 403


def test_log_reviewer_of_another_organisation_sees_none_of_these_rows(world, api_client_for):
    api_client_for(world.nurse_b).get(f"/api/v1/children/{world.child.id}/")
    outsider = member(Role.LOG_REVIEWER, organisation=OrganisationFactory())
    assert api_client_for(outsider).get("/api/v1/access-log/").json()["results"] == []
