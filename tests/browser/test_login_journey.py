import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_nurse_logs_in_sees_her_start_page_and_logs_out(page, live_demo, log_in):
    page.goto(live_demo.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert page.locator("html").get_attribute("lang") == "sv"

    log_in("nurse_vivalla")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen, Sara Lind")
    expect(page.get_by_text("BVC-sjuksköterska")).to_be_visible()
    logout = page.get_by_role("button", name="Logga ut")
    expect(logout).to_be_visible()
    box = logout.bounding_box()
    assert box and box["height"] >= 44  # a touch target on a tablet

    logout.click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.goto(live_demo.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_wrong_password_is_announced_and_linked_to_the_field(page, live_demo, log_in):
    log_in("nurse_vivalla", "fel-lösenord")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_be_focused()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
