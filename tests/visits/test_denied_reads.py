"""Denied reads go to the security log (issue 24, item 10): a child, enrolment or visit that
exists outside the caller's scope answers 404, as a missing one does (API.md), and leaves one
`denied_read` line in `hembesok.security` with the user, the route and the object's kind and
id; never an identity number or a name. A missing id leaves no line."""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import Centre, Organisation, Role, User
from tests.core.factories import CentreFactory, OrganisationFactory, UserFactory, member
from tests.visits.factories import EnrolmentFactory, log_visit, nurse_at, personnummer
from visits.models import AccessLog, Child, Enrolment, Visit

pytestmark = pytest.mark.django_db

BORN = timezone.localdate() - datetime.timedelta(days=90)


@dataclass
class World:
    varberga: Centre
    vivalla: Centre
    child: Child
    enrolment: Enrolment
    visit: Visit
    nurse: User  # at Varberga


@pytest.fixture
def world() -> World:
    region: Organisation = OrganisationFactory(name="Region Örebro län")
    varberga: Centre = CentreFactory(organisation=region, name="Varberga")
    vivalla: Centre = CentreFactory(organisation=region, name="Vivalla/Lundby")
    enrolment = EnrolmentFactory(
        child__current_centre=vivalla,
        child__identity=personnummer(BORN, 123),
        child__birth_date=BORN,
        child__given_name="Alva",
        child__family_name="Skyddesson",
    )
    visit = log_visit(enrolment)
    nurse = member(Role.NURSE, centre=varberga, user=UserFactory(username="anna.varberga"))
    return World(varberga, vivalla, enrolment.child, enrolment, visit, nurse)


def security_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hembesok.security"]


def line(user: User, method: str, route: str, view: str, kind: str, pk: uuid.UUID) -> str:
    return (
        f"denied_read user_id={user.pk} username=anna.varberga method={method} route={route} "
        f"view={view} kind={kind} id={pk}"
    )


PAGES = [
    ("child", "barn/<uuid:pk>/", "visits:child_detail"),
    ("enrolment", "inskrivningar/<uuid:pk>/", "visits:enrolment_detail"),
    ("visit", "besok/<uuid:pk>/", "visits:visit_detail"),
]
API = [
    ("child", "api/v1/children/<uuid:pk>/", "api-child"),
    ("enrolment", "api/v1/enrolments/<uuid:pk>/", "api-enrolment"),
    ("visit", "api/v1/visits/<uuid:pk>/", "api-visit"),
]


def assert_no_identity(world: World, caplog: pytest.LogCaptureFixture) -> None:
    for text in (world.child.identity, world.child.identity[2:], "Skyddesson", "Alva"):
        assert text not in caplog.text
        for record in security_lines(caplog):
            assert text not in str(record.__dict__)


@pytest.mark.parametrize(("kind", "route", "view"), PAGES, ids=[p[0] for p in PAGES])
def test_a_nurse_at_varberga_opening_a_vivalla_page_gets_404_and_one_security_line(
    client: Any, world: World, caplog: pytest.LogCaptureFixture, kind: str, route: str, view: str
) -> None:
    pk = getattr(world, kind).pk
    client.force_login(world.nurse)

    response = client.get(reverse(view, args=[pk]) + "?q=1")

    assert response.status_code == 404
    records = security_lines(caplog)
    assert [r.getMessage() for r in records] == [line(world.nurse, "GET", route, view, kind, pk)]
    assert (records[0].levelname, records[0].event, records[0].username) == (
        "WARNING",
        "denied_read",
        "anna.varberga",
    )
    assert_no_identity(world, caplog)
    assert AccessLog.objects.filter(username="anna.varberga").count() == 0


@pytest.mark.parametrize(("kind", "route", "view"), API, ids=[a[0] for a in API])
def test_a_nurse_at_varberga_reading_a_vivalla_object_in_the_api_gets_404_and_one_line(
    api_client_for: Any,
    world: World,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    route: str,
    view: str,
) -> None:
    pk = getattr(world, kind).pk

    response = api_client_for(world.nurse).get(f"/{route.replace('<uuid:pk>', str(pk))}")

    assert response.status_code == 404
    assert [r.getMessage() for r in security_lines(caplog)] == [
        line(world.nurse, "GET", route, view, kind, pk)
    ]
    assert_no_identity(world, caplog)


def test_a_change_of_a_vivalla_child_through_the_api_is_a_denied_read_too(
    api_client_for: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    response = api_client_for(world.nurse).patch(
        f"/api/v1/children/{world.child.pk}/", {"given_name": "Ny"}
    )

    assert response.status_code == 404
    assert [r.getMessage() for r in security_lines(caplog)] == [
        line(
            world.nurse, "PATCH", "api/v1/children/<uuid:pk>/", "api-child", "child", world.child.pk
        )
    ]
    assert Child.objects.get(pk=world.child.pk).given_name == "Alva"


@pytest.mark.parametrize("kind", ["child", "enrolment", "visit"])
def test_an_id_that_does_not_exist_is_404_and_no_security_line(
    client: Any, api_client_for: Any, world: World, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    missing = uuid.UUID("00000000-0000-4000-8000-000000000000")
    client.force_login(world.nurse)
    page = {k: v for k, _r, v in PAGES}[kind]
    api = {k: r for k, r, _v in API}[kind].replace("<uuid:pk>", str(missing))

    assert client.get(reverse(page, args=[missing])).status_code == 404
    assert api_client_for(world.nurse).get(f"/{api}").status_code == 404
    assert security_lines(caplog) == []


def test_the_childs_own_nurse_reads_it_and_leaves_no_security_line(
    client: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    client.force_login(nurse_at(world.vivalla))

    assert client.get(reverse("visits:child_detail", args=[world.child.pk])).status_code == 200
    assert security_lines(caplog) == []


def test_a_role_without_children_is_refused_before_the_scope_and_leaves_no_line(
    api_client_for: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # CBHV may never read a child: 403 comes before 404 (API.md), nothing was looked up.
    cbhv = member(Role.CBHV, organisation=world.vivalla.organisation)

    response = api_client_for(cbhv).get(f"/api/v1/children/{world.child.pk}/")

    assert response.status_code == 403
    assert security_lines(caplog) == []
