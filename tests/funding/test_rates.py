"""Rates are data (API.md "Money at the edges"; DOMAIN.md 4.1): the compensation rules through
the API (`/api/v1/compensation-rules/`), the rates page (`/ersattning/regler/`) and the admin;
who reads and who adds, the 400s and the 409s, recomputation of the visits from the new date,
and constant query counts for the lists."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.exceptions import Conflict
from core.models import Centre, Organisation, Role, User
from funding.compensation import month_of, next_month, rule_set
from funding.models import CompensationRule, PaidMonth, VisitCompensation
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.test_compensation import d, rule, visit
from tests.visits.factories import ChildFactory, EnrolmentFactory, log_visit

pytestmark = pytest.mark.django_db

URL = "/api/v1/compensation-rules/"
PAGE = "/ersattning/regler/"
NBSP = "\xa0"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
# The demo's rates for Region Örebro län (funding/demo.py, seed 004).
DEMO_FROM = "2023-01-01"


def user(username: str) -> User:
    return User.objects.get(username=username)


def orebro() -> Organisation:
    return Organisation.objects.get(name="Region Örebro län")


def linkoping() -> Organisation:
    return Organisation.objects.get(name="Linköpings kommun")


def first_of_next_month() -> datetime.date:
    return next_month(month_of(timezone.localdate()))


def body(valid_from: datetime.date | str, pv: str = "2400.00", ordinary: str = "1800.00", org=None):
    return {
        "organisation": str((org or orebro()).pk),
        "valid_from": str(valid_from),
        "programme_variable": pv,
        "ordinary": ordinary,
    }


def kr(text: str) -> str:
    return text.replace(" ", NBSP)


@pytest.fixture
def cbhv(demo, api_client_for):
    return api_client_for(user("cbhv"))


# --- The list -----------------------------------------------------------------------------------
def test_the_demo_rates_of_orebro_are_listed_with_no_end(cbhv):
    response = cbhv.get(URL, {"organisation": str(orebro().pk)})
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [
        (r["valid_from"], r["valid_to"], r["programme_variable"], r["ordinary"]) for r in rows
    ] == [(DEMO_FROM, None, "2500.00", "1800.00")]
    assert response.json()["next"] is None


def test_each_organisation_sees_its_own_rules_only(demo, api_client_for):
    for username, organisation in (("cbhv", orebro()), ("finance_linkoping", linkoping())):
        rows = api_client_for(user(username)).get(URL).json()["results"]
        assert {r["organisation"] for r in rows} == {str(organisation.pk)}
    # Another organisation in the query is simply not among the caller's rules.
    other = api_client_for(user("cbhv")).get(URL, {"organisation": str(linkoping().pk)})
    assert other.status_code == 200 and other.json()["results"] == []


@pytest.mark.parametrize("username", ["cbhv", "finance", "admin", "manager_vivalla"])
def test_cbhv_finance_admin_and_centre_managers_read_the_rules(demo, api_client_for, username):
    assert api_client_for(user(username)).get(URL).status_code == 200


@pytest.mark.parametrize("username", ["nurse_vivalla", "logreviewer"])
def test_nurses_and_log_reviewers_may_not_read_the_rules(demo, api_client_for, username):
    assert api_client_for(user(username)).get(URL).status_code == 403


def test_anonymous_is_401(demo, client):
    assert client.get(URL).status_code == 401


def test_a_new_rule_ends_the_previous_one_and_year_picks_the_rules_in_force(cbhv):
    start = first_of_next_month()
    assert cbhv.post(URL, body(start), format="json").status_code == 201
    rows = cbhv.get(URL, {"organisation": str(orebro().pk)}).json()["results"]
    assert [(r["valid_from"], r["valid_to"], r["programme_variable"]) for r in rows] == [
        (str(start), None, "2400.00"),
        (DEMO_FROM, str(start - datetime.timedelta(days=1)), "2500.00"),
    ]
    in_year = {
        year: [r["valid_from"] for r in cbhv.get(URL, {"year": year}).json()["results"]]
        for year in (2022, 2023, start.year - 1, start.year)
    }
    assert in_year[2022] == []
    assert in_year[2023] == [DEMO_FROM]
    if start.month == 1:  # the old rule ended on 31 December: not in force in the new year
        assert in_year[start.year - 1] == [DEMO_FROM]
        assert in_year[start.year] == [str(start)]
    else:
        assert in_year[start.year] == [str(start), DEMO_FROM]


def test_a_query_parameter_that_is_not_a_year_is_a_400(cbhv):
    assert cbhv.get(URL, {"year": "next"}).status_code == 400
    assert cbhv.get(URL, {"organisation": ""}).status_code == 400


# --- Adding a rule ------------------------------------------------------------------------------
def test_cbhv_adds_2400_from_next_month_and_a_visit_after_it_earns_2400(cbhv):
    start = first_of_next_month()
    adolfsberg = Centre.objects.get(name="Adolfsberg")  # no fixed compensation
    enrolment = EnrolmentFactory(child=ChildFactory(current_centre=adolfsberg))
    before = log_visit(enrolment, date=timezone.localdate(), social_services_present=True)

    response = cbhv.post(URL, body(start), format="json")

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["organisation"] == str(orebro().pk)
    assert (created["valid_from"], created["valid_to"]) == (str(start), None)
    assert (created["programme_variable"], created["ordinary"]) == ("2400.00", "1800.00")
    assert created["created_by"] == "cbhv"
    new_rule = CompensationRule.objects.get(pk=created["id"])
    assert new_rule.programme_variable == Decimal("2400.00")
    with time_machine.travel(
        datetime.datetime(start.year, start.month, 15, 12, tzinfo=STOCKHOLM), tick=False
    ):
        after = log_visit(
            enrolment, date=start + datetime.timedelta(days=3), social_services_present=True
        )
        ordinary = log_visit(
            enrolment, date=start + datetime.timedelta(days=4), social_services_present=False
        )
    priced = VisitCompensation.objects.get(visit=after)
    assert (priced.type, priced.amount, priced.rule) == (
        "programme_variable",
        Decimal("2400.00"),
        new_rule,
    )
    assert VisitCompensation.objects.get(visit=ordinary).amount == Decimal("1800.00")
    # A visit before the new date keeps the demo's rate.
    assert VisitCompensation.objects.get(visit=before).amount == Decimal("2500.00")


def test_a_rule_from_the_unpaid_last_month_recomputes_its_visits(cbhv):
    """Last month awaits payment in the demo: a rule from its first day reprices its visits (no
    adjustments: nothing of it was paid); the paid months before it are untouched."""
    last_month = month_of(month_of(timezone.localdate()) - datetime.timedelta(days=1))
    in_org = VisitCompensation.objects.filter(centre__organisation=orebro())
    paid_before = list(
        in_org.filter(month__lt=last_month).order_by("pk").values_list("pk", "amount", "pv_amount")
    )
    assert in_org.filter(month=last_month, type="programme_variable").exists()

    response = cbhv.post(URL, body(last_month, pv="2600.00", ordinary="1900.00"), format="json")

    assert response.status_code == 201, response.content
    amounts = set(in_org.filter(month=last_month).values_list("type", "amount"))
    assert amounts <= {
        ("programme_variable", Decimal("2600.00")),
        ("ordinary", Decimal("1900.00")),
        ("none", Decimal("0.00")),
    }
    assert (
        list(
            in_org.filter(month__lt=last_month)
            .order_by("pk")
            .values_list("pk", "amount", "pv_amount")
        )
        == paid_before
    )


def test_a_rule_in_a_paid_month_is_409_and_nothing_is_stored(cbhv):
    paid = PaidMonth.objects.locked().filter(organisation=orebro()).order_by("-month").first().month
    before = CompensationRule.objects.count()
    for day in (paid, paid + datetime.timedelta(days=14), datetime.date(2024, 6, 1)):
        response = cbhv.post(URL, body(day), format="json")
        assert response.status_code == 409, day
        assert set(response.json()) == {"detail"}
        assert f"{paid:%Y-%m}" in response.json()["detail"]
    assert CompensationRule.objects.count() == before


def test_a_second_rule_from_the_same_date_is_409(cbhv):
    start = first_of_next_month()
    assert cbhv.post(URL, body(start), format="json").status_code == 201
    again = cbhv.post(URL, body(start, pv="2450.00"), format="json")
    assert again.status_code == 409
    assert set(again.json()) == {"detail"}
    kept = CompensationRule.objects.get(organisation=orebro(), valid_from=start)
    assert kept.programme_variable == Decimal("2400.00")


def test_admin_adds_a_rule(demo, api_client_for):
    response = api_client_for(user("admin")).post(URL, body(first_of_next_month()), format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("username", ["finance", "nurse_vivalla", "manager_vivalla"])
def test_only_cbhv_and_admin_add_rules(demo, api_client_for, username):
    response = api_client_for(user(username)).post(URL, body(first_of_next_month()), format="json")
    assert response.status_code == 403
    assert not CompensationRule.objects.filter(valid_from=first_of_next_month()).exists()


def test_a_403_comes_before_the_400(demo, api_client_for):
    response = api_client_for(user("finance")).post(URL, {}, format="json")
    assert response.status_code == 403


def test_another_organisation_is_400_on_organisation(cbhv):
    response = cbhv.post(URL, body(first_of_next_month(), org=linkoping()), format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"organisation"}
    assert not CompensationRule.objects.filter(
        organisation=linkoping(), valid_from__gt=datetime.date(2021, 1, 1)
    ).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"programme_variable": "-1.00"}, "programme_variable"),
        ({"ordinary": "-1800.00"}, "ordinary"),
        ({"programme_variable": "2400.001"}, "programme_variable"),
        ({"ordinary": "18 00"}, "ordinary"),
        ({"programme_variable": "123456789.00"}, "programme_variable"),
        ({"valid_from": "2026-13-01"}, "valid_from"),
        ({"valid_from": "1800-01-01"}, "valid_from"),
        ({"organisation": "not-a-uuid"}, "organisation"),
    ],
)
def test_bad_input_is_400_on_the_field(cbhv, changes, field):
    response = cbhv.post(URL, {**body(first_of_next_month()), **changes}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {field}


@pytest.mark.parametrize(
    "missing", ["organisation", "valid_from", "programme_variable", "ordinary"]
)
def test_a_missing_field_is_400_on_it(cbhv, missing):
    data = body(first_of_next_month())
    del data[missing]
    response = cbhv.post(URL, data, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {missing}


def test_a_400_comes_before_the_409(cbhv):
    response = cbhv.post(URL, body("2024-06-01", pv="-5.00"), format="json")
    assert response.status_code == 400


def test_a_zero_rate_is_allowed(cbhv):
    response = cbhv.post(URL, body(first_of_next_month(), pv="0.00"), format="json")
    assert response.status_code == 201
    assert response.json()["programme_variable"] == "0.00"


def test_the_idempotency_key_replays_the_answer(cbhv):
    data = body(first_of_next_month())
    first = cbhv.post(URL, data, format="json", headers={"Idempotency-Key": "rate-1"})
    second = cbhv.post(URL, data, format="json", headers={"Idempotency-Key": "rate-1"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert CompensationRule.objects.filter(valid_from=first_of_next_month()).count() == 1


# --- The service --------------------------------------------------------------------------------
def test_the_service_refuses_a_paid_month_and_more_than_two_decimals(demo):
    from django.core.exceptions import ValidationError

    paid = PaidMonth.objects.locked().filter(organisation=orebro()).order_by("-month").first()
    with pytest.raises(Conflict):
        rule_set(
            user=None,
            organisation=orebro(),
            valid_from=paid.month,
            programme_variable=Decimal("2400"),
            ordinary=Decimal("1800"),
        )
    with pytest.raises(ValidationError) as info:
        rule_set(
            user=None,
            organisation=orebro(),
            valid_from=first_of_next_month(),
            programme_variable=Decimal("2400.005"),
            ordinary=Decimal("-1"),
        )
    assert set(info.value.message_dict) == {"programme_variable", "ordinary"}


def test_a_rule_between_two_rules_reprices_only_its_own_period():
    """The new rule reaches up to the day before the next one; visits after that keep theirs."""
    org = OrganisationFactory()
    rule(org, valid_from=d(1, 1, 2023))
    rule(org, valid_from=d(6, 1), pv="3000", ordinary="2000")
    centre = CentreFactory(organisation=org)
    may, june = visit(centre, d(5, 10)), visit(centre, d(6, 10))
    with time_machine.travel(datetime.datetime(2026, 9, 15, 12, tzinfo=STOCKHOLM), tick=False):
        rule_set(
            user=None,
            organisation=org,
            valid_from=d(5, 1),
            programme_variable=Decimal("2700"),
            ordinary=Decimal("1850"),
        )
    assert VisitCompensation.objects.get(visit=may).amount == Decimal("2700.00")
    assert VisitCompensation.objects.get(visit=june).amount == Decimal("3000.00")


# --- Query counts ---------------------------------------------------------------------------------
def _rules(org: Organisation, n: int) -> None:
    existing = CompensationRule.objects.filter(organisation=org).count()
    CompensationRule.objects.bulk_create(
        CompensationRule(
            organisation=org,
            valid_from=datetime.date(2000, 1, 1) + datetime.timedelta(days=existing + i),
            programme_variable=Decimal("2500.00"),
            ordinary=Decimal("1800.00"),
            created_by=member(Role.CBHV, organisation=org) if i == 0 else None,
        )
        for i in range(n)
    )


def test_the_api_list_costs_the_same_for_1_and_50_rules(api_client_for):
    org = OrganisationFactory()
    client = api_client_for(member(Role.CBHV, organisation=org))
    counts = []
    for n in (1, 49):
        _rules(org, n)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(URL, {"page_size": 200})
        assert response.status_code == 200
        counts.append((len(response.json()["results"]), len(ctx.captured_queries)))
    assert [c[0] for c in counts] == [1, 50]
    assert counts[0][1] == counts[1][1]


@pytest.mark.parametrize("role", [Role.CBHV, Role.FINANCE])
def test_the_page_costs_the_same_for_1_and_50_rules(client, role):
    org = OrganisationFactory()
    client.force_login(member(role, organisation=org))
    counts = []
    for n in (1, 49):
        _rules(org, n)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(PAGE)
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


# --- The page -----------------------------------------------------------------------------------
@pytest.fixture
def as_user(client, demo):
    def log_in(username: str):
        client.force_login(user(username))
        return client

    return log_in


def test_cbhv_sees_the_rates_and_a_form_with_the_api_field_names(as_user):
    html = as_user("cbhv").get(PAGE).content.decode()
    assert DEMO_FROM in html
    assert kr("2 500,00 kr") in html and kr("1 800,00 kr") in html
    assert "tills vidare" in html
    for name in ("valid_from", "programme_variable", "ordinary"):
        assert f'name="{name}"' in html
    assert "räknas om" in html
    assert f'value="{first_of_next_month()}"' in html  # the first of next month, prefilled
    assert "Linköping" not in html


def test_cbhv_adds_a_rule_on_the_page(as_user):
    client = as_user("cbhv")
    start = first_of_next_month()
    response = client.post(
        PAGE,
        {"valid_from": str(start), "programme_variable": "2 400,00", "ordinary": "1800"},
        follow=True,
    )
    assert response.redirect_chain == [(PAGE, 302)]
    added = CompensationRule.objects.get(organisation=orebro(), valid_from=start)
    assert (added.programme_variable, added.ordinary) == (Decimal("2400.00"), Decimal("1800.00"))
    assert added.created_by == user("cbhv")
    html = response.content.decode()
    status = re.search(r'<div role="status"[^>]*>(.*?)</div>', html, re.S)
    assert status and kr("2 400,00 kr") in status.group(1)
    assert str(start) in status.group(1)
    # The table now ends the demo's rule the day before.
    assert str(start - datetime.timedelta(days=1)) in html


def test_errors_on_the_page_are_in_the_summary_and_on_the_fields(as_user):
    client = as_user("cbhv")
    response = client.post(
        PAGE,
        {"valid_from": str(first_of_next_month()), "programme_variable": "-1", "ordinary": ""},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert 'href="#id_programme_variable"' in html and 'href="#id_ordinary"' in html
    assert re.search(r'<input[^>]*name="programme_variable"[^>]*aria-invalid="true"', html)
    assert "Beloppet kan inte vara negativt." in html
    assert not CompensationRule.objects.filter(valid_from=first_of_next_month()).exists()


def test_a_paid_month_on_the_page_is_an_error_on_valid_from(as_user):
    client = as_user("cbhv")
    before = CompensationRule.objects.count()
    response = client.post(
        PAGE, {"valid_from": "2024-06-01", "programme_variable": "2400", "ordinary": "1800"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html and 'href="#id_valid_from"' in html
    assert re.search(r'<input[^>]*name="valid_from"[^>]*aria-invalid="true"', html)
    assert "betald och låst" in html
    assert CompensationRule.objects.count() == before


def test_finance_reads_the_rates_without_a_form_and_may_not_post(as_user):
    client = as_user("finance")
    html = client.get(PAGE).content.decode()
    assert kr("2 500,00 kr") in html
    assert 'name="valid_from"' not in html
    assert f'action="{PAGE}"' not in html
    response = client.post(
        PAGE,
        {"valid_from": str(first_of_next_month()), "programme_variable": "1", "ordinary": "1"},
    )
    assert response.status_code == 403
    assert not CompensationRule.objects.filter(valid_from=first_of_next_month()).exists()


def test_nurses_may_not_open_the_page(as_user):
    assert as_user("nurse_vivalla").get(PAGE).status_code == 403


def test_the_page_is_in_the_navigation_of_cbhv_and_finance_not_of_nurses(as_user):
    link = f'href="{PAGE}"'
    assert link in as_user("cbhv").get("/").content.decode()
    assert link in as_user("finance").get("/").content.decode()
    assert link not in as_user("nurse_vivalla").get("/").content.decode()


def test_the_page_has_no_inline_script_or_style(as_user):
    html = as_user("cbhv").get(PAGE).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


# --- Admin --------------------------------------------------------------------------------------
def test_the_admin_lists_her_organisations_rules_read_only_and_points_to_the_page(as_user):
    client = as_user("admin")
    html = client.get(reverse("admin:funding_compensationrule_changelist")).content.decode()
    assert "Region Örebro län" in html
    assert "Linköpings kommun" not in html
    assert f'href="{PAGE}"' in html
    assert client.get(reverse("admin:funding_compensationrule_add")).status_code == 403
    other = CompensationRule.objects.get(organisation=linkoping())
    url = reverse("admin:funding_compensationrule_change", args=[other.pk])
    assert client.get(url).status_code == 404
    own = CompensationRule.objects.get(organisation=orebro())
    url = reverse("admin:funding_compensationrule_change", args=[own.pk])
    html = client.get(url).content.decode()
    assert 'name="programme_variable"' not in html
