"""Bad input never answers 500 (issue 24, item 9): JSON bounded in size and depth and free of
lone surrogates, amounts only as strict decimal strings, plausible dates, a visit's PATCH
validated like a create. The sweeps are enumerated from the URL configuration, so a write
endpoint added later is covered without editing this file."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.test import APIClient

from core.api.fields import MoneyField
from core.api.parsers import MAX_DEPTH, BoundedJSONParser, nesting_depth
from core.dates import add_years
from core.models import Role, User
from core.money import MoneyFormatError, parse_money, parse_typed_money
from funding import ledger
from funding.models import Application, Grant, LedgerTransaction, PartnerAgreement
from reporting.models import ReportRun
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.visits.factories import nurse_at, personnummer
from visits.models import AccessLogSample, Child, Enrolment, Visit

TODAY = timezone.localdate

WRITE_METHODS = ("post", "put", "patch")
PERSONAS = ["nurse_vivalla", "manager_vivalla", "cbhv", "finance", "admin", "logreviewer"]
# The model behind a route's `pk`, by the route's name (the longest matching prefix wins). A
# new kind of object in a write route's path fails `test_every_write_route_is_swept` until it
# is named here.
PATH_OBJECTS: dict[str, type[models.Model]] = {
    "api-application": Application,
    "api-grant": Grant,
    "api-partner-agreement": PartnerAgreement,
    "api-child": Child,
    "api-enrolment": Enrolment,
    "api-visit": Visit,
    "api-report": ReportRun,
    "api-access-log-sample": AccessLogSample,
}

DEEP = "[" * 1000 + "]" * 1000
# A lone surrogate where each kind of endpoint has a choice field (the 13 endpoints of the
# finding answered 500 on one of these), in keys too.
SURROGATE = json.dumps(
    {
        name: "\ud800"
        for name in (
            "kind",
            "status",
            "place",
            "funder",
            "category",
            "recipient_type",
            "identity_type",
            "programme",
            "reason",
            "condition",
            "username",
            "mode",
        )
    }
    | {"\ud800": 1, "interpreter": {"mode": "\ud800"}, "eligibility": ["\ud800"]}
)
DEPTH_MESSAGE = "nästlad"
SURROGATE_MESSAGE = "inte kan lagras"


# --- The parser on its own -------------------------------------------------------------------
class _Stream:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        return self.data if size < 0 else self.data[:size]


def parse(text: str | bytes) -> Any:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return BoundedJSONParser().parse(_Stream(raw), "application/json", {})


def test_nesting_is_bounded_and_brackets_in_strings_do_not_count():
    assert parse("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(ParseError, match=DEPTH_MESSAGE):
        parse("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(ParseError, match=DEPTH_MESSAGE):
        parse('{"a": ' * 1000 + "1" + "}" * 1000)
    assert parse(json.dumps({"text": "[[[[" * 1000 + '\\"{{{'}))["text"].startswith("[[[[")
    assert nesting_depth('["]]]", [["\\"[[["]]]', limit=10) == 3


def test_the_depth_is_found_before_parsing_and_fast():
    # A megabyte of brackets: refused by the scan, never handed to the recursive parser.
    with pytest.raises(ParseError, match=DEPTH_MESSAGE):
        parse("[" * 500_000 + "]" * 500_000)


def test_lone_surrogates_and_nul_are_refused_anywhere_in_the_document():
    for text in (
        '"\\ud800"',
        '{"a": "x\\udfffy"}',
        '{"\\ud800": 1}',
        '[[{"a": ["\\udc00"]}]]',
        '{"a": "\\u0000"}',
    ):
        with pytest.raises(ParseError, match=SURROGATE_MESSAGE):
            parse(text)
    # A valid pair is one character, not a lone half.
    assert parse('{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}
    assert parse('{"a": "Åsa Öberg"}') == {"a": "Åsa Öberg"}


def test_invalid_utf8_and_non_json_constants_are_refused():
    for raw in (b'{"a": "\xed\xa0\x80"}', b'{"a": "\xff"}', b'{"a": NaN}', b"[Infinity]"):
        with pytest.raises(ParseError, match=r"UTF-8|JSON"):
            parse(raw)


def test_the_body_size_is_bounded(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    with pytest.raises(ParseError, match="för stort"):
        parse('"' + "a" * 200 + '"')
    assert parse('"' + "a" * 90 + '"') == "a" * 90


# --- Sweeps over every JSON write endpoint -----------------------------------------------------
def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            found.append((prefix + str(pattern.pattern), pattern))
    return found


def write_routes() -> list[tuple[str, str, str, type]]:
    """(route, name, method, view class) of every API view that takes a write method."""
    routes = []
    for route, pattern in _routes(get_resolver().url_patterns):
        view = getattr(pattern.callback, "cls", None)
        if view is None or not route.startswith("api/"):
            continue
        for method in WRITE_METHODS:
            if hasattr(view, method):
                routes.append((route, pattern.name or "", method, view))
    return routes


def _path_model(name: str) -> type[models.Model]:
    matches = [prefix for prefix in PATH_OBJECTS if name.startswith(prefix)]
    assert matches, f"{name}: name the model behind its pk in PATH_OBJECTS"
    return PATH_OBJECTS[max(matches, key=len)]


def _urls_for(route: str, name: str, user: User) -> list[str]:
    if "<" not in route:
        return ["/" + route]
    model = _path_model(name)
    manager: Any = model._default_manager
    rows = manager.for_user(user) if hasattr(manager, "for_user") else manager.all()
    ids = list(rows.order_by("pk").values_list("pk", flat=True)[:2]) or [uuid.uuid4()]
    return ["/" + route.replace("<uuid:pk>", str(pk)) for pk in ids]


def _documented_bodies() -> set[tuple[str, str]]:
    """(path, method) of the operations whose schema documents a request body."""
    schema = SchemaGenerator().get_schema(None, public=True)
    return {
        (path, method)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }


def _schema_path(route: str) -> str:
    return "/" + route.replace("<uuid:pk>", "{id}")


@pytest.fixture
def personas(demo, api_client_for) -> dict[str, APIClient]:
    return {name: api_client_for(User.objects.get(username=name)) for name in PERSONAS}


def _sweep(personas: dict[str, APIClient], body: str, message: str) -> None:
    documented = _documented_bodies()
    server_errors, refused = [], set()
    routes = write_routes()
    assert len(routes) >= 29
    for route, name, method, view in routes:
        for username, client in personas.items():
            for url in _urls_for(route, name, User.objects.get(username=username)):
                response = getattr(client, method)(
                    url,
                    data=body,
                    content_type="application/json",
                    headers={"idempotency-key": str(uuid.uuid4())},
                )
                if response.status_code >= 500:
                    server_errors.append((method, url, username, response.status_code))
                elif _upload_only(view) and response.status_code not in (401, 403):
                    # No JSON is parsed at all: its media type is refused.
                    assert response.status_code == 415, (url, response.status_code)
                elif response.status_code == 400 and message in json.dumps(
                    response.json(), ensure_ascii=False
                ):
                    assert list(response.json()) == ["non_field_errors"]
                    refused.add((route, method))
    assert not server_errors
    # Every endpoint that documents a body refuses this one (for some caller who may use it).
    expected = {
        (route, method)
        for route, _name, method, view in routes
        if (_schema_path(route), method) in documented and not _upload_only(view)
    }
    assert len(expected) >= 20, "the schema's paths and the URL conf's routes should meet"
    assert sorted(expected - refused) == []


def _parsers(view: type) -> list[Any]:
    return view().get_parsers() if hasattr(view, "get_parsers") else []


def _upload_only(view: type) -> bool:
    """A file upload (the journal import): multipart only, no JSON parser to attack."""
    parsers = _parsers(view)
    return bool(parsers) and all(isinstance(p, MultiPartParser) for p in parsers)


def test_every_write_route_parses_json_only_with_the_bounded_parser():
    uploads = []
    for route, _name, _method, view in write_routes():
        parsers = _parsers(view)
        if _upload_only(view):
            uploads.append(route)
            continue
        json_parsers = [p for p in parsers if "json" in p.media_type]
        assert json_parsers, route
        assert all(isinstance(p, BoundedJSONParser) for p in json_parsers), route
        assert not any(type(p) is JSONParser for p in parsers), route
    assert uploads == ["api/v1/visit-imports/"]


def test_every_write_route_is_swept(db):
    for route, name, _method, _view in write_routes():
        if "<" in route:
            assert "<uuid:pk>" in route and route.count("<") == 1, route
            _path_model(name)


def test_json_nested_1000_deep_is_a_400_on_every_write_endpoint(personas):
    _sweep(personas, DEEP, DEPTH_MESSAGE)


def test_a_lone_surrogate_is_a_400_on_every_write_endpoint(personas):
    _sweep(personas, SURROGATE, SURROGATE_MESSAGE)


def test_the_anonymous_token_endpoint_refuses_deep_json_and_surrogates(client, db):
    deep = client.post(reverse("api-token"), DEEP, content_type="application/json")
    assert deep.status_code == 400
    assert DEPTH_MESSAGE in deep.json()["non_field_errors"][0]
    lone = client.post(
        reverse("api-token"),
        '{"username": "\\ud800", "password": "x"}',
        content_type="application/json",
    )
    assert lone.status_code == 400
    assert SURROGATE_MESSAGE in lone.json()["non_field_errors"][0]


def test_a_body_over_the_limit_is_a_400_before_it_is_read(client, db, settings):
    big = json.dumps({"username": "a" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "password": "x"})
    response = client.post(reverse("api-token"), big, content_type="application/json")
    assert response.status_code == 400
    assert "för stort" in response.json()["non_field_errors"][0]


# --- A visit's PATCH is validated like a create ------------------------------------------------
@pytest.fixture
def nurse_api(personas) -> APIClient:
    return personas["nurse_vivalla"]


@pytest.fixture
def visit(demo) -> Visit:
    nurse = User.objects.get(username="nurse_vivalla")
    return Visit.objects.for_user(nurse).order_by("-date").first()


@pytest.mark.parametrize("interpreter", [{}, {"language": "arabiska"}, {"mode": None}, "phone"])
def test_patch_visit_with_an_incomplete_interpreter_is_400_on_interpreter(
    nurse_api, visit, interpreter
):
    response = nurse_api.patch(
        f"/api/v1/visits/{visit.pk}/", {"interpreter": interpreter}, format="json"
    )
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["interpreter"]


def test_patch_visit_with_a_whole_interpreter_still_works(nurse_api, visit):
    response = nurse_api.patch(
        f"/api/v1/visits/{visit.pk}/",
        {"interpreter": {"mode": "phone", "language": "arabiska"}, "adjustment": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["interpreter"] == {"mode": "phone", "language": "arabiska"}


# --- Money ---------------------------------------------------------------------------------------
LOOSE_AMOUNTS = [
    "1e3",
    "1E3",
    "1_000",
    "١٠٠٠",  # Arabic-Indic digits
    "१०००",  # Devanagari digits
    "１０００",  # fullwidth digits
    " 1000",
    "1000 ",
    "1 000",
    "1,000",
    "1000,00",
    "+1000",
    "1000.",
    ".5",
    "1000.001",
    "0x3e8",
    "NaN",
    "Infinity",
    "-Infinity",
    "",
]


@pytest.mark.parametrize("text", LOOSE_AMOUNTS)
def test_parse_money_refuses_loose_forms(text):
    with pytest.raises(MoneyFormatError):
        parse_money(text)


@pytest.mark.parametrize("value", [1000, 1000.0, Decimal("1000"), None, True])
def test_parse_money_refuses_anything_but_text(value):
    with pytest.raises(TypeError):
        parse_money(value)


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2))
def test_parse_money_reads_every_two_decimal_amount_back(value):
    assert parse_money(f"{value:.2f}") == value


def test_typed_money_takes_swedish_writing_and_nothing_looser():
    assert parse_typed_money("1 349 000,50") == Decimal("1349000.50")
    assert parse_typed_money("1\u00a0349\u00a0000,00") == Decimal("1349000.00")
    assert parse_typed_money("−2\u00a0500,00") == Decimal("-2500.00")
    assert parse_typed_money("2500.5") == Decimal("2500.5")
    for text in ("1e3", "1_000", "١٠٠٠", "1,000.00", "1.000,00", "1,5,0"):
        with pytest.raises(MoneyFormatError):
            parse_typed_money(text)


class _AmountSerializer(serializers.Serializer[Any]):
    amount = MoneyField(min_value=Decimal("0.01"))


@pytest.mark.parametrize("value", [*LOOSE_AMOUNTS, "0.00", "-5", "1234567890123.00"])
def test_money_field_refuses_loose_text(value):
    serializer = _AmountSerializer(data={"amount": value})
    assert not serializer.is_valid()
    assert list(serializer.errors) == ["amount"]


@pytest.mark.parametrize("value", [1000, 1000.0, 1e3, True, None, ["1000"], {"v": "1"}])
def test_money_field_refuses_json_numbers_with_a_clear_message(value):
    serializer = _AmountSerializer(data={"amount": value})
    assert not serializer.is_valid()
    if value is not None:
        assert serializer.errors["amount"] == ['Ange beloppet som text, t.ex. "2500.00".']


def test_money_field_takes_decimal_strings():
    for text, expected in (("2500.00", "2500.00"), ("2500", "2500.00"), ("0.5", "0.50")):
        serializer = _AmountSerializer(data={"amount": text})
        assert serializer.is_valid(), serializer.errors
        assert serializer.validated_data["amount"] == Decimal(expected)


def test_schema_documents_the_money_pattern():
    schema = SchemaGenerator().get_schema(None, public=True)
    amount = schema["components"]["schemas"]["GrantPayoutRequest"]["properties"]["amount"]
    assert amount["type"] == "string"
    assert amount["pattern"] == r"^-?[0-9]{1,12}(?:\.[0-9]{1,2})?$"


@pytest.fixture
def finance_api(personas) -> APIClient:
    return personas["finance"]


@pytest.fixture
def open_grant(demo) -> Grant:
    finance = User.objects.get(username="finance")
    year = TODAY().year
    return Grant.objects.for_user(finance).filter(year=year, closed_at__isnull=True).first()


@pytest.mark.parametrize("amount", ["1e3", "1_000", "١٠٠٠", 1000.0, 1000, "1000.001"])
def test_loose_amounts_book_no_payout(finance_api, open_grant, amount):
    before = LedgerTransaction.objects.filter(grant=open_grant).count()
    response = finance_api.post(
        f"/api/v1/grants/{open_grant.pk}/payouts/",
        {
            "recipient_type": "organisation",
            "recipient": str(open_grant.organisation_id),
            "category": "coordination",
            "amount": amount,
            "date": TODAY().isoformat(),
            "reference": "Samordning",
        },
        format="json",
        headers={"idempotency-key": str(uuid.uuid4())},
    )
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["amount"]
    assert LedgerTransaction.objects.filter(grant=open_grant).count() == before


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("allocations", "amount"),
        ("carry-over", "amount"),
        ("repayments", "amount"),
        ("fixed-allocation", "pool"),
    ],
)
def test_every_grant_amount_refuses_floats_and_exponents(finance_api, open_grant, path, field):
    for amount in (1000.0, "1e3"):
        response = finance_api.post(
            f"/api/v1/grants/{open_grant.pk}/{path}/",
            {field: amount},
            format="json",
            headers={"idempotency-key": str(uuid.uuid4())},
        )
        assert response.status_code == 400, response.content
        assert field in response.json(), response.json()


def test_rates_and_agreements_refuse_floats(finance_api, personas, open_grant):
    rule = personas["cbhv"].post(
        "/api/v1/compensation-rules/",
        {
            "organisation": str(open_grant.organisation_id),
            "valid_from": TODAY().isoformat(),
            "programme_variable": 2500.0,
            "ordinary": "1e3",
        },
        format="json",
    )
    assert rule.status_code in (400, 403), rule.content
    if rule.status_code == 400:
        assert {"programme_variable", "ordinary"} <= set(rule.json())
    agreement = finance_api.post(
        "/api/v1/partner-agreements/",
        {"partner": str(uuid.uuid4()), "title": "x", "year_from": 2026, "year_to": 2026},
        format="json",
    )
    assert agreement.status_code == 400
    agreement = finance_api.post(
        "/api/v1/partner-agreements/",
        {
            "partner": str(uuid.uuid4()),
            "title": "x",
            "year_from": 2026,
            "year_to": 2026,
            "yearly_amount": 1000.5,
        },
        format="json",
    )
    assert agreement.status_code == 400
    assert "yearly_amount" in agreement.json()


def test_the_finance_form_refuses_an_exponent(client, open_grant):
    client.force_login(
        User.objects.get(username="finance"), backend="django.contrib.auth.backends.ModelBackend"
    )
    page = reverse("funding:grant_payout", args=[open_grant.pk])
    response = client.get(page)
    assert response.status_code == 200
    before = LedgerTransaction.objects.filter(grant=open_grant).count()
    token = _form_value(response.content.decode(), "token")
    response = client.post(
        page,
        {
            "category": "coordination",
            "recipient_type": "organisation",
            "recipient": str(open_grant.organisation_id),
            "amount": "1e3",
            "date": TODAY().isoformat(),
            "reference": "Samordning",
            "token": token,
        },
    )
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.content.decode()
    assert LedgerTransaction.objects.filter(grant=open_grant).count() == before


def _form_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    return match.group(1) if match else ""


# --- Forms: what a browser can send ---------------------------------------------------------------
def test_a_form_field_with_a_lone_surrogate_cannot_reach_a_form(client, demo):
    """A form body is bytes: a lone surrogate's UTF-8 form (ED A0 80) is invalid UTF-8, which
    Django decodes to U+FFFD. The field then refuses an unknown choice like any other."""
    nurse = User.objects.get(username="nurse_vivalla")
    client.force_login(nurse, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(
        reverse("visits:child_create"),
        "identity_type=%ED%A0%80&identity=%ED%A0%80&given_name=%ED%A0%80",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert "\ufffd" in html or "&#xfffd;" in html.lower() or "identity_type" in html
    query = client.get("/?q=%ED%A0%80")
    assert query.status_code == 200


def test_a_form_body_over_the_limit_is_a_400(client, demo, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    nurse = User.objects.get(username="nurse_vivalla")
    client.force_login(nurse, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(reverse("visits:child_create"), {"given_name": "a" * 2000})
    assert response.status_code == 400


# --- Plausible dates ---------------------------------------------------------------------------
@pytest.fixture
def register(db, api_client_for):
    centre = CentreFactory()
    client = api_client_for(nurse_at(centre))

    def post(born: datetime.date, **extra: Any):
        return client.post(
            "/api/v1/children/",
            {"identity_type": "personnummer", "identity": personnummer(born), **extra},
            format="json",
        )

    return post


def test_a_child_born_in_1926_is_refused(register):
    response = register(datetime.date(1926, 3, 14))
    assert response.status_code == 400
    assert list(response.json()) == ["identity"]
    assert "6 åren" in response.json()["identity"][0]
    with_date = register(datetime.date(1926, 3, 14), birth_date="1926-03-14")
    assert list(with_date.json()) == ["birth_date"]


def test_a_child_born_within_the_last_six_years_is_registered(register):
    assert register(add_years(TODAY(), -6)).status_code == 201
    assert register(add_years(TODAY(), -6) - datetime.timedelta(days=1)).status_code == 400
    assert register(TODAY()).status_code == 201


def test_add_years_keeps_the_day_or_takes_the_28th():
    assert add_years(datetime.date(2024, 2, 29), -6) == datetime.date(2018, 2, 28)
    assert add_years(datetime.date(2026, 12, 3), 10) == datetime.date(2036, 12, 3)


@pytest.fixture
def grant_world(db):
    organisation = OrganisationFactory()
    return organisation, member(Role.FINANCE, organisation=organisation)


def _grant(world, **dates: datetime.date) -> Grant:
    organisation, finance = world
    today = TODAY()
    values = {
        "received_on": today,
        "use_by": add_years(today, 1),
        "report_due": add_years(today, 2),
        **dates,
    }
    return ledger.grant_create(
        user=finance,
        organisation=organisation,
        funder="socialstyrelsen",
        reference=str(uuid.uuid4())[:20],
        year=today.year,
        amount=Decimal("1000.00"),
        **values,
    )


def test_grant_deadlines_in_the_year_9999_are_refused(grant_world):
    far = datetime.date(9999, 12, 31)
    with pytest.raises(ValidationError) as error:
        _grant(grant_world, use_by=far, report_due=far)
    assert set(error.value.message_dict) == {"use_by", "report_due"}


def test_grant_dates_lie_within_twenty_years_back_and_ten_ahead(grant_world):
    today = TODAY()
    earliest, latest = add_years(today, -20), add_years(today, 10)
    _grant(grant_world, received_on=earliest, use_by=latest, report_due=latest)
    with pytest.raises(ValidationError) as error:
        _grant(grant_world, received_on=add_years(today, -20) - datetime.timedelta(days=1))
    assert set(error.value.message_dict) == {"received_on"}
    with pytest.raises(ValidationError) as error:
        _grant(grant_world, report_due=add_years(today, 10) + datetime.timedelta(days=1))
    assert set(error.value.message_dict) == {"report_due"}


def test_grant_api_answers_a_far_deadline_with_400_on_the_field(api_client_for, grant_world):
    organisation, finance = grant_world
    response = api_client_for(finance).post(
        "/api/v1/grants/",
        {
            "organisation": str(organisation.pk),
            "funder": "socialstyrelsen",
            "reference": "26RS1",
            "year": TODAY().year,
            "amount": "1000.00",
            "received_on": TODAY().isoformat(),
            "use_by": f"{TODAY().year}-12-31",
            "report_due": "9999-03-01",
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["report_due"]


@pytest.mark.parametrize("year", [9999, 1, 2101, -5])
def test_report_years_are_bounded(personas, year):
    response = personas["cbhv"].post(
        "/api/v1/reports/", {"kind": "socialstyrelsen", "year": year}, format="json"
    )
    assert response.status_code == 400
    assert "year" in response.json()
