"""The login lockout end to end in the browser (issue 24, item 6 d): five wrong passwords lock
the username from this address; while locked even the right password gets the clear locked
page and no session; another user at the same address is not locked; the lock ends when an
admin lifts it (after her own second factor) or after fifteen minutes.

(test_second_factor_journey.py has the enrolment of the second factor and the locked page for
a user who has one.)"""

import datetime
import re

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LOCKED = "Inloggningen är spärrad"


def fail_five_times(page, log_in, username):
    for attempt in range(1, 6):
        log_in(username, f"fel-lösenord-{attempt}")
        alert = page.get_by_role("alert")
        expect(alert).to_be_visible()
        expect(alert).not_to_contain_text("spärrad")  # the form's own error, not yet the lock
        expect(page.get_by_role("heading", level=1)).not_to_have_text(LOCKED)


def expect_locked(page, live_demo):
    expect(page.get_by_role("heading", level=1)).to_have_text(LOCKED)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("För många misslyckade inloggningar")
    expect(alert).to_contain_text("15 minuter")
    page.goto(live_demo.url + "/")  # no session came with it
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def expect_signed_in(page):
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")
    expect(page.get_by_role("button", name="Logga ut")).to_be_visible()


def test_the_right_password_is_refused_while_locked_until_an_admin_lifts_the_lock(
    page, live_demo, log_in
):
    fail_five_times(page, log_in, "nurse_vivalla")
    log_in("nurse_vivalla")  # the right password
    expect_locked(page, live_demo)

    # The lock is on her username from this address: a colleague here signs in.
    log_in("nurse_varberga")
    expect_signed_in(page)
    page.get_by_role("button", name="Logga ut").click()

    # Her organisation's admin (second factor first) lifts it in the admin.
    log_in("admin")
    page.goto(live_demo.url + "/admin/core/user/?q=nurse_vivalla")
    row = page.locator("tr", has=page.get_by_role("link", name="nurse_vivalla", exact=True))
    row.get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option("unlock_login")
    page.get_by_role("button", name="Utför").click()
    expect(page.get_by_text("Inloggningsspärren är hävd för 1 användare.")).to_be_visible()
    page.goto(live_demo.url + "/")
    page.get_by_role("button", name="Logga ut").click()

    log_in("nurse_vivalla")
    expect_signed_in(page)


def test_the_lock_ends_by_itself_after_fifteen_minutes(page, live_demo, log_in):
    fail_five_times(page, log_in, "nurse_vivalla")
    log_in("nurse_vivalla")
    expect_locked(page, live_demo)
    # The live server runs in this process: moving the clock moves its clock too.
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=14), tick=True):
        log_in("nurse_vivalla")
        expect_locked(page, live_demo)  # still locked, and this attempt does not extend it
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=15, seconds=5), tick=True):
        log_in("nurse_vivalla")
        expect_signed_in(page)
