"""Writes for children, enrolments and visits (DOMAIN.md 1 and 3; API.md "Children and
enrolments" and "Visits"): every rule at service level, and nothing saved when a rule refuses.

The clock stands at NOW so that "today", "the future" and the windows are fixed dates.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from stdnum import luhn

from core.exceptions import Conflict
from core.models import Centre, User
from tests.core.factories import CentreFactory, OrganisationFactory
from tests.visits.factories import (
    ChildFactory,
    EnrolmentFactory,
    ProgrammeTemplateFactory,
    log_visit,
    nurse_at,
)
from visits import extension
from visits.models import (
    ZV509,
    AccessLog,
    Child,
    Enrolment,
    KvaCode,
    ProgrammeTemplate,
    Visit,
)
from visits.services import (
    VisitInput,
    child_register,
    enrolment_create,
    enrolment_end,
    visit_log,
    visit_update,
)

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 15, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
TODAY = NOW.date()
DAY = datetime.timedelta(days=1)
BORN = TODAY - 100 * DAY  # slot 2m (47–75 days) is TODAY-53 … TODAY-25
IN_2M = BORN + 60 * DAY


@pytest.fixture(autouse=True)
def _frozen_today() -> Iterator[None]:
    with time_machine.travel(NOW):
        yield


@pytest.fixture
def enrolment() -> Enrolment:
    return EnrolmentFactory(child__birth_date=BORN)


@pytest.fixture
def nurse(enrolment: Enrolment) -> User:
    return nurse_at(enrolment.centre)


def kva(code: str, valid_from: datetime.date, valid_to: datetime.date | None = None) -> KvaCode:
    return KvaCode.objects.create(
        code=code, title=f"Testkod {code}", valid_from=valid_from, valid_to=valid_to
    )


def refused(enrolment: Enrolment, nurse: User, field: str, **fields: Any) -> list[str]:
    """Log a visit that must be refused on `field`; nothing may be written."""
    visits, logs = Visit.objects.count(), AccessLog.objects.count()
    with pytest.raises(ValidationError) as exc:
        log_visit(enrolment, nurse, **fields)
    assert field in exc.value.message_dict, exc.value.message_dict
    assert Visit.objects.count() == visits
    assert AccessLog.objects.count() == logs
    return exc.value.message_dict[field]


def stored(visit: Visit) -> Visit:
    return Visit.objects.get(pk=visit.pk)


# --- ZV509 (seed 004) -------------------------------------------------------------------------
def test_completed_home_visit_with_social_services_is_coded_zv509(
    enrolment: Enrolment, nurse: User
) -> None:
    visit = log_visit(enrolment, nurse, social_services_present=True)

    assert stored(visit).kva_codes == [ZV509]


def test_zv509_is_added_to_the_other_codes_sent(enrolment: Enrolment, nurse: User) -> None:
    kva("QA001", datetime.date(2015, 1, 1))

    visit = log_visit(enrolment, nurse, social_services_present=True, kva_codes=["QA001"])

    assert sorted(stored(visit).kva_codes) == ["QA001", ZV509]


def test_zv509_sent_with_social_services_is_stored_once(enrolment: Enrolment, nurse: User) -> None:
    visit = log_visit(enrolment, nurse, social_services_present=True, kva_codes=[" zv509 ", ZV509])

    assert stored(visit).kva_codes == [ZV509]


def test_home_visit_without_social_services_gets_no_zv509(
    enrolment: Enrolment, nurse: User
) -> None:
    visit = log_visit(enrolment, nurse, social_services_present=False)

    assert stored(visit).kva_codes == []


@pytest.mark.parametrize("place", ["clinic", "other"])
def test_clinic_or_other_visit_with_social_services_gets_no_zv509(
    enrolment: Enrolment, nurse: User, place: str
) -> None:
    visit = log_visit(enrolment, nurse, place=place, social_services_present=True)

    assert stored(visit).kva_codes == []


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_cancelled_or_no_show_home_visit_with_social_services_carries_no_codes(
    enrolment: Enrolment, nurse: User, status: str
) -> None:
    visit = log_visit(enrolment, nurse, status=status, social_services_present=True)

    assert stored(visit).kva_codes == []


def test_zv509_without_social_services_is_rejected(enrolment: Enrolment, nurse: User) -> None:
    refused(enrolment, nurse, "kva_codes", social_services_present=False, kva_codes=[ZV509])


def test_zv509_on_a_clinic_visit_without_social_services_is_rejected(
    enrolment: Enrolment, nurse: User
) -> None:
    refused(enrolment, nurse, "kva_codes", place="clinic", kva_codes=[ZV509])


# --- KVÅ codes --------------------------------------------------------------------------------
def test_unknown_kva_code_is_rejected(enrolment: Enrolment, nurse: User) -> None:
    messages = refused(enrolment, nurse, "kva_codes", kva_codes=["XX999"])

    assert "XX999" in " ".join(messages)


def test_code_expired_before_the_visit_date_is_rejected(enrolment: Enrolment, nurse: User) -> None:
    kva("QA002", datetime.date(2015, 1, 1), valid_to=IN_2M - DAY)

    refused(enrolment, nurse, "kva_codes", date=IN_2M, kva_codes=["QA002"])


def test_code_valid_only_after_the_visit_date_is_rejected(
    enrolment: Enrolment, nurse: User
) -> None:
    kva("QA003", IN_2M + DAY)

    refused(enrolment, nurse, "kva_codes", date=IN_2M, kva_codes=["QA003"])


def test_code_is_valid_on_the_first_and_the_last_day_of_its_period(
    enrolment: Enrolment, nurse: User
) -> None:
    kva("QA004", IN_2M, valid_to=IN_2M)

    visit = log_visit(enrolment, nurse, date=IN_2M, kva_codes=["QA004"])

    assert stored(visit).kva_codes == ["QA004"]


def test_a_code_with_a_later_version_valid_on_the_date_is_accepted(
    enrolment: Enrolment, nurse: User
) -> None:
    kva("QA005", datetime.date(2015, 1, 1), valid_to=IN_2M - DAY)
    kva("QA005", IN_2M)

    visit = log_visit(enrolment, nurse, date=IN_2M, kva_codes=["QA005"])

    assert stored(visit).kva_codes == ["QA005"]


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_codes_on_a_cancelled_or_no_show_visit_are_rejected(
    enrolment: Enrolment, nurse: User, status: str
) -> None:
    refused(
        enrolment,
        nurse,
        "kva_codes",
        status=status,
        social_services_present=True,
        kva_codes=[ZV509],
    )


# --- Interpreter, date, slot ------------------------------------------------------------------
def test_interpreter_participant_with_mode_none_is_rejected(
    enrolment: Enrolment, nurse: User
) -> None:
    refused(enrolment, nurse, "interpreter", participants=["interpreter"], interpreter_mode="none")


def test_interpreter_participant_with_a_mode_keeps_mode_and_language(
    enrolment: Enrolment, nurse: User
) -> None:
    visit = log_visit(
        enrolment,
        nurse,
        participants=["interpreter"],
        interpreter_mode="phone",
        interpreter_language="Somaliska",
    )

    row = stored(visit)
    assert (row.participants, row.interpreter_mode, row.interpreter_language) == (
        ["interpreter"],
        "phone",
        "Somaliska",
    )


def test_visit_dated_in_the_future_is_rejected(enrolment: Enrolment, nurse: User) -> None:
    refused(enrolment, nurse, "date", date=TODAY + DAY)


def test_visit_dated_today_is_accepted(enrolment: Enrolment, nurse: User) -> None:
    assert stored(log_visit(enrolment, nurse, date=TODAY)).date == TODAY


def test_visit_before_birth_is_rejected(enrolment: Enrolment, nurse: User) -> None:
    refused(enrolment, nurse, "date", date=BORN - DAY)


def test_visit_on_the_birth_date_is_accepted(enrolment: Enrolment, nurse: User) -> None:
    assert stored(log_visit(enrolment, nurse, date=BORN)).date == BORN


def test_visit_after_the_enrolment_ended_is_rejected() -> None:
    ended = EnrolmentFactory(child__birth_date=BORN, ended_on=IN_2M, end_reason="other")

    refused(ended, nurse_at(ended.centre), "date", date=IN_2M + DAY)


def test_visit_for_a_declined_enrolment_is_rejected() -> None:
    declined = EnrolmentFactory(child__birth_date=BORN, accepted_on=None, declined_on=BORN)

    refused(declined, nurse_at(declined.centre), "enrolment", date=IN_2M)


def test_slot_not_in_the_template_is_rejected(enrolment: Enrolment, nurse: User) -> None:
    refused(enrolment, nurse, "slot", slot="99m")


def test_slot_outside_a_partial_plan_is_rejected() -> None:
    partial = EnrolmentFactory(
        child__birth_date=BORN, programme="partial", planned_slots=["1-2w", "8m"]
    )
    nurse = nurse_at(partial.centre)

    refused(partial, nurse, "slot", date=IN_2M, slot="2m")
    assert stored(log_visit(partial, nurse, date=BORN + 10 * DAY, slot="1-2w")).slot == "1-2w"


def test_visit_without_slot_is_an_extra_visit(enrolment: Enrolment, nurse: User) -> None:
    assert stored(log_visit(enrolment, nurse)).slot == ""


# --- One completed visit per slot -------------------------------------------------------------
def test_second_completed_visit_for_a_done_slot_is_a_conflict(
    enrolment: Enrolment, nurse: User
) -> None:
    log_visit(enrolment, nurse, date=IN_2M, slot="2m")
    visits, logs = Visit.objects.count(), AccessLog.objects.count()

    with pytest.raises(Conflict):
        log_visit(enrolment, nurse, date=IN_2M + DAY, slot="2m")

    assert Visit.objects.count() == visits
    assert AccessLog.objects.count() == logs


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_cancelled_or_no_show_visit_for_a_done_slot_is_accepted(
    enrolment: Enrolment, nurse: User, status: str
) -> None:
    log_visit(enrolment, nurse, date=IN_2M, slot="2m")

    log_visit(enrolment, nurse, date=IN_2M + DAY, slot="2m", status=status)

    assert Visit.objects.filter(enrolment=enrolment, slot="2m").count() == 2


def test_a_cancelled_visit_does_not_block_the_completed_one(
    enrolment: Enrolment, nurse: User
) -> None:
    log_visit(enrolment, nurse, date=IN_2M, slot="2m", status="cancelled")

    log_visit(enrolment, nurse, date=IN_2M + DAY, slot="2m")

    assert Visit.objects.completed().filter(enrolment=enrolment, slot="2m").count() == 1


# --- visit_update -----------------------------------------------------------------------------
def test_turning_off_social_services_drops_zv509(enrolment: Enrolment, nurse: User) -> None:
    visit = log_visit(enrolment, nurse, social_services_present=True)

    visit_update(user=nurse, visit=visit, changes={"social_services_present": False})

    assert stored(visit).kva_codes == []


def test_turning_on_social_services_adds_zv509(enrolment: Enrolment, nurse: User) -> None:
    visit = log_visit(enrolment, nurse)

    visit_update(user=nurse, visit=visit, changes={"social_services_present": True})

    assert stored(visit).kva_codes == [ZV509]


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_cancelling_a_completed_visit_drops_its_codes(
    enrolment: Enrolment, nurse: User, status: str
) -> None:
    kva("QA006", datetime.date(2015, 1, 1))
    visit = log_visit(enrolment, nurse, social_services_present=True, kva_codes=["QA006"])

    visit_update(user=nurse, visit=visit, changes={"status": status})

    assert stored(visit).status == status
    assert stored(visit).kva_codes == []


def test_moving_a_joint_visit_to_the_clinic_keeps_only_the_codes_it_may_carry(
    enrolment: Enrolment, nurse: User
) -> None:
    visit = log_visit(enrolment, nurse, social_services_present=True)

    visit_update(
        user=nurse, visit=visit, changes={"place": "clinic", "social_services_present": False}
    )

    assert stored(visit).kva_codes == []


def test_update_claiming_zv509_without_social_services_is_rejected_and_changes_nothing(
    enrolment: Enrolment, nurse: User
) -> None:
    visit = log_visit(enrolment, nurse, social_services_present=True)

    with pytest.raises(ValidationError) as exc:
        visit_update(
            user=nurse,
            visit=visit,
            changes={"social_services_present": False, "kva_codes": [ZV509]},
        )

    assert "kva_codes" in exc.value.message_dict
    row = stored(visit)
    assert row.social_services_present is True
    assert row.kva_codes == [ZV509]


def test_update_to_a_future_date_is_rejected(enrolment: Enrolment, nurse: User) -> None:
    visit = log_visit(enrolment, nurse, date=IN_2M)

    with pytest.raises(ValidationError) as exc:
        visit_update(user=nurse, visit=visit, changes={"date": TODAY + DAY})

    assert "date" in exc.value.message_dict
    assert stored(visit).date == IN_2M


def test_update_completing_a_second_visit_for_a_done_slot_is_a_conflict(
    enrolment: Enrolment, nurse: User
) -> None:
    log_visit(enrolment, nurse, date=IN_2M, slot="2m")
    cancelled = log_visit(enrolment, nurse, date=IN_2M + DAY, slot="2m", status="cancelled")

    with pytest.raises(Conflict):
        visit_update(user=nurse, visit=cancelled, changes={"status": "completed"})

    assert stored(cancelled).status == "cancelled"


def test_update_of_a_field_that_cannot_change_is_rejected(
    enrolment: Enrolment, nurse: User
) -> None:
    visit = log_visit(enrolment, nurse)

    with pytest.raises(ValidationError) as exc:
        visit_update(user=nurse, visit=visit, changes={"enrolment": "someone-else"})

    assert "enrolment" in exc.value.message_dict


def test_visit_edits_keep_history(enrolment: Enrolment, nurse: User) -> None:
    visit = log_visit(enrolment, nurse, social_services_present=True)
    assert list(visit.events.values_list("pgh_label", flat=True)) == ["insert"]

    visit_update(user=nurse, visit=visit, changes={"social_services_present": False})

    events = list(visit.events.order_by("pgh_id"))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    before, after = events
    assert (before.social_services_present, before.kva_codes) == (True, [ZV509])
    assert (after.social_services_present, after.kva_codes) == (False, [])
    assert after.pgh_context.metadata["user"] == nurse.username


# --- child_register ---------------------------------------------------------------------------
PNR_BORN = datetime.date(2025, 3, 1)


def pnr_parts(birth: datetime.date, serial: int = 123, *, coordination: bool = False) -> str:
    """12 digits, check digit from python-stdnum (not from the code under test)."""
    day = birth.day + (60 if coordination else 0)
    nine = f"{birth:%y%m}{day:02d}{serial:03d}"
    return f"{birth:%Y}"[:2] + nine + luhn.calc_check_digit(nine)


@pytest.fixture
def centre() -> Centre:
    return CentreFactory()


@pytest.fixture
def centre_nurse(centre: Centre) -> User:
    return nurse_at(centre)


@pytest.mark.parametrize(
    "written",
    [
        lambda t: f"{t[2:8]}-{t[8:]}",  # YYMMDD-NNNN
        lambda t: t[2:],  # YYMMDDNNNN
        lambda t: t,  # YYYYMMDDNNNN
        lambda t: f"{t[:8]}-{t[8:]}",  # YYYYMMDD-NNNN
    ],
    ids=["YYMMDD-NNNN", "YYMMDDNNNN", "YYYYMMDDNNNN", "YYYYMMDD-NNNN"],
)
def test_each_written_form_of_a_personnummer_registers_the_same_child(
    centre: Centre, centre_nurse: User, written: Any
) -> None:
    twelve = pnr_parts(PNR_BORN)

    child = child_register(
        user=centre_nurse, centre=centre, identity_type="personnummer", identity=written(twelve)
    )

    row = Child.objects.get(pk=child.pk)
    assert (row.identity_type, row.identity, row.birth_date) == ("personnummer", twelve, PNR_BORN)
    assert (row.organisation_id, row.current_centre_id) == (centre.organisation_id, centre.pk)


def test_personnummer_with_plus_is_a_hundred_years_older(
    centre: Centre, centre_nurse: User
) -> None:
    # The same ten digits: with "-" a child born yesterday, with "+" a person born a century
    # earlier, whom the programme refuses (a child is born within the last 6 years).
    yesterday = TODAY - DAY
    twelve = pnr_parts(yesterday)

    with pytest.raises(ValidationError) as error:
        child_register(
            user=centre_nurse,
            centre=centre,
            identity_type="personnummer",
            identity=f"{twelve[2:8]}+{twelve[8:]}",
        )
    assert "6 åren" in error.value.message_dict["identity"][0]

    child = child_register(
        user=centre_nurse,
        centre=centre,
        identity_type="personnummer",
        identity=f"{twelve[2:8]}-{twelve[8:]}",
    )
    assert (child.identity, child.birth_date) == (twelve, yesterday)


def test_samordningsnummer_is_stored_with_its_day_plus_sixty_and_the_real_birth_date(
    centre: Centre, centre_nurse: User
) -> None:
    twelve = pnr_parts(PNR_BORN, coordination=True)
    assert twelve[6:8] == "61"

    child = child_register(
        user=centre_nurse,
        centre=centre,
        identity_type="samordningsnummer",
        identity=f"{twelve[:8]}-{twelve[8:]}",
    )

    row = Child.objects.get(pk=child.pk)
    assert (row.identity_type, row.identity, row.birth_date) == (
        "samordningsnummer",
        twelve,
        PNR_BORN,
    )


def test_registering_a_child_twice_is_a_conflict_naming_the_existing_child(
    centre: Centre, centre_nurse: User
) -> None:
    twelve = pnr_parts(PNR_BORN)
    first = child_register(
        user=centre_nurse, centre=centre, identity_type="personnummer", identity=twelve
    )
    other_centre = CentreFactory(organisation=centre.organisation)

    with pytest.raises(Conflict) as exc:
        child_register(
            user=nurse_at(other_centre),
            centre=other_centre,
            identity_type="personnummer",
            identity=f"{twelve[2:8]}-{twelve[8:]}",
        )

    assert exc.value.extra["id"] == str(first.pk)
    assert Child.objects.count() == 1


def test_the_same_child_may_be_registered_in_another_organisation(
    centre: Centre, centre_nurse: User
) -> None:
    twelve = pnr_parts(PNR_BORN)
    child_register(user=centre_nurse, centre=centre, identity_type="personnummer", identity=twelve)
    elsewhere = CentreFactory()

    child_register(
        user=nurse_at(elsewhere), centre=elsewhere, identity_type="personnummer", identity=twelve
    )

    assert Child.objects.filter(identity=twelve).count() == 2


def test_wrong_check_digit_is_an_identity_error_and_nothing_is_saved(
    centre: Centre, centre_nurse: User
) -> None:
    twelve = pnr_parts(PNR_BORN)
    wrong = twelve[:-1] + str((int(twelve[-1]) + 1) % 10)

    with pytest.raises(ValidationError) as exc:
        child_register(
            user=centre_nurse, centre=centre, identity_type="personnummer", identity=wrong
        )

    assert "identity" in exc.value.message_dict
    assert Child.objects.count() == 0
    assert AccessLog.objects.count() == 0


def test_personnummer_with_another_birth_date_is_rejected(
    centre: Centre, centre_nurse: User
) -> None:
    with pytest.raises(ValidationError) as exc:
        child_register(
            user=centre_nurse,
            centre=centre,
            identity_type="personnummer",
            identity=pnr_parts(PNR_BORN),
            birth_date=PNR_BORN + DAY,
        )

    assert "birth_date" in exc.value.message_dict


@pytest.fixture
def reserve_centre() -> Centre:
    return CentreFactory(organisation=OrganisationFactory(reserve_number_pattern=r"RES-[0-9]{6}"))


def test_reservnummer_in_the_organisations_format_is_stored_as_given_upper_case(
    reserve_centre: Centre,
) -> None:
    born = TODAY - 20 * DAY

    child = child_register(
        user=nurse_at(reserve_centre),
        centre=reserve_centre,
        identity_type="reservnummer",
        identity=" res-123456 ",
        birth_date=born,
    )

    row = Child.objects.get(pk=child.pk)
    assert (row.identity_type, row.identity, row.birth_date) == ("reservnummer", "RES-123456", born)


def test_reservnummer_requires_a_birth_date(reserve_centre: Centre) -> None:
    with pytest.raises(ValidationError) as exc:
        child_register(
            user=nurse_at(reserve_centre),
            centre=reserve_centre,
            identity_type="reservnummer",
            identity="RES-123456",
        )

    assert "birth_date" in exc.value.message_dict
    assert Child.objects.count() == 0


def test_reservnummer_with_a_future_birth_date_is_rejected(reserve_centre: Centre) -> None:
    with pytest.raises(ValidationError) as exc:
        child_register(
            user=nurse_at(reserve_centre),
            centre=reserve_centre,
            identity_type="reservnummer",
            identity="RES-123456",
            birth_date=TODAY + DAY,
        )

    assert "birth_date" in exc.value.message_dict


def test_reservnummer_outside_the_organisations_format_is_rejected(
    reserve_centre: Centre,
) -> None:
    with pytest.raises(ValidationError) as exc:
        child_register(
            user=nurse_at(reserve_centre),
            centre=reserve_centre,
            identity_type="reservnummer",
            identity="RES-12345X",
            birth_date=TODAY - 20 * DAY,
        )

    assert "identity" in exc.value.message_dict
    assert Child.objects.count() == 0


def test_reservnummer_in_an_organisation_without_a_format_is_rejected(
    centre: Centre, centre_nurse: User
) -> None:
    with pytest.raises(ValidationError) as exc:
        child_register(
            user=centre_nurse,
            centre=centre,
            identity_type="reservnummer",
            identity="RES-123456",
            birth_date=TODAY - 20 * DAY,
        )

    assert "identity" in exc.value.message_dict


# --- enrolment_create -------------------------------------------------------------------------
@pytest.fixture
def child() -> Child:
    return ChildFactory(birth_date=TODAY - 30 * DAY)


@pytest.fixture
def template(child: Child) -> ProgrammeTemplate:
    return ProgrammeTemplateFactory(organisation=child.organisation)


def enrol(child: Child, template: ProgrammeTemplate, **kwargs: Any) -> Enrolment:
    fields: dict[str, Any] = {
        "centre": child.current_centre,
        "offered_on": child.birth_date,
        "accepted_on": child.birth_date,
        **kwargs,
    }
    return enrolment_create(
        user=nurse_at(fields["centre"]), child=child, template=template, **fields
    )


def enrol_refused(child: Child, template: ProgrammeTemplate, field: str, **kwargs: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        enrol(child, template, **kwargs)
    assert field in exc.value.message_dict, exc.value.message_dict
    assert not Enrolment.objects.filter(child=child).exists()


def test_enrolment_is_created_at_the_childs_current_centre(
    child: Child, template: ProgrammeTemplate
) -> None:
    enrolment = enrol(child, template, eligibility=["risk_factors"])

    row = Enrolment.objects.get(pk=enrolment.pk)
    assert (row.centre_id, row.template_id, row.eligibility) == (
        child.current_centre_id,
        template.pk,
        ["risk_factors"],
    )
    assert row.is_active


def test_enrolment_at_another_centre_than_the_childs_is_rejected(
    child: Child, template: ProgrammeTemplate
) -> None:
    other = CentreFactory(organisation=child.organisation)

    enrol_refused(child, template, "centre", centre=other)


def test_template_of_another_organisation_is_rejected(child: Child) -> None:
    foreign = ProgrammeTemplateFactory()

    enrol_refused(child, foreign, "template")


def test_superseded_template_is_rejected(child: Child, template: ProgrammeTemplate) -> None:
    newer = ProgrammeTemplateFactory(organisation=child.organisation, name=template.name, version=2)
    template.superseded_by = newer
    template.save(update_fields=["superseded_by"])

    enrol_refused(child, template, "template")
    assert enrol(child, newer).template_id == newer.pk


def test_partial_programme_without_slots_is_rejected(
    child: Child, template: ProgrammeTemplate
) -> None:
    enrol_refused(child, template, "planned_slots", programme="partial", planned_slots=[])


def test_partial_programme_with_unknown_slots_is_rejected(
    child: Child, template: ProgrammeTemplate
) -> None:
    enrol_refused(
        child, template, "planned_slots", programme="partial", planned_slots=["2m", "99m"]
    )


def test_partial_programme_keeps_its_planned_slots(
    child: Child, template: ProgrammeTemplate
) -> None:
    enrolment = enrol(child, template, programme="partial", planned_slots=["2m", "8m", "2m"])

    assert Enrolment.objects.get(pk=enrolment.pk).planned_slots == ["2m", "8m"]


def test_full_programme_with_planned_slots_is_rejected(
    child: Child, template: ProgrammeTemplate
) -> None:
    enrol_refused(child, template, "planned_slots", programme="full", planned_slots=["2m"])


def test_accepted_before_offered_is_rejected(child: Child, template: ProgrammeTemplate) -> None:
    enrol_refused(
        child,
        template,
        "accepted_on",
        offered_on=child.birth_date + 5 * DAY,
        accepted_on=child.birth_date + 4 * DAY,
    )


def test_offer_in_the_future_is_rejected(child: Child, template: ProgrammeTemplate) -> None:
    enrol_refused(child, template, "offered_on", offered_on=TODAY + DAY, accepted_on=None)


@pytest.mark.parametrize("accepted", [True, False], ids=["accepted", "offered-only"])
def test_a_second_open_enrolment_is_a_conflict(
    child: Child, template: ProgrammeTemplate, accepted: bool
) -> None:
    enrol(child, template, accepted_on=child.birth_date if accepted else None)

    with pytest.raises(Conflict):
        enrol(child, template)

    assert Enrolment.objects.filter(child=child).count() == 1


def test_a_new_enrolment_after_a_declined_one_is_allowed(
    child: Child, template: ProgrammeTemplate
) -> None:
    EnrolmentFactory(child=child, template=template, accepted_on=None, declined_on=child.birth_date)

    enrol(child, template)

    assert Enrolment.objects.filter(child=child).count() == 2


# --- enrolment_end with `moved` ---------------------------------------------------------------
def test_moving_a_child_ends_the_enrolment_and_changes_its_current_centre(
    enrolment: Enrolment, nurse: User
) -> None:
    visit = log_visit(enrolment, nurse, date=IN_2M, slot="2m")
    old_centre = enrolment.centre
    new_centre = CentreFactory(organisation=old_centre.organisation)
    new_nurse = nurse_at(new_centre)

    enrolment_end(
        user=nurse, enrolment=enrolment, ended_on=TODAY, reason="moved", moved_to=new_centre
    )

    row = Enrolment.objects.get(pk=enrolment.pk)
    assert (row.ended_on, row.end_reason, row.moved_to_id) == (TODAY, "moved", new_centre.pk)
    assert row.centre_id == old_centre.pk
    assert stored(visit).centre_id == old_centre.pk
    assert Child.objects.get(pk=enrolment.child_id).current_centre_id == new_centre.pk
    # The new centre's nurses see the child; the old centre keeps its history.
    assert list(Child.objects.for_user(new_nurse)) == [enrolment.child]
    assert not Child.objects.for_user(nurse).exists()
    assert list(Enrolment.objects.for_user(nurse)) == [row]
    assert list(Visit.objects.for_user(nurse)) == [visit]
    assert not Enrolment.objects.for_user(new_nurse).exists()
    assert not Visit.objects.for_user(new_nurse).exists()
    # ... and may enrol it there.
    moved_child = Child.objects.get(pk=enrolment.child_id)
    again = enrolment_create(
        user=new_nurse,
        child=moved_child,
        centre=new_centre,
        template=enrolment.template,
        offered_on=TODAY,
        accepted_on=TODAY,
    )
    assert again.centre_id == new_centre.pk


def test_moving_without_a_centre_is_rejected(enrolment: Enrolment, nurse: User) -> None:
    with pytest.raises(ValidationError) as exc:
        enrolment_end(user=nurse, enrolment=enrolment, ended_on=TODAY, reason="moved")

    assert "moved_to" in exc.value.message_dict
    assert Enrolment.objects.get(pk=enrolment.pk).ended_on is None


def test_moving_to_a_centre_of_another_organisation_is_rejected(
    enrolment: Enrolment, nurse: User
) -> None:
    foreign = CentreFactory()

    with pytest.raises(ValidationError) as exc:
        enrolment_end(
            user=nurse, enrolment=enrolment, ended_on=TODAY, reason="moved", moved_to=foreign
        )

    assert "moved_to" in exc.value.message_dict
    assert Enrolment.objects.get(pk=enrolment.pk).ended_on is None
    assert Child.objects.get(pk=enrolment.child_id).current_centre_id == enrolment.centre_id


def test_a_centre_to_move_to_with_another_reason_is_rejected(
    enrolment: Enrolment, nurse: User
) -> None:
    other = CentreFactory(organisation=enrolment.centre.organisation)

    with pytest.raises(ValidationError) as exc:
        enrolment_end(
            user=nurse, enrolment=enrolment, ended_on=TODAY, reason="completed", moved_to=other
        )

    assert "moved_to" in exc.value.message_dict


# --- The extension point (funding's hook) -----------------------------------------------------
class FakeHook:
    def __init__(self) -> None:
        self.refuse = False
        self.fail_after_save = False
        self.checks: list[tuple[bool, bool]] = []  # (adjustment, row already in the database)
        self.saved: list[Visit] = []

    def check(self, visit: Visit, adjustment: bool) -> None:
        self.checks.append((adjustment, Visit.objects.filter(pk=visit.pk).exists()))
        if self.refuse:
            raise Conflict("Månaden är betald.")

    def after_save(self, visit: Visit) -> None:
        self.saved.append(Visit.objects.get(pk=visit.pk))
        if self.fail_after_save:
            raise RuntimeError("the compensation could not be computed")


@pytest.fixture
def hook() -> Iterator[FakeHook]:
    fake = FakeHook()
    extension.register_visit_hook(fake)
    yield fake
    extension.unregister_visit_hook(fake)


def visit_input(**fields: Any) -> VisitInput:
    return VisitInput(**{"date": IN_2M, "place": "home", "status": "completed", **fields})


def test_hook_refusal_is_a_conflict_and_nothing_is_saved(
    enrolment: Enrolment, nurse: User, hook: FakeHook
) -> None:
    hook.refuse = True

    with pytest.raises(Conflict):
        visit_log(user=nurse, enrolment=enrolment, data=visit_input(slot="2m"))

    assert hook.checks == [(False, False)]
    assert hook.saved == []
    assert Visit.objects.count() == 0
    assert AccessLog.objects.count() == 0


def test_hook_refusal_of_an_update_leaves_the_visit_as_it_was(
    enrolment: Enrolment, nurse: User, hook: FakeHook
) -> None:
    visit = visit_log(user=nurse, enrolment=enrolment, data=visit_input())
    hook.refuse = True

    with pytest.raises(Conflict):
        visit_update(user=nurse, visit=visit, changes={"status": "cancelled"})

    assert stored(visit).status == "completed"
    assert visit.events.count() == 1
    assert visit.status == "completed"  # the caller's object shows what is stored


def test_hook_after_save_sees_the_saved_visit(
    enrolment: Enrolment, nurse: User, hook: FakeHook
) -> None:
    visit = visit_log(
        user=nurse, enrolment=enrolment, data=visit_input(social_services_present=True)
    )

    assert hook.checks == [(False, False)]
    assert [v.pk for v in hook.saved] == [visit.pk]
    assert hook.saved[0].kva_codes == [ZV509]


def test_hook_receives_the_adjustment_flag(
    enrolment: Enrolment, nurse: User, hook: FakeHook
) -> None:
    visit = visit_log(user=nurse, enrolment=enrolment, data=visit_input(), adjustment=True)
    visit_update(user=nurse, visit=visit, changes={"place": "clinic"})
    visit_update(user=nurse, visit=visit, changes={"place": "home"}, adjustment=True)

    assert [adjustment for adjustment, _ in hook.checks] == [True, False, True]


def test_a_failing_after_save_undoes_the_visit(
    enrolment: Enrolment, nurse: User, hook: FakeHook
) -> None:
    hook.fail_after_save = True

    with pytest.raises(RuntimeError):
        visit_log(user=nurse, enrolment=enrolment, data=visit_input())

    assert len(hook.saved) == 1  # it was written, then rolled back with the hook's failure
    assert Visit.objects.count() == 0
    assert AccessLog.objects.count() == 0
