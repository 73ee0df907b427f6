import pytest
from django.urls import reverse

from core.models import Centre, Organisation, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_demo(client, demo):
    client.force_login(User.objects.get(username="admin"))
    return client


def test_admin_lists_only_centres_of_her_organisation(admin_client_demo):
    html = admin_client_demo.get(reverse("admin:core_centre_changelist")).content.decode()
    assert "Vivalla/Lundby" in html
    assert "Skäggetorp" not in html


def test_admin_gets_404_on_another_organisations_centre(admin_client_demo):
    other = Centre.objects.get(name="Skäggetorp")
    for view in ["change", "delete", "history"]:
        url = reverse(f"admin:core_centre_{view}", args=[other.pk])
        assert admin_client_demo.get(url).status_code == 404, view
    mine = Centre.objects.get(name="Varberga")
    assert (
        admin_client_demo.get(reverse("admin:core_centre_change", args=[mine.pk])).status_code
        == 200
    )


def test_admin_gets_404_on_another_organisation(admin_client_demo):
    other = Organisation.objects.get(name="Linköpings kommun")
    url = reverse("admin:core_organisation_change", args=[other.pk])
    assert admin_client_demo.get(url).status_code == 404


def test_admin_cannot_create_a_centre_in_another_organisation(admin_client_demo):
    other = Organisation.objects.get(name="Linköpings kommun")
    response = admin_client_demo.post(
        reverse("admin:core_centre_add"),
        {"organisation": other.pk, "name": "Intrång", "hsa_id": "", "active": "on"},
    )
    assert response.status_code == 200  # the form again, with an error
    assert not Centre.objects.filter(name="Intrång").exists()


def test_users_of_other_organisations_are_not_listed(admin_client_demo):
    html = admin_client_demo.get(reverse("admin:core_user_changelist")).content.decode()
    assert "nurse_vivalla" in html
    assert "nurse_skaggetorp" not in html


@pytest.mark.parametrize("username", ["nurse_vivalla", "finance", "cbhv"])
def test_other_roles_do_not_reach_the_admin(client, demo, username):
    client.force_login(User.objects.get(username=username))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
