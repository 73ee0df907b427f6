"""A centre manager applies for fixed compensation, CBHV approves it from the inbox, and the
manager sees the decision on her start page: at a tablet's size, without a mouse in mind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SCREENS = Path("/tmp/screens")


def _ensure_vivalla_has_a_child_cni() -> None:
    from core.models import Centre
    from funding.models import CniValue
    from tests.funding.factories import cni

    vivalla = Centre.objects.get(name="Vivalla/Lundby")
    if not CniValue.objects.filter(centre=vivalla, kind="child_cni").exists():
        cni(vivalla, "2.87", listed=612)


def _log_out(page) -> None:
    page.get_by_role("button", name="Logga ut").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_manager_applies_cbhv_approves_manager_sees_the_decision(page, live_demo, log_in):
    _ensure_vivalla_has_a_child_cni()
    year = timezone.localdate().year + 1  # the demo has this year's application approved
    SCREENS.mkdir(parents=True, exist_ok=True)

    # The centre manager starts from her start page.
    log_in("manager_vivalla")
    section = page.get_by_role("region", name="Fast ersättning")
    expect(section).to_be_visible()
    section.get_by_role("link", name=f"Ansök för {year}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ansök om fast ersättning")
    expect(page.get_by_text("2,87").first).to_be_visible()
    expect(page.get_by_label("Ansökan gäller år")).to_have_value(str(year))

    page.get_by_label("Sjukskötersketid för programmet").fill("8,5")
    page.get_by_role("radio", name="Ja").check()
    page.get_by_label("Kontakt hos socialtjänsten").fill("Familjestödjare Lisa Ek")
    page.get_by_label("Planerade utökade hembesök").fill("120")
    page.get_by_role("radio", name="Hela programmet").check()
    page.get_by_label("Vilka familjer ska erbjudas programmet?").fill(
        "Förstagångsföräldrar och familjer med sitt första barn i Sverige."
    )
    page.get_by_label("Planerad start").fill(f"{year}-02-01")
    page.get_by_label("Transport till hembesöken").select_option("bicycle")
    page.screenshot(path=str(SCREENS / "application_form.png"), full_page=True)

    save = page.get_by_role("button", name="Spara utkast")
    box = save.bounding_box()
    assert box and box["height"] >= 44  # a touch target
    save.click()
    expect(page.get_by_role("status")).to_contain_text("Utkastet")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Fast ersättning {year}")
    # A disclosure: opens the confirmation only.
    page.get_by_text("Återta ansökan", exact=True).click()
    page.screenshot(path=str(SCREENS / "application_draft.png"), full_page=True)

    page.get_by_role("button", name="Skicka in").click()
    expect(page.get_by_role("status")).to_contain_text("inskickad till CBHV")
    page.screenshot(path=str(SCREENS / "application_submitted.png"), full_page=True)
    _log_out(page)

    # CBHV sees it on the start page and in the inbox, and approves it there.
    log_in("cbhv")
    inbox_section = page.get_by_role("region", name="Ansökningar att besluta")
    expect(inbox_section.get_by_role("link", name=f"Vivalla/Lundby {year}")).to_be_visible()
    inbox_section.get_by_role("link", name="Till ansökningarna att besluta").click()
    card = page.get_by_role("article", name=f"Vivalla/Lundby {year}")
    expect(card).to_contain_text("2,87")
    expect(card).to_contain_text("Familjestödjare Lisa Ek")
    expect(card).to_contain_text("Inskickad")
    page.screenshot(path=str(SCREENS / "cbhv_inbox.png"), full_page=True)
    card.locator("summary", has_text="Besluta").click()
    card.get_by_label("Kommentar till BVC:n").fill("Välkommen i programmet.")
    page.screenshot(path=str(SCREENS / "cbhv_inbox_deciding.png"), full_page=True)
    card.get_by_role("button", name="Bevilja ansökan").click()
    expect(page.get_by_role("status")).to_contain_text("beviljad")
    expect(page.get_by_role("article", name=f"Vivalla/Lundby {year}")).to_have_count(0)
    _log_out(page)

    # The manager sees the decision where her day starts.
    log_in("manager_vivalla")
    section = page.get_by_role("region", name="Fast ersättning")
    expect(section).to_contain_text(f"{year}:")
    expect(section).to_contain_text("Beviljad")
    expect(section).to_contain_text("Välkommen i programmet.")
    expect(section).to_contain_text("Eva Nilsson")
    page.screenshot(path=str(SCREENS / "manager_start_page.png"), full_page=True)


def test_cbhv_imports_child_cni_with_a_preview(page, live_demo, log_in, tmp_path):
    from funding.models import CniValue

    SCREENS.mkdir(parents=True, exist_ok=True)
    upload = tmp_path / "barn-cni.csv"
    upload.write_text(
        "hsa_id;centre;child_cni;listed_children\n"
        "SE2321000164-BVC01;;2,95;620\n"
        ";Adolfsberg;0,61;410\n"
        ";Okänd BVC;1,2;\n"
        ";Skäggetorp;3,1;500\n",
        encoding="utf-8-sig",
    )
    before = CniValue.objects.count()
    log_in("cbhv")
    page.goto(f"{live_demo.url}/cni/import/")
    page.get_by_label("Fil (CSV eller Excel)").set_input_files(str(upload))
    page.get_by_label("Referensdatum").fill("2026-06-30")
    page.get_by_role("button", name="Förhandsgranska").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Förhandsgranska CNI-import")
    expect(page.get_by_text("2 rader kan sparas.")).to_be_visible()
    expect(page.get_by_text("Ingen BVC heter så.")).to_be_visible()
    expect(page.get_by_text("BVC:n hör till en annan organisation.")).to_be_visible()
    page.screenshot(path=str(SCREENS / "cni_import_preview.png"), full_page=True)
    assert CniValue.objects.count() == before  # the preview wrote nothing

    page.get_by_role("button", name="Spara 2 värden").click()
    expect(page.get_by_role("status")).to_contain_text("2 CNI-värden är sparade")
    assert CniValue.objects.count() == before + 2
    page.get_by_role("link", name="Vivalla/Lundby").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vivalla/Lundby")
    page.screenshot(path=str(SCREENS / "centre_page.png"), full_page=True)
    page.goto(f"{live_demo.url}/ersattningsordning/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ordning för fast ersättning")
    page.screenshot(path=str(SCREENS / "scheme.png"), full_page=True)
    page.goto(f"{live_demo.url}/ansokningar/")
    page.screenshot(path=str(SCREENS / "application_list.png"), full_page=True)
