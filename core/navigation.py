"""The navigation per role, read by the base template and the start page.

Each app registers its own items in AppConfig.ready() (as it registers its start-page sections
in `core.home`), so core never names the pages of the apps above it. `order` places an item in
the one menu that all apps share. A registered item whose URL does not resolve is a bug: the
page raises rather than leaving the item out.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise

from core.models import Role


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    roles: frozenset[str]
    description: str | Promise = ""
    order: int = 100

    @property
    def url(self) -> str:
        return reverse(self.url_name)


ALL_ROLES = frozenset(r.value for r in Role)

_items: list[NavItem] = []


def register_nav_item(item: NavItem) -> None:
    if item not in _items:
        _items.append(item)
        _items.sort(key=lambda i: i.order)


def registered_items() -> list[NavItem]:
    return list(_items)


def items_for(roles: frozenset[str]) -> list[NavItem]:
    return [item for item in _items if item.roles & roles]
