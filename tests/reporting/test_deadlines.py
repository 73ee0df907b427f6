"""The deadline overview and its reminders (issue 18, items 9 and 11; API.md "Reports";
DOMAIN.md 4.2, 4.3 and 5): which deadlines exist, their states on given days, who sees them,
and that each reminder (30, 7 and 1 days before) is mailed once."""

from __future__ import annotations

import base64
import datetime
import re
import threading
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Role
from funding import ledger
from funding.applications import (
    application_approve,
    application_reject,
    application_submit,
    application_withdraw,
)
from funding.models import Application, ApplicationStatus, Grant
from reporting.deadlines import (
    Deadline,
    all_deadlines,
    deadlines_for,
    send_deadline_reminders,
)
from reporting.models import ReminderSent, ReportKind, ReportRun
from reporting.tasks import send_deadline_reminders_task
from tests.core.factories import CentreFactory, OrganisationFactory, UserFactory, member
from tests.funding.factories import draft

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
API = "/api/v1/deadlines/"
PAGE = "/rapporter/att-rapportera/"
D = datetime.date
# The 2023 Socialstyrelsen grant of the demo: use by 2023-12-31, report due 2024-03-01.
REPORT_DUE = D(2024, 3, 1)
IDENTITY = re.compile(r"\d{6,8}[-+]?\d{4}")


def noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, 12, 0, tzinfo=STOCKHOLM)


def on(day: datetime.date) -> time_machine.travel:
    return time_machine.travel(noon(day), tick=False)


def person(role: str, email: str = "", **where: object):
    user = UserFactory.create(email=email)
    return member(role, user=user, **where)  # type: ignore[arg-type]


def make_grant(org, by, *, reference="23RS9581", funder="socialstyrelsen", year=2023, **dates):
    return ledger.grant_create(
        user=by,
        organisation=org,
        funder=funder,
        reference=reference,
        year=year,
        amount=Decimal("1349000.00"),
        received_on=dates.get("received_on", D(year, 3, 1)),
        use_by=dates.get("use_by", D(year, 12, 31)),
        report_due=dates.get("report_due", D(year + 1, 3, 1)),
    )


def submitted_run(kind, *, organisation, year, by, grant=None, centre=None, submitted=True):
    return ReportRun.objects.create(
        kind=kind,
        organisation=organisation,
        year=year,
        grant=grant,
        centre=centre,
        requested_by=by,
        status="done",
        file_name="run.pdf",
        sha256="0" * 64,
        finished_at=timezone.now(),
        submitted_at=timezone.now() if submitted else None,
        submitted_by=by if submitted else None,
    )


def approved_directly(centre, year, *, by, withdrawn_on=None):
    """An approved application written as the services leave one (for volume tests)."""
    return Application.objects.create(
        centre=centre,
        year=year,
        status=ApplicationStatus.WITHDRAWN if withdrawn_on else ApplicationStatus.APPROVED,
        approved=True,
        decided_at=timezone.now(),
        decided_by=by,
        effective_from=D(year, 1, 1),
        withdrawn_on=withdrawn_on,
        withdrawn_at=noon(withdrawn_on) if withdrawn_on else None,
        nurse_hours_per_week=Decimal("8.0"),
        social_services_contacted=False,
        planned_visits=10,
        programme="full",
        target_families="Alla",
        start_date=D(year, 1, 1),
        transport="car",
        created_by=by,
    )


@pytest.fixture
def org():
    return OrganisationFactory(name="Region Örebro län")


@pytest.fixture
def other_org():
    return OrganisationFactory(name="Linköpings kommun")


@pytest.fixture
def finance(org):
    return person(Role.FINANCE, "ekonomi@region.example", organisation=org)


@pytest.fixture
def cbhv(org):
    return person(Role.CBHV, "cbhv@region.example", organisation=org)


@pytest.fixture
def centre(org):
    return CentreFactory(organisation=org, name="Varberga")


@pytest.fixture
def nurse(centre):
    return person(Role.NURSE, "bvc@region.example", centre=centre)


@pytest.fixture
def other_finance(other_org):
    return person(Role.FINANCE, "ekonomi@kommun.example", organisation=other_org)


@pytest.fixture
def grant(org, finance):
    with on(D(2023, 3, 1)):
        return make_grant(org, finance)


def by_key(deadlines: list[Deadline]) -> dict[str, Deadline]:
    return {d.key: d for d in deadlines}


# --- Deadlines and their states ---------------------------------------------------------------
class TestGrantDeadlines:
    def test_a_socialstyrelsen_grant_owes_a_report_and_its_use_by_date(self, grant, finance):
        found = by_key(deadlines_for(finance, D(2023, 6, 1)))
        report = found[f"grant_report:{grant.pk}"]
        use_by = found[f"use_by:{grant.pk}"]
        assert set(found) == {report.key, use_by.key}
        assert (report.kind, report.due, report.status, report.report) == (
            "grant_report",
            REPORT_DUE,
            "open",
            None,
        )
        assert report.subject == "Socialstyrelsen 23RS9581 (2023)"
        assert report.title == "Återrapportering till Socialstyrelsen"
        assert report.organisation == grant.organisation_id
        assert (use_by.kind, use_by.due, use_by.status) == ("use_by", D(2023, 12, 31), "open")

    @pytest.mark.parametrize(
        ("today", "status"),
        [(D(2024, 2, 29), "open"), (REPORT_DUE, "open"), (D(2024, 3, 2), "overdue")],
    )
    def test_the_report_is_overdue_only_after_its_due_day(self, grant, finance, today, status):
        with on(today):
            [report] = [d for d in deadlines_for(finance) if d.kind == "grant_report"]
        assert report.status == status

    def test_a_submitted_report_answers_it_even_after_the_due_day(self, grant, finance, org):
        run = submitted_run(
            ReportKind.SOCIALSTYRELSEN, organisation=org, year=2023, by=finance, grant=grant
        )
        with on(D(2024, 6, 1)):
            [report] = [d for d in deadlines_for(finance) if d.kind == "grant_report"]
        assert (report.status, report.report) == ("submitted", run.pk)

    def test_a_run_that_is_done_but_not_submitted_does_not_answer_it(self, grant, finance, org):
        submitted_run(
            ReportKind.SOCIALSTYRELSEN,
            organisation=org,
            year=2023,
            by=finance,
            grant=grant,
            submitted=False,
        )
        [report] = [d for d in deadlines_for(finance, D(2024, 6, 1)) if d.kind == "grant_report"]
        assert (report.status, report.report) == ("overdue", None)

    def test_another_grants_report_does_not_answer_it(self, grant, finance, org):
        with on(D(2023, 3, 1)):
            second = make_grant(org, finance, reference="23RS9999")
        submitted_run(
            ReportKind.SOCIALSTYRELSEN, organisation=org, year=2023, by=finance, grant=second
        )
        found = by_key(deadlines_for(finance, D(2024, 6, 1)))
        assert found[f"grant_report:{grant.pk}"].status == "overdue"
        assert found[f"grant_report:{second.pk}"].status == "submitted"

    def test_the_use_by_date_is_settled_by_closing_the_grant(self, grant, finance):
        assert (
            by_key(deadlines_for(finance, D(2024, 1, 2)))[f"use_by:{grant.pk}"].status == "overdue"
        )
        ledger.grant_close(user=finance, grant=grant)
        use_by = by_key(deadlines_for(finance, D(2024, 1, 2)))[f"use_by:{grant.pk}"]
        assert (use_by.status, use_by.report) == ("submitted", None)

    def test_an_skl_agreement_owes_its_final_report(self, org, finance):
        with on(D(2018, 3, 1)):
            skl = make_grant(
                org,
                finance,
                funder="skl",
                reference="SKL-2018",
                year=2018,
                report_due=D(2019, 2, 15),
            )
        report = by_key(deadlines_for(finance, D(2019, 1, 1)))[f"grant_report:{skl.pk}"]
        assert (report.title, report.due, report.status) == (
            "Slutrapport till SKL",
            D(2019, 2, 15),
            "open",
        )
        assert report.subject.endswith("SKL-2018 (2018)")
        run = submitted_run(ReportKind.SKL, organisation=org, year=2018, by=finance, grant=skl)
        assert (
            by_key(deadlines_for(finance, D(2019, 3, 1)))[f"grant_report:{skl.pk}"].report == run.pk
        )

    def test_the_regions_own_money_has_a_use_by_date_but_no_report(self, org, finance):
        with on(D(2024, 1, 1)):
            own = make_grant(org, finance, funder="region", reference="RS-2024", year=2024)
        assert set(by_key(deadlines_for(finance, D(2024, 6, 1)))) == {f"use_by:{own.pk}"}

    def test_sorted_by_due_date(self, org, finance):
        with on(D(2023, 3, 1)):
            make_grant(org, finance, reference="late", report_due=D(2024, 6, 1))
            make_grant(
                org, finance, reference="early", use_by=D(2023, 9, 30), report_due=D(2023, 12, 1)
            )
        dues = [d.due for d in deadlines_for(finance, D(2023, 6, 1))]
        assert dues == sorted(dues) and len(dues) == 4


class TestCentreAccounts:
    """A centre with fixed compensation in a year owes Hälsovalsenheten an annual account by
    31 January of the next year (DOMAIN.md 4.2)."""

    YEAR = 2026

    @pytest.fixture
    def manager(self, centre):
        return person(Role.CENTRE_MANAGER, centre=centre)

    @pytest.fixture
    def submitted(self, centre, manager):
        with on(D(self.YEAR, 1, 10)):
            app = draft(centre, by=manager, year=self.YEAR, start_date=D(self.YEAR, 1, 1))
            return application_submit(user=manager, application=app)

    @pytest.fixture
    def approved(self, submitted, cbhv):
        with on(D(self.YEAR, 1, 20)):
            return application_approve(user=cbhv, application=submitted)

    def accounts(self, user, today=None):
        return [
            d
            for d in deadlines_for(user, today or D(self.YEAR, 6, 1))
            if d.kind == "centre_account"
        ]

    def test_an_approved_centre_owes_its_account(self, approved, centre, cbhv):
        [account] = self.accounts(cbhv)
        assert account.key == f"centre_account:{centre.pk}:{self.YEAR}"
        assert (account.subject, account.due, account.status, account.report) == (
            "Varberga 2026",
            D(2027, 1, 31),
            "open",
            None,
        )
        assert account.title == "Årsredovisning till Hälsovalsenheten"
        assert self.accounts(cbhv, D(2027, 2, 1))[0].status == "overdue"

    def test_a_submitted_application_owes_nothing_yet(self, submitted, cbhv):
        assert self.accounts(cbhv) == []

    def test_a_rejected_application_owes_nothing(self, submitted, cbhv):
        with on(D(self.YEAR, 1, 20)):
            application_reject(user=cbhv, application=submitted, reason="CNI under tröskeln")
        assert self.accounts(cbhv) == []

    def test_withdrawn_before_it_took_effect_owes_nothing(self, submitted, cbhv, manager):
        with on(D(self.YEAR, 1, 20)):
            app = application_approve(
                user=cbhv, application=submitted, effective_from=D(self.YEAR, 3, 1)
            )
        with on(D(self.YEAR, 2, 1)):
            application_withdraw(user=manager, application=app)
        assert self.accounts(cbhv) == []

    def test_withdrawn_after_months_of_fixed_compensation_still_owes_it(
        self, approved, cbhv, manager
    ):
        with on(D(self.YEAR, 11, 1)):
            application_withdraw(user=manager, application=approved)
        assert [a.status for a in self.accounts(cbhv)] == ["open"]

    def test_the_centres_annual_account_answers_it_for_that_year_only(
        self, approved, centre, cbhv, org
    ):
        submitted_run(
            ReportKind.HALSOVAL, organisation=org, year=self.YEAR - 1, by=cbhv, centre=centre
        )
        assert self.accounts(cbhv)[0].status == "open"
        run = submitted_run(
            ReportKind.HALSOVAL, organisation=org, year=self.YEAR, by=cbhv, centre=centre
        )
        [account] = self.accounts(cbhv, D(self.YEAR + 1, 3, 1))
        assert (account.status, account.report) == ("submitted", run.pk)


# --- Scope ------------------------------------------------------------------------------------
class TestScope:
    def test_another_organisations_deadlines_are_never_shown(
        self, grant, finance, cbhv, other_org, other_finance, centre
    ):
        with on(D(2021, 3, 1)):
            theirs = make_grant(other_org, other_finance, reference="LKPG-2021", year=2021)
        approved_directly(CentreFactory(organisation=other_org), 2023, by=other_finance)
        approved_directly(centre, 2023, by=cbhv)
        for user in (finance, cbhv):
            keys = set(by_key(deadlines_for(user, D(2023, 6, 1))))
            assert keys == {
                f"grant_report:{grant.pk}",
                f"use_by:{grant.pk}",
                f"centre_account:{centre.pk}:2023",
            }
        assert {d.organisation for d in deadlines_for(other_finance, D(2023, 6, 1))} == {
            other_org.pk
        }
        assert f"use_by:{theirs.pk}" in by_key(deadlines_for(other_finance, D(2023, 6, 1)))

    def test_other_roles_see_none(self, grant, nurse, org):
        manager = person(Role.CENTRE_MANAGER, centre=CentreFactory(organisation=org))
        admin = person(Role.ADMIN, organisation=org)
        for user in (nurse, manager, admin):
            assert deadlines_for(user, D(2023, 6, 1)) == []


# --- API --------------------------------------------------------------------------------------
class TestApi:
    def test_lists_the_deadlines_in_the_contracts_shape(self, grant, finance, api_client_for, org):
        run = submitted_run(
            ReportKind.SOCIALSTYRELSEN, organisation=org, year=2023, by=finance, grant=grant
        )
        with on(D(2024, 1, 15)):
            response = api_client_for(finance).get(API)
        assert response.status_code == 200
        body = response.json()
        assert (body["next"], body["previous"]) == (None, None)
        assert body["results"] == [
            {
                "key": f"use_by:{grant.pk}",
                "kind": "use_by",
                "title": "Sista dag att använda bidraget",
                "subject": "Socialstyrelsen 23RS9581 (2023)",
                "organisation": str(org.pk),
                "due": "2023-12-31",
                "status": "overdue",
                "report": None,
            },
            {
                "key": f"grant_report:{grant.pk}",
                "kind": "grant_report",
                "title": "Återrapportering till Socialstyrelsen",
                "subject": "Socialstyrelsen 23RS9581 (2023)",
                "organisation": str(org.pk),
                "due": "2024-03-01",
                "status": "submitted",
                "report": str(run.pk),
            },
        ]

    def test_a_nurse_is_refused_and_an_anonymous_caller_asked_to_log_in(
        self, grant, nurse, api_client_for, client
    ):
        assert api_client_for(nurse).get(API).status_code == 403
        assert client.get(API).status_code == 401

    def test_cbhv_reads_them_too(self, grant, cbhv, api_client_for):
        assert len(api_client_for(cbhv).get(API).json()["results"]) == 2

    def test_filters_by_status_and_kind(self, grant, finance, api_client_for):
        client = api_client_for(finance)
        with on(D(2024, 1, 15)):
            assert [
                r["kind"] for r in client.get(API, {"status": "overdue"}).json()["results"]
            ] == ["use_by"]
            assert [
                r["status"] for r in client.get(API, {"kind": "grant_report"}).json()["results"]
            ] == ["open"]
            assert client.get(API, {"status": "open", "kind": "use_by"}).json()["results"] == []
            assert client.get(API, {"status": "late"}).status_code == 400
            assert client.get(API, {"kind": ""}).status_code == 400

    def test_pages_forward_and_back_with_a_cursor(self, org, finance, api_client_for):
        with on(D(2023, 3, 1)):
            for n in range(5):
                make_grant(
                    org, finance, funder="region", reference=f"R{n}", use_by=D(2023, 6, 1 + n)
                )
        client = api_client_for(finance)
        first = client.get(API, {"page_size": 2}).json()
        assert first["previous"] is None
        second = client.get(first["next"]).json()
        third = client.get(second["next"]).json()
        assert third["next"] is None
        seen = [r["due"] for page in (first, second, third) for r in page["results"]]
        assert seen == [f"2023-06-0{n}" for n in range(1, 6)]
        back = client.get(third["previous"]).json()
        assert back["results"] == second["results"]
        assert client.get(back["previous"]).json()["results"] == first["results"]
        assert client.get(API, {"cursor": "bm90LWEtY3Vyc29y"}).status_code == 404

    def test_a_cursor_is_core_s_and_a_page_stays_put_when_an_earlier_deadline_comes(
        self, org, finance, api_client_for
    ):
        with on(D(2023, 3, 1)):
            for n in range(4):
                make_grant(
                    org, finance, funder="region", reference=f"R{n}", use_by=D(2023, 6, 2 + n)
                )
        client = api_client_for(finance)
        first = client.get(API, {"page_size": 2}).json()
        with on(D(2023, 3, 1)):
            make_grant(org, finance, funder="region", reference="Tidig", use_by=D(2023, 6, 1))
        second = client.get(first["next"]).json()
        assert [r["due"] for r in second["results"]] == ["2023-06-04", "2023-06-05"]
        # A position that is no deadline's is a forged cursor, answered as core answers one.
        forged = base64.b64encode(b"p=2023-06-01").decode()
        assert client.get(API, {"cursor": forged}).status_code == 404
        assert client.get(API, {"page_size": "x"}).status_code == 400

    def test_query_count_does_not_grow_with_deadlines(self, org, finance, cbhv, api_client_for):
        client = api_client_for(finance)
        with on(D(2023, 3, 1)):
            make_grant(org, finance, reference="G0")
        approved_directly(CentreFactory(organisation=org), 2023, by=cbhv)
        submitted_run(
            ReportKind.SOCIALSTYRELSEN,
            organisation=org,
            year=2023,
            by=finance,
            grant=Grant.objects.get(),
        )
        with CaptureQueriesContext(connection) as one:
            assert len(client.get(API).json()["results"]) == 3
        with on(D(2023, 3, 1)):
            for n in range(1, 20):
                grant = make_grant(org, finance, reference=f"G{n}")
                submitted_run(
                    ReportKind.SOCIALSTYRELSEN, organisation=org, year=2023, by=finance, grant=grant
                )
        for _ in range(10):
            centre = CentreFactory(organisation=org)
            approved_directly(centre, 2023, by=cbhv)
            submitted_run(ReportKind.HALSOVAL, organisation=org, year=2023, by=cbhv, centre=centre)
        with CaptureQueriesContext(connection) as many:
            assert len(client.get(API, {"page_size": 200}).json()["results"]) == 51
        assert len(many) == len(one)


# --- Page -------------------------------------------------------------------------------------
class TestPage:
    def test_shows_what_is_due_and_says_overdue_in_words(self, grant, cbhv, client):
        client.force_login(cbhv)
        with on(D(2024, 3, 5)):
            response = client.get(PAGE)
        assert response.status_code == 200
        html = " ".join(response.content.decode().split())
        assert "Socialstyrelsen 23RS9581 (2023)" in html
        assert "Återrapportering till Socialstyrelsen" in html
        assert "Försenad" in html and "4 dagar sedan" in html
        assert "2 är försenade." in html
        assert html.index("2023-12-31") < html.index("2024-03-01")

    def test_links_to_the_report_that_answers_a_deadline(self, grant, finance, org, client):
        run = submitted_run(
            ReportKind.SOCIALSTYRELSEN, organisation=org, year=2023, by=finance, grant=grant
        )
        client.force_login(finance)
        html = client.get(PAGE).content.decode()
        assert "Inlämnad" in html
        assert f'href="/rapporter/{run.pk}/"' in html

    def test_filters_by_status(self, grant, finance, client):
        client.force_login(finance)
        with on(D(2024, 1, 15)):
            html = client.get(PAGE, {"status": "open"}).content.decode()
        assert "2024-03-01" in html and "2023-12-31" not in html

    def test_a_closed_grant_is_shown_as_closed_not_as_a_report(self, grant, finance, client):
        ledger.grant_close(user=finance, grant=grant)
        client.force_login(finance)
        with on(D(2024, 1, 15)):
            html = client.get(PAGE, {"kind": "use_by"}).content.decode()
        assert "Bidraget stängt" in html and "badge--overdue" not in html

    def test_a_nurse_is_refused(self, nurse, client):
        client.force_login(nurse)
        assert client.get(PAGE).status_code == 403


# --- Reminders --------------------------------------------------------------------------------
@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Run the reminder job on a day, delivering the mails it queues after commit."""

    def run(day: datetime.date) -> int:
        with on(day), django_capture_on_commit_callbacks(execute=True):
            return send_deadline_reminders()

    return run


@pytest.fixture
def audience(org, finance, cbhv, nurse, other_finance):
    """Who hears about the organisation's deadlines: its CBHV and finance users with an address
    (not the nurse, not another organisation, not a user without e-mail or an inactive one)."""
    person(Role.FINANCE, "", organisation=org)
    gone = person(Role.CBHV, "slutat@region.example", organisation=org)
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    return sorted([finance.email, cbhv.email])


class Sent:
    """One reminder as its recipients got it: the outbox sends one mail per recipient."""

    def __init__(self, subject: str, body: str, to: list[str]) -> None:
        self.subject, self.body, self.to = subject, body, to


def sent() -> list[Sent]:
    """mail.outbox with each reminder's per-recipient mails put back together, in order."""
    grouped: list[Sent] = []
    for message in mail.outbox:
        [address] = message.to  # one recipient per mail: nobody sees the others' addresses
        if grouped and (grouped[-1].subject, grouped[-1].body) == (message.subject, message.body):
            grouped[-1].to = sorted([*grouped[-1].to, address])
        else:
            grouped.append(Sent(message.subject, message.body, [address]))
    return grouped


def report_reminders() -> list[int]:
    return sorted(
        ReminderSent.objects.filter(deadline__startswith="grant_report:").values_list(
            "days_before", flat=True
        )
    )


class TestReminders:
    @pytest.fixture
    def closed_grant(self, grant, finance):
        """Closed, so that only its report is open (its use-by date is settled)."""
        ledger.grant_close(user=finance, grant=grant)
        return grant

    def test_each_is_sent_once_30_7_and_1_days_before(self, closed_grant, audience, send):
        for day in (D(2024, 1, 31), D(2024, 1, 31), D(2024, 2, 15), D(2024, 2, 23), D(2024, 2, 23)):
            send(day)
        assert len(sent()) == 2
        send(D(2024, 2, 29))
        send(D(2024, 2, 29))
        send(D(2024, 3, 1))  # due today: the 1-day reminder went yesterday
        send(D(2024, 3, 2))  # overdue: no reminders
        assert len(sent()) == 3
        assert report_reminders() == [1, 7, 30]
        for message in sent():
            assert sorted(message.to) == audience
            assert "Socialstyrelsen 23RS9581 (2023)" in message.subject
            assert "2024-03-01" in message.subject
        first, seven, one = sent()
        assert (
            "om 30 dagar" in first.body and "om 7 dagar" in seven.body and "om 1 dag)" in one.body
        )
        assert "http://testserver.example/rapporter/att-rapportera/" in first.body
        assert ReminderSent.objects.get(days_before=30).recipients == 2

    def test_a_missed_7_day_reminder_is_caught_up_but_never_the_30_day_one(
        self, closed_grant, audience, send
    ):
        send(D(2024, 2, 24))  # 6 days ahead; beat was down on the 23rd and before
        assert report_reminders() == [7]
        assert "om 6 dagar" in sent()[0].body
        send(D(2024, 2, 25))
        assert len(sent()) == 1
        send(D(2024, 3, 1))  # the 1-day reminder was missed too: due today still gets it
        assert report_reminders() == [1, 7]
        assert "i dag" in sent()[-1].body

    def test_a_late_registered_grant_gets_its_first_reminder_at_once(
        self, org, finance, audience, send
    ):
        with on(D(2023, 3, 1)):
            late = make_grant(org, finance, use_by=D(2023, 3, 31), report_due=D(2023, 4, 20))
            ledger.grant_close(user=finance, grant=late)
        send(D(2023, 4, 1))  # 19 days ahead
        assert report_reminders() == [30]
        send(D(2023, 4, 5))
        assert report_reminders() == [30]

    def test_no_mail_once_the_report_is_submitted(self, closed_grant, audience, finance, org, send):
        send(D(2024, 1, 31))
        submitted_run(
            ReportKind.SOCIALSTYRELSEN, organisation=org, year=2023, by=finance, grant=closed_grant
        )
        send(D(2024, 2, 23))
        send(D(2024, 2, 29))
        assert len(sent()) == 1
        assert report_reminders() == [30]

    def test_one_already_recorded_by_another_worker_is_not_sent_again(
        self, closed_grant, audience, send
    ):
        ReminderSent.objects.create(
            deadline=f"grant_report:{closed_grant.pk}", days_before=30, recipients=2
        )
        assert send(D(2024, 1, 31)) == 0
        assert sent() == []

    def test_every_kind_reminds_and_mails_stay_within_the_organisation(
        self, grant, centre, cbhv, audience, other_org, other_finance, send
    ):
        approved_directly(centre, 2023, by=cbhv)
        with on(D(2023, 3, 1)):
            make_grant(other_org, other_finance, reference="LKPG-2023")
        send(D(2023, 12, 30))  # use-by in 1 day for both grants; account and report far ahead
        assert sorted(m.to[0].split("@")[1] for m in sent()) == [
            "kommun.example",
            "region.example",
        ]
        mail.outbox.clear()
        send(D(2024, 1, 1))  # the centre account is due 2024-01-31: 30 days
        [account] = sent()
        assert sorted(account.to) == audience
        assert "Varberga 2023" in account.subject and "Hälsovalsenheten" in account.subject
        assert not IDENTITY.search(account.subject + account.body)

    def test_a_role_in_another_organisation_does_not_bring_its_mail(
        self, other_org, other_finance, nurse, send
    ):
        """The nurse of Varberga is also finance in the other organisation: she hears about its
        deadlines only, and her nursing gives her none of the region's."""
        member(Role.FINANCE, organisation=other_org, user=nurse)
        with on(D(2023, 3, 1)):
            make_grant(other_org, other_finance, reference="LKPG-2023")
        send(D(2023, 12, 30))
        [message] = sent()
        assert sorted(message.to) == sorted([nurse.email, other_finance.email])

    def test_nothing_is_recorded_for_an_organisation_without_anyone_to_tell(self, other_org, send):
        lone = UserFactory()
        with on(D(2023, 3, 1)):
            make_grant(other_org, member(Role.FINANCE, organisation=other_org, user=lone))
        send(D(2024, 1, 31))
        assert sent() == [] and not ReminderSent.objects.exists()

    def test_the_beat_task_runs_the_job(
        self, closed_grant, audience, django_capture_on_commit_callbacks
    ):
        with on(D(2024, 2, 23)), django_capture_on_commit_callbacks(execute=True):
            assert send_deadline_reminders_task.apply().get() == 1
        assert len(sent()) == 1
        assert send_deadline_reminders_task.name == "reporting.send_deadline_reminders"

    def test_the_job_reads_a_constant_number_of_queries(self, org, finance, cbhv):
        with on(D(2023, 3, 1)):
            make_grant(org, finance, reference="G0")
        with CaptureQueriesContext(connection) as one:
            all_deadlines(D(2023, 6, 1))
        with on(D(2023, 3, 1)):
            for n in range(1, 20):
                make_grant(org, finance, reference=f"G{n}")
        for _ in range(10):
            approved_directly(CentreFactory(organisation=org), 2023, by=cbhv)
        with CaptureQueriesContext(connection) as many:
            assert len(all_deadlines(D(2023, 6, 1))) == 50
        assert len(many) == len(one)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_reminder_once(settings):
    """Two beat workers running the job at the same moment: the unique row decides, and the
    loser's insert waits for the winner's transaction, then skips."""
    settings.SITE_URL = "http://testserver.example"
    org = OrganisationFactory()
    finance = person(Role.FINANCE, "ekonomi@region.example", organisation=org)
    with on(D(2023, 3, 1)):
        grant = make_grant(org, finance)
        ledger.grant_close(user=finance, grant=grant)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(send_deadline_reminders(D(2024, 2, 23)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1]
    assert len(sent()) == 1
    assert ReminderSent.objects.count() == 1


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = "http://testserver.example"
