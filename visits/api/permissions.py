"""Who may call the visits endpoints at all (the 403 step of API.md's check order).

These answer only "may this role ever do this?"; whether a path object is in the caller's scope
(404) is the view's `for_user()` lookup, and ids in the body are checked as input (400).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core.api.helpers import has_role
from core.models import Role
from visits.models import CHILD_ROLES


class SeesChildren(BasePermission):
    """Nurses and centre managers: the roles that see children (API.md, "Who sees a child").
    CBHV, finance, log reviewers and admins never do."""

    message = "Rollen får inte se barn."

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request, *CHILD_ROLES)


class NurseWrites(BasePermission):
    """Reading as a nurse or centre manager; writing (visits) as a nurse only."""

    message = "Bara BVC-sjuksköterskor registrerar besök."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return has_role(request, *CHILD_ROLES)
        return has_role(request, Role.NURSE)


class ReviewsAccessLog(BasePermission):
    message = "Bara logggranskare läser åtkomstloggen."

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request, Role.LOG_REVIEWER)
