"""The security log: events an operator's monitoring watches (logger `hembesok.security`, to
stderr with the application's other logs; config/settings.py LOGGING).

A denied read is a request for a child, an enrolment or a visit that exists but lies outside
the caller's scope: the answer is 404, exactly as for an id that does not exist (API.md), and
the attempt is written here with who, when (the record's time), the route and the object's
kind and id. Never an identity number, a name or an address; the route is the URL pattern
(`barn/<uuid:pk>/`), not the path, so no query string either.

`visits.selectors` writes it where it scopes, so no view can forget. The selectors have no
request; `RouteMiddleware` keeps the route of the request being answered for them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpRequest, HttpResponseBase

    from core.models import User

logger = logging.getLogger("hembesok.security")

DENIED_READ = "denied_read"


@dataclass(frozen=True)
class Route:
    method: str
    route: str  # the URL pattern, e.g. "api/v1/children/<uuid:pk>/"
    view: str  # the URL name, e.g. "visits:child_detail"


_current_route: ContextVar[Route | None] = ContextVar("hembesok_route", default=None)


class RouteMiddleware:
    """Keeps the resolved route of the request being answered for the security log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        token = _current_route.set(None)
        try:
            return self.get_response(request)
        finally:
            _current_route.reset(token)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        match = request.resolver_match
        if match is not None:
            _current_route.set(
                Route(method=request.method or "", route=match.route, view=match.view_name)
            )


def log_denied_read(*, user: User | AnonymousUser, kind: str, object_id: uuid.UUID) -> None:
    """One line for a read (or change) of an object that exists outside the user's scope."""
    route = _current_route.get() or Route(method="", route="", view="")
    fields = {
        "event": DENIED_READ,
        "user_id": user.pk,
        "username": user.get_username(),
        "method": route.method,
        "route": route.route,
        "view": route.view,
        "kind": kind,
        "object_id": str(object_id),
    }
    logger.warning(
        "%s user_id=%s username=%s method=%s route=%s view=%s kind=%s id=%s",
        *fields.values(),
        extra=fields,
    )
