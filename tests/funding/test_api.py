"""API v1: centres with their child CNI and fixed compensation, and the applications workflow
(API.md, "Centres and reference data", "Fixed-compensation applications")."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import Centre, Membership, Role
from funding.applications import application_approve, application_submit, application_withdraw
from funding.centres import scheme_set
from funding.models import Application, ApplicationStatus, CniKind, CniValue
from tests.core.factories import CentreFactory, member
from tests.funding.factories import cni, draft

pytestmark = pytest.mark.django_db

YEAR = timezone.localdate().year
CENTRE_FIELDS = {
    "id",
    "name",
    "organisation",
    "hsa_id",
    "child_cni",
    "cni_reference_date",
    "listed_children",
    "eligible_for_fixed",
    "fixed_compensation",
    "fixed_from",
}
APPLICATION_FIELDS = {
    "id",
    "centre",
    "year",
    "status",
    "submitted_at",
    "decided_by",
    "decided_at",
    "effective_from",
    "withdrawn_at",
    "decision_comment",
    "nurse_hours_per_week",
    "social_services_contacted",
    "social_services_contact",
    "planned_visits",
    "programme",
    "planned_slots",
    "target_families",
    "start_date",
    "transport",
    "history",
}


@pytest.fixture
def centre():
    return CentreFactory(name="Vivalla/Lundby")


@pytest.fixture
def manager(centre):
    return member(Role.CENTRE_MANAGER, centre=centre)


@pytest.fixture
def nurse(centre):
    return member(Role.NURSE, centre=centre)


@pytest.fixture
def cbhv(centre):
    return member(Role.CBHV, organisation=centre.organisation)


def url(application=None, action=None):
    if application is None:
        return "/api/v1/applications/"
    base = f"/api/v1/applications/{application.pk}/"
    return f"{base}{action}/" if action else base


def body(centre, **overrides):
    return {
        "centre": str(centre.pk),
        "year": YEAR,
        "nurse_hours_per_week": "8.5",
        "social_services_contacted": True,
        "social_services_contact": "Familjestödjare Anna",
        "planned_visits": 120,
        "programme": "partial",
        "planned_slots": ["1-2w", "2m", "4m"],
        "target_families": "Förstagångsföräldrar i Vivalla",
        "start_date": f"{YEAR}-01-01",
        "transport": "bicycle",
        **overrides,
    }


def submitted(centre, by):
    application = draft(centre, by=by)
    return application_submit(user=by, application=application)


def approved(centre, by, decider, **kwargs):
    return application_approve(user=decider, application=submitted(centre, by), **kwargs)


def kinds(response):
    return [entry["kind"] for entry in response.json()["history"]]


# --- Centres ----------------------------------------------------------------------------------
def test_centres_show_the_current_child_cni_and_eligibility(api_client_for, centre, cbhv):
    org = centre.organisation
    cni(centre, "1.90", listed=380, reference_date=datetime.date(2024, 12, 31))
    cni(centre, "2.31", listed=412, reference_date=datetime.date(2025, 12, 31))
    low = CentreFactory(organisation=org, name="Adolfsberg")
    cni(low, "1.20", listed=500)
    without = CentreFactory(organisation=org, name="Tybble")
    # A plain CNI (not the child CNI) is not what eligibility looks at.
    CniValue.objects.create(
        centre=without,
        kind=CniKind.CNI,
        value=Decimal("3.00"),
        source="SCB",
        reference_date=datetime.date(2025, 12, 31),
    )

    rows = api_client_for(cbhv).get("/api/v1/centres/").json()["results"]

    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {"Vivalla/Lundby", "Adolfsberg", "Tybble"}
    assert set(by_name["Vivalla/Lundby"]) >= CENTRE_FIELDS
    vivalla = by_name["Vivalla/Lundby"]
    assert vivalla["organisation"] == str(org.pk)
    assert vivalla["child_cni"] == "2.31"
    assert vivalla["cni_reference_date"] == "2025-12-31"
    assert vivalla["listed_children"] == 412
    assert vivalla["eligible_for_fixed"] is True
    assert vivalla["fixed_compensation"] is False
    assert vivalla["fixed_from"] is None
    assert vivalla["year"] == YEAR
    assert vivalla["fixed_threshold"] == "2.00"
    assert by_name["Adolfsberg"]["child_cni"] == "1.20"
    assert by_name["Adolfsberg"]["eligible_for_fixed"] is False
    assert by_name["Tybble"]["child_cni"] is None
    assert by_name["Tybble"]["listed_children"] is None
    assert by_name["Tybble"]["eligible_for_fixed"] is False


def test_eligibility_follows_the_scheme_in_force_for_the_year(api_client_for, centre, cbhv):
    cni(centre, "2.50")
    scheme_set(
        user=cbhv,
        organisation_id=centre.organisation_id,
        from_year=YEAR + 1,
        threshold=Decimal("2.60"),
        weighting="cni_x_listed",
    )
    client = api_client_for(cbhv)

    def row(year):
        return client.get(f"/api/v1/centres/{centre.pk}/?year={year}").json()

    assert row(YEAR)["eligible_for_fixed"] is True
    assert row(YEAR + 1)["eligible_for_fixed"] is False
    assert row(YEAR + 1)["fixed_threshold"] == "2.60"
    # A year without a setting of its own uses the latest earlier one.
    assert row(YEAR + 3)["eligible_for_fixed"] is False
    assert client.get(f"/api/v1/centres/{centre.pk}/").json()["eligible_for_fixed"] is True


def test_centre_with_a_threshold_equal_to_its_cni_is_not_eligible(api_client_for, centre, cbhv):
    cni(centre, "2.00")
    row = api_client_for(cbhv).get(f"/api/v1/centres/{centre.pk}/").json()
    assert row["eligible_for_fixed"] is False


def test_fixed_compensation_is_an_approved_application_of_the_year(
    api_client_for, centre, manager, cbhv
):
    application = approved(centre, manager, cbhv, effective_from=datetime.date(YEAR, 12, 1))
    draft(centre, by=manager, year=YEAR + 1)
    client = api_client_for(cbhv)

    this_year = client.get("/api/v1/centres/").json()["results"][0]
    assert this_year["fixed_compensation"] is True
    assert this_year["fixed_from"] == f"{YEAR}-12-01"
    next_year = client.get(f"/api/v1/centres/?year={YEAR + 1}").json()["results"][0]
    assert next_year["fixed_compensation"] is False
    assert next_year["fixed_from"] is None
    assert next_year["year"] == YEAR + 1

    application_withdraw(user=manager, application=application)
    withdrawn = client.get(f"/api/v1/centres/?year={YEAR}").json()["results"][0]
    assert withdrawn["fixed_compensation"] is False
    assert withdrawn["fixed_from"] is None


@pytest.mark.parametrize("year", ["abc", "0", "99999999999", "2025.5", "", " "])
def test_invalid_year_is_a_400_on_year(api_client_for, centre, cbhv, year):
    client = api_client_for(cbhv)
    for path in ("/api/v1/centres/", f"/api/v1/centres/{centre.pk}/"):
        response = client.get(path, {"year": year})
        assert response.status_code == 400, path
        assert list(response.json()) == ["year"]


def test_centre_outside_scope_is_404_before_a_bad_year(api_client_for, cbhv):
    other = CentreFactory()
    response = api_client_for(cbhv).get(f"/api/v1/centres/{other.pk}/?year=abc")
    assert response.status_code == 404


def test_centre_list_query_count_is_the_same_for_1_and_50_centres(
    api_client_for, django_assert_max_num_queries
):
    org = CentreFactory().organisation
    Centre.objects.all().delete()
    creator = member(Role.CBHV, organisation=org)
    client = api_client_for(member(Role.FINANCE, organisation=org))

    def add(names):
        centres = Centre.objects.bulk_create([Centre(organisation=org, name=n) for n in names])
        CniValue.objects.bulk_create(
            CniValue(
                centre=c,
                kind=CniKind.CHILD_CNI,
                value=Decimal("2.40"),
                source="SCB",
                reference_date=datetime.date(2025, 12, 31),
                listed_children=200,
            )
            for c in centres
        )
        Application.objects.bulk_create(_approved_row(c, creator) for c in centres)

    add(["BVC 000"])
    with django_assert_max_num_queries(10) as small:
        rows = client.get("/api/v1/centres/").json()["results"]
    assert rows[0]["fixed_compensation"] is True
    add([f"BVC {i:03}" for i in range(1, 50)])
    with django_assert_max_num_queries(len(small.captured_queries)):
        rows = client.get("/api/v1/centres/").json()["results"]
    assert len(rows) == 50
    assert all(r["eligible_for_fixed"] and r["fixed_compensation"] for r in rows)


def _approved_row(centre, user, year=YEAR):
    now = timezone.now()
    return Application(
        centre=centre,
        year=year,
        status=ApplicationStatus.APPROVED,
        approved=True,
        nurse_hours_per_week=Decimal("8.0"),
        social_services_contacted=False,
        planned_visits=10,
        programme="full",
        target_families="Alla",
        start_date=datetime.date(year, 1, 1),
        transport="car",
        created_by=user,
        decided_by=user,
        decided_at=now,
        submitted_by=user,
        submitted_at=now,
        effective_from=datetime.date(year, 1, 1),
    )


# --- Create -----------------------------------------------------------------------------------
@pytest.mark.parametrize("role", [Role.CENTRE_MANAGER, Role.NURSE])
def test_centre_staff_draft_an_application(api_client_for, centre, role):
    user = member(role, centre=centre)
    response = api_client_for(user).post(url(), body(centre), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) >= APPLICATION_FIELDS
    assert data["status"] == "draft"
    assert data["centre"] == str(centre.pk)
    assert data["year"] == YEAR
    assert data["nurse_hours_per_week"] == "8.5"
    assert data["planned_slots"] == ["1-2w", "2m", "4m"]
    assert data["transport"] == "bicycle"
    assert data["submitted_at"] is None
    assert data["decided_by"] is None
    assert data["history"][0]["kind"] == "created"
    assert data["history"][0]["by"] == user.username
    assert Application.objects.get(pk=data["id"]).created_by == user


def test_a_full_programme_needs_no_slots(api_client_for, centre, manager):
    response = api_client_for(manager).post(
        url(), body(centre, programme="full", planned_slots=[]), format="json"
    )
    assert response.status_code == 201
    assert response.json()["planned_slots"] == []


def test_a_second_application_for_the_centre_and_year_is_a_409(api_client_for, centre, manager):
    client = api_client_for(manager)
    assert client.post(url(), body(centre), format="json").status_code == 201
    response = client.post(url(), body(centre), format="json")
    assert response.status_code == 409
    assert "detail" in response.json()
    assert client.post(url(), body(centre, year=YEAR + 1), format="json").status_code == 201


def test_an_application_for_a_past_year_is_a_400_on_year(api_client_for, centre, manager):
    response = api_client_for(manager).post(url(), body(centre, year=YEAR - 1), format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["year"]


def test_a_centre_not_ones_own_is_a_400_on_centre(api_client_for, centre, manager):
    colleague_centre = CentreFactory(organisation=centre.organisation)
    client = api_client_for(manager)
    for value in (str(colleague_centre.pk), "not-a-uuid"):
        response = client.post(url(), {**body(centre), "centre": value}, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["centre"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"programme": "partial", "planned_slots": []}, "planned_slots"),
        ({"planned_slots": ["x" * 21]}, "planned_slots"),
        ({"nurse_hours_per_week": "0"}, "nurse_hours_per_week"),
        ({"nurse_hours_per_week": "8.25"}, "nurse_hours_per_week"),
        ({"transport": "rocket"}, "transport"),
        ({"target_families": "   "}, "target_families"),
        ({"social_services_contact": ""}, "social_services_contact"),
        ({"start_date": f"{YEAR + 1}-01-01"}, "start_date"),
        ({"planned_visits": 0}, "planned_visits"),
    ],
)
def test_plan_errors_are_400_by_field(api_client_for, centre, manager, overrides, field):
    response = api_client_for(manager).post(url(), body(centre, **overrides), format="json")
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert all(isinstance(m, str) for m in errors[field])


# --- Read -------------------------------------------------------------------------------------
def test_detail_shows_the_application_with_its_history(api_client_for, centre, manager, cbhv):
    application = approved(centre, manager, cbhv, comment="Bra plan")
    response = api_client_for(manager).get(url(application))
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "approved"
    assert data["decided_by"] == cbhv.username
    assert data["decision_comment"] == "Bra plan"
    assert [(h["kind"], h["by"], h["comment"]) for h in data["history"]] == [
        ("created", manager.username, ""),
        ("submitted", manager.username, ""),
        ("approved", cbhv.username, "Bra plan"),
    ]
    assert all(h["at"] for h in data["history"])


def test_list_filters_by_status_year_and_centre(api_client_for, centre, manager, cbhv):
    other = CentreFactory(organisation=centre.organisation)
    mine = draft(centre, by=manager)
    later = draft(centre, by=manager, year=YEAR + 1)
    theirs = submitted(other, member(Role.NURSE, centre=other))
    client = api_client_for(cbhv)

    def ids(query):
        response = client.get(url(), query)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids({}) == {str(mine.pk), str(later.pk), str(theirs.pk)}
    assert ids({"status": "submitted"}) == {str(theirs.pk)}
    assert ids({"year": YEAR + 1}) == {str(later.pk)}
    assert ids({"centre": str(centre.pk)}) == {str(mine.pk), str(later.pk)}
    assert ids({"centre": str(centre.pk), "year": YEAR}) == {str(mine.pk)}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "nope"}, "status"),
        ({"year": "abc"}, "year"),
        ({"year": "99999999999"}, "year"),
        ({"centre": "not-a-uuid"}, "centre"),
        ({"centre": ""}, "centre"),
        ({"status": ""}, "status"),
        ({"year": " "}, "year"),
    ],
)
def test_invalid_list_filters_are_400_on_the_field(api_client_for, cbhv, query, field):
    response = api_client_for(cbhv).get(url(), query)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_application_list_query_count_is_the_same_for_1_and_50(
    api_client_for, centre, cbhv, django_assert_max_num_queries
):
    org = centre.organisation
    author = member(Role.NURSE, centre=centre)
    client = api_client_for(cbhv)
    Application.objects.bulk_create([_approved_row(centre, author)])
    with django_assert_max_num_queries(10) as small:
        assert len(client.get(url()).json()["results"]) == 1
    centres = Centre.objects.bulk_create(
        [Centre(organisation=org, name=f"BVC {i:03}") for i in range(49)]
    )
    Application.objects.bulk_create(_approved_row(c, author) for c in centres)
    for application in Application.objects.all():
        application.transitions.create(kind="created", by=author)
    with django_assert_max_num_queries(len(small.captured_queries)):
        rows = client.get(url()).json()["results"]
    assert len(rows) == 50
    assert all(row["history"][0]["by"] == author.username for row in rows)


# --- Change -----------------------------------------------------------------------------------
def test_patch_changes_the_plan_and_keeps_the_rest(api_client_for, centre, manager):
    application = draft(centre, by=manager)
    response = api_client_for(manager).patch(
        url(application), {"planned_visits": 40, "transport": "walking"}, format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["planned_visits"] == 40
    assert data["transport"] == "walking"
    assert data["target_families"] == application.target_families
    assert kinds(response) == ["created", "updated"]


def test_patch_when_changes_are_requested_is_allowed(api_client_for, centre, manager, cbhv):
    application = submitted(centre, manager)
    api_client_for(cbhv).post(url(application, "request-changes"), {"comment": "Fler besök"})
    response = api_client_for(manager).patch(url(application), {"planned_visits": 150})
    assert response.status_code == 200
    assert response.json()["status"] == "changes_requested"


def test_patch_after_submission_is_a_409(api_client_for, centre, manager):
    application = submitted(centre, manager)
    response = api_client_for(manager).patch(url(application), {"planned_visits": 40})
    assert response.status_code == 409


def test_patch_with_bad_input_is_a_400_before_the_state(api_client_for, centre, manager):
    application = submitted(centre, manager)
    response = api_client_for(manager).patch(url(application), {"planned_visits": "many"})
    assert response.status_code == 400
    assert list(response.json()) == ["planned_visits"]


# --- Submit -----------------------------------------------------------------------------------
def test_submit(api_client_for, centre, nurse):
    application = draft(centre, by=nurse)
    response = api_client_for(nurse).post(url(application, "submit"))
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "submitted"
    assert data["submitted_at"]
    assert data["submitted_by"] == nurse.username


def test_submitting_for_a_centre_not_eligible_is_a_400_naming_cni_and_threshold(
    api_client_for, centre, manager
):
    cni(centre, "1.80")
    application = draft(centre, by=manager)
    response = api_client_for(manager).post(url(application, "submit"))
    assert response.status_code == 400
    [message] = response.json()["centre"]
    assert "1,80" in message
    assert "2,00" in message
    assert Application.objects.get(pk=application.pk).status == ApplicationStatus.DRAFT


def test_submitting_twice_is_a_409(api_client_for, centre, manager):
    application = submitted(centre, manager)
    response = api_client_for(manager).post(url(application, "submit"))
    assert response.status_code == 409
    assert "detail" in response.json()


def test_a_resubmission_shows_in_the_history(api_client_for, centre, manager, cbhv):
    application = submitted(centre, manager)
    response = api_client_for(cbhv).post(
        url(application, "request-changes"), {"comment": "Ange transport"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "changes_requested"
    response = api_client_for(manager).post(url(application, "submit"))
    assert response.status_code == 200
    assert response.json()["status"] == "submitted"
    assert kinds(response) == ["created", "submitted", "changes_requested", "resubmitted"]
    assert response.json()["history"][2]["comment"] == "Ange transport"


# --- Decisions --------------------------------------------------------------------------------
def test_request_changes_without_a_comment_is_a_400(api_client_for, centre, manager, cbhv):
    application = submitted(centre, manager)
    client = api_client_for(cbhv)
    for data in ({}, {"comment": "  "}):
        response = client.post(url(application, "request-changes"), data, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["comment"]


def test_approve(api_client_for, centre, manager, cbhv):
    application = submitted(centre, manager)
    response = api_client_for(cbhv).post(url(application, "approve"), {}, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["status"] == "approved"
    assert data["decided_by"] == cbhv.username
    assert data["decided_at"]
    # Default: the later of the decision date and the plan's start date.
    assert data["effective_from"] == max(timezone.localdate(), application.start_date).isoformat()


def test_approve_with_a_comment_and_a_date(api_client_for, centre, manager, cbhv):
    application = submitted(centre, manager)
    response = api_client_for(cbhv).post(
        url(application, "approve"),
        {"comment": "Beviljas", "effective_from": f"{YEAR}-03-01"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["effective_from"] == f"{YEAR}-03-01"
    assert response.json()["decision_comment"] == "Beviljas"


def test_approve_with_a_date_outside_the_year_is_a_400(api_client_for, centre, manager, cbhv):
    application = submitted(centre, manager)
    response = api_client_for(cbhv).post(
        url(application, "approve"), {"effective_from": f"{YEAR + 1}-01-01"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["effective_from"]


@pytest.mark.parametrize("action", ["approve", "reject", "request-changes"])
def test_deciding_an_application_not_submitted_is_a_409(
    api_client_for, centre, manager, cbhv, action
):
    application = draft(centre, by=manager)
    response = api_client_for(cbhv).post(
        url(application, action), {"reason": "Nej", "comment": "Mer"}, format="json"
    )
    assert response.status_code == 409
    assert Application.objects.get(pk=application.pk).status == ApplicationStatus.DRAFT


def test_approving_twice_is_a_409(api_client_for, centre, manager, cbhv):
    application = approved(centre, manager, cbhv)
    response = api_client_for(cbhv).post(url(application, "approve"), {}, format="json")
    assert response.status_code == 409


@pytest.mark.parametrize("role", [Role.NURSE, Role.CENTRE_MANAGER, Role.FINANCE])
def test_other_roles_may_not_decide(api_client_for, centre, manager, role):
    application = submitted(centre, manager)
    if role == Role.FINANCE:
        user = member(role, organisation=centre.organisation)
    else:
        user = member(role, centre=centre)
    client = api_client_for(user)
    for action in ("approve", "reject", "request-changes"):
        response = client.post(url(application, action), {"reason": "x", "comment": "x"})
        assert response.status_code == 403, action


def test_a_cbhv_member_of_the_centre_may_not_decide(api_client_for, centre, manager):
    application = submitted(centre, manager)
    insider = member(Role.NURSE, centre=centre)
    member(Role.CBHV, organisation=centre.organisation, user=insider)
    client = api_client_for(insider)
    for action in ("approve", "reject", "request-changes"):
        response = client.post(url(application, action), {"reason": "x", "comment": "x"})
        assert response.status_code == 403, action
    assert Application.objects.get(pk=application.pk).status == ApplicationStatus.SUBMITTED


def _left_the_centre(user, organisation):
    """The nurse who drafted or submitted becomes a CBHV coordinator of the organisation."""
    Membership.objects.filter(user=user).delete()
    return member(Role.CBHV, organisation=organisation, user=user)


def test_the_drafter_may_not_decide(api_client_for, centre, manager, nurse):
    application = draft(centre, by=nurse)
    application_submit(user=manager, application=application)
    _left_the_centre(nurse, centre.organisation)
    response = api_client_for(nurse).post(url(application, "approve"), {}, format="json")
    assert response.status_code == 403


def test_the_submitter_may_not_decide(api_client_for, centre, manager, nurse):
    application = draft(centre, by=manager)
    application_submit(user=nurse, application=application)
    _left_the_centre(nurse, centre.organisation)
    response = api_client_for(nurse).post(url(application, "reject"), {"reason": "Nej"})
    assert response.status_code == 403


def test_deciding_ones_own_application_is_a_403_before_the_input(api_client_for, centre, manager):
    application = draft(centre, by=manager)
    member(Role.CBHV, organisation=centre.organisation, user=manager)
    response = api_client_for(manager).post(url(application, "reject"), {}, format="json")
    assert response.status_code == 403


def test_reject_needs_a_reason(api_client_for, centre, manager, cbhv):
    application = submitted(centre, manager)
    client = api_client_for(cbhv)
    for data in ({}, {"reason": ""}, {"reason": "   "}):
        response = client.post(url(application, "reject"), data, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["reason"]
    response = client.post(url(application, "reject"), {"reason": "Tidsplanen"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["decision_comment"] == "Tidsplanen"
    assert response.json()["decided_by"] == cbhv.username


def test_reject_without_a_reason_is_a_400_before_the_state(api_client_for, centre, manager, cbhv):
    application = draft(centre, by=manager)
    response = api_client_for(cbhv).post(url(application, "reject"), {}, format="json")
    assert response.status_code == 400


# --- Withdraw ---------------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["draft", "submitted", "changes_requested"])
def test_the_centre_withdraws(api_client_for, centre, manager, cbhv, state):
    application = draft(centre, by=manager)
    if state != "draft":
        application_submit(user=manager, application=application)
    if state == "changes_requested":
        api_client_for(cbhv).post(url(application, "request-changes"), {"comment": "Mer"})
    response = api_client_for(manager).post(url(application, "withdraw"))
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert response.json()["withdrawn_at"]


def test_withdrawing_an_approved_application_keeps_its_decision(
    api_client_for, centre, manager, cbhv
):
    application = approved(centre, manager, cbhv, effective_from=datetime.date(YEAR, 1, 1))
    response = api_client_for(manager).post(url(application, "withdraw"))
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "withdrawn"
    assert data["withdrawn_at"]
    assert data["effective_from"] == f"{YEAR}-01-01"
    assert data["decided_by"] == cbhv.username
    assert data["decided_at"]
    assert kinds(response)[-1] == "withdrawn"


def test_withdrawing_a_rejected_or_withdrawn_application_is_a_409(
    api_client_for, centre, manager, cbhv
):
    application = submitted(centre, manager)
    api_client_for(cbhv).post(url(application, "reject"), {"reason": "Nej"})
    assert api_client_for(manager).post(url(application, "withdraw")).status_code == 409
    other = draft(CentreFactory(organisation=centre.organisation), by=None)
    staff = other.created_by
    client = api_client_for(staff)
    assert client.post(url(other, "withdraw")).status_code == 200
    assert client.post(url(other, "withdraw")).status_code == 409


@pytest.mark.parametrize("action", ["submit", "withdraw"])
def test_cbhv_may_not_act_for_the_centre(api_client_for, centre, manager, cbhv, action):
    application = draft(centre, by=manager)
    assert api_client_for(cbhv).post(url(application, action)).status_code == 403
    assert api_client_for(cbhv).patch(url(application), {"planned_visits": 3}).status_code == 403
