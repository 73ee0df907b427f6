"""The fixed-compensation pages: who reaches what, the application form, decisions from the page,
wrong states, mail after commit, and the start page."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import Centre, Organisation, Role, User
from funding.applications import application_submit
from funding.models import (
    Application,
    ApplicationStatus,
    CniValue,
    FixedCompensationScheme,
    TransitionKind,
)
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import cni, draft

pytestmark = pytest.mark.django_db

PASSWORD = "hembesok-demo"
THIS_YEAR = timezone.localdate().year
NEXT_YEAR = THIS_YEAR + 1


def centre(name: str) -> Centre:
    return Centre.objects.get(name=name)


def user(username: str) -> User:
    return User.objects.get(username=username)


def app(name: str, year: int = THIS_YEAR) -> Application:
    return Application.objects.get(centre__name=name, year=year)


@pytest.fixture
def as_user(client, demo):
    def log_in(username: str):
        client.force_login(user(username))
        return client

    return log_in


def plan_data(**overrides: object) -> dict[str, object]:
    return {
        "year": str(NEXT_YEAR),
        "nurse_hours_per_week": "8,5",
        "social_services_contacted": "true",
        "social_services_contact": "Familjestödjare Lisa",
        "planned_visits": "120",
        "programme": "full",
        "target_families": "Förstagångsföräldrar",
        "start_date": f"{NEXT_YEAR}-02-01",
        "transport": "bicycle",
        **overrides,
    }


def status_text(html: str) -> str:
    match = re.search(r'<div role="status"[^>]*>(.*?)</div>', html, re.S)
    assert match, "no role=status element"
    return match.group(1)


def alert_text(html: str) -> str:
    match = re.search(r'<div class="error-summary" role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert match, "no error summary"
    return match.group(1)


# --- Who reaches what ---------------------------------------------------------------------------
PERSONAS = ["manager_vivalla", "manager_adolfsberg", "nurse_skaggetorp", "cbhv", "finance"]


def _url(page: str) -> str:
    vivalla = centre("Vivalla/Lundby")
    urls = {
        "list": lambda: reverse("funding:application_list"),
        "inbox": lambda: reverse("funding:inbox"),
        "detail": lambda: reverse("funding:application", args=[app("Vivalla/Lundby").pk]),
        "edit": lambda: reverse(
            "funding:application_edit", args=[app("Vivalla/Lundby", NEXT_YEAR).pk]
        ),
        "create": lambda: reverse("funding:application_create", args=[vivalla.pk]),
        "centre": lambda: reverse("funding:centre", args=[vivalla.pk]),
        "centres": lambda: reverse("funding:centre_list"),
        "scheme": lambda: reverse("funding:scheme"),
        "cni_import": lambda: reverse("funding:cni_import"),
    }
    return urls[page]()


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        # manager_vivalla, manager_adolfsberg, nurse_skaggetorp, cbhv, finance
        ("list", [200, 200, 200, 200, 200]),
        ("inbox", [403, 403, 403, 200, 403]),
        ("detail", [200, 404, 404, 200, 200]),
        ("edit", [200, 404, 404, 403, 403]),
        ("create", [200, 403, 404, 403, 403]),
        ("centre", [200, 200, 404, 200, 200]),
        ("centres", [200, 200, 200, 200, 200]),
        ("scheme", [403, 403, 403, 200, 403]),
        ("cni_import", [403, 403, 403, 200, 403]),
    ],
)
def test_who_reaches_which_page(client, demo, page, expected):
    draft(centre("Vivalla/Lundby"), by=user("manager_vivalla"), year=NEXT_YEAR)
    url = _url(page)
    got = []
    for username in PERSONAS:
        client.force_login(user(username))
        got.append(client.get(url).status_code)
    assert got == expected


@pytest.mark.parametrize(
    "action", ["application_approve", "application_reject", "application_request_changes"]
)
def test_only_cbhv_decides(client, demo, action):
    varberga = app("Varberga")
    url = reverse(f"funding:{action}", args=[varberga.pk])
    for username in ["manager_vivalla", "manager_adolfsberg", "nurse_skaggetorp", "finance"]:
        client.force_login(user(username))
        assert client.post(url, {"comment": "x", "reason": "x"}).status_code == 403
    varberga.refresh_from_db()
    assert varberga.status == ApplicationStatus.SUBMITTED


def test_a_manager_of_another_centre_cannot_submit_or_withdraw(client, demo):
    application = draft(centre("Vivalla/Lundby"), by=user("manager_vivalla"), year=NEXT_YEAR)
    client.force_login(user("manager_adolfsberg"))
    for name in ("application_submit", "application_withdraw"):
        assert client.post(reverse(f"funding:{name}", args=[application.pk])).status_code == 404
    client.force_login(user("cbhv"))
    for name in ("application_submit", "application_withdraw"):
        assert client.post(reverse(f"funding:{name}", args=[application.pk])).status_code == 403
    application.refresh_from_db()
    assert application.status == ApplicationStatus.DRAFT


# --- The application form ---------------------------------------------------------------------
def test_form_shows_the_centres_cni_and_threshold(as_user):
    client = as_user("manager_vivalla")
    html = client.get(_url("create")).content.decode()
    assert "2,87" in html  # the demo's child CNI of Vivalla/Lundby
    assert "över 2,00" in html
    assert 'name="nurse_hours_per_week"' in html
    assert "Spara utkast" in html
    assert "Skicka in" in html


def test_invalid_form_has_an_error_summary_linking_to_invalid_fields(as_user):
    client = as_user("manager_vivalla")
    response = client.post(_url("create"), {"year": str(NEXT_YEAR), "action": "save"})
    assert response.status_code == 200
    html = response.content.decode()
    summary = alert_text(html)
    assert 'href="#id_nurse_hours_per_week"' in summary
    assert 'href="#id_target_families"' in summary
    assert 'href="#id_social_services_contacted"' in summary
    assert re.search(r'<input[^>]*name="nurse_hours_per_week"[^>]*aria-invalid="true"', html)
    assert re.search(r'<textarea[^>]*name="target_families"[^>]*aria-invalid="true"', html)
    assert not Application.objects.filter(year=NEXT_YEAR).exists()


def test_service_errors_appear_on_their_fields(as_user):
    client = as_user("manager_vivalla")
    data = plan_data(nurse_hours_per_week="0", programme="partial", action="save")
    html = client.post(_url("create"), data).content.decode()
    summary = alert_text(html)
    assert 'href="#id_nurse_hours_per_week"' in summary
    assert "timmar per vecka" in summary
    assert 'href="#id_planned_slots"' in summary  # partial without slots


def test_saving_a_draft(as_user):
    client = as_user("manager_vivalla")
    response = client.post(_url("create"), plan_data(action="save"), follow=True)
    application = app("Vivalla/Lundby", NEXT_YEAR)
    assert application.status == ApplicationStatus.DRAFT
    assert application.nurse_hours_per_week == Decimal("8.5")
    assert application.transport == "bicycle"
    assert response.redirect_chain[-1][0] == reverse("funding:application", args=[application.pk])
    assert "Utkastet för" in status_text(response.content.decode())


def test_submitting_from_the_form(as_user, mailoutbox, django_capture_on_commit_callbacks):
    client = as_user("manager_vivalla")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("create"), plan_data(action="submit"), follow=True)
    application = app("Vivalla/Lundby", NEXT_YEAR)
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.submitted_by == user("manager_vivalla")
    assert "inskickad till CBHV" in status_text(response.content.decode())
    assert [m.to for m in mailoutbox] == [["cbhv@example.org"]]
    assert reverse("funding:application", args=[application.pk]) in mailoutbox[0].body


def test_editing_a_draft_and_submitting_it(as_user):
    application = draft(centre("Vivalla/Lundby"), by=user("manager_vivalla"), year=NEXT_YEAR)
    client = as_user("nurse_vivalla")
    url = reverse("funding:application_edit", args=[application.pk])
    html = client.get(url).content.decode()
    assert 'value="Förstagångsföräldrar i området"' not in html  # a textarea, not an input
    assert "Förstagångsföräldrar i området" in html
    data = plan_data(planned_visits="90", action="submit")
    del data["year"]
    response = client.post(url, data, follow=True)
    application.refresh_from_db()
    assert application.planned_visits == 90
    assert application.status == ApplicationStatus.SUBMITTED
    assert "inskickad" in status_text(response.content.decode())


def test_submitting_while_not_eligible_names_the_cni_and_threshold_and_saves_nothing(as_user):
    client = as_user("manager_adolfsberg")
    url = reverse("funding:application_create", args=[centre("Adolfsberg").pk])
    html = client.get(url).content.decode()
    assert "0,58" in html
    assert "Ett utkast kan sparas men inte skickas in" in html
    response = client.post(url, plan_data(action="submit"))
    assert response.status_code == 200
    summary = alert_text(response.content.decode())
    assert "0,58" in summary
    assert "2,00" in summary
    assert not Application.objects.filter(centre__name="Adolfsberg").exists()
    # A draft may still be saved.
    client.post(url, plan_data(action="save"))
    assert app("Adolfsberg", NEXT_YEAR).status == ApplicationStatus.DRAFT


def test_submitting_from_the_page_while_not_eligible_gives_a_message(as_user):
    application = draft(centre("Adolfsberg"), by=user("manager_adolfsberg"), year=NEXT_YEAR)
    # draft() stores CNI 2.50 only when the centre has none; Adolfsberg has 0.58.
    client = as_user("manager_adolfsberg")
    response = client.post(
        reverse("funding:application_submit", args=[application.pk]), follow=True
    )
    assert "0,58" in status_text(response.content.decode())
    application.refresh_from_db()
    assert application.status == ApplicationStatus.DRAFT


def test_a_second_application_for_the_same_year_is_not_offered(as_user):
    client = as_user("manager_vivalla")
    html = client.get(_url("create")).content.decode()
    assert f'<option value="{THIS_YEAR}"' not in html  # the demo's approved application
    assert f'<option value="{NEXT_YEAR}"' in html


def test_changes_requested_then_resubmitted(as_user, client):
    application = draft(centre("Vivalla/Lundby"), by=user("manager_vivalla"), year=NEXT_YEAR)
    client = as_user("manager_vivalla")
    client.post(reverse("funding:application_submit", args=[application.pk]))
    client.force_login(user("cbhv"))
    client.post(
        reverse("funding:application_request_changes", args=[application.pk]),
        {"comment": "Hur många familjer?"},
    )
    client.force_login(user("manager_vivalla"))
    url = reverse("funding:application", args=[application.pk])
    html = client.get(url).content.decode()
    assert "Hur många familjer?" in html
    assert "Skicka in igen" in html
    data = plan_data(target_families="Ca 40 familjer", action="submit")
    del data["year"]
    client.post(reverse("funding:application_edit", args=[application.pk]), data)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.target_families == "Ca 40 familjer"
    html = client.get(url).content.decode()
    assert "Inskickad på nytt" in html


# --- Decisions ----------------------------------------------------------------------------------
def test_cbhv_approves_from_the_inbox(as_user, mailoutbox, django_capture_on_commit_callbacks):
    client = as_user("cbhv")
    varberga = app("Varberga")
    html = client.get(reverse("funding:inbox")).content.decode()
    assert "Varberga" in html
    assert "2,41" in html  # Varberga's child CNI
    assert "Familjestödjare, socialtjänsten Varberga" in html  # the plan
    assert "Inskickad" in html  # the history
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("funding:application_approve", args=[varberga.pk]),
            {"comment": "Bra plan.", "effective_from": "", "next": reverse("funding:inbox")},
            follow=True,
        )
    assert response.redirect_chain[-1][0] == reverse("funding:inbox")
    assert "beviljad" in status_text(response.content.decode())
    varberga.refresh_from_db()
    assert varberga.status == ApplicationStatus.APPROVED
    assert varberga.decision_comment == "Bra plan."
    assert varberga.decided_by == user("cbhv")
    assert {tuple(m.to) for m in mailoutbox} == {("nurse_varberga@example.org",)}


def test_an_unsafe_next_is_ignored(as_user):
    client = as_user("cbhv")
    varberga = app("Varberga")
    response = client.post(
        reverse("funding:application_approve", args=[varberga.pk]),
        {"next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("funding:application", args=[varberga.pk])


def test_request_changes_needs_a_comment(as_user):
    client = as_user("cbhv")
    varberga = app("Varberga")
    url = reverse("funding:application_request_changes", args=[varberga.pk])
    response = client.post(url, {"comment": "  "})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Skriv vad som ska kompletteras" in alert_text(html)
    assert re.search(r'<textarea[^>]*name="comment"[^>]*aria-invalid="true"', html)
    response = client.post(url, {"comment": "Hur når ni familjerna?"}, follow=True)
    assert "Komplettering är begärd" in status_text(response.content.decode())
    varberga.refresh_from_db()
    assert varberga.status == ApplicationStatus.CHANGES_REQUESTED


def test_reject_needs_a_reason(as_user):
    client = as_user("cbhv")
    varberga = app("Varberga")
    url = reverse("funding:application_reject", args=[varberga.pk])
    html = client.post(url, {"reason": ""}).content.decode()
    assert "Ange skälet till avslaget" in alert_text(html)
    response = client.post(url, {"reason": "Socialtjänsten saknar personal."}, follow=True)
    assert "avslagen" in status_text(response.content.decode())
    varberga.refresh_from_db()
    assert varberga.status == ApplicationStatus.REJECTED
    assert varberga.decision_comment == "Socialtjänsten saknar personal."


def test_approve_with_a_date_outside_the_year_is_an_error_on_the_field(as_user):
    client = as_user("cbhv")
    varberga = app("Varberga")
    url = reverse("funding:application_approve", args=[varberga.pk])
    html = client.post(url, {"effective_from": f"{NEXT_YEAR}-01-01"}).content.decode()
    summary = alert_text(html)
    assert "effective_from" in summary
    assert re.search(r'<input[^>]*name="effective_from"[^>]*aria-invalid="true"', html)
    varberga.refresh_from_db()
    assert varberga.status == ApplicationStatus.SUBMITTED


def test_the_application_page_offers_only_the_users_actions(as_user, client):
    varberga = app("Varberga")
    url = reverse("funding:application", args=[varberga.pk])
    html = as_user("cbhv").get(url).content.decode()
    assert "Bevilja ansökan" in html and "Avslå ansökan" in html
    assert "Återta ansökan" not in html
    client.force_login(user("finance"))
    html = client.get(url).content.decode()
    assert "Bevilja ansökan" not in html and "Återta ansökan" not in html
    client.force_login(user("nurse_varberga"))
    html = client.get(url).content.decode()
    assert "Bevilja ansökan" not in html
    assert "Återta ansökan" in html
    assert "Ändra planen" not in html  # submitted: no edits


def test_wrong_state_actions_give_a_message(as_user, client):
    mikaeli = app("Mikaeli")  # the demo's draft
    client = as_user("cbhv")
    response = client.post(reverse("funding:application_approve", args=[mikaeli.pk]), follow=True)
    assert response.status_code == 200
    assert "utkast" in status_text(response.content.decode())
    mikaeli.refresh_from_db()
    assert mikaeli.status == ApplicationStatus.DRAFT

    approved = app("Vivalla/Lundby")
    client.force_login(user("manager_vivalla"))
    response = client.get(reverse("funding:application_edit", args=[approved.pk]), follow=True)
    assert "kan inte ändras" in status_text(response.content.decode())
    response = client.post(reverse("funding:application_submit", args=[approved.pk]), follow=True)
    assert "beviljad" in status_text(response.content.decode())


def test_withdrawing_an_approved_application_keeps_its_decision(as_user):
    approved = app("Vivalla/Lundby")
    client = as_user("manager_vivalla")
    response = client.post(reverse("funding:application_withdraw", args=[approved.pk]), follow=True)
    assert "återtagen" in status_text(response.content.decode())
    approved.refresh_from_db()
    assert approved.status == ApplicationStatus.WITHDRAWN
    assert approved.approved and approved.effective_from
    response = client.post(reverse("funding:application_withdraw", args=[approved.pk]), follow=True)
    assert "återtagen" in status_text(response.content.decode())  # "Ansökan är återtagen; ..."


def test_mail_is_sent_after_commit_only(as_user, mailoutbox, django_capture_on_commit_callbacks):
    client = as_user("cbhv")
    varberga = app("Varberga")
    url = reverse("funding:application_reject", args=[varberga.pk])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(url, {"reason": "Ingen personal."})
    assert len(callbacks) == 1
    assert mailoutbox == []
    callbacks[0]()
    assert len(mailoutbox) == 1
    assert "avslagen" in mailoutbox[0].subject


def test_a_refused_submission_sends_no_mail(
    as_user, mailoutbox, django_capture_on_commit_callbacks
):
    client = as_user("manager_adolfsberg")
    url = reverse("funding:application_create", args=[centre("Adolfsberg").pk])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        client.post(url, plan_data(action="submit"))
    assert callbacks == []
    assert mailoutbox == []


# --- Centre page, scheme ------------------------------------------------------------------------
def test_centre_page_shows_status_per_year_and_cni_history(as_user):
    vivalla = centre("Vivalla/Lundby")
    cni(vivalla, "2.95", reference_date=datetime.date(2026, 6, 30), listed=620)
    client = as_user("manager_adolfsberg")  # everyone in the organisation
    html = client.get(reverse("funding:centre", args=[vivalla.pk])).content.decode()
    assert "Beviljad" in html
    assert html.index("2,95") < html.index("2,87")  # newest first
    assert "620" in html
    # The page shows the status, but the application itself is the centre's and its deciders'.
    assert reverse("funding:application", args=[app("Vivalla/Lundby").pk]) not in html


def test_cbhv_sets_the_scheme(as_user):
    client = as_user("cbhv")
    url = reverse("funding:scheme")
    html = client.post(
        url, {"from_year": "2030", "threshold": "-1", "weighting": "cni"}
    ).content.decode()
    assert 'href="#id_threshold"' in alert_text(html)
    assert re.search(r'<input[^>]*name="threshold"[^>]*aria-invalid="true"', html)
    response = client.post(
        url, {"from_year": "2030", "threshold": "2,50", "weighting": "cni"}, follow=True
    )
    assert "2030" in status_text(response.content.decode())
    scheme = FixedCompensationScheme.objects.get(
        organisation__name="Region Örebro län", from_year=2030
    )
    assert scheme.threshold == Decimal("2.50")
    assert scheme.weighting == "cni"
    assert scheme.updated_by == user("cbhv")
    html = client.get(url + "?from_year=2030").content.decode()
    assert 'value="2,50"' in html


def test_admin_sets_the_scheme_of_her_organisation_only(as_user):
    client = as_user("admin")
    linkoping = Organisation.objects.get(name="Linköpings kommun")
    response = client.post(
        reverse("funding:scheme"),
        {
            "organisation": str(linkoping.pk),
            "from_year": "2030",
            "threshold": "1",
            "weighting": "cni",
        },
    )
    assert response.status_code == 200  # the hidden field refuses another organisation
    assert not FixedCompensationScheme.objects.filter(from_year=2030).exists()


# --- Start page ---------------------------------------------------------------------------------
def test_start_page_shows_cbhv_the_applications_to_decide(as_user):
    html = as_user("cbhv").get("/").content.decode()
    assert "Ansökningar att besluta" in html
    assert "Varberga" in html
    assert reverse("funding:inbox") in html


def test_start_page_shows_the_centre_the_decision(as_user, client):
    application = draft(centre("Vivalla/Lundby"), by=user("manager_vivalla"), year=NEXT_YEAR)
    client = as_user("manager_vivalla")
    client.post(reverse("funding:application_submit", args=[application.pk]))
    client.force_login(user("cbhv"))
    client.post(
        reverse("funding:application_request_changes", args=[application.pk]),
        {"comment": "Beskriv transporten närmare."},
    )
    client.force_login(user("manager_vivalla"))
    html = client.get("/").content.decode()
    assert "Fast ersättning" in html
    assert "Komplettering begärd" in html
    assert "Beskriv transporten närmare." in html
    assert "Eva Nilsson" in html
    assert "Beviljad" in html  # this year's application, from the demo


def test_start_page_sections_run_at_most_two_queries(rf, demo, django_assert_max_num_queries):
    from funding.views.applications import centre_applications_section, inbox_section

    for username, section in (
        ("cbhv", inbox_section),
        ("manager_vivalla", centre_applications_section),
    ):
        request = rf.get("/")
        request.user = user(username)
        request.user.scope  # noqa: B018 - loaded once per request by the navigation already
        with django_assert_max_num_queries(2):
            context = section(request)
        assert context is not None


# --- Query counts -------------------------------------------------------------------------------
def _submitted_in(org: Organisation, n: int) -> None:
    for _ in range(n):
        c = CentreFactory(organisation=org)
        cni(c)
        application = draft(c)
        application_submit(user=application.created_by, application=application)


@pytest.mark.parametrize("page", ["inbox", "list", "centres"])
def test_list_pages_cost_the_same_at_1_and_many_rows(client, db, page):
    org = OrganisationFactory()
    cbhv = member(Role.CBHV, organisation=org)
    client.force_login(cbhv)
    url = reverse(
        {"inbox": "funding:inbox", "list": "funding:application_list"}.get(
            page, "funding:centre_list"
        )
    )
    counts = []
    for n in (1, 10):
        _submitted_in(org, n)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


# --- Admin --------------------------------------------------------------------------------------
def test_admin_sees_her_organisations_cni_read_only(as_user):
    client = as_user("admin")
    html = client.get(reverse("admin:funding_cnivalue_changelist")).content.decode()
    assert "Vivalla/Lundby" in html
    assert "Skäggetorp" not in html
    other = CniValue.objects.get(centre__name="Skäggetorp")
    assert client.get(reverse("admin:funding_cnivalue_change", args=[other.pk])).status_code == 404
    assert client.get(reverse("admin:funding_cnivalue_add")).status_code == 403
    own = CniValue.objects.filter(centre__name="Vivalla/Lundby").first()
    html = client.get(reverse("admin:funding_cnivalue_change", args=[own.pk])).content.decode()
    assert 'name="value"' not in html


def test_admin_applications_are_read_only_and_scoped(as_user):
    client = as_user("admin")
    html = client.get(reverse("admin:funding_application_changelist")).content.decode()
    assert "Varberga" in html
    varberga = app("Varberga")
    html = client.get(
        reverse("admin:funding_application_change", args=[varberga.pk])
    ).content.decode()
    assert 'name="status"' not in html
    assert str(TransitionKind.SUBMITTED.label) in html


def test_admin_edits_the_scheme(as_user):
    client = as_user("admin")
    scheme = FixedCompensationScheme.objects.get(organisation__name="Region Örebro län")
    url = reverse("admin:funding_fixedcompensationscheme_change", args=[scheme.pk])
    response = client.post(
        url,
        {
            "organisation": str(scheme.organisation_id),
            "from_year": str(scheme.from_year),
            "threshold": "2.10",
            "weighting": "cni_x_listed",
        },
    )
    assert response.status_code == 302
    scheme.refresh_from_db()
    assert scheme.threshold == Decimal("2.10")
    assert scheme.updated_by == user("admin")
    other = FixedCompensationScheme.objects.get(organisation__name="Linköpings kommun")
    url = reverse("admin:funding_fixedcompensationscheme_change", args=[other.pk])
    assert client.get(url).status_code == 404
