"""Eligibility for fixed compensation, pinned where it is shown and where it is enforced (seed 004,
DOMAIN.md 4.2): a centre may apply only when its current child CNI is ABOVE the threshold of its
organisation's scheme in force for the year. Region Örebro's threshold is 2,00, so a centre at
exactly 2,00 may not apply and one at 2,01 may: on the centre list, the centre page, the
application form and page, CBHV's inbox, the API and at submission alike."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from core.models import Role
from funding.applications import application_submit
from funding.models import Application, ApplicationStatus, FixedCompensationScheme
from funding.selectors import EligibilityLookup, centre_eligibility
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.factories import cni, draft

pytestmark = pytest.mark.django_db

YEAR = timezone.localdate().year
# (child CNI, may the centre apply?) against Region Örebro's threshold 2,00.
AT_AND_ABOVE = pytest.mark.parametrize(
    ("value", "eligible"), [("2.00", False), ("2.01", True)], ids=["at-2,00", "at-2,01"]
)


@pytest.fixture
def org():
    org = OrganisationFactory(name="Region Örebro län")
    FixedCompensationScheme.objects.create(
        organisation=org, from_year=2024, threshold=Decimal("2.00")
    )
    return org


@pytest.fixture
def centre(org):
    return CentreFactory(organisation=org, name="Vivalla/Lundby")


@pytest.fixture
def manager(centre):
    return member(Role.CENTRE_MANAGER, centre=centre)


@pytest.fixture
def cbhv(org):
    return member(Role.CBHV, organisation=org)


def page(client, user, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def may_apply_for(html: str, year: int) -> str:
    """The answer after "Kan ansöka för <year>" on the centre page and the application form."""
    match = re.search(rf"<dt>Kan ansöka för {year}</dt><dd>(.*?)</dd>", html, re.S)
    assert match, f"no 'Kan ansöka för {year}'"
    return answer(match.group(1))


def answer(fragment: str) -> str:
    yes = bool(re.search(r'<span class="badge badge--done">Ja</span>', fragment))
    no = bool(re.search(r"(>|^)Nej(<| )", fragment))
    assert yes != no, fragment
    return "Ja" if yes else "Nej"


def expected(eligible: bool) -> str:
    return "Ja" if eligible else "Nej"


# --- The rule itself -------------------------------------------------------------------------
@AT_AND_ABOVE
def test_the_rule_one_centre_and_in_bulk(centre, value, eligible):
    cni(centre, value)

    assert centre_eligibility(centre, YEAR).eligible is eligible
    assert EligibilityLookup([centre]).of(centre, YEAR).eligible is eligible
    assert centre_eligibility(centre, YEAR).threshold == Decimal("2.00")


# --- Pages -----------------------------------------------------------------------------------
@AT_AND_ABOVE
def test_the_centre_list_says_whether_the_centre_may_apply(client, centre, cbhv, value, eligible):
    cni(centre, value)

    html = page(client, cbhv, reverse("funding:centre_list"))

    row = re.search(r"<tr>\s*<td[^>]*><a [^>]*>Vivalla/Lundby</a>.*?</tr>", html, re.S)
    assert row, "no row for the centre"
    cell = re.search(r'data-label="Kan ansöka \d+">(.*?)</td>', row.group(0), re.S)
    assert cell
    assert answer(cell.group(1)) == expected(eligible)
    assert "(över 2,00)" in cell.group(1)


@AT_AND_ABOVE
def test_the_centre_page_says_whether_the_centre_may_apply(client, centre, cbhv, value, eligible):
    cni(centre, value)

    html = page(client, cbhv, reverse("funding:centre", args=[centre.pk]))

    assert may_apply_for(html, YEAR) == expected(eligible)


@AT_AND_ABOVE
def test_the_application_form_says_whether_the_centre_may_apply(
    client, centre, manager, value, eligible
):
    cni(centre, value)

    html = page(client, manager, reverse("funding:application_create", args=[centre.pk]))

    for year in (YEAR, YEAR + 1, YEAR + 2):
        assert may_apply_for(html, year) == expected(eligible)
    assert ("Ett utkast kan sparas men inte skickas in" in html) is not eligible


@AT_AND_ABOVE
def test_the_application_page_tells_the_centre_whether_it_may_submit(
    client, centre, manager, value, eligible
):
    cni(centre, value)
    application = draft(centre, by=manager)

    html = page(client, manager, reverse("funding:application", args=[application.pk]))

    refusal = f"BVC:ns barn-CNI är {value.replace('.', ',')} och måste vara över 2,00"
    assert (refusal in html) is not eligible


@AT_AND_ABOVE
def test_the_inbox_shows_cbhv_whether_the_centre_is_above_the_threshold(
    client, centre, manager, cbhv, value, eligible
):
    cni(centre, "2.01", reference_date=datetime.date(2025, 12, 31))
    application_submit(user=manager, application=draft(centre, by=manager))
    # A newer value arrives while the application waits for a decision.
    cni(centre, value, reference_date=datetime.date(2026, 6, 30))

    html = page(client, cbhv, reverse("funding:inbox"))

    above = '<span class="badge badge--done">över tröskeln</span>' in html
    not_above = '<span class="badge badge--overdue">inte över tröskeln</span>' in html
    assert (above, not_above) == (eligible, not eligible)


def test_each_year_of_the_form_follows_its_own_scheme(client, org, centre, manager):
    FixedCompensationScheme.objects.create(
        organisation=org, from_year=YEAR + 1, threshold=Decimal("2.50")
    )
    cni(centre, "2.50")

    html = page(client, manager, reverse("funding:application_create", args=[centre.pk]))

    assert may_apply_for(html, YEAR) == "Ja"
    assert may_apply_for(html, YEAR + 1) == "Nej"  # exactly at its threshold
    assert may_apply_for(html, YEAR + 2) == "Nej"  # carried forward


# --- API -------------------------------------------------------------------------------------
@AT_AND_ABOVE
def test_the_api_says_whether_the_centre_may_apply(api_client_for, centre, cbhv, value, eligible):
    cni(centre, value)
    client = api_client_for(cbhv)

    listed = client.get("/api/v1/centres/").json()["results"]
    detail = client.get(f"/api/v1/centres/{centre.pk}/").json()

    for row in (next(r for r in listed if r["id"] == str(centre.pk)), detail):
        assert row["eligible_for_fixed"] is eligible
        assert row["fixed_threshold"] == "2.00"
        assert row["child_cni"] == value


# --- Submission ------------------------------------------------------------------------------
@AT_AND_ABOVE
def test_submitting_is_refused_unless_above_the_threshold(centre, manager, value, eligible):
    cni(centre, value)
    application = draft(centre, by=manager)

    if eligible:
        application_submit(user=manager, application=application)
    else:
        with pytest.raises(ValidationError) as exc:
            application_submit(user=manager, application=application)
        assert set(exc.value.message_dict) == {"centre"}

    status = Application.objects.get(pk=application.pk).status
    assert status == (ApplicationStatus.SUBMITTED if eligible else ApplicationStatus.DRAFT)


@AT_AND_ABOVE
def test_submitting_from_the_page_is_refused_unless_above_the_threshold(
    client, centre, manager, value, eligible
):
    cni(centre, value)
    application = draft(centre, by=manager)
    client.force_login(manager)

    client.post(reverse("funding:application_submit", args=[application.pk]))

    application.refresh_from_db()
    assert (application.status == ApplicationStatus.SUBMITTED) is eligible


@AT_AND_ABOVE
def test_submitting_through_the_api_is_a_400_unless_above_the_threshold(
    api_client_for, centre, manager, value, eligible
):
    cni(centre, value)
    application = draft(centre, by=manager)

    response = api_client_for(manager).post(f"/api/v1/applications/{application.pk}/submit/")

    assert response.status_code == (200 if eligible else 400)
    if not eligible:
        assert list(response.json()) == ["centre"]
