"""The limits of a browser session: idle (SESSION_COOKIE_AGE, renewed by activity) and absolute
(SESSION_ABSOLUTE_AGE after sign-in)."""

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
# When activity last renewed the idle limit (seconds since the epoch).
RENEWED_AT = "renewed_at"
# Activity renews the session at most this often (seconds), so a page with its htmx requests
# does not write the session row on every request; the idle limit is then between
# SESSION_COOKIE_AGE minus this and SESSION_COOKIE_AGE.
RENEW_EVERY = 60


class SessionLifetimeMiddleware:
    """Log out a session SESSION_ABSOLUTE_AGE after sign-in, however active it has been: a
    shared tablet left signed in in a family's home must not stay usable all week. Activity
    renews the idle limit, at most once every RENEW_EVERY seconds (the session row is not
    written on every request: SESSION_SAVE_EVERY_REQUEST is off).

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
                request.session[RENEWED_AT] = now
            elif now - signed_in_at > settings.SESSION_ABSOLUTE_AGE.total_seconds():
                # logout() flushes the session; the request goes on anonymous, so a page
                # redirects to the login and the API answers 401.
                logout(request)
                if not request.path.startswith("/api/"):
                    messages.info(
                        request,
                        _("Du har varit inloggad länge och har loggats ut. Logga in igen."),
                    )
            elif now - request.session.get(RENEWED_AT, 0) >= RENEW_EVERY:
                # A change to the session saves it with a new expiry (and a new cookie).
                request.session[RENEWED_AT] = now
        return self.get_response(request)
