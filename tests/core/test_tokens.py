"""API tokens: hashed at rest, a new one per login, expiring, listed and revoked by their user,
ended by a password change or deactivation."""

import datetime
import hashlib

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken, Role
from core.services import api_token_create
from tests.core.factories import PASSWORD, OrganisationFactory, UserFactory, member

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
TOKENS_URL = "/api/v1/auth/tokens/"


def log_in(user, password=PASSWORD):
    response = Client().post(
        TOKEN_URL,
        {"username": user.username, "password": password},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def with_key(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def me(key):
    return with_key(key).get("/api/v1/me/")


# --- At rest -------------------------------------------------------------------------------------
def test_only_the_sha256_of_the_key_is_stored():
    user = UserFactory()
    body = log_in(user)
    key = body["token"]
    token = ApiToken.objects.get(pk=body["id"])
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    # No column of the row holds the key.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM core_apitoken WHERE id = %s", [token.pk])
        row = cursor.fetchone()
    assert all(key not in str(value) for value in row)
    assert me(key).json()["username"] == user.username


def test_the_database_refuses_a_plaintext_key():
    user = UserFactory()
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.create(
            user=user,
            key_hash="a-plaintext-key-that-is-no-sha256-digest",
            auth_hash=user.get_session_auth_hash(),
            expires=now + datetime.timedelta(hours=1),
        )


def test_the_key_is_shown_once_and_never_listed():
    user = UserFactory()
    key = log_in(user)["token"]
    listed = with_key(key).get(TOKENS_URL)
    assert listed.status_code == 200
    assert key not in listed.content.decode()
    assert set(listed.json()[0]) == {"id", "created", "expires", "last_used"}


# --- Login ---------------------------------------------------------------------------------------
def test_each_login_makes_a_new_token():
    user = UserFactory()
    first, second = log_in(user), log_in(user)
    assert first["token"] != second["token"]
    assert first["id"] != second["id"]
    assert me(first["token"]).status_code == 200
    assert me(second["token"]).status_code == 200
    assert ApiToken.objects.filter(user=user).count() == 2


def test_a_token_login_starts_no_browser_session():
    user = UserFactory()
    response = Client().post(
        TOKEN_URL,
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_a_login_records_last_login():
    user = UserFactory()
    assert user.last_login is None
    log_in(user)
    user.refresh_from_db()
    assert user.last_login is not None


def test_an_inactive_user_gets_no_token():
    user = UserFactory(is_active=False)
    response = Client().post(
        TOKEN_URL,
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_the_token_endpoint_needs_no_csrf_even_with_a_session():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        TOKEN_URL,
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200


# --- Expiry --------------------------------------------------------------------------------------
def test_a_token_expires_after_eight_hours():
    user = UserFactory()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        body = log_in(user)
    token = ApiToken.objects.get(pk=body["id"])
    assert token.expires - token.created == datetime.timedelta(hours=8)
    assert datetime.datetime.fromisoformat(body["expires"]) == token.expires
    with time_machine.travel(start + datetime.timedelta(hours=8) - datetime.timedelta(seconds=1)):
        assert me(body["token"]).status_code == 200
    with time_machine.travel(start + datetime.timedelta(hours=8, seconds=1)):
        response = me(body["token"])
        assert response.status_code == 401
        assert response.json()["detail"] == "Ogiltig eller utgången token."
        assert "WWW-Authenticate" in response.headers
        assert with_key(body["token"]).get(TOKENS_URL).status_code == 401


def test_the_lifetime_is_a_setting(settings):
    settings.API_TOKEN_LIFETIME = datetime.timedelta(hours=1)
    token, _ = api_token_create(user=UserFactory())
    assert token.expires - token.created == datetime.timedelta(hours=1)


def test_expired_tokens_are_removed_at_the_next_login():
    user = UserFactory()
    start = timezone.now() - datetime.timedelta(days=2)
    with time_machine.travel(start, tick=False):
        old = log_in(user)
    new = log_in(user)
    assert [str(pk) for pk in ApiToken.objects.filter(user=user).values_list("pk", flat=True)] == [
        new["id"]
    ]
    assert not ApiToken.objects.filter(pk=old["id"]).exists()


def test_last_used_is_kept_to_the_minute():
    user = UserFactory()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        body = log_in(user)
    token = ApiToken.objects.get(pk=body["id"])
    assert token.last_used == token.created
    with time_machine.travel(start + datetime.timedelta(seconds=30), tick=False):
        me(body["token"])
    token.refresh_from_db()
    assert token.last_used == token.created
    later = start + datetime.timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        me(body["token"])
    token.refresh_from_db()
    assert token.last_used == later


@pytest.mark.parametrize(
    "header", ["Token", "Token not-a-key", "Bearer {key}", "token{key}", "Token {key} extra"]
)
def test_malformed_or_unknown_keys_are_401(header):
    key = log_in(UserFactory())["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(key=key))
    assert client.get("/api/v1/me/").status_code == 401


# --- List and revoke -----------------------------------------------------------------------------
def test_a_user_lists_only_her_own_live_tokens():
    user, other = UserFactory(), UserFactory()
    mine = [log_in(user), log_in(user)]
    log_in(other)
    body = with_key(mine[0]["token"]).get(TOKENS_URL).json()
    assert {t["id"] for t in body} == {t["id"] for t in mine}
    # Newest first.
    assert [t["created"] for t in body] == sorted((t["created"] for t in body), reverse=True)


def test_a_browser_session_lists_its_users_tokens_too():
    user = UserFactory()
    key = log_in(user)["token"]
    client = Client()
    client.force_login(user)
    body = client.get(TOKENS_URL).json()
    assert len(body) == 1
    assert key not in str(body)


def test_a_user_revokes_one_of_her_tokens():
    user = UserFactory()
    keep, revoke = log_in(user), log_in(user)
    response = with_key(keep["token"]).delete(f"{TOKENS_URL}{revoke['id']}/")
    assert response.status_code == 204
    assert me(revoke["token"]).status_code == 401
    assert me(keep["token"]).status_code == 200
    assert [t["id"] for t in with_key(keep["token"]).get(TOKENS_URL).json()] == [keep["id"]]


def test_a_token_can_revoke_itself():
    body = log_in(UserFactory())
    assert with_key(body["token"]).delete(f"{TOKENS_URL}{body['id']}/").status_code == 204
    assert me(body["token"]).status_code == 401


def test_another_users_token_is_404_and_stays_valid():
    user, other = UserFactory(), UserFactory()
    mine, theirs = log_in(user), log_in(other)
    client = with_key(mine["token"])
    assert client.delete(f"{TOKENS_URL}{theirs['id']}/").status_code == 404
    assert me(theirs["token"]).status_code == 200
    assert client.delete(f"{TOKENS_URL}00000000-0000-0000-0000-000000000000/").status_code == 404


def test_anonymous_callers_get_401_on_the_token_list():
    assert Client().get(TOKENS_URL).status_code == 401


# --- Password change and deactivation ------------------------------------------------------------
def test_a_password_change_on_the_page_ends_every_token():
    user = UserFactory()
    keys = [log_in(user)["token"], log_in(user)["token"]]
    browser = Client()
    browser.force_login(user)
    new = "tre gröna äpplen i korgen"
    response = browser.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert not ApiToken.objects.filter(user=user).exists()
    assert all(me(key).status_code == 401 for key in keys)
    assert me(log_in(user, new)["token"]).status_code == 200


def test_a_password_set_any_other_way_ends_the_tokens_too():
    """A command or the shell calls set_password without our service: the token was made under
    the old password (as a session is), so it no longer authenticates."""
    user = UserFactory()
    key = log_in(user)["token"]
    user.set_password("another passphrase of words")
    user.save(update_fields=["password"])
    assert me(key).status_code == 401
    listed = with_key(log_in(user, "another passphrase of words")["token"]).get(TOKENS_URL)
    assert len(listed.json()) == 1  # the old token is not listed either


@pytest.fixture
def org_admin():
    organisation = OrganisationFactory()
    admin_user = member(Role.ADMIN, organisation=organisation, user=UserFactory(is_staff=True))
    nurse = member(Role.FINANCE, organisation=organisation)
    return admin_user, nurse


def test_an_admin_setting_a_users_password_ends_her_tokens_and_sessions(client, org_admin):
    admin_user, user = org_admin
    key = log_in(user)["token"]
    browser = Client()
    browser.force_login(user)
    client.force_login(admin_user)
    new = "ett helt nytt lösenord"
    response = client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert me(key).status_code == 401
    assert not ApiToken.objects.filter(user=user).exists()
    assert browser.get("/").status_code == 302
    assert client.get("/").status_code == 200  # the admin's own session goes on


def test_deactivation_in_the_admin_ends_tokens_and_sessions(client, org_admin):
    admin_user, user = org_admin
    key = log_in(user)["token"]
    browser = Client()
    browser.force_login(user)
    assert browser.get("/").status_code == 200
    client.force_login(admin_user)
    change = reverse("admin:core_user_change", args=[user.pk])
    form = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": "",
        "is_staff": "",
        # is_active unticked
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    response = client.post(change, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert not user.is_active
    assert not ApiToken.objects.filter(user=user).exists()
    assert me(key).status_code == 401
    assert browser.get("/").status_code == 302
    # Reactivated, she signs in again; the old session does not come back.
    user.is_active = True
    user.save(update_fields=["is_active"])
    assert browser.get("/").status_code == 302
