"""Writes about users' access: API tokens, ending a user's sessions, lifting a lockout."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from core.models import ApiToken, User


def api_token_create(*, user: User) -> tuple[ApiToken, str]:
    """A new token for one login, with its key. The key is not stored (only its SHA-256) and
    cannot be shown again. The user's expired tokens are removed on the way, so the table holds
    live tokens and a few hours of expired ones."""
    now = timezone.now()
    key = secrets.token_urlsafe(32)
    with transaction.atomic():
        ApiToken.objects.filter(user=user, expires__lte=now).delete()
        token = ApiToken.objects.create(
            user=user,
            key_hash=ApiToken.hash_key(key),
            auth_hash=user.get_session_auth_hash(),
            created=now,
            expires=now + settings.API_TOKEN_LIFETIME,
            last_used=now,  # the login that made it
        )
    return token, key


def api_token_revoke(*, token: ApiToken) -> None:
    token.delete()


def user_sessions_end(*, user: User, keep_session_key: str | None = None) -> int:
    """Delete the user's browser sessions but `keep_session_key`. Django also refuses a session
    once the password it was made under changes, and any session of an inactive user; deleting
    the rows makes the end final (a user reactivated within the idle timeout does not get her
    old sessions back). Sessions hold the user id only inside their encoded data, so the live
    ones are decoded: with a 30-minute idle timeout they are the ones in use now, a few hundred
    at most."""
    ended = []
    live = Session.objects.filter(expire_date__gt=timezone.now())
    for session in live.only("session_key", "session_data").iterator():
        if session.session_key == keep_session_key:
            continue
        # login() stores the primary key as a string (Model._meta.pk.value_to_string).
        if session.get_decoded().get(SESSION_KEY) == str(user.pk):
            ended.append(session.session_key)
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)


def user_access_end(*, user: User, keep_session_key: str | None = None) -> None:
    """End everything the user is signed in with (API tokens, browser sessions) but the session
    `keep_session_key`: after her password changed, or when she is deactivated."""
    ApiToken.objects.filter(user=user).delete()
    user_sessions_end(user=user, keep_session_key=keep_session_key)


def user_password_changed(*, user: User, keep_session_key: str | None) -> None:
    """The password was changed (by her on /accounts/password/, or by an admin): her other
    sessions and all her API tokens end; the session that made the change goes on."""
    user_access_end(user=user, keep_session_key=keep_session_key)


def user_deactivated(*, user: User) -> None:
    """`is_active` was turned off (in the admin): nothing she is signed in with goes on."""
    user_access_end(user=user)


def user_unlock(*, user: User) -> int:
    """Lift the login lockout of the user's username, from every address. Returns how many
    lockout records (username + address + browser) were removed."""
    from axes.models import AccessAttempt

    deleted: int
    deleted, _ = AccessAttempt.objects.filter(username=user.get_username()).delete()
    return deleted
