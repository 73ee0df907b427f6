"""The nurse's pages: worklist on the start page, children, enrolments and visits.

Three personas throughout (STYLE.md 10): the centre's nurse, a colleague at another centre of
the same organisation, and an outsider of another organisation; plus roles that may never do
the action (403).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import Centre, Role, User
from tests.core.factories import CentreFactory, member
from tests.visits.factories import (
    ChildFactory,
    EnrolmentFactory,
    ProgrammeTemplateFactory,
    log_visit,
    nurse_at,
    personnummer,
    zv509,
)
from visits.models import AccessLog, Child, Enrolment, ProgrammeTemplate, Visit

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def days_ago(n: int) -> datetime.date:
    return TODAY() - datetime.timedelta(days=n)


@dataclass
class World:
    centre: Centre
    other_centre: Centre
    outsider_centre: Centre
    template: ProgrammeTemplate
    nurse: User
    colleague: User
    outsider: User
    manager: User
    cbhv: User
    enrolment: Enrolment

    @property
    def child(self) -> Child:
        return self.enrolment.child


@pytest.fixture(autouse=True)
def _kva_codes() -> None:
    zv509()


@pytest.fixture
def world() -> World:
    centre = CentreFactory()
    org = centre.organisation
    other_centre = CentreFactory(organisation=org)
    outsider_centre = CentreFactory()
    template = ProgrammeTemplateFactory(organisation=org)
    ProgrammeTemplateFactory(organisation=outsider_centre.organisation)
    # 100 days old: 1–2 weeks and 2 months overdue, 4 months upcoming.
    child = ChildFactory(current_centre=centre, birth_date=days_ago(100))
    return World(
        centre=centre,
        other_centre=other_centre,
        outsider_centre=outsider_centre,
        template=template,
        nurse=nurse_at(centre),
        colleague=nurse_at(other_centre),
        outsider=nurse_at(outsider_centre),
        manager=member(Role.CENTRE_MANAGER, centre=centre),
        cbhv=member(Role.CBHV, organisation=org),
        enrolment=EnrolmentFactory(child=child, template=template),
    )


def html_of(response: Any) -> str:
    return response.content.decode()


def invalid_fields(html: str) -> set[str]:
    """Names of the inputs marked aria-invalid="true"."""
    names = set()
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'aria-invalid="true"' in tag:
            names.update(re.findall(r'\bname="([^"]+)"', tag))
    return names


def error_summary(html: str) -> str:
    match = re.search(r'<div class="error-summary" role="alert"[^>]*>.*?</div>', html, re.S)
    assert match, "no error summary with role=alert"
    return match.group(0)


def visit_post(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "date": TODAY().isoformat(),
        "place": "home",
        "status": "completed",
        "slot": "2m",
        "interpreter_mode": "none",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


# --- Personas on every page --------------------------------------------------------------------
def _visit_of(w: World) -> Visit:
    return log_visit(w.enrolment, w.nurse, slot="1-2w")


PAGES: dict[str, Callable[[World], str]] = {
    "child_detail": lambda w: reverse("visits:child_detail", args=[w.child.pk]),
    "child_edit": lambda w: reverse("visits:child_edit", args=[w.child.pk]),
    "enrolment_create": lambda w: reverse("visits:enrolment_create", args=[w.child.pk]),
    "enrolment_detail": lambda w: reverse("visits:enrolment_detail", args=[w.enrolment.pk]),
    "enrolment_edit": lambda w: reverse("visits:enrolment_edit", args=[w.enrolment.pk]),
    "enrolment_end": lambda w: reverse("visits:enrolment_end", args=[w.enrolment.pk]),
    "visit_create": lambda w: reverse("visits:visit_create", args=[w.enrolment.pk]) + "?slot=2m",
    "visit_detail": lambda w: reverse("visits:visit_detail", args=[_visit_of(w).pk]),
    "visit_edit": lambda w: reverse("visits:visit_edit", args=[_visit_of(w).pk]),
}
NURSE_ONLY = {"child_edit", "visit_create", "visit_edit"}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_object_pages_answer_each_persona(client, world, page):
    url = PAGES[page](world)
    expected = {
        "nurse": 200,
        "colleague": 404,  # another centre of the same organisation: not found
        "outsider": 404,  # another organisation: not found
        "cbhv": 403,  # a role that never sees children
        "manager": 403 if page in NURSE_ONLY else 200,
    }
    for persona, status in expected.items():
        client.force_login(getattr(world, persona))
        assert client.get(url).status_code == status, persona


@pytest.mark.parametrize(
    "url_name", ["visits:child_list", "visits:child_create", "visits:visit_list"]
)
def test_list_pages_answer_each_persona_and_show_only_their_centres(client, world, url_name):
    log_visit(world.enrolment, world.nurse, slot="1-2w")
    url = reverse(url_name)
    masked = world.child.masked
    for persona in ("nurse", "manager"):
        client.force_login(getattr(world, persona))
        response = client.get(url)
        assert response.status_code == 200
        if url_name != "visits:child_create":
            assert masked in html_of(response)
    for persona in ("colleague", "outsider"):
        client.force_login(getattr(world, persona))
        response = client.get(url)
        assert response.status_code == 200
        assert masked not in html_of(response)
    for role in (Role.CBHV, Role.FINANCE, Role.LOG_REVIEWER, Role.ADMIN):
        client.force_login(member(role, organisation=world.centre.organisation))
        assert client.get(url).status_code == 403, role


def test_anonymous_visitors_are_sent_to_login(client, world):
    for url in [reverse("visits:child_list"), PAGES["visit_create"](world)]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_posting_to_another_centres_visit_form_saves_nothing(client, world):
    client.force_login(world.colleague)
    url = PAGES["visit_create"](world)
    assert client.post(url, visit_post()).status_code == 404
    assert not Visit.objects.exists()


# --- Worklist on the start page ----------------------------------------------------------------
def test_worklist_shows_due_and_overdue_rows_with_a_link_to_the_visit_form(client, world):
    client.force_login(world.nurse)
    html = html_of(client.get("/"))
    assert "Arbetslista" in html
    assert world.child.masked in html
    assert world.child.identity not in html
    assert "Försenad" in html
    form_url = reverse("visits:visit_create", args=[world.enrolment.pk])
    links = re.findall(r'href="([^"]*besok/ny/[^"]*)"', html)
    assert links == [f"{form_url}?slot=1-2w", f"{form_url}?slot=2m"]  # oldest first
    assert "Registrera besök" in html

    response = client.get(links[0].replace("&amp;", "&"))
    assert response.status_code == 200
    assert re.search(r'<option value="1-2w" selected>', html_of(response))


def test_worklist_marks_due_rows_and_filters_by_status_and_slot(client, world):
    newborn = EnrolmentFactory(
        child=ChildFactory(current_centre=world.centre, birth_date=days_ago(10)),
        template=world.template,
    )
    client.force_login(world.nurse)
    html = html_of(client.get("/", {"status": "due"}))
    assert newborn.child.masked in html
    assert "Aktuell" in html
    assert world.child.masked not in html

    html = html_of(client.get("/", {"slot": "2m"}))
    assert world.child.masked in html
    assert newborn.child.masked not in html
    assert "Rensa filter" in html


def test_a_nurse_of_several_centres_filters_the_worklist_by_centre(client, world):
    member(Role.NURSE, centre=world.other_centre, user=world.nurse)
    other = EnrolmentFactory(
        child=ChildFactory(current_centre=world.other_centre, birth_date=days_ago(10)),
        template=world.template,
    )
    client.force_login(world.nurse)
    html = html_of(client.get("/"))
    assert world.child.masked in html
    assert other.child.masked in html
    assert "Alla mina BVC" in html
    html = html_of(client.get("/", {"centre": world.other_centre.pk}))
    assert other.child.masked in html
    assert world.child.masked not in html
    # A centre outside her scope is a filter error, not an empty or a wider list.
    html = html_of(client.get("/", {"centre": world.outsider_centre.pk}))
    assert "BVC" in error_summary(html)
    assert "besok/ny/" not in html


def test_worklist_leaves_out_done_slots_and_inactive_enrolments(client, world):
    log_visit(world.enrolment, world.nurse, slot="1-2w")
    EnrolmentFactory(
        child=ChildFactory(current_centre=world.centre, birth_date=days_ago(30)),
        template=world.template,
        accepted_on=None,
    )
    client.force_login(world.nurse)
    html = html_of(client.get("/"))
    assert "?slot=1-2w" not in html
    assert "?slot=2m" in html
    assert len(re.findall(r"besok/ny/", html)) == 1


def test_worklist_is_paged_with_next_and_previous_links(client, world, monkeypatch):
    monkeypatch.setattr("visits.views.PAGE_SIZE", 2)
    for age in (10, 11, 12):
        EnrolmentFactory(
            child=ChildFactory(current_centre=world.centre, birth_date=days_ago(age)),
            template=world.template,
        )
    client.force_login(world.nurse)
    seen = []
    html = html_of(client.get("/"))
    pages = 0
    while True:
        pages += 1
        seen += re.findall(r'href="(/inskrivningar/[^"]*besok/ny/[^"]*)"', html)
        nxt = re.search(r'rel="next" href="([^"]+)"', html)
        if not nxt:
            break
        html = html_of(client.get(nxt.group(1).replace("&amp;", "&")))
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5  # 2 rows of the 100-day-old, 1 each of the others
    prev = re.search(r'rel="prev" href="([^"]+)"', html)
    assert prev
    back = html_of(client.get(prev.group(1).replace("&amp;", "&")))
    assert re.findall(r'href="(/inskrivningar/[^"]*besok/ny/[^"]*)"', back) == seen[2:4]


def test_a_cursor_that_is_not_ours_shows_the_first_page(client, world):
    client.force_login(world.nurse)
    response = client.get("/", {"cursor": "not-a-cursor"})
    assert response.status_code == 200
    assert world.child.masked in html_of(response)


def test_manager_sees_the_worklist_without_the_visit_form_link(client, world):
    client.force_login(world.manager)
    html = html_of(client.get("/"))
    assert world.child.masked in html
    assert "besok/ny/" not in html
    assert reverse("visits:enrolment_detail", args=[world.enrolment.pk]) in html


def test_worklist_is_not_shown_to_cbhv_and_not_across_centres(client, world):
    client.force_login(world.cbhv)
    assert "Arbetslista" not in html_of(client.get("/"))
    client.force_login(world.colleague)
    html = html_of(client.get("/"))
    assert "Arbetslista" in html
    assert world.child.masked not in html


def test_worklist_logs_one_read_per_child_shown(client, world):
    other = EnrolmentFactory(
        child=ChildFactory(current_centre=world.centre, birth_date=days_ago(10)),
        template=world.template,
    )
    client.force_login(world.nurse)
    client.get("/")
    rows = AccessLog.objects.filter(what="worklist")
    assert rows.count() == 2  # the 100-day-old has two rows but is one child
    assert {r.child_id for r in rows} == {world.child.pk, other.child.pk}
    assert {r.care_unit for r in rows} == {world.centre.pk}
    assert {r.action for r in rows} == {"read"}
    assert {r.username for r in rows} == {world.nurse.username}


# --- Query counts: constant whatever the number of rows ----------------------------------------
def _count_queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _newborns(world: World, n: int) -> None:
    for _ in range(n):
        EnrolmentFactory(
            child=ChildFactory(current_centre=world.centre, birth_date=days_ago(10)),
            template=world.template,
            created_by=world.nurse,
        )


def test_worklist_page_issues_the_same_queries_at_1_and_50_rows(client, world):
    world.enrolment.delete()
    _newborns(world, 1)
    client.force_login(world.nurse)
    client.get("/")  # warm the session
    one = _count_queries(client, "/")
    assert html_of(client.get("/")).count("besok/ny/") == 1
    _newborns(world, 49)
    fifty = _count_queries(client, "/")
    assert html_of(client.get("/")).count("besok/ny/") == 50
    assert one == fifty


def test_visit_list_issues_the_same_queries_at_1_and_50_rows(client, world):
    log_visit(world.enrolment, world.nurse, slot="1-2w")
    client.force_login(world.nurse)
    url = reverse("visits:visit_list")
    client.get(url)
    one = _count_queries(client, url)
    for _ in range(49):
        enrolment = EnrolmentFactory(
            child=ChildFactory(current_centre=world.centre), template=world.template
        )
        log_visit(enrolment, world.nurse, slot="2m", social_services_present=True)
    fifty = _count_queries(client, url)
    assert len(re.findall(r'href="/besok/[0-9a-f-]{36}/"', html_of(client.get(url)))) == 50
    assert one == fifty


def test_child_list_issues_the_same_queries_at_1_and_50_rows(client, world):
    client.force_login(world.nurse)
    url = reverse("visits:child_list")
    client.get(url)
    one = _count_queries(client, url)
    for _ in range(49):
        ChildFactory(current_centre=world.centre)
    fifty = _count_queries(client, url)
    assert one == fifty


# --- Access log on list and detail pages -------------------------------------------------------
def test_child_list_logs_one_read_per_child_shown(client, world):
    others = [ChildFactory(current_centre=world.centre) for _ in range(2)]
    ChildFactory(current_centre=world.other_centre)  # not shown, not logged
    client.force_login(world.nurse)
    client.get(reverse("visits:child_list"))
    rows = AccessLog.objects.filter(what="child_list")
    assert sorted(str(r.child_id) for r in rows) == sorted(
        str(c.pk) for c in [world.child, *others]
    )
    assert {r.care_unit for r in rows} == {world.centre.pk}
    assert {r.action for r in rows} == {"read"}


def test_visit_list_logs_one_read_per_child_shown(client, world):
    log_visit(world.enrolment, world.nurse, slot="1-2w")
    log_visit(world.enrolment, world.nurse, slot="2m")
    client.force_login(world.nurse)
    before = AccessLog.objects.count()
    client.get(reverse("visits:visit_list"))
    rows = AccessLog.objects.filter(what="visit_list")
    assert AccessLog.objects.count() - before == 1  # two visits, one child
    assert [(r.child_id, r.care_unit, r.action) for r in rows] == [
        (world.child.pk, world.centre.pk, "read")
    ]


@pytest.mark.parametrize(
    ("page", "what"),
    [("child_detail", "child"), ("enrolment_detail", "enrolment"), ("visit_detail", "visit")],
)
def test_detail_pages_log_a_read_of_the_child(client, world, page, what):
    url = PAGES[page](world)
    client.force_login(world.manager)
    before = AccessLog.objects.count()
    client.get(url)
    rows = AccessLog.objects.filter(what=what, action="read", username=world.manager.username)
    assert AccessLog.objects.count() - before == 1
    assert [(r.child_id, r.care_unit) for r in rows] == [(world.child.pk, world.centre.pk)]


def test_pages_outside_scope_log_nothing(client, world):
    url = PAGES["enrolment_detail"](world)
    client.force_login(world.colleague)
    before = AccessLog.objects.count()
    assert client.get(url).status_code == 404
    assert AccessLog.objects.count() == before


# --- The visit form ----------------------------------------------------------------------------
def _visit_url(world: World) -> str:
    return reverse("visits:visit_create", args=[world.enrolment.pk])


def test_visit_form_uses_the_api_field_names_and_prefills_the_slot(client, world):
    client.force_login(world.nurse)
    html = html_of(client.get(_visit_url(world) + "?slot=2m"))
    for name in (
        "date",
        "place",
        "status",
        "slot",
        "social_services_present",
        "participants",
        "interpreter_mode",
        "interpreter_language",
        "kva_codes",
        "contacts_started",
    ):
        assert f'name="{name}"' in html, name
    assert re.search(r'<option value="2m" selected>', html)
    assert '<option value="">Extra besök utanför mallen</option>' in html
    assert 'value="ZV509"' in html
    assert "läggs till automatiskt" in html
    assert world.child.identity not in html


def test_completed_home_visit_with_social_services_is_saved_with_zv509(client, world):
    client.force_login(world.nurse)
    response = client.post(
        _visit_url(world), visit_post(social_services_present="on", contacts_started=["dental"])
    )
    visit = Visit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("visits:visit_detail", args=[visit.pk])
    assert visit.kva_codes == ["ZV509"]
    assert visit.slot == "2m"
    assert visit.nurse == world.nurse
    assert visit.contacts_started == ["dental"]

    html = html_of(client.get(response["Location"]))
    status = re.search(r'<div role="status"[^>]*>(.*?)</div>', html, re.S)
    assert status and "Besöket är registrerat" in status.group(1)
    assert "ZV509" in status.group(1)
    assert re.search(r'id="kva-codes".*ZV509', html, re.S)
    assert AccessLog.objects.filter(action="create", what="visit").count() == 1


@pytest.mark.parametrize(
    ("fields", "invalid", "message"),
    [
        pytest.param(
            {"kva_codes": ["ZV509"]},
            "kva_codes",
            "kräver att socialtjänsten deltog",
            id="zv509-without-social-services",
        ),
        pytest.param(
            {"status": "cancelled", "kva_codes": ["ZV509"], "social_services_present": "on"},
            "kva_codes",
            "har inga KVÅ-koder",
            id="codes-on-a-cancelled-visit",
        ),
        pytest.param(
            {"participants": ["interpreter"], "interpreter_mode": "none"},
            "interpreter_mode",
            "Ange hur tolken deltog",
            id="interpreter-without-mode",
        ),
        pytest.param(
            {"date": (TODAY() + datetime.timedelta(days=1)).isoformat()},
            "date",
            "framtiden",
            id="future-date",
        ),
    ],
)
def test_visit_form_errors_are_summarised_and_mark_the_field(
    client, world, fields, invalid, message
):
    client.force_login(world.nurse)
    response = client.post(_visit_url(world), visit_post(**fields))
    assert response.status_code == 200
    html = html_of(response)
    summary = error_summary(html)
    assert message in summary
    assert f'href="#id_{invalid}' in summary  # a link to the field (or its group)
    assert invalid_fields(html) == {invalid}
    assert f'id="id_{invalid}_error"' in html  # what aria-describedby points at
    assert not Visit.objects.exists()
    assert not AccessLog.objects.filter(action="create").exists()


def test_a_second_completed_visit_for_a_slot_is_a_form_error(client, world):
    log_visit(world.enrolment, world.nurse, slot="2m")
    client.force_login(world.nurse)
    html = html_of(client.post(_visit_url(world), visit_post()))
    assert "redan ett genomfört besök" in error_summary(html)
    assert 'name="adjustment"' in html  # offered once the save is refused
    assert Visit.objects.count() == 1


def test_the_adjustment_flag_reaches_the_service(client, world, monkeypatch):
    seen = {}

    def fake_visit_log(**kwargs: Any) -> Visit:
        seen.update(kwargs)
        return log_visit(world.enrolment, world.nurse, slot="2m")

    monkeypatch.setattr("visits.views.visit_log", fake_visit_log)
    client.force_login(world.nurse)
    client.post(_visit_url(world), visit_post(adjustment="on"))
    assert seen["adjustment"] is True


def test_an_extra_visit_has_no_slot(client, world):
    client.force_login(world.nurse)
    client.post(_visit_url(world), visit_post(slot="", place="clinic"))
    assert Visit.objects.get().slot == ""


def test_editing_a_visit_to_cancelled_drops_its_codes(client, world):
    visit = log_visit(world.enrolment, world.nurse, slot="2m", social_services_present=True)
    assert visit.kva_codes == ["ZV509"]
    client.force_login(world.nurse)
    url = reverse("visits:visit_edit", args=[visit.pk])
    html = html_of(client.get(url))
    assert re.search(r'name="kva_codes" value="ZV509"[^>]*checked', html)
    response = client.post(
        url,
        visit_post(status="cancelled", social_services_present="on", kva_codes=["ZV509"]),
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == "cancelled"
    assert visit.kva_codes == []
    assert AccessLog.objects.filter(action="update", what="visit").count() == 1


# --- Children ----------------------------------------------------------------------------------
def test_nurse_registers_a_child_and_lands_on_its_page(client, world):
    client.force_login(world.nurse)
    number = personnummer(days_ago(20))
    response = client.post(
        reverse("visits:child_create"),
        {"identity_type": "personnummer", "identity": number, "given_name": "Noah"},
    )
    child = Child.objects.get(identity=number)
    assert response["Location"] == reverse("visits:child_detail", args=[child.pk])
    assert child.current_centre == world.centre
    html = html_of(client.get(response["Location"]))
    assert "Barnet är registrerat" in html
    assert f"{number[:8]}-{number[8:]}" in html  # the full number, to the centre's nurse


def test_a_wrong_check_digit_is_an_error_on_identity(client, world):
    client.force_login(world.nurse)
    number = personnummer(days_ago(20))
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    html = html_of(
        client.post(
            reverse("visits:child_create"), {"identity_type": "personnummer", "identity": wrong}
        )
    )
    assert "Kontrollsiffran" in error_summary(html)
    assert invalid_fields(html) == {"identity"}
    assert list(Child.objects.all()) == [world.child]


def test_registering_a_known_child_says_so_and_links_to_it(client, world):
    client.force_login(world.nurse)
    html = html_of(
        client.post(
            reverse("visits:child_create"),
            {"identity_type": "personnummer", "identity": world.child.identity},
        )
    )
    assert "redan registrerat" in error_summary(html)
    assert reverse("visits:child_detail", args=[world.child.pk]) in html


def test_a_nurse_with_several_centres_chooses_the_centre(client, world):
    member(Role.NURSE, centre=world.other_centre, user=world.nurse)
    client.force_login(world.nurse)
    assert 'name="centre"' in html_of(client.get(reverse("visits:child_create")))
    client.force_login(world.colleague)
    assert 'name="centre"' not in html_of(client.get(reverse("visits:child_create")))


def test_child_page_shows_the_full_number_only_to_the_centres_nurse(client, world):
    full = f"{world.child.identity[:8]}-{world.child.identity[8:]}"
    client.force_login(world.nurse)
    assert full in html_of(client.get(PAGES["child_detail"](world)))
    client.force_login(world.manager)
    html = html_of(client.get(PAGES["child_detail"](world)))
    assert full not in html
    assert world.child.masked in html


def test_a_protected_child_shows_no_names_in_lists_or_to_the_manager(client, world):
    world.child.protected = True
    world.child.save()
    client.force_login(world.nurse)
    html = html_of(client.get(reverse("visits:child_list")))
    assert "Skyddad identitet" in html
    assert world.child.family_name not in html
    assert world.child.family_name in html_of(client.get(PAGES["child_detail"](world)))
    for url in ("/", reverse("visits:child_list"), PAGES["child_detail"](world)):
        client.force_login(world.manager)
        html = html_of(client.get(url))
        assert world.child.family_name not in html, url
        assert world.child.identity[:8] not in html, url


def test_nurse_flags_a_child_as_protected(client, world):
    client.force_login(world.nurse)
    response = client.post(
        PAGES["child_edit"](world),
        {"given_name": "Alva", "family_name": world.child.family_name, "protected": "on"},
    )
    assert response.status_code == 302
    world.child.refresh_from_db()
    assert world.child.protected


# --- Enrolments --------------------------------------------------------------------------------
def test_nurse_enrols_a_child_and_sees_its_schedule(client, world):
    child = ChildFactory(current_centre=world.centre, birth_date=days_ago(10))
    client.force_login(world.nurse)
    url = reverse("visits:enrolment_create", args=[child.pk])
    html = html_of(client.get(url))
    assert f'<option value="{world.template.pk}" selected>' in html
    response = client.post(
        url,
        {
            "template": world.template.pk,
            "offered_on": days_ago(5).isoformat(),
            "accepted_on": days_ago(4).isoformat(),
            "eligibility": ["first_time_parents", "risk_factors"],
            "programme": "full",
            "language": "somaliska",
            "interpreter_needed": "on",
        },
    )
    enrolment = Enrolment.objects.get(child=child)
    assert response["Location"] == reverse("visits:enrolment_detail", args=[enrolment.pk])
    html = html_of(client.get(response["Location"]))
    assert "Barnet är inskrivet" in html
    assert "Aktuell" in html and "Kommande" in html
    assert f"{reverse('visits:visit_create', args=[enrolment.pk])}?slot=1-2w" in html


def test_a_partial_programme_needs_its_visits(client, world):
    child = ChildFactory(current_centre=world.centre, birth_date=days_ago(10))
    client.force_login(world.nurse)
    html = html_of(
        client.post(
            reverse("visits:enrolment_create", args=[child.pk]),
            {
                "template": world.template.pk,
                "offered_on": days_ago(5).isoformat(),
                "programme": "partial",
            },
        )
    )
    assert "Välj minst ett besök" in error_summary(html)
    assert invalid_fields(html) == {"planned_slots"}
    assert not Enrolment.objects.filter(child=child).exists()


def test_a_second_open_enrolment_is_refused(client, world):
    client.force_login(world.nurse)
    html = html_of(
        client.post(
            reverse("visits:enrolment_create", args=[world.child.pk]),
            {
                "template": world.template.pk,
                "offered_on": days_ago(5).isoformat(),
                "programme": "full",
            },
        )
    )
    assert "pågående inskrivning" in error_summary(html)


def test_ending_with_moved_needs_a_centre_and_moves_the_child(client, world):
    client.force_login(world.nurse)
    url = PAGES["enrolment_end"](world)
    html = html_of(client.post(url, {"ended_on": TODAY().isoformat(), "reason": "moved"}))
    assert invalid_fields(html) == {"moved_to"}
    assert f'<option value="{world.outsider_centre.pk}"' not in html
    response = client.post(
        url,
        {"ended_on": TODAY().isoformat(), "reason": "moved", "moved_to": world.other_centre.pk},
    )
    assert response.status_code == 302
    world.child.refresh_from_db()
    assert world.child.current_centre == world.other_centre
    # The enrolment stays with the centre that made it; the child is now the colleague's.
    assert client.get(response["Location"]).status_code == 200
    assert client.get(PAGES["child_detail"](world)).status_code == 404
    client.force_login(world.colleague)
    assert client.get(PAGES["child_detail"](world)).status_code == 200


def test_nurse_records_that_the_family_accepted(client, world):
    enrolment = world.enrolment
    enrolment.accepted_on = None
    enrolment.save()
    client.force_login(world.nurse)
    response = client.post(
        PAGES["enrolment_edit"](world),
        {"accepted_on": TODAY().isoformat(), "programme": "partial", "planned_slots": ["2m"]},
    )
    assert response.status_code == 302
    enrolment.refresh_from_db()
    assert enrolment.accepted_on == TODAY()
    assert enrolment.planned_slots == ["2m"]


# --- Markup ------------------------------------------------------------------------------------
def test_pages_have_no_inline_script_style_or_event_handlers(client, world):
    client.force_login(world.nurse)
    visit = log_visit(world.enrolment, world.nurse, slot="1-2w")
    urls = ["/", reverse("visits:child_list"), reverse("visits:child_create")]
    urls += [PAGES[p](world) for p in PAGES if p not in ("visit_detail", "visit_edit")]
    urls += [
        reverse("visits:visit_detail", args=[visit.pk]),
        reverse("visits:visit_edit", args=[visit.pk]),
        reverse("visits:visit_list"),
    ]
    pages = [html_of(client.get(url)) for url in urls]
    pages.append(html_of(client.post(_visit_url(world), visit_post(kva_codes=["ZV509"]))))
    for url, html in zip([*urls, "visit form with errors"], pages, strict=True):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        for tag in re.findall(r"<[^>]*\bhx-(?:get|post)=[^>]*>", html):
            assert re.search(r"\b(?:href|action)=\"[^\"#]+", tag), tag
        assert "Logga ut" in html
