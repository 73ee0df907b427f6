"""Who may do what with centres and applications, across centres and organisations (API.md,
"Scope and roles"): a path object outside the caller's scope is 404, a role that may never do
the action is 403 (checked first), a centre in the body that is not the caller's is 400."""

from __future__ import annotations

import pytest
from django.utils import timezone

from core.models import Role
from funding.applications import application_submit
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import cni, draft

pytestmark = pytest.mark.django_db

YEAR = timezone.localdate().year
PERSONAS = [
    "manager_vivalla",
    "manager_adolfsberg",
    "nurse_other_org",
    "cbhv",
    "finance",
    "cbhv_other_org",
    "finance_other_org",
]


@pytest.fixture
def world():
    orebro = OrganisationFactory(name="Region Örebro län")
    linkoping = OrganisationFactory(name="Linköpings kommun")
    vivalla = CentreFactory(organisation=orebro, name="Vivalla/Lundby")
    adolfsberg = CentreFactory(organisation=orebro, name="Adolfsberg")
    skaggetorp = CentreFactory(organisation=linkoping, name="Skäggetorp")
    cni(vivalla, "2.50")
    cni(adolfsberg, "1.50")
    cni(skaggetorp, "2.10")
    users = {
        "manager_vivalla": member(Role.CENTRE_MANAGER, centre=vivalla),
        "manager_adolfsberg": member(Role.CENTRE_MANAGER, centre=adolfsberg),
        "nurse_other_org": member(Role.NURSE, centre=skaggetorp),
        "cbhv": member(Role.CBHV, organisation=orebro),
        "finance": member(Role.FINANCE, organisation=orebro),
        "cbhv_other_org": member(Role.CBHV, organisation=linkoping),
        "finance_other_org": member(Role.FINANCE, organisation=linkoping),
    }
    application = draft(vivalla, by=users["manager_vivalla"])
    return {
        "users": users,
        "vivalla": vivalla,
        "adolfsberg": adolfsberg,
        "skaggetorp": skaggetorp,
        "application": application,
    }


def client_of(api_client_for, world, persona):
    return api_client_for(world["users"][persona])


def submit(world):
    application_submit(user=world["users"]["manager_vivalla"], application=world["application"])


# --- Centres ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("persona", "names"),
    [
        ("manager_vivalla", {"Vivalla/Lundby", "Adolfsberg"}),
        ("manager_adolfsberg", {"Vivalla/Lundby", "Adolfsberg"}),
        ("nurse_other_org", {"Skäggetorp"}),
        ("cbhv", {"Vivalla/Lundby", "Adolfsberg"}),
        ("finance", {"Vivalla/Lundby", "Adolfsberg"}),
        ("cbhv_other_org", {"Skäggetorp"}),
        ("finance_other_org", {"Skäggetorp"}),
    ],
)
def test_centres_are_those_of_the_callers_organisations(api_client_for, world, persona, names):
    response = client_of(api_client_for, world, persona).get("/api/v1/centres/")
    assert response.status_code == 200
    assert {row["name"] for row in response.json()["results"]} == names


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("manager_vivalla", 200),
        ("manager_adolfsberg", 200),
        ("nurse_other_org", 404),
        ("cbhv", 200),
        ("finance", 200),
        ("cbhv_other_org", 404),
        ("finance_other_org", 404),
    ],
)
def test_centre_of_another_organisation_is_404(api_client_for, world, persona, expected):
    client = client_of(api_client_for, world, persona)
    assert client.get(f"/api/v1/centres/{world['vivalla'].pk}/").status_code == expected


# --- Reading applications ---------------------------------------------------------------------
VISIBILITY = [
    ("manager_vivalla", 200),
    ("manager_adolfsberg", 404),
    ("nurse_other_org", 404),
    ("cbhv", 200),
    ("finance", 200),
    ("cbhv_other_org", 404),
    ("finance_other_org", 404),
]


@pytest.mark.parametrize(("persona", "expected"), VISIBILITY)
def test_who_sees_an_application(api_client_for, world, persona, expected):
    client = client_of(api_client_for, world, persona)
    application = world["application"]
    assert client.get(f"/api/v1/applications/{application.pk}/").status_code == expected
    listed = {row["id"] for row in client.get("/api/v1/applications/").json()["results"]}
    assert (str(application.pk) in listed) == (expected == 200)


@pytest.mark.parametrize("persona", ["nurse_other_org", "cbhv_other_org", "finance_other_org"])
def test_filtering_on_a_centre_of_another_organisation_is_a_400(api_client_for, world, persona):
    response = client_of(api_client_for, world, persona).get(
        "/api/v1/applications/", {"centre": str(world["vivalla"].pk)}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["centre"]


# --- Creating ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("manager_vivalla", 201),
        ("manager_adolfsberg", 400),
        ("nurse_other_org", 400),
        ("cbhv", 403),
        ("finance", 403),
        ("cbhv_other_org", 403),
        ("finance_other_org", 403),
    ],
)
def test_who_may_draft_for_vivalla(api_client_for, world, persona, expected):
    data = {
        "centre": str(world["vivalla"].pk),
        "year": YEAR + 1,
        "nurse_hours_per_week": "6.0",
        "social_services_contacted": False,
        "planned_visits": 30,
        "programme": "full",
        "target_families": "Förstagångsföräldrar",
        "start_date": f"{YEAR + 1}-02-01",
        "transport": "car",
    }
    response = client_of(api_client_for, world, persona).post(
        "/api/v1/applications/", data, format="json"
    )
    assert response.status_code == expected
    if expected == 400:
        assert list(response.json()) == ["centre"]


# --- The centre's actions ---------------------------------------------------------------------
CENTRE_ACTIONS = [
    ("manager_vivalla", 200),
    ("manager_adolfsberg", 404),
    ("nurse_other_org", 404),
    ("cbhv", 403),
    ("finance", 403),
    ("cbhv_other_org", 403),
    ("finance_other_org", 403),
]


@pytest.mark.parametrize(("persona", "expected"), CENTRE_ACTIONS)
def test_who_may_change_the_plan(api_client_for, world, persona, expected):
    response = client_of(api_client_for, world, persona).patch(
        f"/api/v1/applications/{world['application'].pk}/", {"planned_visits": 5}, format="json"
    )
    assert response.status_code == expected


@pytest.mark.parametrize(("persona", "expected"), CENTRE_ACTIONS)
@pytest.mark.parametrize("action", ["submit", "withdraw"])
def test_who_may_submit_and_withdraw(api_client_for, world, persona, expected, action):
    response = client_of(api_client_for, world, persona).post(
        f"/api/v1/applications/{world['application'].pk}/{action}/"
    )
    assert response.status_code == expected


# --- Decisions --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("manager_vivalla", 403),
        ("manager_adolfsberg", 403),
        ("nurse_other_org", 403),
        ("cbhv", 200),
        ("finance", 403),
        ("cbhv_other_org", 404),
        ("finance_other_org", 403),
    ],
)
@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("approve", {}),
        ("reject", {"reason": "Planen saknar transport."}),
        ("request-changes", {"comment": "Ange transport."}),
    ],
)
def test_who_may_decide(api_client_for, world, persona, expected, action, data):
    submit(world)
    response = client_of(api_client_for, world, persona).post(
        f"/api/v1/applications/{world['application'].pk}/{action}/", data, format="json"
    )
    assert response.status_code == expected


def test_a_nurse_who_is_also_cbhv_decides_for_other_centres_only(api_client_for, world):
    varberga = CentreFactory(organisation=world["vivalla"].organisation, name="Varberga")
    both = member(Role.NURSE, centre=varberga)
    member(Role.CBHV, organisation=varberga.organisation, user=both)
    own = draft(varberga, by=both)
    application_submit(user=both, application=own)
    submit(world)
    client = api_client_for(both)
    vivalla_application = world["application"]

    # She sees Vivalla's application (as CBHV) but does not act for that centre...
    patch = client.patch(f"/api/v1/applications/{vivalla_application.pk}/", {"planned_visits": 5})
    assert patch.status_code == 403
    assert (
        client.post(f"/api/v1/applications/{vivalla_application.pk}/withdraw/").status_code == 403
    )
    # ...she decides on it, and never on her own centre's.
    assert client.post(f"/api/v1/applications/{own.pk}/approve/", {}).status_code == 403
    assert (
        client.post(f"/api/v1/applications/{vivalla_application.pk}/approve/", {}).status_code
        == 200
    )


def test_anonymous_is_401_everywhere(client, world):
    application = world["application"]
    for method, path in [
        ("get", "/api/v1/centres/"),
        ("get", f"/api/v1/centres/{world['vivalla'].pk}/"),
        ("get", "/api/v1/applications/"),
        ("post", "/api/v1/applications/"),
        ("get", f"/api/v1/applications/{application.pk}/"),
        ("patch", f"/api/v1/applications/{application.pk}/"),
        ("post", f"/api/v1/applications/{application.pk}/submit/"),
        ("post", f"/api/v1/applications/{application.pk}/approve/"),
        ("post", f"/api/v1/applications/{application.pk}/reject/"),
        ("post", f"/api/v1/applications/{application.pk}/request-changes/"),
        ("post", f"/api/v1/applications/{application.pk}/withdraw/"),
    ]:
        response = client.generic(method.upper(), path)
        assert response.status_code == 401, (method, path)
