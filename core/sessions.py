"""The absolute limit of a browser session (the idle limit is SESSION_COOKIE_AGE)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

# When the session's user signed in (seconds since the epoch).
SIGNED_IN_AT = "signed_in_at"


class SessionLifetimeMiddleware:
    """Log out a session SESSION_ABSOLUTE_AGE after sign-in, however active it has been: a
    shared tablet left signed in in a family's home must not stay usable all week.

    The time is stamped in the session at its first authenticated request. A login that keeps
    the session (the same user signing in again) keeps the stamp; one by another user flushes
    the session and so starts afresh. Placed after AuthenticationMiddleware (it needs
    request.user) and MessageMiddleware (it leaves a message)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            signed_in_at = request.session.get(SIGNED_IN_AT)
            if signed_in_at is None:
                request.session[SIGNED_IN_AT] = now
            elif now - signed_in_at > settings.SESSION_ABSOLUTE_AGE.total_seconds():
                # logout() flushes the session; the request goes on anonymous, so a page
                # redirects to the login and the API answers 401.
                logout(request)
                if not request.path.startswith("/api/"):
                    messages.info(
                        request,
                        _("Du har varit inloggad länge och har loggats ut. Logga in igen."),
                    )
        return self.get_response(request)
