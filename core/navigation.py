"""The navigation per role: one table, read by the base template and the start page."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.models import Role


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    roles: frozenset[str]
    description: str | Promise = ""

    @property
    def url(self) -> str:
        return reverse(self.url_name)


ALL_ROLES = frozenset(r.value for r in Role)

ITEMS: tuple[NavItem, ...] = (
    NavItem(_("Start"), "home", ALL_ROLES, _("Översikt över ditt arbete.")),
    NavItem(
        _("Administration"),
        "admin:index",
        frozenset({Role.ADMIN}),
        _("Användare, BVC, samverkansparter och referensdata."),
    ),
    NavItem(
        _("API-dokumentation"),
        "api-docs",
        frozenset({Role.ADMIN, Role.FINANCE, Role.CBHV}),
        _("Gränssnittet för journalsystem och ekonomiverktyg."),
    ),
)


def items_for(roles: frozenset[str]) -> list[NavItem]:
    visible = []
    for item in ITEMS:
        if not item.roles & roles:
            continue
        try:
            item.url  # noqa: B018 - a page that is not built yet stays out of the menu
        except NoReverseMatch:
            continue
        visible.append(item)
    return visible
