"""Signing in with a second factor and the lockout, in the browser (issue 24, item 6d)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import totp_now

pytestmark = pytest.mark.browser


def test_cbhv_enrols_an_app_at_the_first_login_and_gives_a_code_at_the_next(
    page, live_demo, log_in
):
    page.goto(live_demo.url + "/accounts/login/")
    page.get_by_label("Användarnamn").fill("cbhv")
    page.get_by_label("Lösenord").fill("hembesok-demo")
    page.get_by_role("button", name="Logga in").click()
    expect(page).to_have_url(re.compile(r"/accounts/andra-faktor/ny/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Lägg till en andra faktor")
    qr = page.get_by_role("img", name="QR-kod att skanna med autentiseringsappen")
    expect(qr).to_be_visible()
    # The SVG loaded and drew (a broken image has no natural width).
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())

    # A page of her role waits until she has given a code.
    page.goto(live_demo.url + "/bidrag/")
    expect(page).to_have_url(re.compile(r"/accounts/andra-faktor/"))
    page.goto(live_demo.url + "/accounts/andra-faktor/ny/")

    page.get_by_label("Kod").fill("000000")
    page.get_by_role("button", name="Bekräfta").click()
    expect(page.locator(".field__error")).to_contain_text("Koden stämmer inte")

    # django-otp makes her wait a second after a wrong code (doubling with each one).
    page.wait_for_timeout(2500)
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("Kod").fill(totp_now(secret))
    page.get_by_role("button", name="Bekräfta").click()
    codes = page.locator(".recovery-codes code")
    expect(codes).to_have_count(10)
    keep = codes.first.inner_text()
    page.get_by_role("link", name="Jag har sparat koderna, fortsätt").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")

    page.get_by_role("button", name="Logga ut").click()
    page.get_by_label("Användarnamn").fill("cbhv")
    page.get_by_label("Lösenord").fill("hembesok-demo")
    page.get_by_role("button", name="Logga in").click()
    expect(page).to_have_url(re.compile(r"/accounts/andra-faktor/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Kod från din app")
    page.get_by_label("Kod").fill(keep)
    page.get_by_role("button", name="Fortsätt").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")


def test_five_wrong_passwords_lock_the_login_with_a_clear_page(page, live_demo, log_in):
    for _ in range(5):
        log_in("finance", "fel-lösenord-igen")
        expect(page.get_by_role("alert")).to_be_visible()
    log_in("finance")
    expect(page.get_by_role("heading", level=1)).to_contain_text("spärrad", ignore_case=True)
    expect(page).not_to_have_url(re.compile(r"/accounts/andra-faktor/"))
