"""Template filters of the PDF reports."""

from __future__ import annotations

from django import template

from reporting import selectors

register = template.Library()


@register.filter
def shown(n: int) -> str:
    """A count of children or families: 1–4 → "<5" (DOMAIN.md 5)."""
    return selectors.shown(n)
