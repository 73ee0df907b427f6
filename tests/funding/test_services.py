"""The application workflow of fixed compensation (DOMAIN.md 4.2, API.md "Fixed-compensation
applications"): creating and editing the plan, eligibility at submission, decisions, who may
decide, the history of transitions and the e-mail sent after commit."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from core.exceptions import Conflict
from core.models import Membership, Role, User
from funding.applications import (
    application_approve,
    application_create,
    application_reject,
    application_request_changes,
    application_submit,
    application_update,
    application_withdraw,
)
from funding.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    CniKind,
    FixedCompensationScheme,
    TransitionKind,
)
from funding.selectors import centre_eligibility, scheme_in_force
from tests.core.factories import CentreFactory, OrganisationFactory, UserFactory, member
from tests.funding.factories import cni, draft, plan

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
# "Today" for every test here: a noon instant, far from midnight in both UTC and Stockholm.
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM)
TODAY = NOW.date()
YEAR = TODAY.year

S = ApplicationStatus


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(NOW, tick=False):
        yield


def person(role: str, email: str | None = None, **where: object) -> User:
    user = UserFactory.create(email=email or "")
    return member(role, user=user, **where)


@pytest.fixture
def org():
    return OrganisationFactory()


@pytest.fixture
def centre(org):
    return CentreFactory(organisation=org)


@pytest.fixture
def manager(centre):
    return person(Role.CENTRE_MANAGER, "chef@bvc.example", centre=centre)


@pytest.fixture
def nurse(centre):
    return person(Role.NURSE, "bvc-ssk@bvc.example", centre=centre)


@pytest.fixture
def cbhv(org):
    return person(Role.CBHV, "cbhv@region.example", organisation=org)


@pytest.fixture
def app(centre, manager):
    return draft(centre, by=manager)


@pytest.fixture
def submitted(app, manager):
    return application_submit(user=manager, application=app)


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def fresh(application: Application) -> Application:
    return Application.objects.get(pk=application.pk)


def kinds(application: Application) -> list[str]:
    return list(application.transitions.values_list("kind", flat=True))


def in_state(status: str, app, manager, cbhv) -> Application:
    """Drive `app` (a draft) into `status` through the services."""
    if status == S.DRAFT:
        return app
    app = application_submit(user=manager, application=app)
    if status == S.SUBMITTED:
        return app
    if status == S.CHANGES_REQUESTED:
        return application_request_changes(user=cbhv, application=app, comment="Fler timmar")
    if status == S.APPROVED:
        return application_approve(user=cbhv, application=app)
    if status == S.REJECTED:
        return application_reject(user=cbhv, application=app, reason="Räcker inte")
    if status == S.WITHDRAWN:
        return application_withdraw(user=manager, application=app)
    raise AssertionError(status)


# --- Create -----------------------------------------------------------------------------------
class TestCreate:
    def test_a_new_application_is_a_draft_recorded_as_created(self, centre, manager):
        application = application_create(user=manager, centre=centre, year=YEAR, plan=plan())

        assert application.status == S.DRAFT
        assert application.created_by == manager
        assert not application.approved
        (created,) = application.transitions.all()
        assert (created.kind, created.by, created.at) == (TransitionKind.CREATED, manager, NOW)

    def test_the_current_and_later_years_are_accepted(self, centre, manager):
        application_create(user=manager, centre=centre, year=YEAR, plan=plan())
        application_create(
            user=manager,
            centre=centre,
            year=YEAR + 1,
            plan=plan(start_date=datetime.date(YEAR + 1, 1, 1)),
        )

        assert set(Application.objects.values_list("year", flat=True)) == {YEAR, YEAR + 1}

    def test_a_year_in_the_past_is_refused_on_year(self, centre, manager):
        with pytest.raises(ValidationError) as exc:
            application_create(user=manager, centre=centre, year=YEAR - 1, plan=plan())

        assert set(errors_of(exc)) == {"year"}
        assert not Application.objects.exists()

    def test_the_year_is_the_stockholm_year_not_the_utc_year(self, centre, manager):
        # 00:30 on New Year's Day in Stockholm is still 31 December in UTC.
        new_year = datetime.datetime(YEAR + 1, 1, 1, 0, 30, tzinfo=STOCKHOLM)
        with time_machine.travel(new_year, tick=False), pytest.raises(ValidationError) as exc:
            application_create(user=manager, centre=centre, year=YEAR, plan=plan(start_date=TODAY))

        assert set(errors_of(exc)) == {"year"}

    def test_a_second_application_for_the_same_centre_and_year_is_a_conflict(self, centre, manager):
        first = application_create(user=manager, centre=centre, year=YEAR, plan=plan())

        with pytest.raises(Conflict):
            application_create(user=manager, centre=centre, year=YEAR, plan=plan())

        assert list(Application.objects.all()) == [first]
        assert ApplicationTransition.objects.count() == 1

    def test_other_centres_and_other_years_are_not_duplicates(self, org, centre, manager):
        application_create(user=manager, centre=centre, year=YEAR, plan=plan())
        other = CentreFactory(organisation=org)
        other_manager = member(Role.CENTRE_MANAGER, centre=other)
        application_create(user=other_manager, centre=other, year=YEAR, plan=plan())
        application_create(
            user=manager,
            centre=centre,
            year=YEAR + 1,
            plan=plan(start_date=datetime.date(YEAR + 1, 3, 1)),
        )

        assert Application.objects.count() == 3

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"nurse_hours_per_week": Decimal("0")}, "nurse_hours_per_week"),
            ({"nurse_hours_per_week": Decimal("-4")}, "nurse_hours_per_week"),
            ({"nurse_hours_per_week": Decimal("80.1")}, "nurse_hours_per_week"),
            ({"planned_visits": 0}, "planned_visits"),
            ({"programme": "partial", "planned_slots": []}, "planned_slots"),
            ({"programme": "partial", "planned_slots": ["  ", ""]}, "planned_slots"),
            ({"programme": "some"}, "programme"),
            ({"target_families": ""}, "target_families"),
            ({"target_families": "   \n"}, "target_families"),
            ({"transport": "horse"}, "transport"),
            ({"transport": ""}, "transport"),
            (
                {"social_services_contacted": True, "social_services_contact": "  "},
                "social_services_contact",
            ),
            ({"start_date": datetime.date(YEAR + 1, 1, 1)}, "start_date"),
        ],
    )
    def test_an_invalid_plan_is_refused_on_its_field(self, centre, manager, overrides, field):
        with pytest.raises(ValidationError) as exc:
            application_create(user=manager, centre=centre, year=YEAR, plan=plan(**overrides))

        assert set(errors_of(exc)) == {field}
        assert not Application.objects.exists()

    def test_every_invalid_field_is_reported_at_once(self, centre, manager):
        bad = plan(
            nurse_hours_per_week=Decimal("0"),
            planned_visits=0,
            target_families="",
            transport="horse",
            social_services_contacted=True,
            social_services_contact="",
        )
        with pytest.raises(ValidationError) as exc:
            application_create(user=manager, centre=centre, year=YEAR, plan=bad)

        assert set(errors_of(exc)) == {
            "nurse_hours_per_week",
            "planned_visits",
            "target_families",
            "transport",
            "social_services_contact",
        }

    def test_the_edges_of_a_valid_plan_are_accepted(self, centre, manager):
        application = application_create(
            user=manager,
            centre=centre,
            year=YEAR,
            plan=plan(
                nurse_hours_per_week=Decimal("80"),
                planned_visits=1,
                social_services_contacted=False,
                social_services_contact="",
                transport="bicycle",
            ),
        )

        assert application.nurse_hours_per_week == Decimal("80")
        assert application.social_services_contact == ""

    def test_a_partial_programme_keeps_its_slots_trimmed_and_once_each(self, centre, manager):
        application = application_create(
            user=manager,
            centre=centre,
            year=YEAR,
            plan=plan(programme="partial", planned_slots=[" 2m", "4m", "2m", " "]),
        )

        assert fresh(application).planned_slots == ["2m", "4m"]

    def test_a_full_programme_keeps_no_slots(self, centre, manager):
        application = application_create(
            user=manager,
            centre=centre,
            year=YEAR,
            plan=plan(programme="full", planned_slots=["2m"]),
        )

        assert fresh(application).planned_slots == []


# --- Update -----------------------------------------------------------------------------------
class TestUpdate:
    @pytest.mark.parametrize("status", [S.DRAFT, S.CHANGES_REQUESTED])
    def test_the_plan_can_be_changed_in_draft_and_when_changes_are_requested(
        self, app, manager, nurse, cbhv, status
    ):
        app = in_state(status, app, manager, cbhv)

        application_update(
            user=nurse, application=app, plan=plan(planned_visits=140, transport="walking")
        )

        app = fresh(app)
        assert (app.status, app.planned_visits, app.transport) == (status, 140, "walking")
        last = app.transitions.last()
        assert (last.kind, last.by) == (TransitionKind.UPDATED, nurse)

    @pytest.mark.parametrize("status", [S.SUBMITTED, S.APPROVED, S.REJECTED, S.WITHDRAWN])
    def test_the_plan_is_frozen_in_other_states(self, app, manager, cbhv, status):
        app = in_state(status, app, manager, cbhv)
        before = app.transitions.count()

        with pytest.raises(Conflict):
            application_update(user=manager, application=app, plan=plan(planned_visits=140))

        assert fresh(app).planned_visits == 100
        assert app.transitions.count() == before

    def test_an_invalid_update_changes_nothing(self, app, manager):
        with pytest.raises(ValidationError) as exc:
            application_update(user=manager, application=app, plan=plan(planned_visits=0))

        assert set(errors_of(exc)) == {"planned_visits"}
        assert fresh(app).planned_visits == 100
        assert kinds(app) == [TransitionKind.CREATED]


# --- Submit and eligibility -------------------------------------------------------------------
def new_draft(centre, manager, year: int = YEAR) -> Application:
    """A draft without touching the centre's CNI (the factory would add one)."""
    return application_create(
        user=manager, centre=centre, year=year, plan=plan(start_date=datetime.date(year, 2, 1))
    )


def refusal(centre, manager, year: int = YEAR) -> str:
    application = new_draft(centre, manager, year)
    with pytest.raises(ValidationError) as exc:
        application_submit(user=manager, application=application)
    errors = errors_of(exc)
    assert set(errors) == {"centre"}
    assert fresh(application).status == S.DRAFT
    assert kinds(application) == [TransitionKind.CREATED]
    return " ".join(errors["centre"])


class TestSubmit:
    def test_a_centre_above_the_threshold_submits(self, centre, manager):
        cni(centre, "2.01")
        application = new_draft(centre, manager)

        application_submit(user=manager, application=application)

        application = fresh(application)
        assert application.status == S.SUBMITTED
        assert (application.submitted_by, application.submitted_at) == (manager, NOW)
        assert kinds(application) == [TransitionKind.CREATED, TransitionKind.SUBMITTED]

    @pytest.mark.parametrize("value", ["2.00", "1.99", "0.40"])
    def test_a_centre_at_or_below_the_threshold_is_refused_naming_cni_and_threshold(
        self, centre, manager, value
    ):
        cni(centre, value)

        message = refusal(centre, manager)

        assert value.replace(".", ",") in message  # Swedish decimal comma
        assert "2,00" in message

    def test_a_centre_without_any_child_cni_is_refused_naming_the_threshold(self, centre, manager):
        message = refusal(centre, manager)

        assert "2,00" in message

    def test_a_plain_cni_is_not_a_child_cni(self, centre, manager):
        cni(centre, "3.40", kind=CniKind.CNI)

        refusal(centre, manager)

    def test_the_latest_child_cni_counts_not_an_older_higher_one(self, centre, manager):
        cni(centre, "3.50", reference_date=datetime.date(2024, 12, 31))
        cni(centre, "1.80", reference_date=datetime.date(2025, 12, 31))
        cni(centre, "2.90", reference_date=datetime.date(2023, 12, 31))

        message = refusal(centre, manager)

        assert "1,80" in message
        assert "3.50" not in message

    def test_a_newer_child_cni_above_the_threshold_makes_the_centre_eligible(self, centre, manager):
        cni(centre, "1.50", reference_date=datetime.date(2024, 12, 31))
        cni(centre, "2.40", reference_date=datetime.date(2025, 12, 31))
        application = new_draft(centre, manager)

        application_submit(user=manager, application=application)

        assert fresh(application).status == S.SUBMITTED

    def test_another_centres_cni_does_not_count(self, org, centre, manager):
        cni(CentreFactory(organisation=org), "3.00")

        refusal(centre, manager)

    def test_without_any_scheme_the_threshold_is_two(self, org):
        scheme = scheme_in_force(organisation_id=org.pk, year=YEAR)

        assert scheme.threshold == Decimal("2.00")
        assert scheme.pk is None

    def test_a_scheme_from_an_earlier_year_is_carried_forward(self, org, centre, manager):
        FixedCompensationScheme.objects.create(
            organisation=org, from_year=2024, threshold=Decimal("3.00")
        )
        cni(centre, "2.50")

        message = refusal(centre, manager)

        assert "2,50" in message
        assert "3,00" in message

    def test_the_years_own_scheme_overrides_an_earlier_one(self, org, centre, manager):
        FixedCompensationScheme.objects.create(
            organisation=org, from_year=2024, threshold=Decimal("3.00")
        )
        FixedCompensationScheme.objects.create(
            organisation=org, from_year=YEAR, threshold=Decimal("2.00")
        )
        cni(centre, "2.50")
        application = new_draft(centre, manager)

        application_submit(user=manager, application=application)

        assert fresh(application).status == S.SUBMITTED

    def test_the_latest_earlier_scheme_wins_and_a_later_one_does_not_apply_yet(self, org, centre):
        for from_year, threshold in [(2023, "1.00"), (2025, "2.60"), (YEAR + 1, "1.50")]:
            FixedCompensationScheme.objects.create(
                organisation=org, from_year=from_year, threshold=Decimal(threshold)
            )
        cni(centre, "2.55")

        assert scheme_in_force(organisation_id=org.pk, year=YEAR).threshold == Decimal("2.60")
        assert not centre_eligibility(centre, YEAR).eligible
        assert centre_eligibility(centre, YEAR + 1).eligible

    def test_eligibility_follows_the_scheme_of_the_applications_year(self, org, centre, manager):
        FixedCompensationScheme.objects.create(
            organisation=org, from_year=YEAR + 1, threshold=Decimal("3.00")
        )
        cni(centre, "2.50")

        message = refusal(centre, manager, year=YEAR + 1)

        assert "3,00" in message
        this_year = new_draft(centre, manager, YEAR)
        application_submit(user=manager, application=this_year)
        assert fresh(this_year).status == S.SUBMITTED

    def test_another_organisations_scheme_does_not_apply(self, centre, manager):
        FixedCompensationScheme.objects.create(
            organisation=OrganisationFactory(), from_year=2024, threshold=Decimal("5.00")
        )
        cni(centre, "2.50")
        application = new_draft(centre, manager)

        application_submit(user=manager, application=application)

        assert fresh(application).status == S.SUBMITTED

    @pytest.mark.parametrize("status", [S.SUBMITTED, S.APPROVED, S.REJECTED, S.WITHDRAWN])
    def test_submitting_in_another_state_is_a_conflict(self, app, manager, cbhv, status):
        app = in_state(status, app, manager, cbhv)
        before = kinds(app)

        with pytest.raises(Conflict):
            application_submit(user=manager, application=app)

        assert fresh(app).status == status
        assert kinds(app) == before

    def test_a_resubmission_is_recorded_as_such(self, app, manager, nurse, cbhv):
        app = in_state(S.CHANGES_REQUESTED, app, manager, cbhv)

        application_submit(user=nurse, application=app)

        app = fresh(app)
        assert app.status == S.SUBMITTED
        assert app.submitted_by == nurse
        assert kinds(app) == [
            TransitionKind.CREATED,
            TransitionKind.SUBMITTED,
            TransitionKind.CHANGES_REQUESTED,
            TransitionKind.RESUBMITTED,
        ]

    def test_eligibility_is_checked_again_at_resubmission(self, centre, app, manager, cbhv):
        app = in_state(S.CHANGES_REQUESTED, app, manager, cbhv)
        cni(centre, "1.90", reference_date=datetime.date(2026, 3, 31))

        with pytest.raises(ValidationError) as exc:
            application_submit(user=manager, application=app)

        assert set(errors_of(exc)) == {"centre"}
        assert fresh(app).status == S.CHANGES_REQUESTED


# --- Decisions --------------------------------------------------------------------------------
class TestRequestChanges:
    def test_cbhv_sends_a_submitted_application_back_with_a_comment(self, submitted, cbhv):
        application_request_changes(user=cbhv, application=submitted, comment="  Fler timmar ")

        app = fresh(submitted)
        assert app.status == S.CHANGES_REQUESTED
        last = app.transitions.last()
        assert (last.kind, last.by, last.at, last.comment) == (
            TransitionKind.CHANGES_REQUESTED,
            cbhv,
            NOW,
            "Fler timmar",
        )

    @pytest.mark.parametrize("comment", ["", "   "])
    def test_a_comment_is_required(self, submitted, cbhv, comment):
        with pytest.raises(ValidationError) as exc:
            application_request_changes(user=cbhv, application=submitted, comment=comment)

        assert set(errors_of(exc)) == {"comment"}
        assert fresh(submitted).status == S.SUBMITTED

    @pytest.mark.parametrize(
        "status", [S.DRAFT, S.CHANGES_REQUESTED, S.APPROVED, S.REJECTED, S.WITHDRAWN]
    )
    def test_only_a_submitted_application_can_be_sent_back(self, app, manager, cbhv, status):
        app = in_state(status, app, manager, cbhv)

        with pytest.raises(Conflict):
            application_request_changes(user=cbhv, application=app, comment="Mer")

        assert fresh(app).status == status


class TestApprove:
    def test_approval_records_the_decision(self, submitted, cbhv):
        application_approve(user=cbhv, application=submitted, comment=" Bra plan ")

        app = fresh(submitted)
        assert app.status == S.APPROVED
        assert app.approved
        assert (app.decided_by, app.decided_at, app.decision_comment) == (cbhv, NOW, "Bra plan")
        last = app.transitions.last()
        assert (last.kind, last.by, last.at, last.comment) == (
            TransitionKind.APPROVED,
            cbhv,
            NOW,
            "Bra plan",
        )

    def test_effective_from_defaults_to_the_decision_date_after_the_start(
        self, centre, manager, cbhv
    ):
        app = draft(centre, by=manager, start_date=datetime.date(YEAR, 2, 1))
        app = application_submit(user=manager, application=app)

        application_approve(user=cbhv, application=app)

        assert fresh(app).effective_from == TODAY

    def test_effective_from_defaults_to_a_later_start_date(self, centre, manager, cbhv):
        app = draft(centre, by=manager, start_date=datetime.date(YEAR, 9, 1))
        app = application_submit(user=manager, application=app)

        application_approve(user=cbhv, application=app)

        assert fresh(app).effective_from == datetime.date(YEAR, 9, 1)

    def test_the_default_decision_date_is_the_stockholm_date(self, centre, manager, cbhv):
        app = draft(centre, by=manager, start_date=datetime.date(YEAR, 2, 1))
        app = application_submit(user=manager, application=app)
        # 00:30 on 1 July in Stockholm is still 30 June in UTC.
        with time_machine.travel(datetime.datetime(YEAR, 7, 1, 0, 30, tzinfo=STOCKHOLM)):
            application_approve(user=cbhv, application=app)

        assert fresh(app).effective_from == datetime.date(YEAR, 7, 1)

    @pytest.mark.parametrize(
        "day", [datetime.date(YEAR, 1, 1), datetime.date(YEAR, 3, 3), datetime.date(YEAR, 12, 31)]
    )
    def test_cbhv_may_set_another_effective_date_within_the_year(self, submitted, cbhv, day):
        application_approve(user=cbhv, application=submitted, effective_from=day)

        assert fresh(submitted).effective_from == day

    @pytest.mark.parametrize(
        "day", [datetime.date(YEAR - 1, 12, 31), datetime.date(YEAR + 1, 1, 1)]
    )
    def test_an_effective_date_outside_the_year_is_refused(self, submitted, cbhv, day):
        with pytest.raises(ValidationError) as exc:
            application_approve(user=cbhv, application=submitted, effective_from=day)

        assert set(errors_of(exc)) == {"effective_from"}
        app = fresh(submitted)
        assert (app.status, app.approved, app.effective_from) == (S.SUBMITTED, False, None)
        assert kinds(app)[-1] == TransitionKind.SUBMITTED

    def test_next_years_application_decided_this_year_starts_on_its_start_date(
        self, centre, manager, cbhv
    ):
        app = draft(centre, by=manager, year=YEAR + 1, start_date=datetime.date(YEAR + 1, 1, 1))
        app = application_submit(user=manager, application=app)

        application_approve(user=cbhv, application=app)

        assert fresh(app).effective_from == datetime.date(YEAR + 1, 1, 1)

    def test_a_default_effective_date_never_falls_outside_the_year(self, centre, manager, cbhv):
        app = draft(centre, by=manager, year=YEAR + 1, start_date=datetime.date(YEAR, 9, 1))
        app = application_submit(user=manager, application=app)

        application_approve(user=cbhv, application=app)

        assert fresh(app).effective_from == datetime.date(YEAR + 1, 1, 1)

    @pytest.mark.parametrize(
        "status", [S.DRAFT, S.CHANGES_REQUESTED, S.APPROVED, S.REJECTED, S.WITHDRAWN]
    )
    def test_only_a_submitted_application_can_be_approved(self, app, manager, cbhv, status):
        app = in_state(status, app, manager, cbhv)

        with pytest.raises(Conflict):
            application_approve(user=cbhv, application=app)

        assert fresh(app).status == status


class TestReject:
    def test_rejection_records_the_reason(self, submitted, cbhv):
        application_reject(user=cbhv, application=submitted, reason=" CNI för lågt ")

        app = fresh(submitted)
        assert app.status == S.REJECTED
        assert not app.approved
        assert app.effective_from is None
        assert (app.decided_by, app.decided_at, app.decision_comment) == (
            cbhv,
            NOW,
            "CNI för lågt",
        )
        last = app.transitions.last()
        assert (last.kind, last.by, last.comment) == (TransitionKind.REJECTED, cbhv, "CNI för lågt")

    @pytest.mark.parametrize("reason", ["", " \n "])
    def test_a_reason_is_required(self, submitted, cbhv, reason):
        with pytest.raises(ValidationError) as exc:
            application_reject(user=cbhv, application=submitted, reason=reason)

        assert set(errors_of(exc)) == {"reason"}
        assert fresh(submitted).status == S.SUBMITTED

    @pytest.mark.parametrize(
        "status", [S.DRAFT, S.CHANGES_REQUESTED, S.APPROVED, S.REJECTED, S.WITHDRAWN]
    )
    def test_only_a_submitted_application_can_be_rejected(self, app, manager, cbhv, status):
        app = in_state(status, app, manager, cbhv)

        with pytest.raises(Conflict):
            application_reject(user=cbhv, application=app, reason="Nej")

        assert fresh(app).status == status


class TestWithdraw:
    @pytest.mark.parametrize("status", [S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED, S.APPROVED])
    def test_the_centre_may_withdraw_from_every_open_state(self, app, manager, cbhv, status):
        app = in_state(status, app, manager, cbhv)

        application_withdraw(user=manager, application=app)

        app = fresh(app)
        assert app.status == S.WITHDRAWN
        assert (app.withdrawn_at, app.withdrawn_on) == (NOW, TODAY)
        last = app.transitions.last()
        assert (last.kind, last.by, last.at) == (TransitionKind.WITHDRAWN, manager, NOW)

    @pytest.mark.parametrize("status", [S.REJECTED, S.WITHDRAWN])
    def test_a_rejected_or_withdrawn_application_cannot_be_withdrawn(
        self, app, manager, cbhv, status
    ):
        app = in_state(status, app, manager, cbhv)
        before = fresh(app)

        with pytest.raises(Conflict):
            application_withdraw(user=manager, application=app)

        after = fresh(app)
        assert (after.status, after.withdrawn_at) == (status, before.withdrawn_at)
        assert kinds(after) == kinds(before)

    def test_a_withdrawn_approval_keeps_its_decision(self, app, manager, cbhv):
        app = in_state(S.APPROVED, app, manager, cbhv)

        application_withdraw(user=manager, application=app)

        app = fresh(app)
        assert app.approved
        assert (app.decided_by, app.decided_at, app.effective_from) == (cbhv, NOW, TODAY)

    def test_the_withdrawal_day_is_the_stockholm_day(self, app, manager):
        # 00:30 on 1 August in Stockholm is 31 July in UTC.
        late = datetime.datetime(YEAR, 8, 1, 0, 30, tzinfo=STOCKHOLM)
        with time_machine.travel(late, tick=False):
            application_withdraw(user=manager, application=app)

        assert fresh(app).withdrawn_on == datetime.date(YEAR, 8, 1)


# --- Who may decide ---------------------------------------------------------------------------
DECISIONS = {
    "request_changes": lambda user, app: application_request_changes(
        user=user, application=app, comment="Mer"
    ),
    "approve": lambda user, app: application_approve(user=user, application=app),
    "reject": lambda user, app: application_reject(user=user, application=app, reason="Nej"),
}


def reloaded(user: User) -> User:
    """The user as a new request sees them (memberships are cached on the object)."""
    return User.objects.get(pk=user.pk)


@pytest.mark.parametrize("decide", DECISIONS.values(), ids=DECISIONS.keys())
class TestWhoDecides:
    def assert_refused(self, decide, user, app) -> None:
        before = kinds(app)
        with pytest.raises(PermissionDenied):
            decide(user, app)
        assert fresh(app).status == S.SUBMITTED
        assert kinds(app) == before

    def test_cbhv_of_the_organisation_decides(self, decide, submitted, cbhv):
        decide(cbhv, submitted)

        assert fresh(submitted).status != S.SUBMITTED

    def test_a_nurse_may_not_decide(self, decide, submitted, nurse):
        self.assert_refused(decide, nurse, submitted)

    def test_the_centre_manager_may_not_decide(self, decide, submitted, manager):
        self.assert_refused(decide, manager, submitted)

    @pytest.mark.parametrize("role", [Role.FINANCE, Role.ADMIN, Role.LOG_REVIEWER])
    def test_other_organisation_roles_may_not_decide(self, decide, org, submitted, role):
        self.assert_refused(decide, person(role, organisation=org), submitted)

    def test_cbhv_of_another_organisation_may_not_decide(self, decide, submitted):
        outsider = person(Role.CBHV, organisation=OrganisationFactory())

        self.assert_refused(decide, outsider, submitted)

    @pytest.mark.parametrize("role", [Role.NURSE, Role.CENTRE_MANAGER])
    def test_cbhv_who_works_at_the_centre_may_not_decide(
        self, decide, centre, submitted, cbhv, role
    ):
        member(role, centre=centre, user=cbhv)

        self.assert_refused(decide, reloaded(cbhv), submitted)

    def test_cbhv_who_drafted_the_application_may_not_decide(self, decide, centre, manager, cbhv):
        # A CBHV coordinator who also managed the centre drafted it, then left the centre.
        member(Role.CENTRE_MANAGER, centre=centre, user=cbhv)
        app = draft(centre, by=cbhv)
        app = application_submit(user=manager, application=app)
        Membership.objects.filter(user=cbhv, centre=centre).delete()

        self.assert_refused(decide, reloaded(cbhv), app)

    def test_cbhv_who_submitted_the_application_may_not_decide(self, decide, centre, app, cbhv):
        member(Role.NURSE, centre=centre, user=cbhv)
        app = application_submit(user=reloaded(cbhv), application=app)
        Membership.objects.filter(user=cbhv, centre=centre).delete()

        self.assert_refused(decide, reloaded(cbhv), app)

    def test_cbhv_who_submitted_before_a_resubmission_may_not_decide(
        self, decide, org, centre, app, manager, cbhv
    ):
        member(Role.NURSE, centre=centre, user=cbhv)
        app = application_submit(user=reloaded(cbhv), application=app)
        Membership.objects.filter(user=cbhv, centre=centre).delete()
        colleague = person(Role.CBHV, organisation=org)
        app = application_request_changes(user=colleague, application=app, comment="Mer")
        app = application_submit(user=manager, application=app)

        self.assert_refused(decide, reloaded(cbhv), app)

    def test_the_submitter_is_checked_on_the_current_row_not_a_stale_copy(
        self, decide, centre, app, cbhv
    ):
        stale = Application.objects.get(pk=app.pk)  # read while still a draft
        member(Role.NURSE, centre=centre, user=cbhv)
        application_submit(user=reloaded(cbhv), application=app)
        Membership.objects.filter(user=cbhv, centre=centre).delete()

        with pytest.raises(PermissionDenied):
            decide(reloaded(cbhv), stale)

    def test_permission_is_checked_before_the_state(self, decide, app, nurse):
        # API.md: 403 answers before 409.
        with pytest.raises(PermissionDenied):
            decide(nurse, app)


# --- History ----------------------------------------------------------------------------------
def test_every_transition_is_recorded_with_who_when_and_why(org, centre, app, manager, nurse):
    first, second = (person(Role.CBHV, organisation=org) for _ in range(2))
    times = [NOW + datetime.timedelta(days=d) for d in range(6)]

    with time_machine.travel(times[0], tick=False):
        app = application_submit(user=nurse, application=app)
    with time_machine.travel(times[1], tick=False):
        app = application_request_changes(user=first, application=app, comment="Fler besök")
    with time_machine.travel(times[2], tick=False):
        app = application_update(user=manager, application=app, plan=plan(planned_visits=150))
    with time_machine.travel(times[3], tick=False):
        app = application_submit(user=manager, application=app)
    with time_machine.travel(times[4], tick=False):
        app = application_approve(user=second, application=app, comment="Beviljas")
    with time_machine.travel(times[5], tick=False):
        app = application_withdraw(user=manager, application=app)

    history = [(t.kind, t.by, t.at, t.comment) for t in fresh(app).transitions.all()]
    assert history == [
        (TransitionKind.CREATED, manager, NOW, ""),
        (TransitionKind.SUBMITTED, nurse, times[0], ""),
        (TransitionKind.CHANGES_REQUESTED, first, times[1], "Fler besök"),
        (TransitionKind.UPDATED, manager, times[2], ""),
        (TransitionKind.RESUBMITTED, manager, times[3], ""),
        (TransitionKind.APPROVED, second, times[4], "Beviljas"),
        (TransitionKind.WITHDRAWN, manager, times[5], ""),
    ]


def test_a_refused_transition_records_nothing(submitted, nurse, cbhv):
    for attempt in (
        lambda: application_approve(user=nurse, application=submitted),
        lambda: application_reject(user=cbhv, application=submitted, reason=""),
        lambda: application_submit(user=nurse, application=submitted),
    ):
        with pytest.raises((PermissionDenied, ValidationError, Conflict)):
            attempt()

    assert kinds(submitted) == [TransitionKind.CREATED, TransitionKind.SUBMITTED]


# --- E-mail -----------------------------------------------------------------------------------
@pytest.fixture
def audience(org, centre, manager, nurse, cbhv):
    """Everyone who might get mail, with addresses; only some of them should."""
    other_org = OrganisationFactory()
    return {
        "cbhv": cbhv,
        "cbhv2": person(Role.CBHV, "cbhv2@region.example", organisation=org),
        "cbhv_no_address": person(Role.CBHV, organisation=org),
        "finance": person(Role.FINANCE, "ekonomi@region.example", organisation=org),
        "other_cbhv": person(Role.CBHV, "cbhv@annan.example", organisation=other_org),
        "manager": manager,
        "nurse": nurse,
        "other_nurse": person(
            Role.NURSE, "ssk@annan-bvc.example", centre=CentreFactory(organisation=org)
        ),
    }


def recipients(mailoutbox) -> list[str]:
    return sorted(address for mail in mailoutbox for address in mail.to)


class TestMail:
    def test_a_submission_mails_the_organisations_cbhv_after_commit(
        self, app, manager, audience, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            application_submit(user=manager, application=app)

        assert recipients(mailoutbox) == ["cbhv2@region.example", "cbhv@region.example"]
        assert all(app.centre.name in mail.subject for mail in mailoutbox)

    def test_a_resubmission_mails_cbhv_too(
        self, app, manager, audience, mailoutbox, django_capture_on_commit_callbacks
    ):
        app = in_state(S.CHANGES_REQUESTED, app, manager, audience["cbhv"])
        with django_capture_on_commit_callbacks(execute=True):
            application_submit(user=manager, application=app)

        assert recipients(mailoutbox) == ["cbhv2@region.example", "cbhv@region.example"]

    @pytest.mark.parametrize("decide", DECISIONS.values(), ids=DECISIONS.keys())
    def test_a_decision_mails_the_centres_staff_after_commit(
        self, submitted, audience, decide, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            decide(audience["cbhv"], submitted)

        assert recipients(mailoutbox) == ["bvc-ssk@bvc.example", "chef@bvc.example"]

    def test_nothing_is_sent_before_commit(
        self, app, manager, audience, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            app = application_submit(user=manager, application=app)
            application_approve(user=audience["cbhv"], application=app)

        assert len(callbacks) == 2
        assert mailoutbox == []

    def test_nothing_is_sent_when_the_transaction_rolls_back(
        self, app, manager, audience, mailoutbox, django_capture_on_commit_callbacks
    ):
        with (
            django_capture_on_commit_callbacks(execute=True) as callbacks,
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            application_submit(user=manager, application=app)
            raise RuntimeError("the request fails after the service returned")

        assert callbacks == []
        assert mailoutbox == []
        assert fresh(app).status == S.DRAFT
        assert kinds(app) == [TransitionKind.CREATED]

    def test_a_refused_transition_sends_nothing(
        self, submitted, audience, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(ValidationError):
                application_reject(user=audience["cbhv"], application=submitted, reason="")
            with pytest.raises(PermissionDenied):
                application_approve(user=audience["nurse"], application=submitted)

        assert callbacks == []
        assert mailoutbox == []

    def test_mail_carries_no_child_data(
        self, centre, manager, audience, mailoutbox, django_capture_on_commit_callbacks
    ):
        from tests.visits.factories import ChildFactory

        child = ChildFactory(current_centre=centre, given_name="Hemliga", family_name="Barnsson")
        secret_family = "Familjen Hemligsson på Storgatan 5"
        app = draft(centre, by=manager, target_families=secret_family)
        cbhv = audience["cbhv"]

        with django_capture_on_commit_callbacks(execute=True):
            app = application_submit(user=manager, application=app)
        with django_capture_on_commit_callbacks(execute=True):
            app = application_request_changes(user=cbhv, application=app, comment="Barnsson?")
        with django_capture_on_commit_callbacks(execute=True):
            app = application_submit(user=manager, application=app)
        with django_capture_on_commit_callbacks(execute=True):
            app = application_approve(user=cbhv, application=app)
        with django_capture_on_commit_callbacks(execute=True):
            application_withdraw(user=manager, application=app)

        assert len(mailoutbox) >= 5
        for mail in mailoutbox:
            text = f"{mail.subject}\n{mail.body}"
            for secret in (
                child.identity,
                child.identity[2:],
                child.given_name,
                child.family_name,
                "Hemligsson",
                "Storgatan",
            ):
                assert secret not in text


@pytest.mark.parametrize("role", [Role.CBHV, Role.FINANCE, Role.ADMIN])
def test_only_the_centres_own_staff_draft_submit_and_withdraw(role):
    centre = CentreFactory()
    outsider = member(role, organisation=centre.organisation)
    colleague = member(Role.NURSE, centre=CentreFactory(organisation=centre.organisation))
    for user in (outsider, colleague):
        with pytest.raises(PermissionDenied):
            application_create(user=user, centre=centre, year=YEAR, plan=plan())
    app = application_create(
        user=member(Role.NURSE, centre=centre), centre=centre, year=YEAR, plan=plan()
    )
    for user in (outsider, colleague):
        with pytest.raises(PermissionDenied):
            application_submit(user=user, application=app)
        with pytest.raises(PermissionDenied):
            application_withdraw(user=user, application=app)
        with pytest.raises(PermissionDenied):
            application_update(user=user, application=app, plan=plan())
    assert Application.objects.get(pk=app.pk).status == "draft"
