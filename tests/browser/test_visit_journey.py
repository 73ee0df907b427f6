"""The nurse's main journey on a tablet: worklist → visit form → saved visit; and a refused
form that announces its errors. Screenshots go to /tmp/screens/ for a look at the layout."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from core.models import Centre, User
from tests.visits.factories import ChildFactory, EnrolmentFactory, personnummer, zv509
from visits.models import Enrolment, ProgrammeTemplate, Visit

pytestmark = pytest.mark.browser

SCREENS = Path("/tmp/screens")


def _due_enrolment() -> Enrolment:
    """A newborn at Vivalla/Lundby whose 1–2 week visit is due today (demo children, if any,
    come from visits/demo.py; this journey makes its own)."""
    zv509()
    centre = Centre.objects.get(name="Vivalla/Lundby")
    template = (
        ProgrammeTemplate.objects.filter(organisation=centre.organisation)
        .current()
        .order_by("name")
        .first()
    )
    assert template is not None
    born = timezone.localdate() - datetime.timedelta(days=8)
    child = ChildFactory(
        current_centre=centre,
        birth_date=born,
        identity=personnummer(born, 987),
        given_name="Ilyas",
        family_name="Journeysson",
    )
    return EnrolmentFactory.create(
        child=child, template=template, created_by=User.objects.get(username="nurse_vivalla")
    )


def _shot(page: Page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def test_nurse_logs_a_joint_home_visit_from_the_worklist(page: Page, live_demo, log_in):
    enrolment = _due_enrolment()
    errors: list[str] = []  # script errors, and anything the page asked for that failed
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "response",
        lambda r: errors.append(r.url) if r.status >= 400 and "favicon" not in r.url else None,
    )
    log_in("nurse_vivalla")

    worklist = page.locator("#worklist")
    expect(worklist.get_by_role("heading", name=re.compile("Arbetslista"))).to_be_visible()
    # Demo children may fill the first page: narrow to what is due for the newborn visit.
    worklist.get_by_label("Status").select_option("due")
    worklist.get_by_label("Besökstillfälle").select_option("1-2w")
    worklist.get_by_role("button", name="Visa").click()
    expect(page).to_have_url(re.compile(r"status=due"))
    link = page.locator(f'a[href^="/inskrivningar/{enrolment.pk}/besok/ny/"]')
    row = page.locator("#worklist tr", has=link)
    expect(row).to_contain_text(enrolment.child.masked)
    expect(row).to_contain_text("Aktuell")
    expect(row).not_to_contain_text(enrolment.child.identity)
    box = link.bounding_box()
    assert box and box["height"] >= 44  # a touch target
    _shot(page, "worklist")

    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Registrera besök")
    expect(page.get_by_label("Besökstillfälle")).to_have_value("1-2w")
    expect(page.get_by_label("Hemma")).to_be_checked()
    expect(page.get_by_label("Genomfört")).to_be_checked()
    page.get_by_label("Socialtjänsten deltog").check()
    page.locator("#id_contacts_started").get_by_label("Tandvård").check()
    _shot(page, "visit_form")
    page.get_by_role("button", name="Spara besök").click()

    status = page.get_by_role("status")
    expect(status).to_contain_text("Besöket är registrerat")
    expect(status).to_contain_text("ZV509")
    expect(page.locator("#kva-codes")).to_contain_text("ZV509")
    _shot(page, "visit_saved")
    visit = Visit.objects.get(enrolment=enrolment)
    assert visit.kva_codes == ["ZV509"]
    assert visit.slot == "1-2w"
    assert visit.contacts_started == ["dental"]

    # The slot is done: it leaves the worklist.
    page.goto(f"{live_demo.url}/?status=due&slot=1-2w")
    expect(page.locator(f'a[href^="/inskrivningar/{enrolment.pk}/besok/ny/"]')).to_have_count(0)
    assert errors == []


def test_an_invalid_visit_is_announced_and_the_field_marked(page: Page, live_demo, log_in):
    enrolment = _due_enrolment()
    log_in("nurse_vivalla")
    page.goto(f"{live_demo.url}/inskrivningar/{enrolment.pk}/besok/ny/?slot=1-2w")
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    page.get_by_label("Datum").fill(tomorrow.isoformat())
    page.get_by_role("button", name="Spara besök").click()

    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_be_focused()
    expect(alert).to_contain_text("framtiden")
    date = page.get_by_label("Datum")
    expect(date).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Socialtjänsten deltog")).not_to_have_attribute("aria-invalid", "true")
    _shot(page, "visit_form_errors")
    alert.get_by_role("link").click()
    expect(date).to_be_focused()

    # A rule the service holds, on a group of checkboxes: the link focuses the first of them.
    date.fill(timezone.localdate().isoformat())
    page.locator("#id_kva_codes").get_by_label(re.compile("ZV509")).check()
    page.get_by_role("button", name="Spara besök").click()
    expect(page.get_by_role("alert")).to_contain_text("kräver att socialtjänsten deltog")
    zv = page.locator("#id_kva_codes").get_by_label(re.compile("ZV509"))
    expect(zv).to_have_attribute("aria-invalid", "true")
    page.get_by_role("alert").get_by_role("link").click()
    expect(zv).to_be_focused()
    assert not Visit.objects.filter(enrolment=enrolment).exists()
