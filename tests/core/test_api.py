import pytest
from django.urls import reverse

from core.models import Centre, Role, User
from tests.core.factories import CentreFactory, OrganisationFactory, member

pytestmark = pytest.mark.django_db


def test_token_for_right_credentials(client, demo):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "finance", "password": "hembesok-demo"},
        content_type="application/json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    me = client.get("/api/v1/me/", headers={"authorization": f"Token {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == "finance"


def test_wrong_credentials_are_a_400(client, demo):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "finance", "password": "nope"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_missing_password_is_a_400_on_that_field(client, demo):
    response = client.post(
        "/api/v1/auth/token/", {"username": "finance"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "password" in response.json()


@pytest.mark.parametrize(
    "url", ["/api/v1/", "/api/v1/me/", "/api/v1/centres/", "/api/v1/partners/"]
)
def test_anonymous_api_gets_401(client, url):
    response = client.get(url)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_me_lists_roles_with_organisation_and_centre(api_client_for):
    centre = CentreFactory()
    user = member(Role.NURSE, centre=centre)
    member(Role.CBHV, organisation=centre.organisation, user=user)
    body = api_client_for(user).get("/api/v1/me/").json()
    assert body["username"] == user.username
    assert sorted(body["roles"], key=lambda r: r["role"]) == [
        {"role": "cbhv", "organisation": str(centre.organisation_id), "centre": None},
        {"role": "nurse", "organisation": str(centre.organisation_id), "centre": str(centre.id)},
    ]


def test_browser_session_works_for_the_api(client, demo):
    client.force_login(User.objects.get(username="cbhv"))
    assert client.get("/api/v1/me/").status_code == 200


def test_browser_session_needs_csrf_for_unsafe_api_requests(demo):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="cbhv"))
    # No unsafe endpoint that a session may call exists in the foundation besides token; use
    # the token endpoint with a session: DRF's SessionAuthentication enforces CSRF only for
    # authenticated session requests to views that authenticate, so check a POST to /me/.
    response = client.post("/api/v1/me/", {}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_centres_list_only_the_users_organisation(api_client_for):
    mine = CentreFactory()
    CentreFactory()  # another organisation
    user = member(Role.FINANCE, organisation=mine.organisation)
    body = api_client_for(user).get("/api/v1/centres/").json()
    assert [c["id"] for c in body["results"]] == [str(mine.id)]
    assert set(body) == {"next", "previous", "results"}


def test_centre_of_another_organisation_is_404_like_a_missing_one(api_client_for):
    other = CentreFactory()
    user = member(Role.CBHV, organisation=OrganisationFactory())
    client = api_client_for(user)
    assert client.get(reverse("api-centre", args=[other.id])).status_code == 404
    mine = CentreFactory(organisation=user.memberships.get().organisation)
    assert client.get(reverse("api-centre", args=[mine.id])).status_code == 200


def test_partners_list_only_the_users_organisation(api_client_for, demo):
    from core.models import User

    body = (
        api_client_for(User.objects.get(username="nurse_skaggetorp"))
        .get("/api/v1/partners/")
        .json()
    )
    assert [p["name"] for p in body["results"]] == ["Leanlink"]


def test_page_size_is_capped_at_200(api_client_for):
    org = OrganisationFactory()
    Centre.objects.bulk_create([Centre(organisation=org, name=f"BVC {i:03}") for i in range(205)])
    client = api_client_for(member(Role.FINANCE, organisation=org))
    body = client.get("/api/v1/centres/?page_size=500").json()
    assert len(body["results"]) == 200
    assert body["next"]
    rest = client.get(body["next"]).json()
    assert len(rest["results"]) == 5
    assert client.get("/api/v1/centres/?page_size=7").json()["results"].__len__() == 7


def test_centre_list_query_count_does_not_grow_with_the_page(
    api_client_for, django_assert_max_num_queries
):
    org = OrganisationFactory()
    client = api_client_for(member(Role.FINANCE, organisation=org))
    Centre.objects.create(organisation=org, name="Ett")
    # The token, the memberships, the page, then its CNI values, schemes and applications in
    # one query each (funding.selectors.EligibilityLookup).
    with django_assert_max_num_queries(6) as small:
        client.get("/api/v1/centres/")
    Centre.objects.bulk_create([Centre(organisation=org, name=f"BVC {i}") for i in range(49)])
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(client.get("/api/v1/centres/").json()["results"]) == 50


def test_schema_and_docs_are_served_without_a_cdn(client):
    import re

    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger" in docs.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs)
    assert assets
    assert all(a.startswith("/") and not a.startswith("//") for a in assets), assets
