from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.models import Role
from core.navigation import items_for
from core.second_factor import is_verified, second_factor_required


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scope = user.scope
    role_labels = sorted({Role(role).label for role in scope.roles()}, key=str)
    if second_factor_required(user) and not is_verified(request):
        # Held at the second-factor page (core.second_factor): no menu that leads back to it.
        return {"nav_items": [], "role_labels": role_labels, "second_factor_pending": True}
    items = items_for(scope.roles())
    # The menu item for this page: the longest URL the path starts with ("/" only on itself).
    matches = [
        i.url
        for i in items
        if request.path == i.url or (i.url != "/" and request.path.startswith(i.url))
    ]
    current = max(matches, key=len) if matches else None
    return {"nav_items": items, "role_labels": role_labels, "nav_current": current}
