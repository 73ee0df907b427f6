"""Lockout (django-axes) on username + client address: 5 failures within 15 minutes, then 429
for 15 minutes, on the login form and the token endpoint alike; an admin lifts it."""

import datetime

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from core.lockout import client_ip
from core.models import Role
from tests.core.factories import (
    PASSWORD,
    CentreFactory,
    OrganisationFactory,
    UserFactory,
    member,
)

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def form_login(client, username, password, address="10.0.0.1", **headers):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        headers=headers,
    )


def token_login(client, username, password, address="10.0.0.1", **headers):
    return client.post(
        TOKEN_URL,
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
        headers=headers,
    )


def fail_five_times(login, client, username, **kwargs):
    for _ in range(5):
        response = login(client, username, "wrong-password", **kwargs)
        assert response.status_code in (200, 400), response.status_code


# --- The login form ------------------------------------------------------------------------------
def test_form_answers_five_failures_normally_then_locks_with_a_swedish_page(client):
    user = UserFactory()
    for _ in range(5):
        response = form_login(client, user.username, "wrong-password")
        assert response.status_code == 200
        assert 'role="alert"' in response.content.decode()
    # The sixth attempt is refused without checking the password, even the right one.
    response = form_login(client, user.username, PASSWORD)
    assert response.status_code == 429
    html = response.content.decode()
    assert "För många misslyckade inloggningar" in html
    assert "15 minuter" in html
    assert '<html lang="sv">' in html
    assert response["Retry-After"] == "900"
    assert client.get("/").status_code == 302  # not signed in


def test_token_endpoint_answers_400_five_times_then_429(client):
    user = UserFactory()
    for _ in range(5):
        response = token_login(client, user.username, "wrong-password")
        assert response.status_code == 400
        assert "non_field_errors" in response.json()
    response = token_login(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert "För många misslyckade inloggningar" in response.json()["detail"]
    assert response["Retry-After"] == "900"


def test_failures_on_the_form_and_the_token_endpoint_count_together(client):
    user = UserFactory()
    for _ in range(3):
        form_login(client, user.username, "wrong-password")
    for _ in range(2):
        assert token_login(client, user.username, "wrong-password").status_code == 400
    assert token_login(client, user.username, PASSWORD).status_code == 429
    assert form_login(client, user.username, PASSWORD).status_code == 429


def test_another_username_from_the_same_address_is_not_locked(client):
    locked, other = UserFactory(), UserFactory()
    fail_five_times(form_login, client, locked.username)
    assert form_login(client, other.username, PASSWORD).status_code == 302
    assert token_login(Client(), other.username, PASSWORD).status_code == 200


def test_the_same_username_from_another_address_is_not_locked(client):
    user = UserFactory()
    fail_five_times(token_login, client, user.username, address="10.0.0.1")
    assert token_login(client, user.username, PASSWORD, address="10.0.0.1").status_code == 429
    assert token_login(client, user.username, PASSWORD, address="10.0.0.2").status_code == 200
    assert form_login(Client(), user.username, PASSWORD, address="10.0.0.2").status_code == 302


def test_an_unknown_username_is_locked_like_a_real_one(client):
    fail_five_times(token_login, client, "no-such-user")
    assert token_login(client, "no-such-user", "anything").status_code == 429


def test_a_success_resets_the_count(client):
    user = UserFactory()
    for _ in range(4):
        token_login(client, user.username, "wrong-password")
    assert token_login(client, user.username, PASSWORD).status_code == 200
    assert not AccessAttempt.objects.filter(username=user.username).exists()
    for _ in range(4):
        assert token_login(client, user.username, "wrong-password").status_code == 400
    assert token_login(client, user.username, PASSWORD).status_code == 200


def test_the_lock_lasts_fifteen_minutes_and_attempts_meanwhile_do_not_extend_it(client):
    user = UserFactory()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        fail_five_times(token_login, client, user.username)
    with time_machine.travel(start + datetime.timedelta(minutes=10), tick=False):
        assert token_login(client, user.username, "wrong-password").status_code == 429
        assert token_login(client, user.username, PASSWORD).status_code == 429
    with time_machine.travel(start + datetime.timedelta(minutes=15, seconds=1), tick=False):
        assert token_login(client, user.username, PASSWORD).status_code == 200


def test_nothing_of_the_password_is_stored_with_the_attempt(client):
    user = UserFactory()
    form_login(client, user.username, "my-secret-guess-123")
    attempt = AccessAttempt.objects.get(username=user.username)
    assert "my-secret-guess-123" not in attempt.post_data
    assert attempt.ip_address == "10.0.0.1"


# --- The client address --------------------------------------------------------------------------
def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(client, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0
    user = UserFactory()
    for n in range(5):
        # A new made-up address each time: without a proxy the header is the client's own claim.
        response = token_login(client, user.username, "wrong", x_forwarded_for=f"192.0.2.{n}")
        assert response.status_code == 400
    response = token_login(client, user.username, PASSWORD, x_forwarded_for="192.0.2.99")
    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.0.0.1"}


def test_behind_one_trusted_proxy_the_address_it_appended_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    factory = RequestFactory()
    proxied = factory.post("/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_ip(proxied) == "203.0.113.7"
    # What the client wrote itself stays to the left of what the proxy appended.
    spoofed = factory.post(
        "/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7"
    )
    assert client_ip(spoofed) == "203.0.113.7"
    # Garbage where the proxy's entry should be: the peer's address, never the garbage.
    broken = factory.post("/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip(broken) == "172.18.0.5"
    assert client_ip(factory.post("/", REMOTE_ADDR="172.18.0.5")) == "172.18.0.5"


def test_behind_two_proxies_the_second_entry_from_the_right_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().post(
        "/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4, 10.0.0.9"
    )
    assert client_ip(request) == "198.51.100.4"


def test_behind_a_trusted_proxy_clients_are_locked_apart(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    user = UserFactory()
    proxy = "172.18.0.5"
    fail_five_times(
        token_login, client, user.username, address=proxy, x_forwarded_for="203.0.113.7"
    )
    locked = token_login(client, user.username, PASSWORD, proxy, x_forwarded_for="203.0.113.7")
    assert locked.status_code == 429
    other = token_login(client, user.username, PASSWORD, proxy, x_forwarded_for="203.0.113.8")
    assert other.status_code == 200


# --- Lifting a lockout ---------------------------------------------------------------------------
@pytest.fixture
def org_admin():
    organisation = OrganisationFactory()
    admin_user = member(Role.ADMIN, organisation=organisation, user=UserFactory(is_staff=True))
    return admin_user, organisation


def unlock(client, user):
    return client.post(
        reverse("admin:core_user_changelist"),
        {"action": "unlock_login", "_selected_action": [user.pk]},
        follow=True,
    )


def test_an_organisation_admin_lifts_the_lockout_of_her_user(client, org_admin):
    admin_user, organisation = org_admin
    nurse = member(Role.NURSE, centre=CentreFactory(organisation=organisation))
    fail_five_times(token_login, Client(), nurse.username)
    fail_five_times(token_login, Client(), nurse.username, address="10.0.0.2")
    assert token_login(Client(), nurse.username, PASSWORD).status_code == 429

    client.force_login(admin_user)
    change = client.get(reverse("admin:core_user_change", args=[nurse.pk])).content.decode()
    assert "Spärrad" in change
    response = unlock(client, nurse)
    assert "Inloggningsspärren är hävd för 1 användare." in response.content.decode()
    assert token_login(Client(), nurse.username, PASSWORD).status_code == 200
    assert token_login(Client(), nurse.username, PASSWORD, address="10.0.0.2").status_code == 200


def test_an_organisation_admin_cannot_unlock_another_organisations_user(client, org_admin):
    admin_user, _ = org_admin
    outsider = member(Role.NURSE, centre=CentreFactory())
    fail_five_times(token_login, Client(), outsider.username)
    client.force_login(admin_user)
    unlock(client, outsider)
    assert token_login(Client(), outsider.username, PASSWORD).status_code == 429


def test_only_a_superuser_sees_axes_attempts_in_the_admin(client, org_admin):
    admin_user, _ = org_admin
    fail_five_times(token_login, Client(), "guessed-name")
    url = reverse("admin:axes_accessattempt_changelist")
    client.force_login(admin_user)
    assert client.get(url).status_code == 403
    assert "axes" not in client.get(reverse("admin:index")).content.decode().lower()
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    assert "guessed-name" in client.get(url).content.decode()
