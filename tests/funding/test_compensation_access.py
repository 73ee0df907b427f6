"""Who sees which compensation statements (issue 23, item 2b; API.md `GET /api/v1/compensation/`):
finance and CBHV every centre of their organisation, a centre manager her own centre, every
other role nothing (403). The rule has one home, `funding.selectors.statement_scopes()` /
`statement_scope()`, which the page (`/ersattning/`) and the API both ask: for each role they
show the same rows. Both cost the same number of queries whatever the number of centres."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import Centre, Role
from tests.core.factories import CentreFactory, OrganisationFactory, member
from tests.funding.test_compensation import d, rule, visit

pytestmark = pytest.mark.django_db

PAGE = reverse("funding:compensation_list")
API = "/api/v1/compensation/"
AUGUST = {"year": "2026", "month": "8"}


@pytest.fixture
def orebro():
    """Region Örebro län in August 2026: Vivalla two visits (one joint), Lundby one joint."""
    org = OrganisationFactory(name="Region Örebro län")
    rule(org)
    vivalla = CentreFactory(organisation=org, name="Vivalla")
    lundby = CentreFactory(organisation=org, name="Lundby")
    visit(vivalla, d(8, 3))
    visit(vivalla, d(8, 4), social_services_present=False)
    visit(lundby, d(8, 6))
    return {"org": org, "vivalla": vivalla, "lundby": lundby}


@pytest.fixture
def linkoping():
    org = OrganisationFactory(name="Linköpings kommun")
    rule(org)
    skaggetorp = CentreFactory(organisation=org, name="Skäggetorp")
    visit(skaggetorp, d(8, 10))
    return {"org": org, "skaggetorp": skaggetorp}


def page_rows(client, user, query) -> tuple[int, list[tuple[str, str, str]]]:
    client.force_login(user)
    response = client.get(PAGE, query)
    if response.status_code != 200:
        return response.status_code, []
    html = response.content.decode()
    months = re.findall(r'data-label="Månad">([^<]*)</td>', html)
    names = re.findall(r'data-label="BVC">([^<]*)</td>', html)[: len(months)]
    visits = re.findall(r'data-label="Besök">([^<]*)</td>', html)[: len(months)]
    return 200, list(zip(months, names, visits, strict=True))


def api_rows(api_client_for, user, query) -> tuple[int, list[tuple[str, str, str]]]:
    response = api_client_for(user).get(API, query)
    if response.status_code != 200:
        return response.status_code, []
    rows = response.json()["results"]
    names = dict(Centre.objects.values_list("pk", "name"))
    return 200, [(r["month"], names[uuid.UUID(r["centre"])], str(r["visits"])) for r in rows]


def both(client, api_client_for, user, query=AUGUST):
    return page_rows(client, user, query), api_rows(api_client_for, user, query)


EVERY_CENTRE = [("2026-08", "Lundby", "1"), ("2026-08", "Vivalla", "2")]


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CBHV])
def test_finance_and_cbhv_see_every_centre_of_their_organisation_on_the_page_and_in_the_api(
    client, api_client_for, orebro, linkoping, role
):
    user = member(role, organisation=orebro["org"])
    page, api = both(client, api_client_for, user)
    assert page == api == (200, EVERY_CENTRE)


def test_a_centre_manager_sees_her_own_centre_on_the_page_and_in_the_api(
    client, api_client_for, orebro, linkoping
):
    user = member(Role.CENTRE_MANAGER, centre=orebro["vivalla"])
    page, api = both(client, api_client_for, user)
    assert page == api == (200, [("2026-08", "Vivalla", "2")])


def test_the_manager_of_two_centres_sees_each_of_them_and_no_other(
    client, api_client_for, orebro, linkoping
):
    user = member(Role.CENTRE_MANAGER, centre=orebro["vivalla"])
    member(Role.CENTRE_MANAGER, centre=orebro["lundby"], user=user)
    # The page shows the first of her centres by name; the API asks which one.
    page = page_rows(client, user, AUGUST)
    assert page == (200, [("2026-08", "Lundby", "1")])
    assert api_rows(api_client_for, user, {**AUGUST, "centre": str(orebro["lundby"].pk)}) == page
    assert api_rows(api_client_for, user, {**AUGUST, "centre": str(orebro["vivalla"].pk)}) == (
        200,
        [("2026-08", "Vivalla", "2")],
    )
    response = api_client_for(user).get(API, {**AUGUST, "centre": str(linkoping["skaggetorp"].pk)})
    assert response.status_code == 400 and "centre" in response.json()


def test_finance_of_another_organisation_sees_only_her_own_on_the_page_and_in_the_api(
    client, api_client_for, orebro, linkoping
):
    user = member(Role.FINANCE, organisation=linkoping["org"])
    page, api = both(client, api_client_for, user)
    assert page == api == (200, [("2026-08", "Skäggetorp", "1")])
    refused = api_client_for(user).get(API, {**AUGUST, "organisation": str(orebro["org"].pk)})
    assert refused.status_code == 400 and "organisation" in refused.json()


def test_finance_of_two_organisations_chooses_one_on_the_page_and_in_the_api(
    client, api_client_for, orebro, linkoping
):
    user = member(Role.FINANCE, organisation=orebro["org"])
    member(Role.FINANCE, organisation=linkoping["org"], user=user)
    query = {**AUGUST, "organisation": str(linkoping["org"].pk)}
    page, api = both(client, api_client_for, user, query)
    assert page == api == (200, [("2026-08", "Skäggetorp", "1")])


@pytest.mark.parametrize("role", [Role.NURSE, Role.LOG_REVIEWER, Role.ADMIN])
def test_other_roles_get_403_on_the_page_and_in_the_api(
    client, api_client_for, orebro, linkoping, role
):
    if role == Role.NURSE:
        user = member(role, centre=orebro["vivalla"])
    else:
        user = member(role, organisation=orebro["org"])
    page, api = both(client, api_client_for, user)
    assert page == api == (403, [])


# --- Constant query counts ------------------------------------------------------------------------
def _count(get) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        rows = get()
    return rows, len(ctx.captured_queries)


def test_the_statements_cost_the_same_for_1_and_12_centres(client, api_client_for):
    org = OrganisationFactory()
    rule(org)
    finance = member(Role.FINANCE, organisation=org)
    client.force_login(finance)
    api = api_client_for(finance)
    counts = []
    for n in (1, 11):
        for i in range(n):
            visit(CentreFactory(organisation=org, name=f"BVC {len(counts)}-{i}"), d(8, 3))
        page_rows_, page_queries = _count(lambda: client.get(PAGE, AUGUST).content.decode())
        api_body, api_queries = _count(lambda: api.get(API, AUGUST).json())
        counts.append(
            (
                page_rows_.count('data-label="Månad"'),
                page_queries,
                len(api_body["results"]),
                api_queries,
            )
        )
    assert [(c[0], c[2]) for c in counts] == [(1, 1), (12, 12)]
    assert counts[0][1] == counts[1][1] and counts[0][3] == counts[1][3]
