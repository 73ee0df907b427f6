"""The limits of a browser session: idle (SESSION_COOKIE_AGE, renewed by activity) and absolute
(SESSION_ABSOLUTE_AGE after sign-in).

The session row is not written on every request (SESSION_SAVE_EVERY_REQUEST is off): activity
renews the idle limit at most once every RENEW_EVERY seconds. Both times are stamped when the
user signs in (`stamp_sign_in`, on `user_logged_in`), while the login writes the session anyway,
so the requests that follow a login read the session and write nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

# When the session's user signed in (seconds since the epoch).
SIGNED_IN_AT = "signed_in_at"
# When activity last renewed the idle limit (seconds since the epoch).
RENEWED_AT = "renewed_at"
# Activity renews the session at most this often (seconds): the idle limit is then between
# SESSION_COOKIE_AGE minus this and SESSION_COOKIE_AGE.
RENEW_EVERY = 60


def stamp_sign_in(sender: Any, request: HttpRequest | None = None, **_: Any) -> None:
    """At login: the session's sign-in time (kept when the same user signs in again within the
    session, as Django keeps her session's data) and a fresh renewal time."""
    session = getattr(request, "session", None)
    # Only a login into this session (django.contrib.auth.login puts the user in it first); the
    # API's token login sends the signal too, and starts no browser session.
    if session is None or SESSION_KEY not in session:
        return
    now = time.time()
    session.setdefault(SIGNED_IN_AT, now)
    session[RENEWED_AT] = now


class SessionLifetimeMiddleware:
    """Log out a session SESSION_ABSOLUTE_AGE after sign-in, however active it has been: a
    shared tablet left signed in in a family's home must not stay usable all week. Activity
    renews the idle limit at most once every RENEW_EVERY seconds.

    A session from before the stamps existed is stamped at its first authenticated request. A
    login by another user flushes the session and so starts afresh. Placed after
    AuthenticationMiddleware (it needs request.user) and MessageMiddleware (it leaves a
    message)."""

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
