"""The second factor (API.md "Conventions"; issue 24, item 2): finance, CBHV, log reviewer and
admin enrol a TOTP app at their first browser login (QR code as SVG, recovery codes), give a
code at every later one, and the token endpoint wants `otp` once they have one. Nurses and
centre managers are not asked."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.models import ApiToken, Role
from core.services import api_token_create
from tests.core.factories import PASSWORD, CentreFactory, OrganisationFactory, member

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
START = datetime.datetime(2026, 12, 3, 9, 0, tzinfo=datetime.UTC)


def code_of(device: TOTPDevice, at: datetime.datetime) -> str:
    with time_machine.travel(at, tick=False):
        return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def login(client: Client, username: str, password: str = PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.fixture
def finance():
    return member(Role.FINANCE, organisation=OrganisationFactory())


def enrolled(client: Client, user, at: datetime.datetime) -> list[str]:
    """Sign in and enrol through the pages at `at`; the recovery codes shown."""
    with time_machine.travel(at, tick=False):
        login(client, user.username)
        client.get(reverse("second_factor_enrol"))
        device = TOTPDevice.objects.get(user=user)
        response = client.post(
            reverse("second_factor_enrol"), {"code": code_of(device, at), "next": "/"}
        )
        assert response.status_code == 200
        return list(response.context["codes"])


# --- Enrolment at the first login -----------------------------------------------------------------
def test_finance_is_sent_from_the_login_to_enrol_an_app(client, finance):
    response = login(client, finance.username)
    assert response.status_code == 302
    response = client.get(response.url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("second_factor_enrol")
    page = response.content.decode()
    assert "Lägg till en andra faktor" in page
    assert f'src="{reverse("second_factor_qr")}"' in page
    device = TOTPDevice.objects.get(user=finance)
    assert device.confirmed is False
    # The key to type by hand is the device's secret in base32, in groups of four.
    assert response.context["secret"].replace(" ", "") in device.config_url


def test_the_qr_code_is_an_svg_of_the_otpauth_uri_and_is_not_cached(client, finance):
    login(client, finance.username)
    response = client.get(reverse("second_factor_qr"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "<svg" in body and "<script" not in body and "style=" not in body
    device = TOTPDevice.objects.get(user=finance)
    assert device.config_url.startswith("otpauth://totp/Hembes%C3%B6k%3A")
    assert "issuer=Hembes%C3%B6k" in device.config_url


def test_until_verified_pages_wait_and_the_api_answers_403(client, finance):
    login(client, finance.username)
    response = client.get(reverse("funding:grant_list"))
    assert response.status_code == 302
    assert response.url == reverse("second_factor") + "?next=" + reverse("funding:grant_list")
    assert client.get("/api/v1/grants/").status_code == 403
    # Logging out stays possible.
    assert client.post(reverse("logout")).status_code == 302


def test_a_wrong_code_does_not_confirm_the_app(client, finance):
    with time_machine.travel(START, tick=False):
        login(client, finance.username)
        client.get(reverse("second_factor_enrol"))
        device = TOTPDevice.objects.get(user=finance)
        wrong = f"{(int(code_of(device, START)) + 1) % 1_000_000:06d}"
        response = client.post(reverse("second_factor_enrol"), {"code": wrong})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert TOTPDevice.objects.get(user=finance).confirmed is False
    assert client.get(reverse("funding:grant_list")).status_code == 302


def test_a_right_code_confirms_the_app_shows_ten_recovery_codes_once_and_lets_her_in(
    client, finance
):
    codes = enrolled(client, finance, START)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert TOTPDevice.objects.get(user=finance).confirmed is True
    assert StaticToken.objects.filter(device__user=finance).count() == 10
    with time_machine.travel(START, tick=False):
        assert client.get(reverse("funding:grant_list")).status_code == 200
        # Enrolment is over: the page and the QR code are no longer there for her.
        assert client.get(reverse("second_factor_enrol")).status_code == 302
        assert client.get(reverse("second_factor_qr")).status_code == 404


# --- A code at every later login ------------------------------------------------------------------
def test_the_next_login_asks_for_a_code_and_refuses_a_wrong_one(client, finance):
    enrolled(client, finance, START)
    later = START + datetime.timedelta(minutes=5)
    device = TOTPDevice.objects.get(user=finance)
    with time_machine.travel(later, tick=False):
        client.post(reverse("logout"))
        response = login(client, finance.username)
        response = client.get(response.url, follow=True)
        assert response.redirect_chain[-1][0] == reverse("second_factor")
        wrong = f"{(int(code_of(device, later)) + 1) % 1_000_000:06d}"
        response = client.post(reverse("second_factor"), {"code": wrong})
        assert response.status_code == 200
        assert "Koden stämmer inte" in response.content.decode()
        assert client.get(reverse("funding:grant_list")).status_code == 302


def test_the_next_login_lets_her_in_with_the_apps_code_and_goes_on_to_next(client, finance):
    enrolled(client, finance, START)
    later = START + datetime.timedelta(minutes=5)
    device = TOTPDevice.objects.get(user=finance)
    with time_machine.travel(later, tick=False):
        client.post(reverse("logout"))
        login(client, finance.username)
        target = reverse("funding:grant_list")
        response = client.post(
            reverse("second_factor"), {"code": code_of(device, later), "next": target}
        )
        assert response.status_code == 302
        assert response.url == target
        assert client.get(target).status_code == 200


def test_the_same_app_code_does_not_verify_twice(client, finance):
    enrolled(client, finance, START)
    device = TOTPDevice.objects.get(user=finance)
    later = START + datetime.timedelta(minutes=5)
    code = code_of(device, later)
    with time_machine.travel(later, tick=False):
        client.post(reverse("logout"))
        login(client, finance.username)
        assert client.post(reverse("second_factor"), {"code": code}).status_code == 302
        other = Client()
        login(other, finance.username)
        assert other.post(reverse("second_factor"), {"code": code}).status_code == 200


def test_a_recovery_code_works_once(client, finance):
    codes = enrolled(client, finance, START)
    later = START + datetime.timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        client.post(reverse("logout"))
        login(client, finance.username)
        assert client.post(reverse("second_factor"), {"code": codes[0].upper()}).status_code == 302
        client.post(reverse("logout"))
        login(client, finance.username)
        assert client.post(reverse("second_factor"), {"code": codes[0]}).status_code == 200
    assert StaticToken.objects.filter(device__user=finance).count() == 9


def test_a_nurse_is_not_asked_for_a_second_factor(client):
    nurse = member(Role.NURSE, centre=CentreFactory())
    response = login(client, nurse.username)
    response = client.get(response.url)
    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=nurse).exists()


@pytest.mark.parametrize("role", [Role.CBHV, Role.LOG_REVIEWER, Role.ADMIN])
def test_cbhv_log_reviewer_and_admin_must_enrol_too(client, role):
    user = member(role, organisation=OrganisationFactory())
    response = login(client, user.username)
    response = client.get(response.url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("second_factor_enrol")


# --- The token endpoint ---------------------------------------------------------------------------
def token(client: Client, username: str, **extra: str):
    return client.post(
        TOKEN_URL,
        {"username": username, "password": PASSWORD, **extra},
        content_type="application/json",
    )


def test_without_an_app_the_password_alone_gets_a_token(client, finance):
    response = token(client, finance.username)
    assert response.status_code == 200
    assert response.json()["token"]


def test_with_an_app_the_token_needs_the_current_code(finance):
    enrolled(Client(), finance, START)
    device = TOTPDevice.objects.get(user=finance)
    later = START + datetime.timedelta(minutes=5)
    api = Client()
    with time_machine.travel(later, tick=False):
        missing = token(api, finance.username)
        assert missing.status_code == 400
        assert missing.json() == {"otp": ["Ange koden från din autentiseringsapp."]}
        wrong = f"{(int(code_of(device, later)) + 1) % 1_000_000:06d}"
        response = token(api, finance.username, otp=wrong)
        assert response.status_code == 400
        assert response.json() == {"otp": ["Koden från autentiseringsappen stämmer inte."]}
    # django-otp makes her wait after failures (1 s, then 2 s, ...); a minute later the right
    # code is taken.
    later = later + datetime.timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        response = token(api, finance.username, otp=code_of(device, later))
        assert response.status_code == 200
        assert ApiToken.objects.filter(user=finance).count() == 1


def test_five_wrong_codes_lock_the_token_endpoint_like_five_wrong_passwords(finance):
    enrolled(Client(), finance, START)
    api = Client()
    with time_machine.travel(START + datetime.timedelta(minutes=5), tick=False):
        for _ in range(5):
            assert token(api, finance.username, otp="000000").status_code == 400
        assert token(api, finance.username, otp="000000").status_code == 429


# --- A lost phone ---------------------------------------------------------------------------------
def test_an_admin_reset_removes_the_devices_and_ends_her_sessions_and_tokens(finance):
    browser = Client()
    enrolled(browser, finance, START)
    api_token_create(user=finance)
    admin = member(Role.ADMIN, organisation=finance.memberships.get().organisation)
    staff = Client()
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    staff.force_login(admin)
    response = staff.post(
        reverse("admin:core_user_changelist"),
        {"action": "reset_second_factor", "_selected_action": [finance.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=finance).exists()
    assert not StaticDevice.objects.filter(user=finance).exists()
    assert not ApiToken.objects.filter(user=finance).exists()
    live = Session.objects.filter(expire_date__gt=timezone.now())
    assert all(s.get_decoded().get("_auth_user_id") != str(finance.pk) for s in live)
    assert browser.get(reverse("funding:grant_list")).status_code == 302  # to the login
    # She enrols anew at her next login.
    again = Client()
    response = login(again, finance.username)
    response = again.get(response.url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("second_factor_enrol")


def test_django_otps_own_device_admin_pages_are_not_there(client):
    admin = member(Role.ADMIN, organisation=OrganisationFactory())
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    client.force_login(admin)
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert client.get("/admin/otp_static/staticdevice/").status_code == 404


def test_the_second_factor_page_shows_no_menu_that_leads_back_to_it(client, finance):
    login(client, finance.username)
    page = client.get(reverse("second_factor_enrol")).content.decode()
    assert 'aria-label="Huvudmeny"' not in page
    assert reverse("password_change") not in page
    assert reverse("logout") in page
