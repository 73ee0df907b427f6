from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.models import Role
from core.navigation import items_for


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scope = user.scope
    role_labels = sorted({Role(role).label for role in scope.roles()}, key=str)
    return {"nav_items": items_for(scope.roles()), "role_labels": role_labels}
