"""The menu: each app registers its own items (core.navigation), in one shared order."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch
from django.utils import translation

from core import navigation
from core.models import Role
from core.navigation import ALL_ROLES, NavItem, items_for, registered_items
from tests.core.factories import OrganisationFactory, member

CHILD_ROLES = {Role.NURSE, Role.CENTRE_MANAGER}

# The menu as it has always been: item, label and roles, in this order.
MENU = [
    ("home", "Start", ALL_ROLES),
    ("visits:child_list", "Barn", CHILD_ROLES),
    ("visits:visit_list", "Besök", CHILD_ROLES),
    ("funding:inbox", "Att besluta", {Role.CBHV}),
    ("reporting:list", "Rapporter", {Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER}),
    ("deadlines:overview", "Att rapportera", {Role.CBHV, Role.FINANCE}),
    ("funding:grant_list", "Bidrag", {Role.FINANCE, Role.CBHV}),
    (
        "funding:compensation_list",
        "Ersättning",
        {Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER},
    ),
    (
        "funding:rate_list",
        "Ersättningsnivåer",
        {Role.CBHV, Role.ADMIN, Role.FINANCE, Role.CENTRE_MANAGER},
    ),
    ("funding:compensation_pay", "Betala månad", {Role.FINANCE}),
    (
        "funding:application_list",
        "Ansökningar",
        {Role.NURSE, Role.CENTRE_MANAGER, Role.CBHV, Role.FINANCE, Role.ADMIN},
    ),
    ("funding:centre_list", "BVC och CNI", ALL_ROLES),
    ("funding:scheme", "Ersättningsordning", {Role.CBHV, Role.ADMIN}),
    ("visits:log_list", "Loggranskning", {Role.LOG_REVIEWER}),
    ("admin:index", "Administration", {Role.ADMIN}),
    ("api-docs", "API-dokumentation", {Role.ADMIN, Role.FINANCE, Role.CBHV}),
]


def test_the_apps_register_the_menu_in_its_order() -> None:
    with translation.override("sv"):
        menu = [(i.url_name, str(i.label), set(i.roles)) for i in registered_items()]
    assert menu == [(name, label, set(roles)) for name, label, roles in MENU]
    assert all(item.description for item in registered_items())


def test_every_registered_item_resolves() -> None:
    for item in registered_items():
        assert item.url.startswith("/"), item.url_name


def test_registering_an_item_twice_keeps_one() -> None:
    before = registered_items()
    navigation.register_nav_item(before[1])
    assert registered_items() == before


def test_a_role_sees_the_items_of_its_roles() -> None:
    assert [i.url_name for i in items_for(frozenset({Role.LOG_REVIEWER}))] == [
        "home",
        "funding:centre_list",
        "visits:log_list",
    ]


@pytest.mark.django_db
def test_an_item_whose_page_does_not_exist_is_an_error_not_a_missing_item(
    client, monkeypatch
) -> None:
    broken = NavItem("Trasig", "nowhere:page", ALL_ROLES, "Finns inte.", order=1)
    monkeypatch.setattr(navigation, "_items", [*registered_items(), broken])
    client.force_login(member(Role.CBHV, organisation=OrganisationFactory()))
    with pytest.raises(NoReverseMatch):
        client.get("/")
