"""Sections of the start page, contributed by the apps above core (visits: the nurse's worklist;
funding: the CBHV inbox; ...). Each app registers its sections in AppConfig.ready(), so core
never imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class HomeSection:
    roles: frozenset[str]
    template: str
    # Returns the section's context, or None to leave the section out for this request.
    context: Callable[[HttpRequest], dict[str, Any] | None]
    order: int = 100


_sections: list[HomeSection] = []


def register_home_section(section: HomeSection) -> None:
    if section not in _sections:
        _sections.append(section)
        _sections.sort(key=lambda s: s.order)


def sections_for(request: HttpRequest, roles: frozenset[str]) -> list[tuple[str, dict[str, Any]]]:
    rendered = []
    for section in _sections:
        if section.roles & roles:
            context = section.context(request)
            if context is not None:
                rendered.append((section.template, context))
    return rendered
