"""Small helpers for function views: the logged-in user, and the role check that comes before
any object is looked up (403 before 404, as the API's order has it too)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from core.models import User


def request_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # every caller is behind @login_required
    return user


def require_role(user: User, *roles: str) -> None:
    """403 for a role that may never do this (checked before the object is looked up)."""
    if not user.scope.has_role(*roles):
        raise PermissionDenied
