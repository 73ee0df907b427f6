"""Login lockout (django-axes): the client's address, and the answer to a locked-out attempt.

Axes counts failed logins per username + client address (AXES_LOCKOUT_PARAMETERS); after
AXES_FAILURE_LIMIT failures within AXES_COOLOFF_TIME the pair is locked for that time. The same
backend guards every login that goes through `authenticate()` with a request: the login form,
the admin's login and the API's token endpoint.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def client_ip(request: HttpRequest) -> str | None:
    """The client's address (AXES_CLIENT_IP_CALLABLE).

    Without a trusted proxy (TRUSTED_PROXY_COUNT = 0, the default) it is the socket's peer,
    REMOTE_ADDR: an X-Forwarded-For header is the client's own claim and is ignored, so nobody
    escapes a lockout by sending one. Behind N trusted proxies, each appends the address it saw
    to X-Forwarded-For, so the client is the N-th entry from the right; entries further left
    were written by the client and are never trusted.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if not forwarded:
        return remote
    # Fewer entries than proxies: the request entered behind the outer proxy; the left-most
    # entry is then the address the first proxy it passed saw.
    candidate = forwarded[-min(hops, len(forwarded))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return _(
        "För många misslyckade inloggningar. Inloggningen med det här användarnamnet är spärrad "
        "från din adress i %(minutes)d minuter. Försök igen senare eller be en administratör "
        "att häva spärren."
    ) % {"minutes": minutes}


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """What a locked-out login attempt gets (AXES_LOCKOUT_CALLABLE, called by AxesMiddleware).

    The failure that reaches the limit keeps its ordinary answer (400 from the token endpoint,
    the form with its error): its password was checked and was wrong; the lock applies from the
    next attempt, which is refused without checking the password: 429.
    """
    if getattr(request, "axes_failures_since_start", None) is not None and original_response:
        return original_response
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": lockout_message()}, status=429)
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": lockout_message()},
            status=429,
        )
    response["Retry-After"] = retry_after
    return response
