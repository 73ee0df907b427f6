"""API v1, visits part: children, enrolments, schedules, the worklist and visits (API.md).

The rules themselves are tested at service level; these tests hold the HTTP contract: paths,
fields, status codes, error shapes, masking, query counts and paging in the database.
"""

from __future__ import annotations

import base64
import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Role
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.visits.factories import (
    ChildFactory,
    EnrolmentFactory,
    ProgrammeTemplateFactory,
    log_visit,
    nurse_at,
    personnummer,
    zv509,
)
from visits.identity import luhn_check_digit
from visits.models import AccessLog, Child, Enrolment, KvaCode, Visit

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def days_ago(n: int) -> datetime.date:
    return TODAY() - datetime.timedelta(days=n)


def samordningsnummer(birth_date: datetime.date, serial: int = 123) -> str:
    ten = f"{birth_date:%y%m}{birth_date.day + 60:02d}{serial:03d}"
    return f"{birth_date:%Y%m}{birth_date.day + 60:02d}{serial:03d}{luhn_check_digit(ten)}"


@pytest.fixture
def centre():
    return CentreFactory()


@pytest.fixture
def nurse(centre):
    return nurse_at(centre)


@pytest.fixture
def client(api_client_for, nurse):
    return api_client_for(nurse)


# --- Reference data ---------------------------------------------------------------------------
def test_kva_codes_are_listed_for_any_authenticated_user(api_client_for):
    zv509()
    KvaCode.objects.create(
        code="AA001",
        title="Utgången",
        valid_from=datetime.date(2010, 1, 1),
        valid_to=datetime.date(2014, 12, 31),
    )
    finance = member(Role.FINANCE, organisation=OrganisationFactory())
    body = api_client_for(finance).get("/api/v1/kva-codes/").json()
    assert body["results"] == [
        {
            "code": "AA001",
            "title": "Utgången",
            "valid_from": "2010-01-01",
            "valid_to": "2014-12-31",
        },
        {
            "code": "ZV509",
            "title": "Medverkan av företrädare för socialtjänst",
            "valid_from": "2015-01-01",
            "valid_to": None,
        },
    ]


def test_programme_templates_show_current_versions_of_own_organisation_with_slots(
    api_client_for, django_assert_max_num_queries
):
    org = OrganisationFactory()
    old = ProgrammeTemplateFactory(organisation=org, name="Örebro", version=1)
    new = ProgrammeTemplateFactory(organisation=org, name="Örebro", version=2)
    old.superseded_by = new
    old.save()
    ProgrammeTemplateFactory()  # another organisation's
    client = api_client_for(member(Role.CBHV, organisation=org))
    body = client.get("/api/v1/programme-templates/").json()
    assert [(t["id"], t["version"]) for t in body["results"]] == [(str(new.id), 2)]
    template = body["results"][0]
    assert template["organisation"] == str(org.id)
    assert [s["key"] for s in template["slots"]] == ["1-2w", "2m", "4m", "8m", "12m", "15m"]
    assert template["slots"][1] == {
        "key": "2m",
        "label": "2 månader",
        "kind": "extra",
        "place": "home",
        "target_age_days": 61,
        "earliest_age_days": 47,
        "latest_age_days": 75,
    }
    with django_assert_max_num_queries(10) as one:
        client.get("/api/v1/programme-templates/")
    for n in range(5):
        ProgrammeTemplateFactory(organisation=org, name=f"Mall {n}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(client.get("/api/v1/programme-templates/").json()["results"]) == 6


# --- Children: registration -------------------------------------------------------------------
@pytest.mark.parametrize(
    "written",
    [
        lambda n: n,  # YYYYMMDDNNNN
        lambda n: f"{n[:8]}-{n[8:]}",  # YYYYMMDD-NNNN
        lambda n: f"{n[2:8]}-{n[8:]}",  # YYMMDD-NNNN
        lambda n: n[2:],  # YYMMDDNNNN
    ],
    ids=["YYYYMMDDNNNN", "YYYYMMDD-NNNN", "YYMMDD-NNNN", "YYMMDDNNNN"],
)
def test_nurse_registers_a_child_with_each_written_form_of_personnummer(client, centre, written):
    born = days_ago(40)
    number = personnummer(born)
    response = client.post(
        "/api/v1/children/",
        {"identity_type": "personnummer", "identity": written(number), "given_name": "Alva"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["identity_masked"] == f"{born:%Y%m%d}-****"
    assert body["birth_date"] == born.isoformat()
    assert body["organisation"] == str(centre.organisation_id)
    assert body["identity_type"] == "personnummer"
    assert number not in response.content.decode()
    child = Child.objects.get(pk=body["id"])
    assert (child.identity, child.current_centre_id) == (number, centre.id)


def test_samordningsnummer_is_registered_with_its_birth_date(client):
    born = days_ago(30)
    response = client.post(
        "/api/v1/children/",
        {"identity_type": "samordningsnummer", "identity": samordningsnummer(born)},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["birth_date"] == born.isoformat()


def test_wrong_check_digit_is_a_400_on_identity_and_nothing_is_saved(client):
    number = personnummer(days_ago(40))
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    response = client.post(
        "/api/v1/children/", {"identity_type": "personnummer", "identity": wrong}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["identity"]
    assert not Child.objects.exists()


def test_unknown_identity_type_is_a_400_on_identity_type(client):
    response = client.post("/api/v1/children/", {"identity_type": "passport", "identity": "1"})
    assert response.status_code == 400
    assert "identity_type" in response.json()


def test_second_registration_in_the_organisation_is_a_409_with_the_childs_id(
    client, api_client_for, centre
):
    number = personnummer(days_ago(40))
    first = client.post("/api/v1/children/", {"identity_type": "personnummer", "identity": number})
    # A nurse at another centre of the organisation types the same number.
    other = nurse_at(CentreFactory(organisation=centre.organisation))
    again = api_client_for(other).post(
        "/api/v1/children/", {"identity_type": "personnummer", "identity": number}
    )
    assert again.status_code == 409
    assert again.json()["id"] == first.json()["id"]
    assert set(again.json()) == {"detail", "id"}
    # ... and still cannot read it: it is not at her centre.
    assert api_client_for(other).get(f"/api/v1/children/{first.json()['id']}/").status_code == 404


def test_reservnummer_needs_a_birth_date_and_the_organisations_pattern(client, centre):
    organisation = centre.organisation
    organisation.reserve_number_pattern = r"RES[0-9]{6}"
    organisation.save()
    without_date = client.post(
        "/api/v1/children/", {"identity_type": "reservnummer", "identity": "RES123456"}
    )
    assert without_date.status_code == 400
    assert list(without_date.json()) == ["birth_date"]
    wrong_pattern = client.post(
        "/api/v1/children/",
        {"identity_type": "reservnummer", "identity": "X1", "birth_date": "2025-01-02"},
    )
    assert wrong_pattern.status_code == 400
    assert list(wrong_pattern.json()) == ["identity"]
    ok = client.post(
        "/api/v1/children/",
        {"identity_type": "reservnummer", "identity": "res123456", "birth_date": "2025-01-02"},
    )
    assert ok.status_code == 201, ok.json()
    assert ok.json()["birth_date"] == "2025-01-02"
    assert ok.json()["identity_masked"] == "RES1-****"


def test_reservnummer_is_refused_where_the_organisation_declares_no_pattern(client):
    response = client.post(
        "/api/v1/children/",
        {"identity_type": "reservnummer", "identity": "RES123456", "birth_date": "2025-01-02"},
    )
    assert response.status_code == 400
    assert list(response.json()) == ["identity"]


def test_centre_is_required_when_the_caller_works_at_more_than_one(api_client_for, centre):
    second = CentreFactory(organisation=centre.organisation)
    user = nurse_at(centre)
    member(Role.NURSE, centre=second, user=user)
    client = api_client_for(user)
    body = {"identity_type": "personnummer", "identity": personnummer(days_ago(20))}
    missing = client.post("/api/v1/children/", body)
    assert missing.status_code == 400
    assert list(missing.json()) == ["centre"]
    ok = client.post("/api/v1/children/", {**body, "centre": str(second.id)})
    assert ok.status_code == 201
    assert Child.objects.get().current_centre == second


def test_a_centre_that_is_not_the_callers_is_a_400_on_centre(client, centre):
    colleague_centre = CentreFactory(organisation=centre.organisation)
    for other in (colleague_centre.id, "not-a-uuid"):
        response = client.post(
            "/api/v1/children/",
            {
                "identity_type": "personnummer",
                "identity": personnummer(days_ago(20)),
                "centre": str(other),
            },
        )
        assert response.status_code == 400
        assert list(response.json()) == ["centre"]
    assert not Child.objects.exists()


def test_centre_manager_registers_a_child_too(api_client_for, centre):
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    response = api_client_for(manager).post(
        "/api/v1/children/",
        {"identity_type": "personnummer", "identity": personnummer(days_ago(20))},
    )
    assert response.status_code == 201


def test_garbage_bodies_are_400s_never_500s(client):
    for body in (
        [],
        "x",
        {"identity_type": ["personnummer"], "identity": {"a": 1}},
        {"identity_type": "personnummer", "identity": "1" * 101},
        {"identity_type": "personnummer", "identity": "x\x00y"},
        {"identity_type": "personnummer", "identity": "20250101-0000", "birth_date": "1/2/2025"},
    ):
        response = client.post("/api/v1/children/", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert all(
            isinstance(v, list) and all(isinstance(m, str) for m in v)
            for v in response.json().values()
        )
    not_json = client.post("/api/v1/children/", "{", content_type="application/json")
    assert not_json.status_code == 400
    assert "non_field_errors" in not_json.json()


# --- Children: reading and changing -----------------------------------------------------------
def test_detail_gives_the_whole_identity_only_to_nurses_of_the_current_centre(
    api_client_for, centre
):
    child = ChildFactory(current_centre=centre)
    nurse = api_client_for(nurse_at(centre)).get(f"/api/v1/children/{child.id}/").json()
    manager = api_client_for(member(Role.CENTRE_MANAGER, centre=centre))
    managers = manager.get(f"/api/v1/children/{child.id}/").json()
    assert nurse["identity"] == child.identity
    assert managers["identity"] is None
    for body in (nurse, managers):
        assert body["identity_masked"] == f"{child.birth_date:%Y%m%d}-****"
        assert body["given_name"] == "Alva"
        assert body["organisation"] == str(centre.organisation_id)
        assert body["protected"] is False


def test_protected_child_is_masked_everywhere_except_its_nurses_detail(api_client_for, centre):
    child = ChildFactory(current_centre=centre, protected=True, given_name="Hemlig")
    nurse = api_client_for(nurse_at(centre))
    manager = api_client_for(member(Role.CENTRE_MANAGER, centre=centre))

    detail = nurse.get(f"/api/v1/children/{child.id}/").json()
    assert detail["given_name"] == "Hemlig"
    assert detail["identity"] == child.identity
    assert detail["identity_masked"] == f"{child.birth_date:%Y%m%d}-****"

    hidden = manager.get(f"/api/v1/children/{child.id}/").json()
    assert hidden["identity_masked"] == "Skyddad identitet"
    assert (hidden["given_name"], hidden["family_name"], hidden["identity"]) == ("", "", None)

    for client in (nurse, manager):
        (row,) = client.get("/api/v1/children/").json()["results"]
        assert row["identity_masked"] == "Skyddad identitet"
        assert (row["given_name"], row["family_name"]) == ("", "")
    # The contract's string, whatever language the caller asks for.
    english = nurse.get("/api/v1/children/", headers={"accept-language": "en"}).json()
    assert english["results"][0]["identity_masked"] == "Skyddad identitet"


def test_child_list_is_masked_and_never_carries_an_identity_number(client, centre):
    children = ChildFactory.create_batch(3, current_centre=centre)
    ChildFactory()  # elsewhere
    response = client.get("/api/v1/children/")
    rows = response.json()["results"]
    assert {r["id"] for r in rows} == {str(c.id) for c in children}
    assert set(rows[0]) == {
        "id",
        "identity_type",
        "identity_masked",
        "birth_date",
        "given_name",
        "family_name",
        "current_centre",
    }
    for child in children:
        assert child.identity not in response.content.decode()


def test_nurse_changes_names_and_protection(client, centre):
    child = ChildFactory(current_centre=centre)
    response = client.patch(
        f"/api/v1/children/{child.id}/", {"given_name": " Saga ", "protected": True}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["given_name"] == "Saga"
    assert response.json()["protected"] is True
    child.refresh_from_db()
    assert (child.given_name, child.protected) == ("Saga", True)


def test_centre_manager_may_not_change_a_child(api_client_for, centre):
    child = ChildFactory(current_centre=centre)
    manager = api_client_for(member(Role.CENTRE_MANAGER, centre=centre))
    response = manager.patch(f"/api/v1/children/{child.id}/", {"given_name": "X"})
    assert response.status_code == 403
    child.refresh_from_db()
    assert child.given_name == "Alva"


def test_patch_with_a_wrong_type_is_a_400_on_that_field(client, centre):
    child = ChildFactory(current_centre=centre)
    response = client.patch(f"/api/v1/children/{child.id}/", {"protected": "kanske"})
    assert response.status_code == 400
    assert list(response.json()) == ["protected"]


# --- Enrolments -------------------------------------------------------------------------------
def enrolment_body(child, **extra):
    template = ProgrammeTemplateFactory(organisation=child.organisation)
    return {
        "child": str(child.id),
        "centre": str(child.current_centre_id),
        "template": str(template.id),
        "offered_on": child.birth_date.isoformat(),
        "accepted_on": child.birth_date.isoformat(),
        "eligibility": ["first_time_parents"],
        "programme": "full",
        **extra,
    }


def test_nurse_enrols_a_child_and_gets_its_schedule(client, centre):
    child = ChildFactory(current_centre=centre, birth_date=days_ago(60))
    response = client.post("/api/v1/enrolments/", enrolment_body(child, language="dari"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["child"] == str(child.id)
    assert body["centre"] == str(centre.id)
    assert body["language"] == "dari"
    assert body["active"] is True
    schedule = {entry["slot"]: entry for entry in body["schedule"]}
    assert list(schedule) == ["1-2w", "2m", "4m", "8m", "12m", "15m"]
    assert schedule["1-2w"]["status"] == "overdue"
    assert schedule["2m"] == {
        "slot": "2m",
        "label": "2 månader",
        "kind": "extra",
        "place": "home",
        "due_from": (child.birth_date + datetime.timedelta(days=47)).isoformat(),
        "due_to": (child.birth_date + datetime.timedelta(days=75)).isoformat(),
        "status": "due",
        "visit": None,
        "late": False,
    }
    assert schedule["4m"]["status"] == "upcoming"


def test_second_open_enrolment_is_a_409(client, centre):
    enrolment = EnrolmentFactory(child__current_centre=centre)
    body = enrolment_body(enrolment.child)
    body["template"] = str(enrolment.template_id)
    response = client.post("/api/v1/enrolments/", body)
    assert response.status_code == 409
    assert Enrolment.objects.count() == 1


def test_enrolment_input_is_checked_by_field(client, centre):
    child = ChildFactory(current_centre=centre)
    body = enrolment_body(child)
    cases = [
        ({"programme": "some"}, "programme"),
        ({"eligibility": "risk_factors"}, "eligibility"),
        ({"eligibility": ["rich"]}, "eligibility"),
        ({"programme": "partial", "planned_slots": ["99m"]}, "planned_slots"),
        ({"programme": "partial"}, "planned_slots"),
        ({"offered_on": (TODAY() + datetime.timedelta(days=1)).isoformat()}, "offered_on"),
        ({"offered_on": "yesterday"}, "offered_on"),
    ]
    for change, field in cases:
        response = client.post("/api/v1/enrolments/", {**body, **change})
        assert response.status_code == 400, (change, response.json())
        assert field in response.json(), (change, response.json())
    assert not Enrolment.objects.exists()


def test_partial_programme_schedules_only_the_planned_slots(client, centre):
    child = ChildFactory(current_centre=centre)
    response = client.post(
        "/api/v1/enrolments/",
        enrolment_body(child, programme="partial", planned_slots=["2m", "8m"]),
    )
    assert response.status_code == 201, response.json()
    assert [e["slot"] for e in response.json()["schedule"]] == ["2m", "8m"]


def test_patch_accepts_an_offer_and_changes_the_programme(client, centre):
    enrolment = EnrolmentFactory(child__current_centre=centre, accepted_on=None)
    url = f"/api/v1/enrolments/{enrolment.id}/"
    response = client.patch(
        url,
        {
            "accepted_on": TODAY().isoformat(),
            "programme": "partial",
            "planned_slots": ["4m"],
            "interpreter_needed": True,
        },
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["accepted_on"] == TODAY().isoformat()
    assert body["interpreter_needed"] is True
    assert [e["slot"] for e in body["schedule"]] == ["4m"]
    assert client.patch(url, {"planned_slots": ["nope"]}).status_code == 400
    enrolment.refresh_from_db()
    assert enrolment.planned_slots == ["4m"]


def test_detail_schedule_shows_done_slots_with_their_visit_and_lateness(client, centre, nurse):
    enrolment = EnrolmentFactory(child__current_centre=centre, child__birth_date=days_ago(100))
    late = log_visit(enrolment, nurse, slot="1-2w", date=days_ago(50))
    on_time = log_visit(enrolment, nurse, slot="2m", date=days_ago(40))
    schedule = {
        e["slot"]: e for e in client.get(f"/api/v1/enrolments/{enrolment.id}/").json()["schedule"]
    }
    assert (schedule["1-2w"]["status"], schedule["1-2w"]["visit"], schedule["1-2w"]["late"]) == (
        "done",
        str(late.id),
        True,
    )
    assert (schedule["2m"]["status"], schedule["2m"]["visit"], schedule["2m"]["late"]) == (
        "done",
        str(on_time.id),
        False,
    )
    assert schedule["4m"]["status"] == "upcoming"


def test_ending_an_enrolment_turns_overdue_slots_into_missed(client, centre):
    enrolment = EnrolmentFactory(child__current_centre=centre, child__birth_date=days_ago(100))
    url = f"/api/v1/enrolments/{enrolment.id}/end/"
    response = client.post(url, {"ended_on": TODAY().isoformat(), "reason": "declined"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["ended_on"], body["end_reason"], body["active"]) == (
        TODAY().isoformat(),
        "declined",
        False,
    )
    statuses = {e["slot"]: e["status"] for e in body["schedule"]}
    assert statuses["1-2w"] == statuses["2m"] == "missed"
    assert "overdue" not in statuses.values()
    again = client.post(url, {"ended_on": TODAY().isoformat(), "reason": "declined"})
    assert again.status_code == 409
    assert client.patch(f"/api/v1/enrolments/{enrolment.id}/", {}).status_code == 409


def test_end_input_is_checked_by_field(client, centre):
    enrolment = EnrolmentFactory(child__current_centre=centre)
    url = f"/api/v1/enrolments/{enrolment.id}/end/"
    foreign = CentreFactory()
    cases = [
        ({"ended_on": TODAY().isoformat(), "reason": "bored"}, "reason"),
        ({"reason": "completed"}, "ended_on"),
        ({"ended_on": TODAY().isoformat(), "reason": "moved"}, "moved_to"),
        (
            {"ended_on": TODAY().isoformat(), "reason": "moved", "moved_to": str(foreign.id)},
            "moved_to",
        ),
        (
            {"ended_on": TODAY().isoformat(), "reason": "moved", "moved_to": str(centre.id)},
            "moved_to",
        ),
        ({"ended_on": "2999-01-01", "reason": "completed"}, "ended_on"),
    ]
    for body, field in cases:
        response = client.post(url, body)
        assert response.status_code == 400, (body, response.json())
        assert field in response.json(), (body, response.json())
    enrolment.refresh_from_db()
    assert enrolment.ended_on is None


def test_moving_a_child_hands_it_to_the_new_centre_and_keeps_history_at_the_old(
    api_client_for, centre, nurse
):
    new_centre = CentreFactory(organisation=centre.organisation)
    old_nurse = api_client_for(nurse)
    new_nurse = api_client_for(nurse_at(new_centre))
    enrolment = EnrolmentFactory(child__current_centre=centre)
    child = enrolment.child
    visit = log_visit(enrolment, nurse, slot="1-2w", date=days_ago(90))
    assert new_nurse.get(f"/api/v1/children/{child.id}/").status_code == 404

    response = old_nurse.post(
        f"/api/v1/enrolments/{enrolment.id}/end/",
        {"ended_on": TODAY().isoformat(), "reason": "moved", "moved_to": str(new_centre.id)},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["moved_to"] == str(new_centre.id)

    # The new centre's nurse sees the child and enrols it ...
    child.refresh_from_db()
    assert child.current_centre == new_centre
    detail = new_nurse.get(f"/api/v1/children/{child.id}/")
    assert detail.status_code == 200
    assert detail.json()["identity"] == child.identity
    enrol = new_nurse.post(
        "/api/v1/enrolments/",
        {**enrolment_body(child), "template": str(enrolment.template_id)},
    )
    assert enrol.status_code == 201, enrol.json()
    # ... but not the old centre's enrolment or visits.
    assert new_nurse.get(f"/api/v1/enrolments/{enrolment.id}/").status_code == 404
    assert new_nurse.get(f"/api/v1/visits/{visit.id}/").status_code == 404

    # The old centre keeps its enrolment and visits, not the child.
    assert old_nurse.get(f"/api/v1/children/{child.id}/").status_code == 404
    assert old_nurse.get(f"/api/v1/enrolments/{enrolment.id}/").status_code == 200
    assert old_nurse.get(f"/api/v1/visits/{visit.id}/").status_code == 200
    assert [e["id"] for e in old_nurse.get("/api/v1/enrolments/").json()["results"]] == [
        str(enrolment.id)
    ]


def test_enrolment_list_is_masked(client, centre):
    enrolment = EnrolmentFactory(child__current_centre=centre, child__protected=True)
    (row,) = client.get("/api/v1/enrolments/").json()["results"]
    assert row["id"] == str(enrolment.id)
    assert row["child_masked"] == "Skyddad identitet"
    assert "schedule" not in row


# --- Visits -----------------------------------------------------------------------------------
@pytest.fixture
def enrolment(centre):
    zv509()
    return EnrolmentFactory(child__current_centre=centre, child__birth_date=days_ago(100))


def visit_body(for_enrolment, **extra):
    return {
        "enrolment": str(for_enrolment.id),
        "date": TODAY().isoformat(),
        "place": "home",
        "status": "completed",
        **extra,
    }


def test_completed_home_visit_with_social_services_gets_zv509(client, enrolment, nurse):
    response = client.post(
        "/api/v1/visits/",
        visit_body(enrolment, slot="2m", social_services_present=True),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kva_codes"] == ["ZV509"]
    assert body == {
        "id": body["id"],
        "enrolment": str(enrolment.id),
        "centre": str(enrolment.centre_id),
        "date": TODAY().isoformat(),
        "place": "home",
        "status": "completed",
        "slot": "2m",
        "social_services_present": True,
        "participants": [],
        "interpreter": {"mode": "none", "language": None},
        "kva_codes": ["ZV509"],
        "contacts_started": [],
        "nurse": nurse.username,
        "late": True,
        # No compensation rule in this organisation: the visit earns nothing (funding fills it).
        "compensation": {"type": "none", "amount": "0.00"},
    }


def test_visit_defaults_and_interpreter_round_trip(client, enrolment):
    response = client.post(
        "/api/v1/visits/",
        visit_body(
            enrolment,
            slot=None,
            participants=["interpreter", "dental"],
            interpreter={"mode": "phone", "language": "arabiska"},
            contacts_started=["preschool"],
        ),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slot"] is None
    assert body["interpreter"] == {"mode": "phone", "language": "arabiska"}
    assert body["participants"] == ["interpreter", "dental"]
    visit = Visit.objects.get(pk=body["id"])
    assert (visit.slot, visit.interpreter_mode, visit.interpreter_language) == (
        "",
        "phone",
        "arabiska",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kva_codes": ["ZV509"], "social_services_present": False}, "kva_codes"),
        ({"kva_codes": ["XX999"]}, "kva_codes"),
        ({"kva_codes": ["AA001"]}, "kva_codes"),  # expired
        (
            {"status": "cancelled", "kva_codes": ["ZV509"], "social_services_present": True},
            "kva_codes",
        ),
        ({"participants": ["interpreter"]}, "interpreter"),
        ({"participants": ["interpreter"], "interpreter": {"mode": "none"}}, "interpreter"),
        ({"interpreter": {"mode": "telepathy"}}, "interpreter"),
        ({"interpreter": "phone"}, "interpreter"),
        ({"date": (TODAY() + datetime.timedelta(days=1)).isoformat()}, "date"),
        ({"date": days_ago(101).isoformat()}, "date"),
        ({"date": "23/11/2026"}, "date"),
        ({"place": "car"}, "place"),
        ({"status": "maybe"}, "status"),
        ({"slot": "99m"}, "slot"),
        ({"participants": "dental"}, "participants"),
        ({"participants": ["cousin"]}, "participants"),
        ({"kva_codes": "ZV509"}, "kva_codes"),
        ({"kva_codes": ["ZV5090000000"]}, "kva_codes"),
        ({"contacts_started": ["police"]}, "contacts_started"),
        ({"social_services_present": "perhaps"}, "social_services_present"),
        ({"enrolment": "not-a-uuid"}, "enrolment"),
    ],
)
def test_invalid_visit_is_a_400_on_the_field_and_nothing_is_saved(client, enrolment, change, field):
    KvaCode.objects.create(
        code="AA001",
        title="Utgången",
        valid_from=datetime.date(2010, 1, 1),
        valid_to=days_ago(200),
    )
    response = client.post("/api/v1/visits/", visit_body(enrolment, **change))
    assert response.status_code == 400, response.json()
    errors = response.json()
    assert field in errors, errors
    assert all(isinstance(m, str) for messages in errors.values() for m in messages)
    assert Visit.objects.count() == 0


def test_expired_code_is_accepted_for_a_visit_on_a_day_it_was_valid(client, enrolment):
    KvaCode.objects.create(
        code="AA001", title="Gammal", valid_from=days_ago(200), valid_to=days_ago(10)
    )
    response = client.post(
        "/api/v1/visits/", visit_body(enrolment, date=days_ago(20).isoformat(), kva_codes=["aa001"])
    )
    assert response.status_code == 201, response.json()
    assert response.json()["kva_codes"] == ["AA001"]


def test_enrolment_outside_scope_is_a_400_on_enrolment(client):
    elsewhere = EnrolmentFactory()
    response = client.post("/api/v1/visits/", visit_body(elsewhere))
    assert response.status_code == 400
    assert list(response.json()) == ["enrolment"]
    assert Visit.objects.count() == 0


def test_second_completed_visit_for_a_done_slot_is_a_409(client, enrolment):
    first = client.post("/api/v1/visits/", visit_body(enrolment, slot="2m"))
    assert first.status_code == 201
    second = client.post("/api/v1/visits/", visit_body(enrolment, slot="2m"))
    assert second.status_code == 409
    assert "detail" in second.json()
    assert Visit.objects.count() == 1
    # A cancelled visit for the same slot is no conflict.
    cancelled = client.post("/api/v1/visits/", visit_body(enrolment, slot="2m", status="cancelled"))
    assert cancelled.status_code == 201


def test_patch_recomputes_the_codes(client, enrolment, nurse):
    visit = log_visit(enrolment, nurse, slot="2m")
    url = f"/api/v1/visits/{visit.id}/"
    joint = client.patch(url, {"social_services_present": True})
    assert joint.status_code == 200, joint.json()
    assert joint.json()["kva_codes"] == ["ZV509"]
    clinic = client.patch(url, {"place": "clinic", "social_services_present": False})
    assert clinic.json()["kva_codes"] == []
    cancelled = client.patch(url, {"status": "cancelled"})
    assert (cancelled.json()["status"], cancelled.json()["kva_codes"]) == ("cancelled", [])
    extra = client.patch(url, {"slot": None})
    assert extra.json()["slot"] is None
    visit.refresh_from_db()
    assert (visit.status, visit.place, visit.slot) == ("cancelled", "clinic", "")


def test_invalid_patch_changes_nothing(client, enrolment, nurse):
    visit = log_visit(enrolment, nurse, slot="2m")
    response = client.patch(
        f"/api/v1/visits/{visit.id}/",
        {"place": "clinic", "date": (TODAY() + datetime.timedelta(days=3)).isoformat()},
    )
    assert response.status_code == 400
    assert list(response.json()) == ["date"]
    visit.refresh_from_db()
    assert visit.place == "home"


def test_patch_to_a_slot_already_done_is_a_409(client, enrolment, nurse):
    log_visit(enrolment, nurse, slot="2m")
    other = log_visit(enrolment, nurse, slot="1-2w")
    response = client.patch(f"/api/v1/visits/{other.id}/", {"slot": "2m"})
    assert response.status_code == 409


def test_only_nurses_log_visits_but_managers_read_them(api_client_for, enrolment, nurse):
    manager = api_client_for(member(Role.CENTRE_MANAGER, centre=enrolment.centre))
    assert manager.post("/api/v1/visits/", visit_body(enrolment)).status_code == 403
    visit = log_visit(enrolment, nurse)
    assert manager.get(f"/api/v1/visits/{visit.id}/").status_code == 200
    assert manager.patch(f"/api/v1/visits/{visit.id}/", {"place": "clinic"}).status_code == 403
    assert [v["id"] for v in manager.get("/api/v1/visits/").json()["results"]] == [str(visit.id)]


def test_a_nurse_who_manages_another_centre_may_not_write_its_visits(api_client_for, enrolment):
    other = CentreFactory(organisation=enrolment.centre.organisation)
    user = nurse_at(other)
    member(Role.CENTRE_MANAGER, centre=enrolment.centre, user=user)
    visit = log_visit(enrolment)
    client = api_client_for(user)
    assert client.get(f"/api/v1/visits/{visit.id}/").status_code == 200
    assert client.patch(f"/api/v1/visits/{visit.id}/", {"place": "clinic"}).status_code == 403
    response = client.post("/api/v1/visits/", visit_body(enrolment))
    assert response.status_code == 400
    assert list(response.json()) == ["enrolment"]


def test_visit_list_is_newest_first_and_filters(client, enrolment, nurse):
    old = log_visit(enrolment, nurse, slot="1-2w", date=days_ago(80))
    joint = log_visit(enrolment, nurse, slot="2m", date=days_ago(40), social_services_present=True)
    cancelled = log_visit(enrolment, nurse, date=days_ago(5), status="cancelled")
    log_visit(EnrolmentFactory())  # another centre's

    def ids(query=""):
        response = client.get(f"/api/v1/visits/{query}")
        assert response.status_code == 200, response.json()
        return [v["id"] for v in response.json()["results"]]

    assert ids() == [str(cancelled.id), str(joint.id), str(old.id)]
    assert ids("?status=cancelled") == [str(cancelled.id)]
    assert ids("?kva_code=zv509") == [str(joint.id)]
    assert ids(f"?date_from={days_ago(50)}&date_to={days_ago(10)}") == [str(joint.id)]
    assert ids(f"?centre={enrolment.centre_id}") == ids()
    lateness = {v["id"]: v["late"] for v in client.get("/api/v1/visits/").json()["results"]}
    assert lateness == {str(old.id): True, str(joint.id): False, str(cancelled.id): False}


@pytest.mark.parametrize(
    "query",
    [
        "?date_from=yesterday",
        "?date_to=",
        "?centre=not-a-uuid",
        "?centre=00000000-0000-0000-0000-000000000000",
        "?status=lost",
        "?status=",
        "?page_size=x",
        "?page_size=0",
    ],
)
def test_malformed_visit_filters_are_400s(client, query):
    response = client.get(f"/api/v1/visits/{query}")
    assert response.status_code == 400, response.content
    assert all(isinstance(v, list) for v in response.json().values())


@pytest.mark.parametrize(
    ("query", "urls"),
    [
        ("garbage", ["/api/v1/visits/", "/api/v1/worklist/", "/api/v1/kva-codes/"]),
        # A position that the first ordering field (a date) cannot take.
        ("p=not-a-date", ["/api/v1/visits/", "/api/v1/worklist/", "/api/v1/children/"]),
        # A NUL byte, which PostgreSQL refuses in text.
        ("p=%00", ["/api/v1/kva-codes/", "/api/v1/programme-templates/"]),
    ],
)
def test_forged_cursors_are_404s_never_500s(client, enrolment, nurse, query, urls):
    log_visit(enrolment, nurse)
    cursor = base64.b64encode(query.encode()).decode() if "=" in query else query
    for url in urls:
        response = client.get(url, {"cursor": cursor})
        assert response.status_code == 404, (url, response.content)


# --- Worklist ---------------------------------------------------------------------------------
def test_worklist_is_oldest_first_with_status_and_slot_filters(client, centre, nurse):
    young = EnrolmentFactory(child__current_centre=centre, child__birth_date=days_ago(60))
    old = EnrolmentFactory(
        child__current_centre=centre, child__birth_date=days_ago(130), template=young.template
    )
    log_visit(old, nurse, slot="2m", date=days_ago(70))
    EnrolmentFactory(child__birth_date=days_ago(60))  # another centre's
    EnrolmentFactory(
        child__current_centre=centre, child__birth_date=days_ago(60), accepted_on=None
    )  # offered, not accepted: not on the worklist

    def rows(query=""):
        response = client.get(f"/api/v1/worklist/{query}")
        assert response.status_code == 200, response.json()
        return [(r["enrolment"], r["slot"], r["status"]) for r in response.json()["results"]]

    assert rows() == [
        (str(old.id), "1-2w", "overdue"),
        (str(young.id), "1-2w", "overdue"),
        (str(old.id), "4m", "due"),
        (str(young.id), "2m", "due"),
    ]
    assert rows("?status=due") == [(str(old.id), "4m", "due"), (str(young.id), "2m", "due")]
    assert rows("?status=overdue&slot=1-2w") == rows()[:2]
    assert rows(f"?centre={centre.id}") == rows()
    first = client.get("/api/v1/worklist/").json()["results"][0]
    assert first == {
        "enrolment": str(old.id),
        "child_masked": old.child.masked,
        "centre": str(centre.id),
        "slot": "1-2w",
        "label": "1–2 veckor",
        "due_from": (old.child.birth_date + datetime.timedelta(days=3)).isoformat(),
        "due_to": (old.child.birth_date + datetime.timedelta(days=17)).isoformat(),
        "status": "overdue",
    }


@pytest.mark.parametrize(
    "query", ["?status=done", "?status=", "?centre=x", f"?centre={'1' * 32}", "?centre="]
)
def test_malformed_worklist_filters_are_400s(client, query):
    response = client.get(f"/api/v1/worklist/{query}")
    assert response.status_code == 400, response.content


WIDE_SLOTS = [
    ("a", "A", "extra", "home", 10, 0, 400),
    ("b", "B", "extra", "home", 20, 0, 400),
    ("c", "C", "extra", "home", 30, 0, 400),
]


def due_rows(centre, children: int):
    """`children` enrolments with three slots each, all due today (ties on due_from)."""
    template = ProgrammeTemplateFactory(organisation=centre.organisation, slots=WIDE_SLOTS)
    for n in range(children):
        EnrolmentFactory(
            child__current_centre=centre,
            child__birth_date=days_ago(100 + n % 7),
            template=template,
        )


def test_worklist_pages_120_rows_in_the_database_with_one_select_per_page(client, centre):
    due_rows(centre, 40)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/worklist/?page_size=50")
    body = response.json()
    assert len(body["results"]) == 50
    worklist_selects = [q["sql"] for q in queries if 'FROM "visits_enrolment"' in q["sql"]]
    assert len(worklist_selects) == 1, worklist_selects
    assert "LIMIT" in worklist_selects[0]
    others = [q["sql"] for q in queries if 'FROM "visits_enrolment"' not in q["sql"]]
    assert all(
        any(t in sql for t in ("core_apitoken", "core_membership", "visits_accesslog"))
        for sql in others
    ), others

    seen = [(r["enrolment"], r["slot"]) for r in body["results"]]
    pages = 1
    while body["next"]:
        body = client.get(body["next"]).json()
        seen += [(r["enrolment"], r["slot"]) for r in body["results"]]
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    everything = client.get("/api/v1/worklist/?page_size=200").json()["results"]
    assert seen == [(r["enrolment"], r["slot"]) for r in everything]
    assert [r["due_from"] for r in everything] == sorted(r["due_from"] for r in everything)


def test_worklist_query_count_does_not_grow_with_the_page(client, centre):
    due_rows(centre, 1)  # 3 rows
    with CaptureQueriesContext(connection) as small:
        assert len(client.get("/api/v1/worklist/?page_size=1").json()["results"]) == 1
    due_rows(centre, 20)
    with CaptureQueriesContext(connection) as large:
        assert len(client.get("/api/v1/worklist/?page_size=50").json()["results"]) == 50
    assert len(large) == len(small)


def test_visit_list_query_count_does_not_grow_with_the_page(client, enrolment, nurse):
    log_visit(enrolment, nurse, slot="2m")
    with CaptureQueriesContext(connection) as small:
        assert len(client.get("/api/v1/visits/").json()["results"]) == 1
    for n in range(49):
        other = EnrolmentFactory(child__current_centre=enrolment.centre)
        log_visit(other, nurse, slot="2m" if n % 2 else "", date=days_ago(n % 30))
    with CaptureQueriesContext(connection) as large:
        assert len(client.get("/api/v1/visits/").json()["results"]) == 50
    assert len(large) == len(small)


@pytest.mark.parametrize("url", ["/api/v1/children/", "/api/v1/enrolments/"])
def test_child_and_enrolment_lists_query_count_does_not_grow_with_the_page(client, centre, url):
    EnrolmentFactory(child__current_centre=centre)
    with CaptureQueriesContext(connection) as small:
        assert len(client.get(url).json()["results"]) == 1
    EnrolmentFactory.create_batch(49, child__current_centre=centre)
    with CaptureQueriesContext(connection) as large:
        assert len(client.get(url).json()["results"]) == 50
    assert len(large) == len(small)


def test_list_reads_are_logged_in_one_insert_per_page(client, centre):
    EnrolmentFactory.create_batch(5, child__current_centre=centre)
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/children/")
    inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "visits_accesslog"')]
    assert len(inserts) == 1
    assert AccessLog.objects.filter(action="read", what="child list").count() == 5
